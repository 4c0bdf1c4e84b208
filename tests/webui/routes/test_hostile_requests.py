"""Broken and hostile input gets a clear 4xx (never a 500), nothing stored; files that decay
(database, model files, embedding cache entries) are detected; odd images are read or refused
with a reason."""

import json
import shutil

import cv2
import numpy as np
import pytest

from webui_util import page_client

PUT = "/api/images/square.png/annotations"


def _error(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]
    return body["error"]


def _raw(client, method, url, text):
    return client.open(url, method=method, data=text.encode("utf-8", "surrogatepass"),
                       content_type="application/json")


def _label(client):
    return client.get("/api/labels").get_json()["labels"][0]["id"]


def _polygon(label, oid="a", **extra):
    return {"id": oid, "label_id": label, "kind": "polygon", "polygon": [[1, 1], [9, 1], [9, 9]], **extra}


# -- JSON that Python reads but nothing else can hold -------------------------------------------
@pytest.mark.parametrize("method,url", [("PUT", PUT), ("POST", "/api/labels"),
                                        ("POST", "/api/images/square.png/predict"),
                                        ("POST", "/api/images/square.png/wand"), ("POST", "/api/polygonize")])
def test_deeply_nested_json_is_400(client, method, url):
    for depth in (40, 100_000):
        assert "nested" in _error(_raw(client, method, url, "[" * depth + "]" * depth), 400)
    body = '{"version": 0, "objects": ' + "[" * 50 + "]" * 50 + "}"
    assert "nested" in _error(_raw(client, method, url, body), 400)


def test_lone_surrogates_are_400_and_nothing_stored(client):
    label = _label(client)
    assert "surrogate" in _error(_raw(client, "POST", "/api/labels", '{"name": "zzq\\ud800", "color": "#112233"}'), 400)
    body = json.dumps({"version": 0, "objects": [_polygon(label, oid="X")]}).replace('"X"', '"\\udc80"')
    assert "surrogate" in _error(_raw(client, "PUT", PUT, body), 400)
    assert client.get(PUT).get_json()["version"] == 0
    assert all("zzq" not in lb["name"] for lb in client.get("/api/labels").get_json()["labels"])


def test_integers_beyond_64_bits_are_refused(client):
    label = _label(client)
    for body in ({"version": 2**64, "objects": []},
                 {"version": 0, "objects": [_polygon(label, z=2**70)]},
                 {"version": 0, "objects": [_polygon(2**80)]}):
        assert "64 bits" in _error(client.put(PUT, json=body), 400)
    assert "64 bits" in _error(_raw(client, "PUT", PUT, '{"version": ' + "9" * 5000 + ', "objects": []}'), 400)
    assert client.get(PUT).get_json()["version"] == 0
    huge = 2**64 + 5
    _error(client.put(f"/api/labels/{huge}", json={"name": "x"}), 404)
    _error(client.delete(f"/api/labels/{huge}"), 404)
    assert client.put(f"/api/labels/{label}", json={"position": 2**63 - 1}).status_code == 200  # the last place


def test_nan_and_infinity_are_not_json(client):
    assert "not a JSON number" in _error(_raw(client, "POST", "/api/images/square.png/wand",
                                              '{"x": NaN, "y": 1}'), 400)


def test_label_names_with_control_characters_are_refused(client, tmp_path):
    for name in ("fish\x01", "a\nb", "tab\there", "bell\x07", "del\x7f", "c\x85x"):
        assert "cannot be stored" in _error(client.post("/api/labels", json={"name": name, "color": "#112233"}), 400)
    label = _label(client)
    assert "cannot be stored" in _error(client.put(f"/api/labels/{label}", json={"name": "x\x00y"}), 400)
    # what is stored still exports as XML that parses
    client.put(PUT, json={"version": 0, "objects": [_polygon(label)]})
    resp = client.get("/api/export/cvat-xml")
    assert resp.status_code == 200


