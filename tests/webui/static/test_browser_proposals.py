"""The Pre-label tool in headless Chromium, on efficientvit-sam-l0 exported from a random-weight checkpoint
of the official architecture: the proposals are computed in the background and drawn, two clicks accept two
of them as two objects, which are saved; undo removes one and its proposal shows again. Only the plumbing is
checked (random weights segment nothing meaningful)."""

import json
import os
import urllib.request

import cv2
import numpy as np
import pytest

from browser_util import Page, browser_missing_reason, chromium, serve

_MISSING = browser_missing_reason()
if _MISSING and os.environ.get("EDGEMASK_REQUIRE_BROWSER"):  # CI installs the browser: missing is an error
    raise RuntimeError(f"EDGEMASK_REQUIRE_BROWSER is set but {_MISSING}")
pytestmark = [pytest.mark.browser] + ([pytest.mark.skip(reason=_MISSING)] if _MISSING else [])

# a small grid with the filters lowered so that a random-weight model yields proposals
FAST = {"points_per_side": 4, "pred_iou_thresh": 0, "stability_score_thresh": 0, "box_nms_thresh": 1.0}


def click_points(proposals, height, width):
    """[(id, x, y)]: for each proposal a pixel where a click picks it (the smallest proposal there)."""
    from edgemask.runtime.shapes import box_runs_to_mask

    masks = [box_runs_to_mask(p["mask"], height, width) for p in proposals]
    area = np.full((height, width), np.inf)
    smallest = np.full((height, width), -1)
    for i in sorted(range(len(masks)), key=lambda i: -proposals[i]["area"]):
        take = masks[i] & (proposals[i]["area"] < area)
        area[take], smallest[take] = proposals[i]["area"], i
    out = []
    for i, p in enumerate(proposals):
        ys, xs = np.nonzero(smallest == i)
        if len(xs):
            out.append((p["id"], float(xs[len(xs) // 2]) + 0.5, float(ys[len(ys) // 2]) + 0.5))
    return out


def get_json(url):
    with urllib.request.urlopen(url) as r:
        return json.loads(r.read())


@pytest.fixture
def server(tmp_path, exported_model, monkeypatch):
    from edgemask.webui import create_app

    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))
    root = tmp_path / "images"
    root.mkdir()
    rgb = np.full((90, 120, 3), (40, 140, 60), np.uint8)
    rgb[20:60, 30:80] = (220, 60, 30)
    rgb[65:85, 90:115] = (30, 40, 200)
    cv2.imwrite(str(root / "reef.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    app = create_app({"IMAGES_DIR": str(root), "MODEL_DIR": str(exported_model("efficientvit-sam-l0")),
                      "DEVICE": "cpu", "CACHE_DIR": str(tmp_path / "cache")})
    yield from serve(app)


@pytest.fixture
def driver():
    yield from chromium()


def test_two_clicks_accept_two_proposals(driver, server):
    page = Page(driver, server.url).open()
    page.js("edgemask.tools.prelabel.params = arguments[0];", FAST)
    page.driver.find_element("css selector", "#tools button[data-tool='prelabel']").click()
    page.wait("edgemask.tools.prelabel.visible().length >= 2", timeout=90, what="the proposals")
    shown = page.js("return edgemask.tools.prelabel.visible().length")
    count = "return document.querySelector(\"#tools button[data-tool='prelabel']\").dataset.count"
    assert page.js(count) == str(shown)  # the open image's proposals, counted on the tool's button
    points = click_points(get_json(server.url + "api/images/reef.png/proposals")["proposals"], 90, 120)
    assert len(points) >= 2
    label = page.js("return edgemask.state.currentLabelId")
    for k, (pid, x, y) in enumerate(points[:2]):
        page.click(x, y)
        page.wait(f"edgemask.state.objects.length === {k + 1}", timeout=20, what=f"object {k + 1}")
    page.wait_saved()
    saved = get_json(server.url + "api/images/reef.png/annotations")["objects"]
    listed = get_json(server.url + "api/images/reef.png/proposals")
    assert len(saved) == 2 and all(o["kind"] == "mask" and o["label_id"] == label for o in saved)
    assert listed["counts"]["accepted"] == 2 and len(listed["proposals"]) == shown - 2
    accepted = {p[0] for p in points[:2]}
    assert accepted.isdisjoint(p["id"] for p in listed["proposals"])
    assert page.js("return edgemask.tools.prelabel.visible().length") == shown - 2
    assert page.js(count) == str(shown - 2)

    page.js("edgemask.app.undo()")  # an ordinary undoable step: the object goes, its proposal is back
    page.wait("edgemask.state.objects.length === 1")
    page.wait_saved()
    assert len(get_json(server.url + "api/images/reef.png/annotations")["objects"]) == 1
    assert page.js("return edgemask.tools.prelabel.visible().length") == shown - 1
    assert len(get_json(server.url + "api/images/reef.png/proposals")["proposals"]) == shown - 1
    page.raise_js_errors()
