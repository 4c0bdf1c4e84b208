"""The annotator page for a whole dataset's workflow, in headless Chromium (real mouse and
keyboard): image status, list filter / search / thumbnails, label management, canvas view
options, and the defects found when it was tried as a new user would."""

import io
import time
import urllib.request
import zipfile

import cv2
import numpy as np
import pytest
from test_browser import (  # noqa: F401  (fixtures)
    ENTER, ESCAPE, H, W, driver, get_json, page, pick_label, pytestmark, scene, serve, write_rgb, write_scenes)

from browser_util import Page

BACKSPACE = "\ue003"
RING = (40, 40, 120, 120, 60, 60, 100, 100)  # outer box, hole box (exclusive ends)


@pytest.fixture
def images(tmp_path):
    root = write_scenes(tmp_path / "images")
    ring = scene(2)
    x0, y0, x1, y1, hx0, hy0, hx1, hy1 = RING
    ring[y0:y1, x0:x1] = (128, 128, 128)
    ring[hy0:hy1, hx0:hx1] = (40, 140, 60)
    write_rgb(root / "c_ring.png", ring)
    write_rgb(root / "d_other.png", scene(3))
    return root


def screen_pixels(page, x, y, w, h):
    """RGBA of the stage canvas over image box (x, y, w, h) at 1:1 zoom, as an array."""
    data = page.js("""
        const v = edgemask.view, g = v.canvas.getContext('2d');
        const [sx, sy] = v.toScreen(arguments[0], arguments[1]);
        return Array.from(g.getImageData(Math.round(sx), Math.round(sy), arguments[2], arguments[3]).data);""",
                   x, y, w, h)
    return np.array(data, np.uint8).reshape(h, w, 4)


def test_defects_polygon_backspace_and_focus_after_add_label(page):
    page.one_to_one()
    page.keys("p")
    for x, y in [(20, 20), (80, 20), (80, 80), (20, 20)]:  # closed on the first point
        page.click(x, y)
    page.wait("edgemask.state.objects.length === 1")
    page.click(120, 20)
    page.click(160, 20)
    page.keys(BACKSPACE, BACKSPACE, BACKSPACE, BACKSPACE)  # one more than points, and more
    time.sleep(0.2)
    assert page.js("return edgemask.state.objects.length") == 1  # the closed polygon stays
    page.wait_saved()
    assert len(get_json(page.url + "api/images/a_scene.png/annotations")["objects"]) == 1

    # after "Add label" the keys go to the page again: D opens the next image
    box = page.driver.find_element("id", "new-label-name")
    box.send_keys("kelp")
    page.button("#add-label button[type=submit]")
    page.wait("edgemask.state.labels.some((l) => l.name === 'kelp')")
    page.keys("d")
    page.wait("edgemask.state.imageName === 'b_scene.png'")
    assert box.get_attribute("value") == ""
    page.raise_js_errors()


