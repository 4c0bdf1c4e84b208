"""The workflow endpoints (status, thumbnails, export plan, label usage / delete / import,
polygonize's cost) through Flask's test client, bad input included; the store migration."""

import io
import sqlite3
import zipfile

import cv2
import numpy as np
import pytest
from PIL import Image

from edgemask.runtime.shapes import mask_to_png_data_url


def _label_id(client, index=0):
    return client.get("/api/labels").get_json()["labels"][index]["id"]


def _save(client, name, version, objects):
    resp = client.put(f"/api/images/{name}/annotations", json={"version": version, "objects": objects})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["version"]


def _poly(oid, label_id):
    return {"id": oid, "label_id": label_id, "kind": "polygon", "polygon": [[1, 1], [9, 1], [9, 9]]}


def _error(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    message = resp.get_json()["error"]
    assert message.endswith(".")
    return message


def _statuses(client):
    body = client.get("/api/images").get_json()
    return {i["name"]: i["status"] for i in body["images"]}, body["statuses"]


# -- status -------------------------------------------------------------------------------------
def test_status_follows_objects_until_set_and_is_counted(client):
    assert _statuses(client) == ({"square.png": "todo", "sub/portrait.jpg": "todo"},
                                 {"todo": 2, "in_progress": 0, "done": 0, "skipped": 0})
    _save(client, "square.png", 0, [_poly("a", _label_id(client))])
    assert _statuses(client)[0]["square.png"] == "in_progress"
    resp = client.put("/api/images/square.png/status", json={"status": "done"})
    assert resp.get_json() == {"image": "square.png", "status": "done"}
    client.put("/api/images/sub/portrait.jpg/status", json={"status": "skipped"})
    names, counts = _statuses(client)
    assert names == {"square.png": "done", "sub/portrait.jpg": "skipped"}
    assert counts == {"todo": 0, "in_progress": 0, "done": 1, "skipped": 1}
    assert client.get("/api/images").get_json()["images"][0]["marked"] == "done"
    client.put("/api/images/square.png/status", json={"status": "todo"})  # set back by hand
    assert _statuses(client)[0]["square.png"] == "todo"


@pytest.mark.parametrize("body", [{"status": "finished"}, {"status": None}, {}, {"status": 1}, []])
def test_bad_status_is_400(client, body):
    message = _error(client.put("/api/images/square.png/status", json=body), 400)
    assert ("todo, in_progress, done, skipped" if body != [] else "JSON object") in message
    assert _statuses(client)[0]["square.png"] == "todo"


def test_status_of_unknown_image_is_404(client):
    _error(client.put("/api/images/nope.png/status", json={"status": "done"}), 404)
    _error(client.put("/api/images/../x.png/status", json={"status": "done"}), 404)


# -- thumbnails -------------------------------------------------------------------------------------
def test_thumbnail_is_small_upright_and_cached(client, images_dir):
    # a photo stored sideways (EXIF orientation 6: shown turned 90 degrees clockwise)
    stored = np.zeros((60, 200, 3), np.uint8)
    stored[:, :100] = (255, 0, 0)  # left half red: shown as the top half
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(images_dir / "turned.jpg", exif=exif.tobytes(), quality=95)
    resp = client.get("/api/images/turned.jpg/thumbnail?size=50")
    assert resp.status_code == 200 and resp.mimetype == "image/jpeg"
    thumb = np.asarray(Image.open(io.BytesIO(resp.data)).convert("RGB"))
    assert thumb.shape[:2] == (50, 15)  # 60x200 shown as 200 high, 60 wide, fitted into 50
    assert thumb[5, 7, 0] > 200 and thumb[5, 7, 1] < 60  # the top is red
    assert thumb[45, 7, 0] < 60
    again = client.get("/api/images/turned.jpg/thumbnail?size=50",
                       headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304
    assert client.get("/api/images/square.png/thumbnail").status_code == 200  # default size


@pytest.mark.parametrize("size", ["0", "15", "513", "big", "1.5"])
def test_bad_thumbnail_size_is_400(client, size):
    assert "size" in _error(client.get(f"/api/images/square.png/thumbnail?size={size}"), 400)


def test_thumbnail_of_unknown_or_broken_image(client, images_dir):
    _error(client.get("/api/images/nope.png/thumbnail"), 404)
    (images_dir / "broken.png").write_bytes(b"\x89PNG not really")
    assert client.get("/api/images/broken.png/thumbnail").status_code in (404, 415)


# -- export plan --------------------------------------------------------------------------------
def test_export_plan_says_what_is_left_out_and_done_empty_is_background(client):
    lid = _label_id(client, 1)
    plan = client.get("/api/export-plan").get_json()
    assert plan == {"exported": [], "left_out": [
        {"name": "square.png", "reason": "not annotated yet"},
        {"name": "sub/portrait.jpg", "reason": "not annotated yet"}]}
    _save(client, "square.png", 0, [_poly("a", lid)])
    v = _save(client, "square.png", 1, [])  # drawn, then deleted: not "all background" yet
    reasons = {e["name"]: e["reason"] for e in client.get("/api/export-plan").get_json()["left_out"]}
    assert reasons["square.png"] == "no objects and not marked done"
    client.put("/api/images/sub/portrait.jpg/status", json={"status": "done"})  # never saved
    client.put("/api/images/square.png/status", json={"status": "skipped"})
    plan = client.get("/api/export-plan").get_json()
    assert plan["exported"] == ["sub/portrait.jpg"]
    assert plan["left_out"] == [{"name": "square.png", "reason": "marked skipped"}]
    assert v == 2

    resp = client.get("/api/export/index-png")
    assert resp.headers["X-Edgemask-Exported"] == "1" and resp.headers["X-Edgemask-Left-Out"] == "1"
    zf = zipfile.ZipFile(io.BytesIO(resp.data))
    classes = cv2.imdecode(np.frombuffer(zf.read("masks/sub/portrait.png"), np.uint8), cv2.IMREAD_UNCHANGED)
    assert classes.shape == (60, 40) and not classes.any()  # all background
    assert zf.read("left-out.txt").decode() == "square.png\tmarked skipped\n"


# -- labels -------------------------------------------------------------------------------------
def _labels(client):
    return client.get("/api/labels").get_json()["labels"]


def test_label_usage_and_delete_with_objects(client):
    first, second, third = (label["id"] for label in _labels(client)[:3])
    _save(client, "square.png", 0, [_poly("a", second), _poly("b", second), _poly("c", first)])
    _save(client, "sub/portrait.jpg", 0, [_poly("d", second)])
    assert client.get(f"/api/labels/{second}/usage").get_json() == {"objects": 3, "images": 2}
    assert client.get(f"/api/labels/{third}/usage").get_json() == {"objects": 0, "images": 0}
    assert "3 object(s) on 2 image(s)" in _error(client.delete(f"/api/labels/{second}"), 409)

    body = client.delete(f"/api/labels/{second}?objects=relabel&to={third}").get_json()
    assert (body["objects"], body["images"]) == (3, ["square.png", "sub/portrait.jpg"])
    assert second not in [label["id"] for label in body["labels"]]
    ann = client.get("/api/images/square.png/annotations").get_json()
    assert ann["version"] == 2  # bumped: a tab holding version 1 gets a conflict
    assert [o["label_id"] for o in ann["objects"]] == [third, third, first]

    body = client.delete(f"/api/labels/{third}?objects=delete").get_json()
    assert body["objects"] == 3
    ann = client.get("/api/images/square.png/annotations").get_json()
    assert [o["id"] for o in ann["objects"]] == ["c"] and ann["version"] == 3
    assert client.get("/api/images/sub/portrait.jpg/annotations").get_json()["objects"] == []


def test_bad_label_deletes(client):
    first, second = (label["id"] for label in _labels(client)[:2])
    _save(client, "square.png", 0, [_poly("a", first)])
    before = _labels(client)
    _error(client.delete(f"/api/labels/{first}?objects=burn"), 400)
    _error(client.delete(f"/api/labels/{first}?objects=relabel"), 400)
    _error(client.delete(f"/api/labels/{first}?objects=relabel&to={first}"), 400)
    _error(client.delete(f"/api/labels/{first}?objects=relabel&to=x"), 400)
    _error(client.delete(f"/api/labels/{first}?objects=relabel&to=9999"), 404)
    _error(client.delete("/api/labels/9999?objects=delete"), 404)
    _error(client.get("/api/labels/9999/usage"), 404)
    assert _labels(client) == before  # nothing changed
    assert client.get(f"/api/labels/{first}/usage").get_json()["objects"] == 1
    assert second


def test_reorder_moves_the_class_index(client):
    labels = _labels(client)
    moved = labels[5]["id"]
    client.put(f"/api/labels/{moved}", json={"position": 0})
    assert _labels(client)[0]["id"] == moved
    _save(client, "square.png", 0, [{"id": "a", "label_id": moved, "kind": "polygon",
                                     "polygon": [[0, 0], [64, 0], [64, 48], [0, 48]]}])
    zf = zipfile.ZipFile(io.BytesIO(client.get("/api/export/index-png").data))
    classes = cv2.imdecode(np.frombuffer(zf.read("masks/square.png"), np.uint8), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(classes)) == {1}
    assert zf.read("labels.txt").decode().split("\n")[1].startswith(labels[5]["name"])


def test_import_labels_from_a_file(client):
    before = _labels(client)
    text = "# my labels\nbackground\nkelp #00aa00\nurchin 10,20,30\nfish/vertebrates #123456\nsand\n"
    body = client.post("/api/labels/import", json={"text": text}).get_json()
    assert body["added"] == ["kelp", "urchin", "sand"]
    names = [(label["name"], label["color"]) for label in body["labels"]]
    assert names[:len(before)] == [(label["name"], label["color"]) for label in before]  # kept as they were
    assert names[len(before):3 + len(before)][:2] == [("kelp", "#00aa00"), ("urchin", "#0a141e")]
    again = client.post("/api/labels/import", json={"text": text}).get_json()
    assert again["added"] == [] and len(again["labels"]) == len(body["labels"])


@pytest.mark.parametrize("body", [{"text": ""}, {"text": 5}, {}, {"text": "a\na\n"}, {"text": "x #12"},
                                  {"text": "# only a comment\n"}])
def test_bad_label_files_are_400(client, body):
    before = _labels(client)
    _error(client.post("/api/labels/import", json=body), 400)
    assert _labels(client) == before


# -- polygonize counts what a conversion changes -------------------------------------------------

def test_polygonize_reports_holes(client):
    ring = np.zeros((48, 64), bool)
    ring[10:30, 10:40] = True
    ring[15:25, 20:30] = False  # a 10x10 hole
    body = client.post("/api/polygonize", json={"mask": mask_to_png_data_url(ring), "tolerance": 0}).get_json()
    assert (body["area"], body["holes"], body["changed"]) == (500, 100, 100)
    solid = np.zeros((48, 64), bool)
    solid[5:20, 5:9] = True
    body = client.post("/api/polygonize", json={"mask": mask_to_png_data_url(solid), "tolerance": 0}).get_json()
    assert (body["holes"], body["changed"]) == (0, 0)
    disc = cv2.circle(np.zeros((48, 64), np.uint8), (30, 24), 15, 1, -1).astype(bool)
    body = client.post("/api/polygonize", json={"mask": mask_to_png_data_url(disc), "tolerance": 3}).get_json()
    assert body["holes"] == 0 and body["changed"] > 0  # simplifying moves the outline: counted


# -- migration of a store made before statuses ---------------------------------------------------
def test_old_store_is_migrated_without_loss(tmp_path):
    from edgemask.webui.store import status as imagestatus
    from edgemask.webui.store.database import _SCHEMA
    from edgemask.webui.store import Store

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(_SCHEMA)
    db.execute("INSERT INTO meta VALUES ('schema', '1')")
    db.execute("INSERT INTO labels (position, name, color) VALUES (0, 'fish', '#ffff00')")
    db.execute("INSERT INTO images VALUES ('empty.png', 10, 10, 3)")
    db.execute("INSERT INTO images VALUES ('full.png', 10, 10, 2)")
    db.execute("INSERT INTO objects (image, client_id, label_id, kind, z, hidden, polygon, mask, bbox) "
               "VALUES ('full.png', 'o', 1, 'polygon', 0, 0, '[[0,0],[5,0],[5,5]]', NULL, '[0,0,5,5]')")
    db.commit()
    db.close()
    with Store(path) as store:
        assert imagestatus.marked(store) == {"empty.png": "done"}  # saved empty meant all background
        assert store.load("full.png").objects[0].polygon == [[0, 0], [5, 0], [5, 5]]
        assert store.version("empty.png") == 3
        assert store.get_meta("schema") == "3"  # 2: masks as box-runs; 3: objects' occluded/group/attributes
        imagestatus.set_status(store, "full.png", "skipped")
    with Store(path) as store:  # opening again migrates nothing twice
        assert imagestatus.marked(store) == {"empty.png": "done", "full.png": "skipped"}
