"""Pre-label proposals through the API: compute (background job, polled), list, accept (one, inside a box,
all), reject, survive a reload, come from `edgemask prelabel`'s file, are never exported; bad input."""

import io
import json
import zipfile

import numpy as np
import pytest

from webui_util import app_clients, finished_job, one_sentence_error as _error

# a small grid with the filters lowered so that a random-weight model yields proposals
FAST = {"points_per_side": 4, "pred_iou_thresh": 0, "stability_score_thresh": 0, "box_nms_thresh": 1.0}
MODEL = "efficientvit-sam-l0"


@pytest.fixture
def real_model(exported_model):
    """The random-weight efficientvit-sam-l0 export, where the masks matter (elsewhere: the tiny graphs, fast)."""
    return exported_model(MODEL)


@pytest.fixture
def make_client(images_dir, tiny_model_dir, tmp_path, monkeypatch):
    """(model folder, default the tiny graphs; None: no model) -> a client of a fresh app on the same images
    folder, store and embedding cache."""
    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))
    yield from app_clients({"IMAGES_DIR": str(images_dir), "TESTING": True, "CACHE_DIR": str(tmp_path / "cache"),
                            "DEVICE": "cpu"}, default_model=tiny_model_dir)


def _computed(client, name, params=FAST):
    job = finished_job(client, f"/api/images/{name}/proposals", f"/api/images/{name}/proposals/job", params, 120)
    assert job["state"] == "done", job
    return client.get(f"/api/images/{name}/proposals").get_json()


def _label(client):
    return client.get("/api/labels").get_json()["labels"][1]["id"]


def test_proposals_lifecycle(make_client, real_model, images_dir, tmp_path):
    from edgemask.images import ImageFolder
    from edgemask.runtime.mask_generator import MaskGenerator
    from edgemask.runtime.shapes import box_runs_to_mask

    client = make_client(real_model)
    name = "square.png"
    first = client.get(f"/api/images/{name}/proposals").get_json()
    assert first["proposals"] == [] and first["job"]["state"] == "idle"
    listed = _computed(client, name)
    proposals = listed["proposals"]
    # the generator's own masks, in its order (empty ones left out)
    rgb = ImageFolder(images_dir).read_rgb(name)
    with client.application.extensions["edgemask"].assistant.exclusive() as predictor:
        expected = [r for r in MaskGenerator(predictor, **FAST).generate(rgb) if r["area"] > 0]
    assert len(proposals) == len(expected) >= 4
    for got, want in zip(proposals, expected):
        assert np.array_equal(box_runs_to_mask(got["mask"], 48, 64), want["segmentation"])
        assert got["area"] == want["area"]
    assert listed["model"] == MODEL and listed["params"]["points_per_side"] == 4
    assert predictor.embedding_cached

    # an object drawn before: accepting puts new objects above it and never changes it
    lid = _label(client)
    square = {"id": "drawn", "label_id": lid, "kind": "polygon", "polygon": [[1, 1], [9, 1], [9, 9]]}
    assert client.put(f"/api/images/{name}/annotations", json={"version": 0, "objects": [square]}).status_code == 200
    a, b = proposals[0]["id"], proposals[1]["id"]
    resp = client.post(f"/api/images/{name}/proposals/{a}/accept", json={"label_id": lid, "version": 1})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["version"] == 2 and body["accepted"] == [a] and len(body["objects"]) == 1
    made = body["objects"][0]
    assert made["kind"] == "mask" and made["label_id"] == lid and made["mask"] == proposals[0]["mask"]
    assert "accepted already" in _error(client.post(f"/api/images/{name}/proposals/{a}/accept",
                                                    json={"label_id": lid, "version": 2}), 400)
    assert client.post(f"/api/images/{name}/proposals/{b}/reject").status_code == 200

    after = client.get(f"/api/images/{name}/proposals").get_json()
    assert [p["id"] for p in after["proposals"]] == [p["id"] for p in proposals[2:]]
    assert after["counts"] == {"open": len(proposals) - 2, "accepted": 1, "rejected": 1}
    objects = client.get(f"/api/images/{name}/annotations").get_json()["objects"]
    assert [o["id"] for o in sorted(objects, key=lambda o: o["z"])] == ["drawn", made["id"]]
    assert objects[0]["polygon"] == square["polygon"]

    # inside a box: those whose box lies within it; then all that remain
    rest = after["proposals"]
    box = [0, 0, 32, 48]
    inside = [p["id"] for p in rest if p["bbox"][2] <= 32]
    resp = client.post(f"/api/images/{name}/proposals/accept", json={"box": box, "label_id": lid, "version": 2})
    assert resp.get_json()["accepted"] == inside and resp.get_json()["version"] == (3 if inside else 2)
    version = resp.get_json()["version"]
    resp = client.post(f"/api/images/{name}/proposals/accept", json={"all": True, "label_id": lid, "version": version})
    remaining = [p["id"] for p in rest if p["id"] not in inside]
    assert resp.get_json()["accepted"] == remaining
    version = resp.get_json()["version"]
    zs = [o["z"] for o in client.get(f"/api/images/{name}/annotations").get_json()["objects"]]
    assert sorted(zs) == list(range(len(proposals)))  # "drawn" + every accepted but the rejected one

    # undoing an accepted object (the page deletes it) makes its proposal open again
    resp = client.patch(f"/api/images/{name}/annotations", json={"version": version, "delete": [made["id"]]})
    assert resp.status_code == 200
    reopened = client.get(f"/api/images/{name}/proposals").get_json()
    assert [p["id"] for p in reopened["proposals"]] == [a]

    # a fresh server on the same folder (the page reloaded): the proposals are still there
    again = make_client(None).get(f"/api/images/{name}/proposals").get_json()
    assert again["proposals"] == reopened["proposals"] and again["counts"] == reopened["counts"]

    # exports hold the objects only
    coco = zipfile.ZipFile(io.BytesIO(client.get("/api/export/coco").data))
    doc = json.loads(coco.read("annotations/instances_default.json"))
    assert len(doc["annotations"]) == len(proposals) - 1  # drawn + accepted - the one deleted


