"""`edgemask serve` and `edgemask dataset export|import`, run through edgemask.cli.main."""

import json
import shutil
import urllib.request

import numpy as np
import pytest

from webui_util import start_serve
from edgemask.cli import main
from edgemask.webui.store import status as imagestatus
from edgemask.runtime.shapes import box_runs_to_mask, mask_to_box_runs, polygons_to_mask
from edgemask.images import ImageFolder
from edgemask.webui.store.rows import polygon_bbox
from edgemask.webui.store import DB_NAME, ObjectRow, Store


def _fill_store(images_dir):
    """Two labels and, on square.png, an overlapping polygon and mask; portrait.jpg saved empty
    and marked done (all background)."""
    with Store(images_dir / DB_NAME) as store:
        fish = store.add_label("fish", "#ffff00")
        reef = store.add_label("reef", "#ff00ff")
        mask = np.zeros((48, 64), bool)
        mask[20:40, 30:60] = True
        poly = [[10, 8], [30, 8], [30, 24], [10, 24]]
        store.save("square.png", 64, 48, 0, [
            ObjectRow(id="p", label_id=fish.id, kind="polygon", z=0, polygon=poly,
                      bbox=polygon_bbox(poly, 64, 48)),
            ObjectRow(id="m", label_id=reef.id, kind="mask", z=1, mask=mask_to_box_runs(mask), bbox=[30, 20, 60, 40]),
        ])
        store.save("sub/portrait.jpg", 40, 60, 0, [])
        imagestatus.set_status(store, "sub/portrait.jpg", "done")
    return poly, mask


def _label_masks(store, name, width, height):
    """{label name: union mask} of one stored image."""
    names = {row.id: row.name for row in store.labels()}
    out = {}
    for o in store.load(name).objects:
        m = polygons_to_mask([o.polygon], height, width) if o.kind == "polygon" else box_runs_to_mask(o.mask, height, width)
        out[names[o.label_id]] = out.get(names[o.label_id], np.zeros((height, width), bool)) | m
    return out


@pytest.mark.parametrize("fmt", ["coco", "cvat-xml"])
def test_export_then_import_round_trip(images_dir, tmp_path, fmt, capsys):
    poly, mask = _fill_store(images_dir)
    out = tmp_path / "out"
    assert main(["dataset", "export", str(images_dir), "--format", fmt, "--out", str(out)]) == 0
    assert "wrote 2 annotated images" in capsys.readouterr().out
    assert (out / "images" / "sub" / "portrait.jpg").is_file()  # the images are copied
    annotation = out / ("annotations/instances_default.json" if fmt == "coco" else "annotations.xml")
    assert annotation.is_file()

    # import into a fresh database of the same folder
    db = tmp_path / "fresh.sqlite"
    assert main(["dataset", "import", str(images_dir), "--format", fmt, "--file", str(annotation),
                 "--db", str(db)]) == 0
    assert "new labels: fish, reef" in capsys.readouterr().out
    with Store(db) as store, Store(images_dir / DB_NAME) as original:
        assert [(lb.name, lb.color) for lb in store.labels()] == [("fish", "#ffff00"), ("reef", "#ff00ff")]
        got = _label_masks(store, "square.png", 64, 48)
        want = _label_masks(original, "square.png", 64, 48)
        assert got.keys() == want.keys() == {"fish", "reef"}
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
        assert store.load("square.png").version == 1


def test_index_png_export_paints_by_z(images_dir, tmp_path):
    import cv2

    poly, mask = _fill_store(images_dir)
    out = tmp_path / "out"
    assert main(["dataset", "export", str(images_dir), "--format", "index-png", "--out", str(out),
                 "--no-images"]) == 0
    pngs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert len(pngs) == 2 and not (out / "images").exists()
    classes = cv2.imread(str(next(p for p in out.rglob("square.png"))), cv2.IMREAD_UNCHANGED)
    expected = np.zeros((48, 64), np.uint8)
    expected[polygons_to_mask([poly], 48, 64)] = 1  # fish, class 1, z 0
    expected[mask] = 2  # reef, class 2, z 1 paints over
    np.testing.assert_array_equal(classes, expected)