def test_import_refuses_control_characters_in_label_names(images_dir, tmp_path):
    from edgemask.images import ImageFolder
    from edgemask.webui.store import Store
    from edgemask.webui.dataset_io import import_file

    doc = {"images": [{"id": 1, "file_name": "square.png", "width": 64, "height": 48}],
           "categories": [{"id": 1, "name": "fi\x0bsh"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 9, 1, 9, 9]]}]}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(ValueError, match="character U\\+000B"):
            import_file(store, ImageFolder(images_dir), "coco", path)
        assert store.image_names() == [] and all("fi" not in lb.name for lb in store.labels())


def test_colour_with_trailing_newline_is_refused(client):
    assert "#rrggbb" in _error(client.post("/api/labels", json={"name": "n", "color": "#aabbcc\n"}), 400)
    label = _label(client)
    assert "#rrggbb" in _error(client.put(f"/api/labels/{label}", json={"color": "#aabbcc\n"}), 400)


# -- cross-site requests -------------------------------------------------------------------------
def test_cross_site_form_and_text_posts_do_not_run_the_encoder(app, fake_predictor):
    browser = app.test_client()  # no X-Edgemask header: what a form on another site sends
    for content_type, data in (("application/x-www-form-urlencoded", "a=1"), ("text/plain", '{"points": [[5, 5, 1]]}'),
                               ("multipart/form-data; boundary=x", "--x--")):
        for url in ("/api/images/square.png/embedding", "/api/images/square.png/predict"):
            assert "JSON" in _error(browser.post(url, data=data, content_type=content_type), 415)
    assert _error(browser.post("/api/images/square.png/embedding"), 415)
    assert _error(browser.delete("/api/labels/1"), 415)
    assert fake_predictor.set_calls == 0
    assert browser.get("/api/labels").status_code == 200  # reading needs nothing
    assert browser.post("/api/images/square.png/predict", json={"points": [[5, 5, 1]]}).status_code == 200
    assert fake_predictor.set_calls == 1


# -- saves after a lost answer ---------------------------------------------------------------
def test_a_page_is_not_in_conflict_with_its_own_lost_save(client):
    label = _label(client)
    first = client.put(PUT, json={"version": 0, "objects": [_polygon(label)], "client": "page-a"})
    assert first.get_json()["version"] == 1
    # the answer was lost (the server crashed after committing): the page still holds version 0
    again = client.put(PUT, json={"version": 0, "objects": [_polygon(label), _polygon(label, "b")],
                                  "client": "page-a"})
    assert again.status_code == 200 and again.get_json()["version"] == 2
    # another page holding an older version is still told, and nothing is overwritten
    assert "another tab" in _error(client.put(PUT, json={"version": 1, "objects": [], "client": "page-b"}), 409)
    assert "another tab" in _error(client.put(PUT, json={"version": 1, "objects": []}), 409)
    assert len(client.get(PUT).get_json()["objects"]) == 2
    # once another page saved, page A's stale version is a conflict again
    assert client.put(PUT, json={"version": 2, "objects": [], "client": "page-b"}).status_code == 200
    assert "another tab" in _error(client.put(PUT, json={"version": 2, "objects": [], "client": "page-a"}), 409)


def test_a_lost_patch_answer_is_resent_without_conflict(client):
    """The page PATCHes only what changed; after a lost answer it sends the same changes again
    (with its old version): they apply again, a delete of an id already gone included."""
    label = _label(client)
    client.put(PUT, json={"version": 0, "objects": [_polygon(label, "a"), _polygon(label, "b")], "client": "p"})
    changes = {"upsert": [_polygon(label, "c")], "update": [{"id": "a", "z": 5}], "delete": ["b"], "client": "p"}
    assert client.patch(PUT, json={"version": 1, **changes}).get_json()["version"] == 2
    again = client.patch(PUT, json={"version": 1, **changes})  # the answer above was lost
    assert again.status_code == 200 and again.get_json()["version"] == 3
    stored = client.get(PUT).get_json()["objects"]
    assert sorted(o["id"] for o in stored) == ["a", "c"] and [o["z"] for o in stored if o["id"] == "a"] == [5]
    # another page with a stale version: conflict, and its delete of a missing id stays an error
    assert "another tab" in _error(client.patch(PUT, json={"version": 2, "delete": ["a"], "client": "q"}), 409)
    assert "not stored" in _error(client.patch(PUT, json={"version": 3, "delete": ["b"], "client": "q"}), 400)