def test_defects_holes_are_never_filled_silently_and_the_preview_is_striped(driver, serve):
    page = Page(driver, serve().url).open("#c_ring.png")
    page.one_to_one()
    pick_label(page, 4)  # wrecks/ruins: cyan, as the old preview colour
    page.keys("w")
    x0, y0, x1, y1, hx0, hy0, hx1, hy1 = RING
    page.click(x0 + 5, y0 + 5)
    page.wait("!!edgemask.state.preview")
    time.sleep(0.1)
    px = screen_pixels(page, x0, y0, 40, 10)[..., :3].astype(int).reshape(-1, 3)
    orange = (px[:, 0] > 150) & (px[:, 1] > 60) & (px[:, 1] < 150) & (px[:, 2] < 90)
    dark = px.max(axis=1) < 110
    assert orange.sum() > 40 and dark.sum() > 40  # stripes, not one flat fill
    assert not ((px[:, 0] < 80) & (px[:, 1] > 180) & (px[:, 2] > 180)).any()  # nothing cyan

    # accept as polygon: the mask has a hole, so the page asks; keep as mask changes nothing
    page.js("document.getElementById('accept-as').value = 'polygon';")
    page.keys(ENTER)
    page.wait("!document.getElementById('dialog').hidden")
    text = page.driver.find_element("id", "dialog-text").text
    hole = (hx1 - hx0) * (hy1 - hy0)
    assert f"fills {hole} px of holes" in text
    page.button("#dialog-buttons button[data-choice=mask]")
    page.wait("edgemask.state.objects.length === 1")
    obj = page.js("return edgemask.state.objects[0].kind")
    assert obj == "mask"
    # "to polygon" on it asks again; filling is the user's choice and says how many pixels
    page.keys("v")
    page.click(x0 + 3, y0 + 3)
    page.button("#object-list li.selected button[data-action=convert]")
    page.wait("!document.getElementById('dialog').hidden")
    page.keys(ESCAPE)  # cancel: still a mask
    page.wait("document.getElementById('dialog').hidden")
    assert page.js("return edgemask.state.objects[0].kind") == "mask"
    page.js("document.getElementById('simplify').value = 0;")
    page.button("#object-list li.selected button[data-action=convert]")
    page.wait("!document.getElementById('dialog').hidden")
    assert f"changes {hole} px in all" in page.driver.find_element("id", "dialog-text").text
    page.button("#dialog-buttons button[data-choice=fill]")
    page.wait("edgemask.state.objects[0].kind === 'polygon'")
    page.raise_js_errors()


def test_status_workflow_list_filter_search_thumbnails_and_export(page):
    def statuses():
        return page.js("return Object.fromEntries([...document.querySelectorAll('#image-list li')]"
                       ".map((li) => [li.dataset.name, li.dataset.status]))")

    def chips():
        return [b.text for b in page.driver.find_elements("css selector", "#status-counts button")]

    assert chips() == ["to do 4", "in progress 0", "done 0", "skipped 0"]
    # thumbnails: small images served for the list
    page.wait("[...document.querySelectorAll('#image-list img.thumb')].every((i) => i.complete && i.naturalWidth > 0)")
    assert page.js("return Math.max(...[...document.querySelectorAll('#image-list img.thumb')]"
                   ".map((i) => Math.max(i.naturalWidth, i.naturalHeight)))") <= 96

    page.one_to_one()
    page.keys("r")
    page.drag([(20, 20), (60, 60)])
    page.wait_saved()
    page.wait("document.querySelector('#image-list li.current').dataset.status === 'in_progress'")
    page.combo(["\ue008"], "d")  # Shift+D: done, next
    page.wait("edgemask.state.imageName === 'b_scene.png'")
    page.wait("document.querySelector('#image-list li[data-name=\"a_scene.png\"]').dataset.status === 'done'")
    # b_scene: done with nothing on it (all background); c_ring skipped from the status box
    page.combo(["\ue008"], "d")
    page.wait("edgemask.state.imageName === 'c_ring.png'")
    from selenium.webdriver.support.select import Select

    Select(page.driver.find_element("id", "image-status")).select_by_value("skipped")
    page.wait("document.querySelector('#image-list li.current').dataset.status === 'skipped'")
    assert chips() == ["to do 1", "in progress 0", "done 2", "skipped 1"]
    page.keys("n")  # next to do
    page.wait("edgemask.state.imageName === 'd_other.png'")
    page.keys("n")
    page.wait("document.getElementById('stage-info').textContent.includes('No other image is left to do')")

    # the server keeps the statuses
    listed = {i["name"]: i["status"] for i in get_json(page.url + "api/images")["images"]}
    assert listed == {"a_scene.png": "done", "b_scene.png": "done", "c_ring.png": "skipped",
                      "d_other.png": "todo"} == statuses()

    # filter by status (select or a count chip) and search by name
    def visible():
        return page.js("return [...document.querySelectorAll('#image-list li')].filter((li) => !li.hidden)"
                       ".map((li) => li.dataset.name)")

    page.button("#status-counts button[data-status=done]")
    assert visible() == ["a_scene.png", "b_scene.png"]
    page.keys("a")  # navigation follows the filtered list
    page.wait("edgemask.state.imageName === 'b_scene.png'")
    page.button("#status-counts button[data-status=done]")  # again: all
    search = page.driver.find_element("id", "image-search")
    search.send_keys("RING")
    assert visible() == ["c_ring.png"]
    search.send_keys(ESCAPE)
    search.clear()
    search.send_keys("zzz")
    page.wait("!document.getElementById('list-empty').hidden")
    search.clear()
    search.send_keys(" ")
    page.wait("document.getElementById('list-empty').hidden")

    # export from the page: the done image without objects is all background, the page says
    # which images were left out and why
    page.clear_downloads()
    page.button("#btn-export")
    zf = zipfile.ZipFile(page.wait_download())
    masks = sorted(n for n in zf.namelist() if n.startswith("masks/"))
    assert masks == ["masks/a_scene.png", "masks/b_scene.png"]
    classes = cv2.imdecode(np.frombuffer(zf.read("masks/b_scene.png"), np.uint8), cv2.IMREAD_UNCHANGED)
    assert classes.shape == (H, W) and not classes.any()
    page.wait("document.getElementById('stage-info').textContent.includes('left out 2')")
    info = page.driver.find_element("id", "stage-info").text
    assert "c_ring.png (marked skipped)" in info and "d_other.png (not annotated yet)" in info
    page.raise_js_errors()


