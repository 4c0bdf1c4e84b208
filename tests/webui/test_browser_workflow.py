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
    DELETE, ENTER, ESCAPE, H, W, driver, get_json, page, pick_label, pytestmark, scene, serve, write_rgb)

from browser_util import Page

BACKSPACE = "\ue003"
RING = (40, 40, 120, 120, 60, 60, 100, 100)  # outer box, hole box (exclusive ends)


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    write_rgb(root / "a_scene.png", scene(0))
    write_rgb(root / "b_scene.png", scene(1)[:, ::-1].copy())
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
