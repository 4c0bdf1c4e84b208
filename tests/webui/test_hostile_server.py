"""Hostile requests against the real `edgemask serve` subprocess, so that a crash fails the test
instead of the run: box-runs whose int64 sum wraps, values that break exports, too many labels,
a full disk, damaged stored masks and an empty store file."""

import json
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
import zipfile
import io

import pytest

from webui_util import start_serve

WRAPPING = [
    {"box": [0, 0, 1, 1], "runs": [9223372036854775807, 9223372036854775807, 3]},
    {"box": [0, 0, 1, 1], "runs": [2**62] * 4 + [1]},
]


def _call(port, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def server(images_dir, tmp_path):
    proc, port, _ = start_serve([images_dir, "--db", tmp_path / "s.sqlite", "--no-model"], tmp_path)
    yield proc, port
    proc.terminate()
    proc.wait(timeout=30)


def _error(answer, status):
    code, raw = answer
    assert code == status, raw[:300]
    message = json.loads(raw)["error"]
    assert message.endswith(".") and "Traceback" not in message
    return message


@pytest.mark.parametrize("mask", WRAPPING)
def test_wrapping_runs_are_400_and_the_server_lives(server, mask):
    proc, port = server
    label = json.loads(_call(port, "GET", "/api/labels")[1])["labels"][0]["id"]
    obj = {"id": "m", "label_id": label, "kind": "mask", "mask": mask}
    url = "/api/images/square.png/annotations"
    assert "runs cover" in _error(_call(port, "POST", "/api/polygonize", {"mask": mask}), 400)
    assert "runs cover" in _error(_call(port, "PUT", url, {"version": 0, "objects": [obj]}), 400)
    assert "runs cover" in _error(_call(port, "PATCH", url, {"version": 0, "upsert": [obj]}), 400)
    assert proc.poll() is None
    assert _call(port, "GET", url)[0] == 200


def test_a_tiny_request_for_a_huge_mask_is_refused(server):
    proc, port = server
    huge = {"box": [0, 0, 11585, 11585], "runs": [134212225]}
    assert "too large" in _error(_call(port, "POST", "/api/polygonize", {"mask": huge}), 400)
    beyond = {"box": [0, 0, 65, 48], "runs": [65 * 48]}  # square.png is 64x48
    assert "not inside" in _error(_call(port, "POST", "/api/polygonize", {"mask": beyond, "image": "square.png"}), 400)
    assert proc.poll() is None


def test_values_that_break_xml_are_refused_and_the_export_parses(server, tmp_path):
    from edgemask.webui.formats import import_dataset

    proc, port = server
    label = json.loads(_call(port, "GET", "/api/labels")[1])["labels"][0]["id"]
    url = "/api/images/square.png/annotations"
    poly = {"label_id": label, "kind": "polygon", "polygon": [[1, 1], [9, 1], [9, 9]]}
    for obj in ({"id": "a", "attributes": {"k": "x\u0001y"}}, {"id": "a", "attributes": {"\ufffe": 1}},
                {"id": "a\x00"}, {"id": "a\nb"}):
        assert "U+" in _error(_call(port, "PUT", url, {"version": 0, "objects": [{**poly, **obj}]}), 400)
    assert "U+FFFE" in _error(_call(port, "POST", "/api/labels", {"name": "\ufffe", "color": "#112233"}), 400)
    ok = {**poly, "id": "a", "attributes": {"note": "line one\nline two"}}
    assert _call(port, "PUT", url, {"version": 0, "objects": [ok]})[0] == 200
    code, raw = _call(port, "GET", "/api/export/cvat-xml")
    assert code == 200
    xml = zipfile.ZipFile(io.BytesIO(raw)).read("annotations.xml")
    ET.fromstring(xml)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "annotations.xml").write_bytes(xml)
    _, images = import_dataset("cvat-xml", tmp_path / "x")
    assert images[0].objects[0]["attributes"]["note"] == "line one\nline two"


def _raw_db(path, sql, *params):
    import sqlite3

    db = sqlite3.connect(str(path))
    db.execute(sql, params)
    db.commit()
    db.close()