def _label_row(page, label_id):
    return page.driver.find_element("css selector", f"#label-list li[data-label-id='{label_id}']")


def _label_button(page, label_id, action):
    _label_row(page, label_id).find_element("css selector", f"button[data-action={action}]").click()


def test_labels_rename_recolour_reorder_delete_and_add_from_file(page, tmp_path):
    page.one_to_one()
    page.driver.find_element("css selector", "#label-panel summary").click()
    divers = pick_label(page, 2)
    page.keys("r")
    page.drag([(20, 20), (60, 60)])
    page.wait_saved()
    api_labels = page.url + "api/labels"

    # rename: label bar, object list and server follow
    name = _label_row(page, divers).find_element("css selector", "input.label-name")
    name.send_keys("\ue009a")  # Ctrl+A: the whole name
    name.send_keys("diver", ENTER)
    page.wait(f"edgemask.state.labels.find((l) => l.id === {divers}).name === 'diver'")
    assert [lb["name"] for lb in get_json(api_labels)["labels"]][1] == "diver"
    assert "diver" in page.driver.find_element("css selector", f"#labels button[data-label-id='{divers}']").text
    assert page.driver.find_element("css selector", "#object-list li select option:checked").text == "diver"
    # recolour
    page.js("const c = arguments[0]; c.value = '#ff8800'; c.dispatchEvent(new Event('change'));",
            _label_row(page, divers).find_element("css selector", "input[type=color]"))
    page.wait(f"edgemask.state.labels.find((l) => l.id === {divers}).color === '#ff8800'")
    assert get_json(api_labels)["labels"][1]["color"] == "#ff8800"
    # reorder: up one makes it class 1, as the export shows
    _label_button(page, divers, "up")
    page.wait(f"edgemask.state.labels[0].id === {divers}")
    assert get_json(api_labels)["labels"][0]["id"] == divers
    assert page.driver.find_element("css selector", "#label-list li .index").text == "1"
    with urllib.request.urlopen(page.url + "api/export/index-png") as r:
        zf = zipfile.ZipFile(io.BytesIO(r.read()))
    classes = cv2.imdecode(np.frombuffer(zf.read("masks/a_scene.png"), np.uint8), cv2.IMREAD_UNCHANGED)
    assert classes[40, 40] == 1

    # delete a label in use: the dialog says what happens to its objects; move them
    target = pick_label(page, 3)  # the current label is where the objects can go
    _label_button(page, divers, "delete")
    page.wait("!document.getElementById('dialog').hidden")
    assert "used by 1 object(s) on 1 image(s)" in page.driver.find_element("id", "dialog-text").text
    page.button("#dialog-buttons button[data-choice=relabel]")
    page.wait(f"!edgemask.state.labels.some((l) => l.id === {divers})")
    page.wait(f"edgemask.state.objects.length === 1 && edgemask.state.objects[0].label_id === {target}")
    stored = get_json(page.url + "api/images/a_scene.png/annotations")
    assert [o["label_id"] for o in stored["objects"]] == [target]
    page.keys("r")
    page.drag([(100, 20), (140, 60)])  # the page saves on the new version: no conflict
    page.wait_saved()
    # a label no object uses
    unused = page.labels()[-1]["id"]
    _label_button(page, unused, "delete")
    page.wait("!document.getElementById('dialog').hidden")
    assert "No object uses it" in page.driver.find_element("id", "dialog-text").text
    page.button("#dialog-buttons button[data-choice=label]")
    page.wait(f"!edgemask.state.labels.some((l) => l.id === {unused})")

    # add from a file
    count = len(page.labels())
    path = tmp_path / "more-labels.txt"
    path.write_text("kelp #00aa00\nurchin\n")
    page.driver.find_element("id", "label-file").send_keys(str(path))
    page.wait(f"edgemask.state.labels.length === {count + 2}")
    assert [lb["name"] for lb in get_json(api_labels)["labels"]][-2:] == ["kelp", "urchin"]
    assert "Added 2 label(s)" in page.driver.find_element("id", "stage-info").text
    page.keys("d")  # keys still reach the page
    page.wait("edgemask.state.imageName === 'b_scene.png'")
    page.raise_js_errors()


