"""Propagate through the API (edgemask.webui.ai.propagation_jobs) on the random-weight sam2.1-hiera-tiny with
its video graphs (tests/conftest.py sam2_video_model): objects land marked on the next images and an edit clears the
mark; nothing drawn is overwritten; a correction prompts again; a lost object stops and is named; cancel;
a sequence of one image, frames of different sizes, a model without video parts: one sentence each.
One server and model for the module; small frames (the encoder runs at 1024 whatever their size)."""

import time

import cv2
import numpy as np
import pytest

from synthetic import synthetic_image
from video_model import panning_frames
from webui_util import app_clients, finished_job, one_sentence_error as _error

pytest.importorskip("torch")
pytest.importorskip("sam2")

FRAMES, H, W = 4, 48, 64


def frames():
    return panning_frames(FRAMES, H, W)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """f0.png .. f3.png: a scene panning 2 pixels a frame; z_small.png: another size, last in name order."""
    root = tmp_path_factory.mktemp("sequence")
    for i, frame in enumerate(frames()):
        cv2.imwrite(str(root / f"f{i}.png"), frame[:, :, ::-1])
    cv2.imwrite(str(root / "z_small.png"), synthetic_image(30, 40, seed=1))
    return root


@pytest.fixture(scope="module")
def make_client(images, tmp_path_factory, test_cache):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGEMASK_HOME", str(tmp_path_factory.mktemp("home")))
        yield from app_clients({"IMAGES_DIR": str(images), "TESTING": True, "DEVICE": "cpu",
                                "CACHE_DIR": str(test_cache / "embeddings")})  # shared with test_browser_propagate


@pytest.fixture(scope="module")
def client(make_client, sam2_video_model):
    return make_client(sam2_video_model)


def _labels(client):
    return [label["id"] for label in client.get("/api/labels").get_json()["labels"]]


def _objects(client, name):
    return client.get(f"/api/images/{name}/annotations").get_json()


def _put(client, name, objects):
    version = _objects(client, name)["version"]
    resp = client.put(f"/api/images/{name}/annotations", json={"version": version, "objects": objects})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def _propagated(client, name, **body):
    url = f"/api/images/{name}/propagate"
    return finished_job(client, url, url, body, timeout=300)


def _mask(o):
    from edgemask.runtime.shapes import box_runs_to_mask, polygons_to_mask

    return box_runs_to_mask(o["mask"], H, W) if o["kind"] == "mask" else polygons_to_mask([o["polygon"]], H, W)


def iou(a, b) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


FISH = [[12, 10], [40, 8], [44, 30], [16, 34]]


