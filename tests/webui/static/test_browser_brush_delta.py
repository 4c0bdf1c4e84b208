"""Brush and eraser strokes on a stored mask are saved as the pixels of the stroke's box
("paint"), not the whole mask: two strokes, an undo and a redo are all on the server after a
reload (headless Chromium, real mouse events)."""

import json
import os
import urllib.request

import cv2
import numpy as np
import pytest

from browser_util import LiveServer, Page, browser_missing_reason, quit_chromium, start_chromium

_MISSING = browser_missing_reason()
if _MISSING and os.environ.get("EDGEMASK_REQUIRE_BROWSER"):
    raise RuntimeError(f"EDGEMASK_REQUIRE_BROWSER is set but {_MISSING}")
pytestmark = [pytest.mark.browser] + ([pytest.mark.skip(reason=_MISSING)] if _MISSING else [])

W, H = 320, 240
URL = "api/images/scene.png/annotations"

# Records the saves the page sends (method, parsed JSON body).
RECORD = """
window._saves = [];
const f = window.fetch;
window.fetch = (url, init) => {
  if (init && init.body && String(url).endsWith('/annotations')) window._saves.push([init.method, JSON.parse(init.body)]);
  return f(url, init);
};
"""


def http(method, url, body=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def stored_mask(base):
    from edgemask.runtime.shapes import box_runs_to_mask

    (obj,) = http("GET", base + URL)["objects"]
    return box_runs_to_mask(obj["mask"], H, W)


@pytest.fixture
def server(tmp_path):
    from edgemask.webui import create_app

    root = tmp_path / "images"
    root.mkdir()
    rgb = np.full((H, W, 3), (40, 120, 160), np.uint8)
    cv2.imwrite(str(root / "scene.png"), rgb)
    srv = LiveServer(create_app({"IMAGES_DIR": str(root), "DB_PATH": str(tmp_path / "a.sqlite")}))
    yield srv
    srv.close()
    srv.app.extensions["edgemask"].store.close()


def test_strokes_save_their_box_and_survive_undo_redo_and_reload(server):
    from edgemask.runtime.shapes import mask_to_box_runs

    base = server.url
    label = http("GET", base + "api/labels")["labels"][0]["id"]
    start = np.zeros((H, W), bool)
    start[60:140, 60:160] = True
    http("PUT", base + URL, {"version": 0, "objects": [
        {"id": "m", "label_id": label, "kind": "mask", "mask": mask_to_box_runs(start)}]})

    driver = start_chromium()
    try:
        page = Page(driver, base).open()
        page.one_to_one()
        page.keys("v")
        page.click(100, 100)
        page.wait("edgemask.state.selectedId === 'm'")
        page.keys("1", "b")
        page.js("document.getElementById('brush-size').value = 10;"
                "document.getElementById('brush-size').dispatchEvent(new Event('input'));")
        page.js(RECORD)

        page.drag([(150, 100), (220, 100)], steps=6)   # out of the mask to the right
        page.wait("edgemask.history.past.length === 2")
        page.wait_saved()
        page.drag([(100, 130), (100, 200)], steps=6)   # down out of it
        page.wait("edgemask.history.past.length === 3")
        page.wait_saved()
        both = stored_mask(base)
        assert both[100, 160:221].all() and both[141:201, 100].all() and both[start].all()
        assert not both[100, 230] and not both[210, 100]

        page.keys("e")                                 # an eraser stroke across the middle
        page.drag([(110, 50), (110, 150)], steps=6)
        page.wait("edgemask.history.past.length === 4")
        page.wait_saved()
        erased = stored_mask(base)
        assert not erased[60:140, 108:113].any() and erased[100, 150:221].all()

        from selenium.webdriver.common.keys import Keys

        page.combo([Keys.CONTROL], "z")                # the eraser undone
        page.wait("edgemask.history.past.length === 3")
        page.wait_saved()
        np.testing.assert_array_equal(stored_mask(base), both)
        page.combo([Keys.CONTROL], "y")                # and redone
        page.wait("edgemask.history.past.length === 4")
        page.wait_saved()
        np.testing.assert_array_equal(stored_mask(base), erased)

        saves = page.js("return window._saves;")
        assert len(saves) == 5 and all(method == "PATCH" for method, _ in saves)
        for _, body in saves:  # each the box of one stroke, never the whole mask
            assert body["upsert"] == [] and len(body["paint"]) == 1
            x0, y0, x1, y1 = body["paint"][0]["box"]
            assert body["paint"][0]["id"] == "m" and (x1 - x0) * (y1 - y0) < 100 * 80

        page.open()                                    # everything is there after a reload
        (obj,) = page.objects()
        from test_browser import data_url_mask

        np.testing.assert_array_equal(data_url_mask(obj["mask"]), erased)
        page.raise_js_errors()
    finally:
        quit_chromium(driver)