# -- images ----------------------------------------------------------------------------------
def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_truncated_images_are_415_not_500(images_dir, fake_predictor):
    from edgemask.webui import create_app

    rgb = np.random.default_rng(0).integers(0, 255, (80, 120, 3), np.uint8)
    cv2.imwrite(str(images_dir / "cut.png"), rgb)
    cv2.imwrite(str(images_dir / "cut.jpg"), rgb)
    _truncate(images_dir / "cut.png")
    _truncate(images_dir / "cut.jpg")
    app = create_app({"IMAGES_DIR": str(images_dir), "PREDICTOR": fake_predictor})
    try:
        client = page_client(app)
        for name in ("cut.png", "cut.jpg"):
            for url, body in ((f"/api/images/{name}/wand", {"x": 3, "y": 3}),
                              (f"/api/images/{name}/embedding", None),
                              (f"/api/images/{name}/predict", {"points": [[3, 3, 1]]})):
                message = _error(client.post(url, json=body), 415)
                assert "cannot be read" in message and "prompt" not in message, message
        assert fake_predictor.set_calls == 0
    finally:
        app.extensions["edgemask"].store.close()


def test_16_bit_pngs_are_scaled_not_white(tmp_path):
    from edgemask.images import read_rgb

    grey = (np.arange(48 * 64).reshape(48, 64) * 21).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "grey16.png"), grey)
    colour = np.stack([grey, grey // 2, grey // 3], axis=2)
    cv2.imwrite(str(tmp_path / "colour16.png"), colour)  # BGR on disk
    out = read_rgb(tmp_path / "grey16.png")
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3)
    expected = np.rint(grey / 257.0).astype(np.uint8)
    assert np.array_equal(out[:, :, 0], expected) and np.array_equal(out[:, :, 2], expected)
    assert 100 < out.mean() < 160  # a ramp, not white
    out = read_rgb(tmp_path / "colour16.png")
    assert np.abs(out.astype(int) - (colour[:, :, ::-1] >> 8)).max() <= 1


def test_one_pixel_strip_is_a_clear_415(images_dir, tiny_model_dir, tmp_path, monkeypatch):
    from edgemask.webui import create_app

    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))
    cv2.imwrite(str(images_dir / "strip.png"), np.full((1, 300, 3), 128, np.uint8))
    app = create_app({"IMAGES_DIR": str(images_dir), "MODEL_DIR": str(tiny_model_dir), "DEVICE": "cpu"})
    try:
        client = page_client(app)
        assert "too thin" in _error(client.post("/api/images/strip.png/embedding"), 415)
        assert "too thin" in _error(client.post("/api/images/strip.png/predict", json={"points": [[5, 0, 1]]}), 415)
        # the classic tools still work on it
        assert client.post("/api/images/strip.png/wand", json={"x": 5, "y": 0}).status_code == 200
    finally:
        app.extensions["edgemask"].store.close()