def test_propagate_marks_protects_and_uses_a_correction(client):
    from edgemask.runtime.sequence_predictor import SequencePredictor

    fish, reef = _labels(client)[:2]
    _put(client, "f0.png", [{"id": "fish", "label_id": fish, "kind": "polygon", "polygon": FISH}])
    # f1 was drawn by a person already: a fish over the whole image and a reef; neither may change
    drawn = [{"id": "big", "label_id": fish, "kind": "polygon", "polygon": [[0, 0], [W, 0], [W, H], [0, H]]},
             {"id": "reef", "label_id": reef, "kind": "polygon", "polygon": [[1, 1], [9, 1], [9, 9]]}]
    _put(client, "f1.png", drawn)
    before = _objects(client, "f1.png")

    job = _propagated(client, "f0.png", k=2)
    assert job["state"] == "done" and job["stopped"] == [], job
    assert [f["image"] for f in job["frames"]] == ["f1.png", "f2.png"]
    assert job["frames"][0]["added"] == [] and job["frames"][0]["skipped_labels"] == [fish]
    assert _objects(client, "f1.png") == before  # nothing drawn is overwritten
    got = _objects(client, "f2.png")["objects"]
    assert len(got) == 1 and got[0]["label_id"] == fish and got[0]["kind"] == "mask"
    assert got[0]["propagated"] == "f0.png" and got[0]["id"] == job["frames"][1]["added"][0]
    assert _objects(client, "f0.png")["objects"][0].get("propagated") is None

    # a correction on f2: its top half erased; the mark goes, and propagating from f2 prompts with it
    corrected = _mask(got[0])
    corrected[:H // 2] = False
    assert corrected.any() and (corrected != _mask(got[0])).any()
    from edgemask.runtime.shapes import mask_to_box_runs

    edited = dict(got[0], mask=mask_to_box_runs(corrected))
    _put(client, "f2.png", [edited])
    assert "propagated" not in _objects(client, "f2.png")["objects"][0]
    job = _propagated(client, "f2.png", k=1)
    assert job["state"] == "done" and len(job["frames"]) == 1, job
    landed = _objects(client, "f3.png")["objects"]
    assert len(landed) == 1 and landed[0]["propagated"] == "f2.png"

    assistant = client.application.extensions["edgemask"].assistant
    ours = SequencePredictor(client.application.extensions["edgemask_propagation"].model(assistant.predictor.model.path))

    def cached(i):  # the embeddings the job used (the page's embedding cache), not encoded again
        with assistant.exclusive() as wand:
            wand.set_image_path(client.application.extensions["edgemask"].folder.path(f"f{2 + i}.png"))
            return np.array(wand.get_decoder_embedding())

    state = ours.init_state(frames()[2:4], embed=cached)
    ours.add_new_mask(state, 0, "fish", corrected)
    want = list(ours.propagate_in_video(state, 0, 1))[1][2][0, 0] > 0
    assert iou(_mask(landed[0]), want) >= 0.98  # the corrected mask was the prompt


def test_lost_object_stops_and_names_the_image(client):
    before = _objects(client, "f3.png")  # (f3 was propagated to by the test above)
    job = _propagated(client, "f2.png", k=1, min_score=1e6)
    assert job["state"] == "done" and [s["image"] for s in job["stopped"]] == ["f3.png"], job
    assert "'f3.png'" in job["message"] and "stopped" in job["message"]
    assert job["frames"] == [] or job["frames"][0]["added"] == []
    assert _objects(client, "f3.png") == before


def test_cancel(client):
    before = _objects(client, "f3.png")
    job = client.post("/api/images/f0.png/propagate", json={"k": 3}).get_json()
    assert job["state"] == "running"
    client.post("/api/images/f0.png/propagate/cancel")
    deadline = time.time() + 120
    while job["state"] == "running" and time.time() < deadline:
        time.sleep(0.1)
        job = client.get("/api/images/f0.png/propagate").get_json()
    assert job["state"] == "cancelled", job
    assert len(job["frames"]) < 3 and job["message"].startswith("Cancelled")
    assert _objects(client, "f3.png") == before


def test_refusals_are_one_sentence(client, make_client, tiny_model_dir, sam2_video_model, tmp_path):
    import json
    import os

    assert "last image" in _error(client.post("/api/images/z_small.png/propagate", json={"k": 3}), 400)
    message = _error(client.post("/api/images/f3.png/propagate", json={"k": 1}), 400)
    assert "one size" in message and "64x48" in message and "40x30" in message
    for k in (0, -1, 101, 2**63 - 1, -2**63, True, 1.5, "3", None):
        assert "from 1 to" in _error(client.post("/api/images/f0.png/propagate", json={"k": k}), 400), k
    for k in (2**63, -2**63 - 1, 2**64):  # the body reader refuses them before propagate reads "k"
        assert "beyond 64 bits" in _error(client.post("/api/images/f0.png/propagate", json={"k": k}), 400), k
    for raw in ('{"min_score": NaN}', '{"min_score": Infinity}', '{"min_score": -1e999}'):
        _error(client.post("/api/images/f0.png/propagate", data=raw, content_type="application/json"), 400)
    message = _error(client.post("/api/images/f0.png/propagate", json={"k\x07\u0000": 1}), 400)
    assert "Unknown propagate parameter" in message and "\x07" not in message and "\x00" not in message
    assert "min_score" in _error(client.post("/api/images/f0.png/propagate", json={"min_score": "high"}), 400)
    assert "is not one" in _error(make_client(tiny_model_dir).post("/api/images/f0.png/propagate", json={}), 400)
    image_only = tmp_path / "image-only"  # the same SAM 2.1 folder without its video parts
    image_only.mkdir()
    for f in sam2_video_model.iterdir():
        if f.suffix == ".onnx" and not f.name.startswith("memory_"):
            os.link(f, image_only / f.name)
    manifest = json.loads((sam2_video_model / "model.json").read_text())
    manifest.pop("video")
    manifest["files"] = {k: v for k, v in manifest["files"].items() if (image_only / k).exists()}
    (image_only / "model.json").write_text(json.dumps(manifest))
    no_video = make_client(image_only)
    assert "no video parts" in _error(no_video.post("/api/images/f0.png/propagate", json={}), 400)
    assert "needs a SAM 2.1 model" in _error(make_client(None).post("/api/images/f0.png/propagate", json={}), 409)
