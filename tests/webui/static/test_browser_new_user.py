"""The page as a new user meets it, in headless Chromium (real mouse and keyboard): an unreadable
image, Shift+D at the end of the list, the address bar's #name, labels past the ninth, label
colours, "background", the first-use hint and closing a polygon. One server and one browser
for the module."""

import time

import cv2
import numpy as np
import pytest
from test_browser import ENTER, pytestmark, scene, write_rgb  # noqa: F401

from browser_util import LiveServer, Page, quit_chromium, start_chromium

NAMES = ["b_one.png", "c_two.png", "d_three.png", "e_four.png"]
EXTRA_LABELS = ["kelp", "urchin", "zebra fish"]  # after SUIM's eight: the 10th and 11th have no number key


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from edgemask.webui import create_app

    root = tmp_path_factory.mktemp("new-user") / "images"
    root.mkdir()
    for i, name in enumerate(NAMES):
        write_rgb(root / name, scene(i))
    rgb = np.random.default_rng(5).integers(0, 255, (300, 400, 3), np.uint8)
    cv2.imwrite(str(root / "a_cut.jpg"), rgb)  # listed first, as in the report
    data = (root / "a_cut.jpg").read_bytes()
    (root / "a_cut.jpg").write_bytes(data[: len(data) // 3])
    server = LiveServer(create_app({"IMAGES_DIR": str(root)}))
    store = server.app.extensions["edgemask"].store
    for name in EXTRA_LABELS:
        store.add_label(name, "#e6194b")  # the old default colour, as every label got before
    driver = start_chromium(1600, 900)
    yield Page(driver, server.url), store
    driver.get("about:blank")
    quit_chromium(driver)
    server.close()
    store.close()


def _open(page, fragment=""):
    """Loads the page afresh (from the same URL with another #name, a plain get only changes the hash)."""
    page.driver.get("about:blank")
    return page.open(fragment)


def _reason_shown(page):
    return page.js("const b = document.getElementById('unreadable-reason');"
                   "return b && !b.hidden && b.getBoundingClientRect().height > 0 ? b.textContent : null;")


def test_unreadable_image_is_marked_shown_and_not_drawable(site):
    page, store = site
    _open(page)
    assert page.js("return edgemask.state.imageName") == "b_one.png"  # not the unreadable first file
    row = page.driver.find_element("css selector", "#image-list li.unreadable")
    assert row.get_attribute("data-name") == "a_cut.jpg" and "cannot be read" in row.text
    row.click()
    page.wait("edgemask.state.imageName === 'a_cut.jpg'")
    page.wait("!!document.getElementById('unreadable-reason') && !document.getElementById('unreadable-reason').hidden")
    assert "truncated" in _reason_shown(page)
    assert page.js("return [...document.querySelectorAll('#tools button, #btn-background')].every((b) => b.disabled)")
    page.driver.find_element("id", "btn-background").click()  # disabled: nothing happens
    page.keys("p")
    page.driver.find_element("id", "canvas").click()
    time.sleep(0.2)
    assert page.js("return edgemask.state.objects.length") == 0
    assert store.load("a_cut.jpg") is None
    page.keys("n")  # next to do: a readable image, and the drawing tools come back
    page.wait("edgemask.state.imageName !== 'a_cut.jpg' && edgemask.state.image !== null")
    assert page.js("return document.getElementById('unreadable-reason').hidden")
    assert not page.js("return document.querySelector('#tools button').disabled")
    page.raise_js_errors(expected=("415", "a_cut.jpg"))


def test_setting_the_hash_in_the_same_tab_opens_that_image(site):
    page, _ = site
    _open(page, "#c_two.png")
    assert page.js("return edgemask.state.imageName") == "c_two.png"
    page.js("location.hash = '#e_four.png';")
    page.wait("edgemask.state.imageName === 'e_four.png' && edgemask.state.image !== null")
    page.js("location.hash = '#a_cut.jpg';")
    page.wait("edgemask.state.imageName === 'a_cut.jpg'")
    page.wait("!!document.getElementById('unreadable-reason') && !document.getElementById('unreadable-reason').hidden")
    page.js("location.hash = '#no_such.png';")  # not an image of the folder: stays
    time.sleep(0.2)
    assert page.js("return edgemask.state.imageName") == "a_cut.jpg"
    page.raise_js_errors(expected=("415", "a_cut.jpg"))


def test_shift_d_on_the_last_image_goes_on_to_the_next_to_do(site):
    page, store = site
    from edgemask.webui.store import status as imagestatus

    for name in NAMES:
        imagestatus.set_status(store, name, "todo")
    _open(page, "#e_four.png")  # the list's last image; three before it still to do
    page.combo(["\ue008"], "d")  # Shift+D
    page.wait("edgemask.state.imageName === 'b_one.png'")
    assert imagestatus.marked(store)["e_four.png"] == "done"
    for name in ("b_one.png", "c_two.png", "d_three.png"):
        imagestatus.set_status(store, name, "done")
    imagestatus.set_status(store, "e_four.png", "todo")
    _open(page, "#e_four.png")
    page.combo(["\ue008"], "d")
    page.wait("document.getElementById('stage-info').textContent.includes('last')")
    assert page.js("return edgemask.state.imageName") == "e_four.png"


def test_every_label_is_reachable_from_the_keyboard(site):
    page, _ = site
    _open(page, "#b_one.png")
    labels = page.labels()
    assert len(labels) == 11
    page.keys("l")
    page.wait("document.activeElement && document.activeElement.id === 'label-pick-input'")
    page.keys("zeb", ENTER)
    page.wait(f"edgemask.state.currentLabelId === {labels[10]['id']}")
    page.keys("l", "urch")
    page.keys(ENTER)
    page.wait(f"edgemask.state.currentLabelId === {labels[9]['id']}")
    hint = page.js("return document.getElementById('first-hint').textContent")
    assert "urchin" in hint and "(1-9" not in hint and "L, then its name" in hint
    page.keys("3")  # the keys work again after the box closed
    page.wait(f"edgemask.state.currentLabelId === {labels[2]['id']}")
    assert "key 3" in page.js("return document.getElementById('first-hint').textContent")


def test_new_labels_get_distinct_colours_and_background_is_refused(site):
    page, _ = site
    _open(page, "#b_one.png")
    assert "Class 0 is the background" in page.js("return document.getElementById('class-0-note').textContent")
    before = {label["color"] for label in page.labels()}
    offered = page.wait("document.getElementById('new-label-color').value !== '#e6194b' && "
                        "document.getElementById('new-label-color').value")
    box = page.driver.find_element("id", "new-label-name")
    box.send_keys("sand", ENTER)
    page.wait("edgemask.state.labels.length === 12")
    sand = page.labels()[-1]
    assert sand["color"] == offered and sand["color"] not in before
    page.wait(f"document.getElementById('new-label-color').value !== '{sand['color']}'")  # the next offer
    box.send_keys("  Background ", ENTER)
    page.wait("document.getElementById('stage-info').textContent.includes('class 0')")
    assert len(page.labels()) == 12
    # the refused name is selected in the field: what is typed next replaces it
    assert page.js("const b = document.getElementById('new-label-name'); return document.activeElement === b "
                   "&& b.selectionStart === 0 && b.selectionEnd === b.value.length && b.value.length > 0")
    box.send_keys("gravel", ENTER)
    page.wait("edgemask.state.labels.length === 13")
    assert page.labels()[-1]["name"] == "gravel"


def test_first_use_hint_is_whole_and_off_the_image_and_polygon_closes_only_close_by(site):
    page, _ = site
    _open(page, "#d_three.png")
    hint = page.js("""const h = document.getElementById('first-hint'), r = h.getBoundingClientRect(),
        c = edgemask.view.canvas.getBoundingClientRect();
        return {text: h.textContent, scroll: h.scrollWidth, width: h.clientWidth, bottom: r.bottom,
                shown: !h.hidden && r.height > 0, imageTop: c.top + edgemask.view.oy,
                overflow: getComputedStyle(h).textOverflow};""")
    assert hint["shown"] and "? lists every key" in hint["text"]
    assert hint["scroll"] <= hint["width"] and hint["overflow"] != "ellipsis"
    assert hint["bottom"] <= hint["imageTop"] + 0.5  # above the image, not over its top rows
    page.one_to_one()
    page.keys("p")
    for x, y in [(20, 20), (80, 20), (80, 80), (26, 24)]:  # the last is 7 px from the first: a vertex
        page.click(x, y)
    time.sleep(0.15)
    assert page.js("return edgemask.state.objects.length") == 0
    page.click(22, 21)  # within 5 px of the first: closes
    page.wait("edgemask.state.objects.length === 1")
    assert len(page.objects()[0]["polygon"]) == 4
    for x, y in [(120, 20), (160, 20), (160, 60)]:
        page.click(x, y)
    chain = page._move(page._chain(), 120, 60)
    chain.double_click().perform()  # a double-click puts its vertex and closes
    page.wait("edgemask.state.objects.length === 2")
    got = page.objects()[1]["polygon"]
    want = [(120, 20), (160, 20), (160, 60), (120, 60)]
    assert len(got) == 4 and all(abs(a - c) <= 1 and abs(b - d) <= 1 for (a, b), (c, d) in zip(got, want)), got
    page.wait_saved()