def test_import_adds_to_existing_objects_or_replaces(images_dir, tmp_path):
    _fill_store(images_dir)
    out = tmp_path / "out"
    main(["dataset", "export", str(images_dir), "--format", "coco", "--out", str(out), "--no-images"])
    file = out / "annotations" / "instances_default.json"
    assert main(["dataset", "import", str(images_dir), "--format", "coco", "--file", str(file)]) == 0
    with Store(images_dir / DB_NAME) as store:
        record = store.load("square.png")
        assert len(record.objects) == 4 and record.version == 2
        assert [lb.name for lb in store.labels()] == ["fish", "reef"]  # nothing added twice
        assert min(o.z for o in record.objects[2:]) > max(o.z for o in record.objects[:2])
    assert main(["dataset", "import", str(images_dir), "--format", "coco", "--file", str(file), "--replace"]) == 0
    with Store(images_dir / DB_NAME) as store:
        assert len(store.load("square.png").objects) == 2


def _exported_coco(images_dir, tmp_path):
    """The filled store exported as COCO: (file, parsed document) for a test to alter and import."""
    _fill_store(images_dir)
    out = tmp_path / "out"
    main(["dataset", "export", str(images_dir), "--format", "coco", "--out", str(out), "--no-images"])
    file = out / "annotations" / "instances_default.json"
    return file, json.loads(file.read_text())


def test_import_matches_by_file_name_and_refuses_unknown_names(images_dir, tmp_path, capsys):
    file, doc = _exported_coco(images_dir, tmp_path)
    for image in doc["images"]:
        image["file_name"] = "elsewhere/" + image["file_name"].rsplit("/", 1)[-1]
    file.write_text(json.dumps(doc))
    db = tmp_path / "by-name.sqlite"
    assert main(["dataset", "import", str(images_dir), "--format", "coco", "--file", str(file), "--db", str(db)]) == 0
    with Store(db) as store:
        assert store.image_names() == ["square.png", "sub/portrait.jpg"]

    doc["images"][0]["file_name"] = "missing.png"
    file.write_text(json.dumps(doc))
    db2 = tmp_path / "refused.sqlite"
    capsys.readouterr()
    assert main(["dataset", "import", str(images_dir), "--format", "coco", "--file", str(file), "--db", str(db2)]) == 2
    err = capsys.readouterr().err
    assert "not in" in err and "missing.png" in err and len(err.strip().splitlines()) == 1
    with Store(db2) as store:
        assert store.labels() == [] and store.image_names() == []  # nothing stored


def test_import_refuses_wrong_image_size(images_dir, tmp_path, capsys):
    file, doc = _exported_coco(images_dir, tmp_path)
    doc["images"] = [i for i in doc["images"] if i["file_name"] == "sub/portrait.jpg"]
    doc["images"][0]["width"] = 41
    doc["annotations"] = []
    file.write_text(json.dumps(doc))
    assert main(["dataset", "import", str(images_dir), "--format", "coco", "--file", str(file),
                 "--db", str(tmp_path / "x.sqlite")]) == 2
    assert "41x60" in capsys.readouterr().err


