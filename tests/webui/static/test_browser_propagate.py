"""Propagate in headless Chromium on the random-weight sam2.1-hiera-tiny with its video graphs
(tests/conftest.py sam2_video_model): one object drawn with the Rect tool on the first of 4 small frames is propagated
to the next 3 with the page's control; it is found saved on each (through the API), marked propagated in
the object list, and an edit there (its label) clears the mark on the page and on the server. Only the
plumbing is checked: random weights follow nothing meaningful."""

import json
import os
import urllib.request

import cv2
import pytest

from browser_util import Page, browser_missing_reason, chromium, serve
from video_model import panning_frames

_MISSING = browser_missing_reason()
if _MISSING and os.environ.get("EDGEMASK_REQUIRE_BROWSER"):  # CI installs the browser: missing is an error
    raise RuntimeError(f"EDGEMASK_REQUIRE_BROWSER is set but {_MISSING}")
pytestmark = [pytest.mark.browser] + ([pytest.mark.skip(reason=_MISSING)] if _MISSING else [])
pytest.importorskip("torch")
pytest.importorskip("sam2")

FRAMES = 4


def get_json(url):
    with urllib.request.urlopen(url) as r:
        return json.loads(r.read())


@pytest.fixture
def server(tmp_path, sam2_video_model, test_cache, monkeypatch):
    from edgemask.webui import create_app

    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))
    root = tmp_path / "images"
    root.mkdir()
    for i, frame in enumerate(panning_frames(FRAMES)):  # the API test's frames: their embeddings are shared
        cv2.imwrite(str(root / f"dive_{i:03d}.png"), frame[:, :, ::-1])
    app = create_app({"IMAGES_DIR": str(root), "MODEL_DIR": str(sam2_video_model), "DEVICE": "cpu",
                      "CACHE_DIR": str(test_cache / "embeddings")})
    yield from serve(app)


@pytest.fixture
def driver():
    yield from chromium(1024, 700)  # the smallest layout the page supports


def test_propagate_one_object_across_four_images(driver, server):
    page = Page(driver, server.url).open("#dive_000.png")
    page.button("#tools button[data-tool='rect']")
    page.drag([(12, 8), (44, 34)])
    page.wait("edgemask.state.objects.length === 1", what="the drawn object")
    label = page.js("return edgemask.state.objects[0].label_id")
    page.js("document.getElementById('propagate-k').value = '3'")
    page.button("#btn-propagate")  # saves first, then starts the job
    page.wait("document.getElementById('propagate').dataset.state === 'running'", timeout=20, what="the job to start")
    page.wait("['done', 'cancelled', 'error'].includes(document.getElementById('propagate').dataset.state)",
              timeout=240, what="propagation to end")
    status = page.js("return document.getElementById('propagate-status').textContent")
    assert page.js("return document.getElementById('propagate').dataset.state") == "done", status
    names = [f"dive_{i:03d}.png" for i in range(FRAMES)]
    for name in names:  # saved on each of the 4 images
        objects = get_json(server.url + f"api/images/{name}/annotations")["objects"]
        assert len(objects) == 1 and objects[0]["label_id"] == label, (name, objects, status)
        assert objects[0].get("propagated") == (None if name == names[0] else names[0])
    counts = page.js("return edgemask.state.images.map((i) => i.objects)")
    assert counts == [1, 1, 1, 1]  # the image list learnt of them

    page.js("edgemask.app.openImage(arguments[0])", names[2])
    page.wait(f"edgemask.state.imageName === '{names[2]}' && edgemask.state.objects.length === 1")
    mark = "document.querySelector('#object-list .propagated-mark')"
    assert page.wait(mark, what="the propagated mark")
    assert names[0] in page.js(f"return {mark}.title")
    other = page.js("return edgemask.state.labels.find((l) => l.id !== arguments[0]).id", label)
    oid = page.js("return edgemask.state.objects[0].id")
    page.js("edgemask.app.setObjectLabel(arguments[0], arguments[1])", oid, other)  # an edit
    page.wait(f"!{mark}", what="the mark to go")
    page.wait_saved()
    edited = get_json(server.url + f"api/images/{names[2]}/annotations")["objects"]
    assert edited[0]["label_id"] == other and "propagated" not in edited[0]
    page.raise_js_errors()