def test_the_256th_label_is_refused_and_old_stores_still_export(images_dir, tmp_path):
    from edgemask.webui.store import Store

    db = tmp_path / "s.sqlite"
    with Store(db) as store:
        store.ensure_labels([(f"l{i}", "#102030") for i in range(255)])
    proc, port, _ = start_serve([images_dir, "--db", db, "--no-model"], tmp_path)
    try:
        assert "at most 255" in _error(_call(port, "POST", "/api/labels", {"name": "one more", "color": "#112233"}), 409)
        text = "\n".join(f"new {i}" for i in range(300))
        assert "at most 255" in _error(_call(port, "POST", "/api/labels/import", {"text": text}), 409)
        assert len(json.loads(_call(port, "GET", "/api/labels")[1])["labels"]) == 255
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    for i in range(10):  # an older database already holds more
        _raw_db(db, "INSERT INTO labels (position, name, color) VALUES (?, ?, '#102030')", 300 + i, f"old {i}")
    _raw_db(db, "INSERT INTO labels (position, name, color) VALUES (400, ?, '#102030')", "bad\x01name")
    with Store(db) as store:
        label = store.labels()[-1].id
        from edgemask.webui.store import ObjectRow

        store.save("square.png", 64, 48, 0, [ObjectRow("a", label, "polygon", polygon=[[1, 1], [9, 1], [9, 9]],
                                                       bbox=[1, 1, 9, 9], attributes={"k": "x\x01y"})])
    proc, port, _ = start_serve([images_dir, "--db", db, "--no-model"], tmp_path)
    try:
        for fmt in ("coco", "cvat-xml"):
            assert _call(port, "GET", f"/api/export/{fmt}")[0] == 200, fmt
        code, raw = _call(port, "GET", "/api/export/cvat-xml")
        ET.fromstring(zipfile.ZipFile(io.BytesIO(raw)).read("annotations.xml"))
        assert "255 labels" in _error(_call(port, "GET", "/api/export/index-png"), 409)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_flipped_bit_in_a_mask_row_is_one_damaged_image(images_dir, tmp_path):
    from edgemask.webui.store import ObjectRow, Store

    db = tmp_path / "s.sqlite"
    with Store(db) as store:
        label = store.add_label("fish", "#102030").id
        store.save("square.png", 64, 48, 0, [ObjectRow("m", label, "mask", mask={"box": [10, 8, 30, 24], "runs": [0, 320]},
                                                       bbox=[10, 8, 30, 24])])
        store.save("sub/portrait.jpg", 40, 60, 0, [ObjectRow("p", label, "polygon", polygon=[[1, 1], [9, 1], [9, 9]],
                                                             bbox=[1, 1, 9, 9])])
    data = bytearray(db.read_bytes())
    at = data.index(b'"runs": [0, 320]') + len('"runs": [')
    data[at] ^= 1  # "0" -> "1": the runs cover 321 pixels of a 320-pixel box
    db.write_bytes(bytes(data))
    proc, port, _ = start_serve([images_dir, "--db", db, "--no-model"], tmp_path)
    try:
        assert "damaged" in _error(_call(port, "GET", "/api/images/square.png/annotations"), 409)
        assert _call(port, "GET", "/api/images/sub/portrait.jpg/annotations")[0] == 200
        code, raw = _call(port, "GET", "/api/export/coco")
        assert code == 200
        left = zipfile.ZipFile(io.BytesIO(raw)).read("left-out.txt").decode()
        assert "square.png\tdamaged" in left
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_an_empty_store_file_is_refused_at_start(images_dir, tmp_path, capsys):
    from edgemask.cli import main

    db = tmp_path / "empty.sqlite"
    db.write_bytes(b"")
    assert main(["serve", str(images_dir), "--db", str(db), "--no-browser", "--no-model", "--port", "0"]) == 2
    assert "empty file (0 bytes)" in capsys.readouterr().err


def test_a_full_disk_is_507_and_the_same_save_works_once_there_is_room(images_dir, tmp_path):
    """A real full disk: the store on a 2 MB tmpfs filled up by another file."""
    import os
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    proc = None
    try:
        proc, port, _ = start_serve([images_dir, "--db", mnt / "s.sqlite", "--no-model"], tmp_path)
        label = json.loads(_call(port, "GET", "/api/labels")[1])["labels"][0]["id"]
        filler = mnt / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        points = [[i % 60 + 0.25, (i * 7) % 44 + 0.5] for i in range(6000)]  # ~100 kB: the WAL must grow
        body = {"version": 0, "objects": [{"id": "a", "label_id": label, "kind": "polygon", "polygon": points}]}
        url = "/api/images/square.png/annotations"
        message = _error(_call(port, "PUT", url, body), 507)  # the first save of a never-saved image
        assert "disk" in message and "full" in message and "rollback" not in message
        assert proc.poll() is None
        os.remove(filler)
        assert _call(port, "PUT", url, body)[0] == 200
        assert len(json.loads(_call(port, "GET", url)[1])["objects"]) == 1
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        subprocess.run(["umount", str(mnt)], capture_output=True)