def test_dataset_errors_are_one_line(images_dir, tmp_path, capsys):
    assert main(["dataset", "export", str(tmp_path / "nope"), "--format", "coco", "--out", str(tmp_path / "o")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["dataset", "export", str(images_dir), "--format", "yolo", "--out", str(tmp_path / "o")]) == 2
    assert "unknown format" in capsys.readouterr().err
    assert main(["dataset", "import", str(images_dir), "--format", "coco", "--file", str(tmp_path / "none.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_serve_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["serve", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for words in ("IMAGES_DIR", "--model", "--labels", "--db", "--cache-dir", "--host", "--port", "--no-browser",
                  "edgemask models get efficientvit-sam-l0", "127.0.0.1"):
        assert words in text


def test_serve_argument_errors(images_dir, tmp_path, capsys):
    assert main(["serve", str(tmp_path / "nope"), "--no-browser"]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["serve", str(images_dir), "--model", str(tmp_path), "--no-browser"]) == 2
    assert "no model.json" in capsys.readouterr().err
    assert main(["serve", str(images_dir), "--labels", str(tmp_path / "x.txt"), "--no-browser"]) == 2
    assert "label file" in capsys.readouterr().err


def test_serve_runs_waitress_on_localhost(images_dir, tmp_path):
    """The real command in a subprocess: prints the URL, answers the API, stores in --db."""
    db = tmp_path / "served.sqlite"
    proc, port, text = start_serve([images_dir, "--db", db, "--labels", "suim"], tmp_path)
    try:
        assert "No model loaded" in text
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/images", timeout=10) as resp:
            body = json.loads(resp.read())
        assert body["total"] == 2
        assert db.is_file()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_demo_generates_samples(tmp_path, monkeypatch):
    from edgemask.webui.samples import SAMPLES, ensure_samples

    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))
    folder = ensure_samples()
    assert folder == tmp_path / "home" / "demo"
    listed = ImageFolder(folder)
    assert sorted(listed.names()) == sorted(name for name, *_ in SAMPLES)
    sizes = {name: listed.size(name) for name in listed.names()}
    assert any(w > h for w, h in sizes.values()) and any(h > w for w, h in sizes.values())
    for name, w, h, _ in SAMPLES:
        assert sizes[name] == (w, h)
        rgb = listed.read_rgb(name)
        assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 1000  # textured, not flat
    first = (folder / SAMPLES[0][0]).stat().st_mtime_ns
    ensure_samples()  # already there: not rewritten
    assert (folder / SAMPLES[0][0]).stat().st_mtime_ns == first
    shutil.rmtree(folder)


def test_export_lists_what_it_left_out_and_writes_turned_photos_upright(images_dir, tmp_path, capsys):
    import cv2
    from PIL import Image

    # a photo stored 30 wide x 20 high whose EXIF orientation 6 shows it 20 wide x 30 high
    stored = np.zeros((20, 30, 3), np.uint8)
    stored[:, :15] = (255, 0, 0)  # the stored left half is the displayed top half
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(images_dir / "turned.jpg", exif=exif.tobytes(), quality=98)
    _fill_store(images_dir)
    with Store(images_dir / DB_NAME) as store:
        store.save("turned.jpg", 20, 30, 0, [ObjectRow(
            id="t", label_id=store.labels()[0].id, kind="polygon", z=0,
            polygon=[[0, 0], [20, 0], [20, 15], [0, 15]], bbox=[0, 0, 20, 15])])
        imagestatus.set_status(store, "square.png", "skipped")
    out = tmp_path / "out"
    assert main(["dataset", "export", str(images_dir), "--format", "index-png", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "wrote 2 annotated images" in printed
    assert "left out 1 (marked skipped): square.png" in printed
    assert "1 images upright" in printed and "turned.jpg" in printed
    mask = cv2.imread(str(out / "masks" / "turned.png"), cv2.IMREAD_UNCHANGED)
    with Image.open(out / "images" / "turned.jpg") as written:
        assert written.getexif().get(0x0112, 1) == 1
        pixels = np.asarray(written.convert("RGB"))
    assert pixels.shape[:2] == mask.shape == (30, 20)  # same size as the mask, no EXIF needed
    assert pixels[5, 10, 0] > 200 and pixels[25, 10, 0] < 60  # the red half on top, as drawn
    assert (mask[:15] == 1).all() and (mask[15:] == 0).all()
    assert (out / "images" / "sub" / "portrait.jpg").read_bytes() == \
        (images_dir / "sub" / "portrait.jpg").read_bytes()  # upright images are copied as they are