def test_prelabel_file_is_shown_at_once(make_client, tiny_model_dir, images_dir, tmp_path):
    from edgemask.cli import main
    from edgemask.webui.store import proposals as stored

    args = ["--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0",
            "--box-nms-thresh", "1.0", "--device", "cpu", "--no-progress"]
    assert main(["prelabel", str(images_dir), "--model", str(tiny_model_dir), "--cache-dir", str(tmp_path / "cache")]
                + args) == 0
    files = sorted((tmp_path / "cache" / "proposals").glob("*/*.json"))
    by_size = {(d["width"], d["height"]): d for d in (json.loads(f.read_text()) for f in files)}
    doc = by_size[(64, 48)]
    for model in (tiny_model_dir, None):  # the file is found with or without a model loaded
        client = make_client(model)
        listed = client.get("/api/images/square.png/proposals").get_json()
        want = [p for p in doc["proposals"] if p["area"] > 0]
        assert [p["mask"] for p in listed["proposals"]] == [{"box": p["box"], "runs": p["runs"]} for p in want]
        assert listed["source"].endswith(".json") and listed["job"]["state"] == "idle"
        stored.forget(client.application.extensions["edgemask"].store, "square.png")  # found again next time


def test_proposals_follow_the_pixels_not_the_file(make_client, images_dir):
    import os

    import cv2

    client = make_client()
    listed = _computed(client, "square.png")["proposals"]
    assert listed
    path = images_dir / "square.png"
    data = path.read_bytes()
    path.write_bytes(data)  # the same pixels, a new time stamp: kept
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10 ** 9))
    assert client.get("/api/images/square.png/proposals").get_json()["proposals"] == listed
    rgb = cv2.imread(str(path))
    cv2.imwrite(str(path), 255 - rgb)  # another picture under the same name: its proposals are gone
    assert client.get("/api/images/square.png/proposals").get_json()["proposals"] == []


def test_bad_input_is_one_sentence(make_client):
    client = make_client()
    url = "/api/images/square.png/proposals"
    assert "points_per_side must be a whole number from 1 to 128" in _error(client.post(url, json={"points_per_side": 0}), 400)
    assert "at most 16,384 points" in _error(client.post(url, json={"points_per_side": 5000}), 400)
    assert "must be a number" in _error(client.post(url, json={"pred_iou_thresh": "high"}), 400)
    assert "Unknown pre-label parameter" in _error(client.post(url, json={"points": 3}), 400)
    assert "whole number" in _error(client.post(url, json={"points_per_side": 4.5}), 400)
    assert "no image named" in _error(client.post("/api/images/nope.png/proposals", json=FAST), 404)
    assert "no image named" in _error(client.get("/api/images/nope.png/proposals"), 404)
    lid = _label(client)
    assert "has no proposals" in _error(client.post(f"{url}/3/accept", json={"label_id": lid, "version": 0}), 404)
    _computed(client, "square.png")
    assert "no proposal 999" in _error(client.post(f"{url}/999/accept", json={"label_id": lid, "version": 0}), 404)
    assert "no proposal" in _error(client.post(f"{url}/99999999999999999999/reject"), 404)
    assert "label" in _error(client.post(f"{url}/1/accept", json={"label_id": 10 ** 6, "version": 0}), 400)
    assert "label_id" in _error(client.post(f"{url}/1/accept", json={"label_id": "fish", "version": 0}), 400)
    assert "another tab" in _error(client.post(f"{url}/1/accept", json={"label_id": lid, "version": 7}), 409)
    assert "either a \"box\"" in _error(client.post(f"{url}/accept", json={"label_id": lid, "version": 0}), 400)
    assert "inside the 64x48 image" in _error(client.post(f"{url}/accept", json={
        "box": [0, 0, 100, 10], "label_id": lid, "version": 0}), 400)
    defaults = _computed(client, "sub/portrait.jpg", {"points_per_side": 2})["params"]
    assert defaults["pred_iou_thresh"] == 0.88 and defaults["stability_score_thresh"] == 0.95  # the family's
    no_model = make_client(None)
    assert "needs a model" in _error(no_model.post(url, json=FAST), 409)