def test_canvas_options_first_view_and_kept_settings(driver, serve):
    url = serve().url
    page = Page(driver, url).open()
    # first view: one line says what to do; the default label shows on dark water
    hint = page.driver.find_element("id", "first-hint")
    assert hint.is_displayed() and "Pick a label" in hint.text and "Shift+D" in hint.text
    assert page.js("const s = edgemask.state; return s.labels.find((l) => l.id === s.currentLabelId).name") \
        == "plants/sea-grass"
    page.one_to_one()
    page.keys("r")
    page.drag([(20, 20), (60, 60)])  # an object of the default label
    page.wait_saved()
    assert not hint.is_displayed()
    rect_label = page.js("return edgemask.state.objects[0].label_id")

    # the label's name on hover and on the selected object
    page.keys("v", ESCAPE)  # nothing selected: the hover tag shows
    page.hover(40, 40)
    page.wait("edgemask.view.lastTags.below === 'plants/sea-grass'")
    page.click(40, 40)
    page.wait("edgemask.view.lastTags.above === 'plants/sea-grass'")

    # outline-only: the inside shows the image, the edge the label colour
    page.keys(ESCAPE)
    page.hover(150, 200)
    inside_before = screen_pixels(page, 40, 40, 1, 1)[0, 0, :3].astype(int)
    page.driver.find_element("id", "outline-only").click()
    page.wait("edgemask.state.outlineOnly")
    time.sleep(0.1)
    inside = screen_pixels(page, 40, 40, 1, 1)[0, 0, :3].astype(int)
    assert list(inside) == [40, 140, 60] != list(inside_before)
    edge = screen_pixels(page, 20, 40, 1, 1)[0, 0, :3].astype(int)
    assert edge[1] > 200 and edge[0] < 60  # the green outline
    page.driver.find_element("id", "outline-only").click()

    # brush "only unlabelled pixels": a stroke across the rectangle leaves it alone
    page.driver.find_element("css selector", "#label-panel summary").click()
    page.driver.find_element("id", "paint-unlabelled").click()
    pick_label(page, 5)
    page.js("const b = document.getElementById('brush-size'); b.value = 10; b.dispatchEvent(new Event('input'));")
    page.keys(ESCAPE, "b")
    page.drag([(5, 40), (100, 40)], steps=8)
    page.wait("edgemask.state.objects.length === 2")
    page.wait_saved()
    labels = [lb["id"] for lb in page.labels()]
    with urllib.request.urlopen(url + "api/export/index-png") as r:
        classes = cv2.imdecode(np.frombuffer(zipfile.ZipFile(io.BytesIO(r.read())).read("masks/a_scene.png"),
                                             np.uint8), cv2.IMREAD_UNCHANGED)
    rect_class, brush_class = labels.index(rect_label) + 1, 5  # the stroke is above the rectangle
    assert (classes[40, 5:19] == brush_class).all() and (classes[40, 61:100] == brush_class).all()
    assert (classes[20:60, 20:60] == rect_class).all()  # no pixel of the rectangle painted over
    # a mask in outline-only view: its edge in the label colour, its inside the image
    page.keys(ESCAPE)
    page.hover(150, 200)
    page.driver.find_element("id", "outline-only").click()
    time.sleep(0.15)
    assert list(screen_pixels(page, 80, 40, 1, 1)[0, 0, :3]) == [40, 140, 60]
    edge = screen_pixels(page, 80, 35, 1, 1)[0, 0, :3].astype(int)
    assert edge[0] > 200 and edge[1] < 60  # robots: red
    page.driver.find_element("id", "outline-only").click()

    # show / hide and lock per label
    _label_button(page, rect_label, "toggle-hidden")
    page.wait(f"edgemask.state.hiddenLabels.has({rect_label})")
    time.sleep(0.1)
    assert list(screen_pixels(page, 30, 55, 1, 1)[0, 0, :3]) == [40, 140, 60]  # not drawn
    _label_button(page, rect_label, "toggle-hidden")
    _label_button(page, rect_label, "toggle-lock")
    page.keys("v")
    page.click(40, 25)  # a locked label's object is passed over
    time.sleep(0.1)
    assert page.js("return edgemask.state.selectedId") is None
    rect_id = page.js(f"return edgemask.state.objects.find((o) => o.label_id === {rect_label}).id")
    page.button(f"#object-list li[data-id='{rect_id}'] button[data-action=delete]")
    page.wait("document.getElementById('stage-info').textContent.includes('is locked')")
    assert page.js("return edgemask.state.objects.length") == 2

    # a label too dark to see on dark water (SUIM's black waterbody) is drawn with a light edge
    pick_label(page, 1)
    page.keys("r")
    page.drag([(150, 150), (190, 190)])
    page.wait("edgemask.state.objects.length === 3")
    page.keys(ESCAPE)
    page.hover(250, 60)
    time.sleep(0.15)
    assert screen_pixels(page, 150, 170, 1, 1)[0, 0, :3].min() > 150
    assert screen_pixels(page, 170, 170, 1, 1)[0, 0, :3].max() < 90  # dark fill inside

    # brush size, opacity, current label and view settings are kept across a reload
    page.js("const o = document.getElementById('opacity'); o.value = 70; o.dispatchEvent(new Event('input'));")
    pick_label(page, 5)
    label5 = page.js("return edgemask.state.currentLabelId")
    page = Page(driver, url).open()
    assert page.js("return [edgemask.state.brushSize, edgemask.state.opacity, edgemask.state.currentLabelId,"
                   " edgemask.state.paintUnlabelled, [...edgemask.state.lockedLabels]]") == \
        [10, 0.7, label5, True, [rect_label]]
    assert page.driver.find_element("id", "brush-size-value").text == "10"
    assert page.driver.find_element("id", "paint-unlabelled").is_selected()
    page.raise_js_errors()