# -- files that decay -----------------------------------------------------------------------------
def _corrupt_database(path):
    from edgemask.webui.store import Store

    with Store(path) as store:
        store.ensure_labels([(f"label {i} " + "x" * 60, "#102030") for i in range(250)])
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    # an interior b-tree page (type 2 or 5) filled with garbage: a sector gone bad
    number = next(n for n in range(1, len(data) // page) if data[n * page] in (2, 5))
    data[number * page: (number + 1) * page] = b"\xa5" * page
    path.write_bytes(bytes(data))


def test_corrupt_database_is_one_line_at_start(images_dir, tmp_path, capsys):
    from edgemask.cli import main
    from edgemask.webui.store import CorruptStore, Store

    db = tmp_path / "broken.sqlite"
    _corrupt_database(db)
    with pytest.raises(CorruptStore, match="damaged"):
        Store(db)
    before = db.read_bytes()
    assert main(["serve", str(images_dir), "--db", str(db), "--no-browser", "--no-model", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "damaged" in err and str(db) in err
    assert main(["dataset", "export", str(images_dir), "--db", str(db), "--format", "coco",
                 "--out", str(tmp_path / "out")]) == 2
    assert "damaged" in capsys.readouterr().err
    assert db.read_bytes() == before  # nothing written into it
    not_db = tmp_path / "text.sqlite"
    not_db.write_bytes(b"this is not a database at all, just text " * 200)
    with pytest.raises(CorruptStore, match="damaged"):
        Store(not_db)


def _copy_model(tiny_model_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    return folder


def test_model_files_are_checked_against_sha256_once_per_change(tiny_model_dir, tmp_path, monkeypatch):
    from edgemask.runtime import model_folder

    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))
    folder = _copy_model(tiny_model_dir, tmp_path)
    hashed = []
    real = model_folder._sha256
    monkeypatch.setattr(model_folder, "_sha256", lambda path: hashed.append(path.name) or real(path))
    model_folder.load_model_folder(folder)
    assert sorted(hashed) == ["decoder.onnx", "encoder.onnx"]
    model_folder.load_model_folder(folder)  # unchanged: not read again
    assert len(hashed) == 2
    # same size, different bytes (a bit flip on disk): found
    data = bytearray((folder / "decoder.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "decoder.onnx").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="decoder.onnx .* does not match the sha256"):
        model_folder.load_model_folder(folder)
    assert hashed[-1] == "decoder.onnx"


@pytest.mark.parametrize("path,value,words", [
    ("decoder.prompt_frame", 0, "prompt_frame 0"),
    ("encoder.input_size", -64, "encoder_size -64"),
    ("encoder.pixel_std", [1, 0, 1], "pixel_std"),
    ("decoder.low_res_size", 0, "low_res_size 0"),
    ("encoder.interpolation", "cubic-ish", "interpolation"),
    ("encoder.embedding_shape", [1, 256, 0, 64], "embedding_shape"),
])
def test_bad_model_json_values_are_refused_at_load(tiny_model_dir, tmp_path, monkeypatch, path, value, words):
    from edgemask.runtime.model_folder import load_model_folder

    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))
    folder = _copy_model(tiny_model_dir, tmp_path)
    meta = json.loads((folder / "model.json").read_text())
    section, key = path.split(".")
    meta[section][key] = value
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=words) as info:
        load_model_folder(folder)
    assert "\n" not in str(info.value) and "re-export" in str(info.value)


def test_embedding_cache_entry_of_wrong_shape_is_recomputed(tmp_path):
    from edgemask.runtime.cache import EmbeddingCache

    wrong = EmbeddingCache("model-id", tmp_path, model_name="m")  # e.g. written by a bad export
    wrong.put("key", np.ones((1, 256, 32, 32), np.float32))
    right = EmbeddingCache("model-id", tmp_path, model_name="m", embedding_shape=(1, 256, 64, 64))
    assert right.get("key") is None
    assert not right.contains("key")  # the entry was dropped, so it is computed again
    right.put("key", np.ones((1, 256, 64, 64), np.float32))
    fresh = EmbeddingCache("model-id", tmp_path, model_name="m", embedding_shape=(1, 256, 64, 64))
    assert fresh.get("key").shape == (1, 256, 64, 64)
