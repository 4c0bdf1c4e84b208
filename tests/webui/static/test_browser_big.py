"""The annotator page on a camera-size photo: masks move as box-runs (their bounding box), saves
send only what changed, and what the page shows is what the server exports, pixel for pixel."""

import io
import json
import os
import urllib.request
import zipfile

import cv2
import numpy as np
import pytest

from browser_util import LiveServer, Page, browser_missing_reason, quit_chromium, start_chromium

_MISSING = browser_missing_reason()
if _MISSING and os.environ.get("EDGEMASK_REQUIRE_BROWSER"):
    raise RuntimeError(f"EDGEMASK_REQUIRE_BROWSER is set but {_MISSING}")
pytestmark = [pytest.mark.browser] + ([pytest.mark.skip(reason=_MISSING)] if _MISSING else [])

W, H = 2400, 1800

# Records the bodies the page sends (method, url, parsed JSON).
RECORD = """
if (!window._sent) {
  window._sent = [];
  const f = window.fetch;
  window.fetch = (url, init) => {
    if (init && init.body) window._sent.push([init.method, String(url), JSON.parse(init.body)]);
    return f(url, init);
  };
}
window._sent.length = 0;
"""


def blob(cx, cy, rx, ry, hole=0):
    m = np.zeros((H, W), np.uint8)
    cv2.ellipse(m, (cx, cy), (rx, ry), 20, 0, 360, 1, -1)
    if hole:
        cv2.circle(m, (cx, cy), hole, 0, -1)
    return m.astype(bool)


