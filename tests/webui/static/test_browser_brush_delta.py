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


# [the selected object's runs as maskToBoxRuns gives them == all its pixels read,
#  the same for 200 random strokes on a random mask canvas, their outlines too]
SAME_RUNS = """
const done = arguments[arguments.length - 1];
(async () => {
  const { maskToBoxRuns, regionToBoxRuns } = await import('/static/mask/boxruns.js');
  const { makeCanvas, ctx2d, derive, maskBBox, cloneCanvas, binarize, touch } = await import('/static/mask/canvas.js');
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const full = (c) => { const box = maskBBox(c); return box ? regionToBoxRuns(c, box) : { box: [0, 0, 0, 0], runs: [] }; };
  const o = edgemask.state.objects.find((x) => x.id === 'm');
  const first = same(maskToBoxRuns(o.canvas), full(o.canvas));
  // the outline redone in the stroke's box only is the outline made whole (a copy has no lineage)
  const { maskOutline } = await import('/static/mask/outline.js');
  const pixels = (m) => m ? [m.x, m.y, ...m.canvas.getContext('2d').getImageData(0, 0, m.canvas.width, m.canvas.height).data] : null;
  const sameOutline = (n) => same(pixels(maskOutline(n, '#123456', 2, 80, 60)), pixels(maskOutline(cloneCanvas(n), '#123456', 2, 80, 60)));
  let rnd = 7;
  const r = (n) => { rnd = (rnd * 1103515245 + 12345) % 2147483648; return rnd % n; };
  let c = makeCanvas(60, 40, 5, 5);
  const g = ctx2d(c);
  g.fillStyle = '#fff';
  for (let i = 0; i < 40; i++) g.fillRect(r(60), r(40), 1 + r(9), 1 + r(5));
  touch(c); binarize(c);
  let ok = true;
  for (let i = 0; i < 200 && ok; i++) {
    maskToBoxRuns(c);
    maskOutline(c, '#123456', 2, 80, 60);
    const n = cloneCanvas(c);
    const x = 5 + r(60), y = 5 + r(40), w = 1 + r(20), h = 1 + r(12);
    const ng = ctx2d(n);
    ng.globalCompositeOperation = r(2) ? 'source-over' : 'destination-out';
    ng.fillStyle = '#fff';
    ng.fillRect(x - n._x, y - n._y, w, h);
    touch(n); binarize(n);
    derive(n, c, [x, y, x + w, y + h]);
    ok = same(maskToBoxRuns(n), full(n)) && sameOutline(n);
    c = n;
  }
  done([first, ok]);
})();
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

        # the object list's encoding of the stroke's canvas (reusing the runs of the canvas it came
        # from outside the stroke's rows) is what reading all of its pixels gives
        assert page.driver.execute_async_script(SAME_RUNS) == [True, True]

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
