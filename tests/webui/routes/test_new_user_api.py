"""What got in a new user's way, through the API and `edgemask dataset export`: label colours,
"background" against the reserved class 0, and unreadable (truncated) images."""

import io
import json
import zipfile

import cv2
import numpy as np

from edgemask.cli import main
from edgemask.webui.formats.labels import parse_color, parse_labels
from edgemask.webui.store import DB_NAME, Store
from edgemask.webui.store import status as imagestatus

POLY = [[2, 2], [20, 2], [20, 20], [2, 20]]


def _distance(a, b):
    return sum((x - y) ** 2 for x, y in zip(parse_color(a), parse_color(b))) ** 0.5


def test_new_labels_get_distinct_colours_away_from_those_in_use(client):
    assert client.post("/api/labels", json={"name": "reef", "color": "#e6194b"}).status_code == 201
    colours = ["#e6194b"]
    for name in ("fish", "sand", "diver", "kelp", "urchin", "rock", "wreck"):
        r = client.post("/api/labels", json={"name": name})  # no colour: the server picks one
        assert r.status_code == 201, r.get_json()
        colours.append(r.get_json()["color"])
    assert len(set(colours)) == len(colours)
    assert min(_distance(a, b) for i, a in enumerate(colours) for b in colours[:i]) >= 80
    listed = client.get("/api/labels").get_json()
    assert listed["next_color"] not in colours  # what the page's colour picker offers next
    assert client.post("/api/labels", json={"name": "given", "color": "#123456"}).get_json()["color"] == "#123456"


def test_background_is_refused_as_a_label_name_in_one_sentence(client):
    for name in ("background", " Background ", "BACKGROUND"):
        r = client.post("/api/labels", json={"name": name})
        assert r.status_code == 400
        message = r.get_json()["error"]
        assert "class 0" in message and message.count(". ") == 0, message
    fish = client.post("/api/labels", json={"name": "fish"}).get_json()
    r = client.put(f"/api/labels/{fish['id']}", json={"name": "background"})
    assert r.status_code == 400 and "class 0" in r.get_json()["error"]
    # a label file's "background" line, wherever it stands, is class 0: no label is made of it
    r = client.post("/api/labels/import", json={"text": "coral\nBackground\nsand\n"})
    assert r.status_code == 200 and r.get_json()["added"] == ["coral", "sand"]
    assert [label.name for label in parse_labels("background\n")] == []
    assert all(l["name"].lower() != "background" for l in client.get("/api/labels").get_json()["labels"])


def test_an_old_store_label_named_background_exports_once_as_class_0(images_dir, tmp_path, capsys):
    with Store(images_dir / DB_NAME) as store:  # a store made before the name was refused
        labels = [store.add_label(name, "#00ff00") for name in ("fish", "background")]
        store.save("square.png", 64, 48, 0, [_polygon_row("bg", labels[1].id)])
    out = tmp_path / "index"
    assert main(["dataset", "export", str(images_dir), "--format", "index-png", "--out", str(out),
                 "--no-images"]) == 0
    lines = (out / "labels.txt").read_text().splitlines()
    assert [line.split(" #")[0] for line in lines] == ["background", "fish", "background (class 2)"]
    meta = json.loads((out / "dataset_meta.json").read_text())
    assert [n.lower() for n in meta["labels"]].count("background") == 1


def _polygon_row(oid, label_id):
    from edgemask.webui.store import ObjectRow, polygon_bbox

    return ObjectRow(id=oid, label_id=label_id, kind="polygon", z=0, polygon=POLY, bbox=polygon_bbox(POLY, 64, 48))


def _truncated_jpeg(path):
    rgb = np.random.default_rng(1).integers(0, 255, (300, 400, 3), np.uint8)
    cv2.imwrite(str(path), rgb, [cv2.IMWRITE_JPEG_QUALITY, 95])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])  # the header stays whole: its size still reads
    return data[: len(data) // 3]


def test_a_truncated_jpeg_is_marked_refused_and_left_out_of_both_exports(app, client, images_dir, tmp_path):
    cut = _truncated_jpeg(images_dir / "a_cut.jpg")  # listed first, as in the report
    listed = client.get("/api/images").get_json()
    assert "a_cut.jpg" not in [i["name"] for i in listed["images"]]  # not openable, not "to do"
    assert listed["statuses"]["todo"] == 2
    (entry,) = [u for u in listed["unreadable"] if u["name"] == "a_cut.jpg"]
    assert "truncated" in entry["error"]
    # nothing can be saved on it ("Whole image" saved there before), no 5xx anywhere
    label = client.post("/api/labels", json={"name": "fish"}).get_json()
    body = {"version": 0, "objects": [{"id": "w", "label_id": label["id"], "kind": "polygon", "z": 0,
                                       "polygon": [[0, 0], [400, 0], [400, 300], [0, 300]]}]}
    r = client.put("/api/images/a_cut.jpg/annotations", json=body)
    assert r.status_code == 415 and "truncated" in r.get_json()["error"]
    assert client.get("/api/images/a_cut.jpg/annotations").status_code == 415
    # marked done anyway (through the status route, or an older store): exports still leave it out
    with Store(images_dir / DB_NAME) as store:
        imagestatus.set_status(store, "a_cut.jpg", "done")
    assert client.put("/api/images/square.png/annotations", json={
        "version": 0, "objects": [{"id": "p", "label_id": label["id"], "kind": "polygon", "z": 0,
                                   "polygon": POLY}]}).status_code == 200
    plan = client.get("/api/export-plan").get_json()
    assert plan["exported"] == ["square.png"]
    reasons = {e["name"]: e["reason"] for e in plan["left_out"]}
    assert reasons["a_cut.jpg"].startswith("unreadable") and "truncated" in reasons["a_cut.jpg"]
    assert reasons["sub/portrait.jpg"] == "not annotated yet"
    r = client.get("/api/export/coco")
    with zipfile.ZipFile(io.BytesIO(r.data)) as zf:
        page_left_out = zf.read("left-out.txt").decode()
        assert "a_cut.jpg" not in zf.read("annotations/instances_default.json").decode()
    out = tmp_path / "coco"
    assert main(["dataset", "export", str(images_dir), "--format", "coco", "--out", str(out)]) == 0
    assert not (out / "images" / "a_cut.jpg").exists() and (out / "images" / "square.png").is_file()
    cli_left_out = (out / "left-out.txt").read_text()
    assert cli_left_out == page_left_out and "a_cut.jpg\tunreadable" in cli_left_out
    assert (images_dir / "a_cut.jpg").read_bytes() == cut