def http(method, url, body=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return r.read()


def data_url_mask(url) -> np.ndarray:
    import base64

    png = base64.b64decode(url.split(",", 1)[1])
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    return (img > 0).any(axis=2) if img.ndim == 3 else img > 0


def page_class_map(page) -> np.ndarray:
    """What the page holds, rasterised as the export does (ascending z, later paints over)."""
    from edgemask.runtime.shapes import polygons_to_mask

    ids = [label["id"] for label in page.labels()]
    out = np.zeros((H, W), np.uint8)
    for o in page.objects():
        m = data_url_mask(o["mask"]) if o["kind"] == "mask" else polygons_to_mask([o["polygon"]], H, W)
        out[m] = ids.index(o["label_id"]) + 1
    return out


def export_class_map(base) -> np.ndarray:
    zf = zipfile.ZipFile(io.BytesIO(http("GET", base + "api/export/index-png")))
    return cv2.imdecode(np.frombuffer(zf.read("masks/big.png"), np.uint8), cv2.IMREAD_UNCHANGED)


@pytest.fixture
def served(tmp_path):
    from edgemask.webui import create_app

    root = tmp_path / "images"
    root.mkdir()
    rng = np.random.default_rng(0)
    rgb = cv2.resize(rng.integers(0, 255, (18, 24, 3), dtype=np.uint8), (W, H), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(root / "big.png"), rgb)
    server = LiveServer(create_app({"IMAGES_DIR": str(root)}))
    driver = start_chromium(1200, 800)
    yield server, driver
    driver.get("about:blank")
    quit_chromium(driver)
    server.close()
    server.app.extensions["edgemask"].store.close()


def test_big_photo_objects_round_trip_through_box_runs_and_partial_saves(served):
    from edgemask.runtime.shapes import mask_to_png_data_url

    server, driver = served
    base = server.url
    labels = json.loads(http("GET", base + "api/labels"))["labels"]
    seeded = [blob(500, 400, 300, 200, hole=60), blob(1700, 1200, 400, 250), blob(1200, 900, 150, 300, hole=40)]
    objects = [{"id": f"m{i}", "label_id": labels[i]["id"], "kind": "mask", "z": i,
                "mask": mask_to_png_data_url(m)} for i, m in enumerate(seeded)]
    objects.append({"id": "p", "label_id": labels[3]["id"], "kind": "polygon", "z": 3,
                    "polygon": [[2000, 100], [2350, 150], [2200, 600]]})
    http("PUT", base + "api/images/big.png/annotations", {"version": 0, "objects": objects})
    answer = json.loads(http("GET", base + "api/images/big.png/annotations"))
    assert answer["objects"][0]["mask"]["box"] == answer["objects"][0]["bbox"]

    page = Page(driver, base).open()
    page.wait("edgemask.state.objects.length === 4")
    # loaded from box-runs into canvases of the objects' own size, placed where they belong
    shown = {o["id"]: o for o in page.objects()}
    for i, m in enumerate(seeded):
        np.testing.assert_array_equal(data_url_mask(shown[f"m{i}"]["mask"]), m)
    sizes = page.js("return edgemask.state.objects.filter((o) => o.kind === 'mask')"
                    ".map((o) => [o.canvas.width, o.canvas.height]);")
    assert all(w * h < W * H / 4 for w, h in sizes), sizes

    # a brush stroke extending m1 (its label, selected): the save sends the stroke's box of m1 alone
    page.js(RECORD)
    page.keys("b")
    page.js("edgemask.app.setLabel(arguments[0]); edgemask.app.select('m1');", labels[1]["id"])
    page.drag([(1700, 1200), (2300, 1700)], steps=6)  # out of m1's box: its canvas grows
    page.wait("edgemask.history.past.length === 2")
    page.wait_saved()
    sent = page.js("return window._sent;")
    assert [(s[0], s[2]["upsert"], [p["id"] for p in s[2]["paint"]], s[2]["update"], s[2]["delete"])
            for s in sent] == [("PATCH", [], ["m1"], [], [])]
    box = sent[0][2]["paint"][0]["box"]
    assert box[0] < 1700 and box[1] < 1200 and box[2] > 2300 and box[3] > 1700  # the stroke's box
    assert box[0] > 1600 and box[1] > 1100  # not m1's whole box

    # a new stroke far from everything makes a new object; only it is sent
    page.js(RECORD + "edgemask.app.select(null);")
    page.drag([(100, 1700), (150, 1300), (900, 1000)], steps=8)
    page.wait("edgemask.state.objects.length === 5")
    page.wait_saved()
    sent = page.js("return window._sent;")
    new_id = page.js("return edgemask.state.selectedId;")
    assert [[o["id"] for o in s[2]["upsert"]] for s in sent] == [[new_id]]
    # the first stroke is still in m1 (strokes share one whole-image canvas while they last)
    m1 = data_url_mask(next(o for o in page.objects() if o["id"] == "m1")["mask"])
    assert m1[1700, 2300] and m1[1200, 1700] and m1.sum() > seeded[1].sum()
    assert not m1[1700, 100] and not m1[1000, 900]  # nor did the second stroke go into it

    # relabelling, hiding and deleting send only ids and fields
    page.js(RECORD)
    page.js("edgemask.app.setObjectLabel('m0', arguments[0]);", labels[5]["id"])
    page.wait_saved()
    page.js("edgemask.app.objectAction('m2', 'hide'); edgemask.app.objectAction('p', 'delete');")
    page.wait("edgemask.state.objects.length === 4")
    page.wait_saved()
    bodies = [s[2] for s in page.js("return window._sent;")]
    assert all(not b["upsert"] for b in bodies)
    assert {"id": "m0", "label_id": labels[5]["id"]} in [u for b in bodies for u in b["update"]]
    assert {"id": "m2", "hidden": True} in [u for b in bodies for u in b["update"]]
    assert ["p"] == [d for b in bodies for d in b["delete"]]

    # the eraser cuts from m0 (the stroke's box); undo brings it back (that box again)
    page.js(RECORD)
    page.keys("e")
    page.js("edgemask.app.select('m0');")
    page.drag([(300, 400), (700, 400)], steps=4)
    page.wait_saved()
    page.js("edgemask.app.undo();")
    page.wait_saved()
    sent = page.js("return window._sent;")
    assert [([o["id"] for o in s[2]["upsert"]], [p["id"] for p in s[2]["paint"]]) for s in sent] == \
        [([], ["m0"]), ([], ["m0"])]
    page.js("edgemask.app.redo();")
    page.wait_saved()

    # a wand preview at this zoom is decoded coarser; Enter adds the full-resolution mask
    from edgemask.runtime.shapes import box_runs_to_mask

    known = {o["id"] for o in page.objects()}
    page.js(RECORD)
    page.keys("w")
    page.js("edgemask.app.setTolerance(60); edgemask.app.select(null);")
    page.click(1200, 300)
    page.wait("edgemask.state.preview && edgemask.state.preview.source === 'wand'")
    assert page.js("return edgemask.state.preview.canvas._step") > 1
    asked = [s[2] for s in page.js("return window._sent;") if s[1].endswith("/wand")][-1]
    page.keys("\ue007")
    page.wait("edgemask.state.objects.length === 5 && !edgemask.state.preview")
    page.wait_saved()
    added = next(o for o in page.objects() if o["id"] not in known)
    answer = json.loads(http("POST", base + "api/images/big.png/wand", asked))
    expected = box_runs_to_mask(answer["mask"], H, W)
    assert expected.sum() > 100
    np.testing.assert_array_equal(data_url_mask(added["mask"]), expected)

    # what the page has is what the server exports, and what a reload shows
    expected = page_class_map(page)
    np.testing.assert_array_equal(export_class_map(base), expected)
    before = page.objects()
    page.open()
    page.wait("edgemask.state.objects.length === 5")
    after = page.objects()
    assert [(o["id"], o["label_id"], o["z"], o["hidden"]) for o in after] == \
        [(o["id"], o["label_id"], o["z"], o["hidden"]) for o in before]
    for a, b in zip(after, before):
        np.testing.assert_array_equal(data_url_mask(a["mask"]), data_url_mask(b["mask"]))
    page.raise_js_errors()
