"""Files as real tools write them: COCO box-only and crowd annotations, CVAT rotated boxes,
ellipses and shapes without area, occluded / group / attributes kept through the store, CVAT's
segmentation-mask layout, and importing every format from the CLI."""

import json
import sqlite3

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from edgemask.cli import main
from edgemask.runtime.shapes import box_runs_to_mask, mask_to_rle, polygons_to_mask, rle_to_mask
from edgemask.webui.formats import ImageAnnotations, export_dataset, import_dataset, rasterize
from edgemask.webui.formats.model import box_polygon
from edgemask.webui.formats.labels import Label
from edgemask.webui.store import DB_NAME, ObjectRow, Store, StoreError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")

LABELS = [Label("fish", (255, 128, 0)), Label("coral", (200, 0, 200))]


def write_coco(folder, annotations, width=40, height=30):
    folder.mkdir(parents=True, exist_ok=True)
    document = {"images": [{"id": 1, "file_name": "a.jpg", "width": width, "height": height}],
                "categories": [{"id": 1, "name": "fish"}, {"id": 2, "name": "coral"}],
                "annotations": [{"id": i + 1, "image_id": 1, **a} for i, a in enumerate(annotations)]}
    (folder / "instances.json").write_text(json.dumps(document))
    return folder / "instances.json"


# -- COCO ------------------------------------------------------------------------------------
def test_coco_box_only_annotations_are_rectangles(tmp_path):
    file = write_coco(tmp_path, [
        {"category_id": 1, "segmentation": [], "bbox": [2, 3, 10, 8], "iscrowd": 0},
        {"category_id": 2, "bbox": [20.25, 4.25, 6, 5], "iscrowd": 0},  # no segmentation key at all
        {"category_id": 2, "segmentation": [], "bbox": [], "keypoints": [1, 1, 2]},  # nothing to paint
    ])
    labels, (image,) = import_dataset("coco", file)
    assert [o["kind"] for o in image.objects] == ["polygon", "polygon"]
    assert image.objects[0]["polygon"] == [[2, 3], [12, 3], [12, 11], [2, 11]]
    assert image.skipped == {"keypoints only": 1}
    classes = rasterize(image, labels)
    expected = np.zeros((30, 40), np.uint8)
    expected[3:11, 2:12] = 1
    expected[4:9, 20:26] = 2  # pixel centres inside 20.25..26.25 x 4.25..9.25
    np.testing.assert_array_equal(classes, expected)


def test_coco_crowd_rle_compressed_and_uncompressed(tmp_path):
    crowd = np.zeros((30, 40), bool)
    crowd[5:25, 10:30] = True
    crowd[10:15, 15:20] = False
    fortran = np.asfortranarray(crowd.astype(np.uint8))
    compressed = mask_utils.encode(fortran)
    # the uncompressed form as pycocotools and datumaro write it: column-major runs from 0s
    flat = crowd.reshape(-1, order="F").astype(np.int8)
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    counts = np.diff(bounds).tolist() if not flat[0] else [0] + np.diff(bounds).tolist()
    file = write_coco(tmp_path, [
        {"category_id": 1, "iscrowd": 1, "bbox": [10, 5, 20, 20],
         "segmentation": {"size": [30, 40], "counts": compressed["counts"].decode()}},
        {"category_id": 2, "iscrowd": 1, "bbox": [10, 5, 20, 20],
         "segmentation": {"size": [30, 40], "counts": counts}},
    ])
    _, (image,) = import_dataset("coco", file)
    for obj in image.objects:
        assert obj["kind"] == "mask" and obj["attributes"] == {"is_crowd": True}
        np.testing.assert_array_equal(rle_to_mask(obj["rle"]), crowd)
    # written back as crowd RLE, read back the same
    out = export_dataset([image], LABELS, "coco", tmp_path / "out")
    document = json.loads((out / "annotations" / "instances_default.json").read_text())
    assert [a["iscrowd"] for a in document["annotations"]] == [1, 1]
    assert "is_crowd" not in document["annotations"][0]["attributes"]


def test_coco_paints_in_file_order_with_z_order_as_a_hint(tmp_path):
    full = [0, 0, 40, 0, 40, 30, 0, 30]
    left = [0, 0, 20, 0, 20, 30, 0, 30]
    # file order: fish everywhere, then coral on the left half: coral wins where they overlap
    _, (image,) = import_dataset("coco", write_coco(tmp_path / "a", [
        {"category_id": 1, "segmentation": [full]}, {"category_id": 2, "segmentation": [left]}]))
    classes = rasterize(image, LABELS)
    assert (classes[:, :20] == 2).all() and (classes[:, 20:] == 1).all()
    assert [o["z"] for o in image.objects] == [0, 1]
    # pycocotools painting the annotations in file order agrees
    painted = np.zeros((30, 40), np.uint8)
    for value, poly in ((1, full), (2, left)):
        painted[mask_utils.decode(mask_utils.frPyObjects([poly], 30, 40)[0]).astype(bool)] = value
    np.testing.assert_array_equal(classes, painted)
    # a z_order attribute moves an annotation (ties keep the file order)
    _, (image,) = import_dataset("coco", write_coco(tmp_path / "b", [
        {"category_id": 1, "segmentation": [full], "attributes": {"z_order": 5}},
        {"category_id": 2, "segmentation": [left], "attributes": {"z_order": 1}}]))
    assert (rasterize(image, LABELS) == 1).all()
    assert [o["label"] for o in image.objects] == ["coral", "fish"]


# -- CVAT for images 1.1 ----------------------------------------------------------------------
def write_cvat(folder, body, width=60, height=40, name="a.jpg"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "annotations.xml").write_text(f"""<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version><meta><task><labels>
  <label><name>fish</name><color>#ff8000</color><attributes>
    <attribute><name>species</name><input_type>text</input_type></attribute></attributes></label>
  <label><name>coral</name><color>#c800c8</color><attributes/></label>
</labels></task></meta>
<image id="0" name="{name}" width="{width}" height="{height}">{body}</image></annotations>""")
    return folder


def test_cvat_rotated_boxes_turn_as_cvat_and_datumaro_turn_them(tmp_path):
    from datumaro.components.annotation import RotatedBbox

    folder = write_cvat(tmp_path, """
      <box label="fish" xtl="10" ytl="10" xbr="30" ybr="20" rotation="30" z_order="0" occluded="0"/>
      <box label="coral" xtl="40" ytl="5" xbr="50" ybr="15" z_order="0" occluded="0"/>""")
    _, (image,) = import_dataset("cvat-xml", folder)
    turned, upright = image.objects
    expected = RotatedBbox(20, 15, 20, 10, 30).as_polygon()
    np.testing.assert_allclose(turned["polygon"], expected, atol=1e-9)
    assert upright["polygon"] == [[40, 5], [50, 5], [50, 15], [40, 15]]
    np.testing.assert_allclose(box_polygon(0, 0, 2, 2, 90), [[2, 0], [2, 2], [0, 2], [0, 0]], atol=1e-12)


def test_cvat_shapes_without_area_are_counted_and_extras_kept(tmp_path):
    folder = write_cvat(tmp_path, """
      <polygon label="fish" points="1,1;20,1;20,20" z_order="2" occluded="1" group_id="4">
        <attribute name="species">cod</attribute><attribute name="adult">true</attribute>
      </polygon>
      <polyline label="fish" points="1,1;5,5" z_order="0" occluded="0"/>
      <points label="coral" points="3,3;4,4" z_order="0" occluded="0"/>
      <points label="coral" points="8,8" z_order="0" occluded="0"/>
      <tag label="fish" source="manual"/>
      <cuboid label="fish" xtl1="1" ytl1="1" xbl1="1" ybl1="5" xtr1="5" ytr1="1" xbr1="5" ybr1="5"
              xtl2="2" ytl2="2" xbl2="2" ybl2="6" xtr2="6" ytr2="2" xbr2="6" ybr2="6" z_order="0" occluded="0"/>
      <skeleton label="fish" z_order="0"><points label="fish" points="1,1" occluded="0"/></skeleton>
      <ellipse label="coral" cx="40" cy="20" rx="8" ry="5" z_order="1" occluded="0"/>
      <box label="coral" xtl="1" ytl="1" xbr="50" ybr="30" outside="1" z_order="9" occluded="0"/>""")
    labels, (image,) = import_dataset("cvat-xml", folder)
    assert image.skipped == {"polyline": 1, "points": 2, "tag": 1, "cuboid": 1, "skeleton": 1, "outside": 1}
    ellipse, polygon = image.objects  # painting order: z_order 1, then 2
    assert ellipse["kind"] == "mask" and ellipse["z"] == 0 and polygon["z"] == 1
    assert (polygon["occluded"], polygon["group"]) == (True, 4)
    assert polygon["attributes"] == {"species": "cod", "adult": True}

    # written back on export, read back the same
    out = export_dataset([image], labels, "cvat-xml", tmp_path / "out")
    text = (out / "annotations.xml").read_text()
    assert 'occluded="1"' in text and 'group_id="4"' in text
    assert '<attribute name="adult">true</attribute>' in text
    assert "<name>species</name>" in text  # declared on its label, as CVAT requires
    _, (back,) = import_dataset("cvat-xml", out)
    assert [(o["occluded"], o["group"], o.get("attributes")) for o in back.objects] == \
        [(False, 0, None), (True, 4, {"species": "cod", "adult": True})]
    assert np.array_equal(rasterize(back, labels), rasterize(image, labels))

    # and through COCO's attributes
    out = export_dataset([image], labels, "coco", tmp_path / "coco")
    _, (back,) = import_dataset("coco", out)
    assert back.objects[1]["occluded"] is True
    assert back.objects[1]["attributes"] == {"species": "cod", "adult": True}


def test_extras_survive_the_store_and_a_cli_export(images_dir, tmp_path, capsys):
    folder = write_cvat(tmp_path / "cvat", """
      <polygon label="fish" points="1,1;20,1;20,20" z_order="0" occluded="1" group_id="3">
        <attribute name="species">cod</attribute></polygon>
      <box label="coral" xtl="50" ytl="30" xbr="70" ybr="40" rotation="20" z_order="1" occluded="0"/>
      <polyline label="fish" points="1,1;5,5" z_order="0" occluded="0"/>
      <tag label="fish"/>""", width=64, height=48, name="square.png")
    xml = folder / "annotations.xml"
    assert main(["dataset", "import", str(images_dir), "--format", "cvat-xml", "--file", str(xml)]) == 0
    out = capsys.readouterr().out
    assert "imported 2 objects on 1 images (1 polygon, 1 mask)" in out
    assert "not imported, as they paint no area: polyline: 1, tag: 1" in out
    with Store(images_dir / DB_NAME) as store:
        polygon, turned = store.load("square.png").objects
        assert (polygon.occluded, polygon.group, polygon.attributes) == (True, 3, {"species": "cod"})
        # the turned box reaches past the right edge: kept as the mask of its pixels inside
        assert turned.kind == "mask"
        corners = box_polygon(50, 30, 70, 40, 20)
        np.testing.assert_array_equal(box_runs_to_mask(turned.mask, 48, 64), polygons_to_mask([corners], 48, 64))
    assert main(["dataset", "export", str(images_dir), "--format", "cvat-xml", "--out", str(tmp_path / "o"),
                 "--no-images"]) == 0
    text = (tmp_path / "o" / "annotations.xml").read_text()
    assert 'occluded="1"' in text and 'group_id="3"' in text and ">cod</attribute>" in text


# -- the store's schema -----------------------------------------------------------------------
def test_a_schema_1_database_is_migrated_without_loss(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE labels (id INTEGER PRIMARY KEY AUTOINCREMENT, position INTEGER NOT NULL,
                             name TEXT NOT NULL UNIQUE, color TEXT NOT NULL);
        CREATE TABLE images (name TEXT PRIMARY KEY, width INTEGER NOT NULL, height INTEGER NOT NULL,
                             version INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE objects (image TEXT NOT NULL REFERENCES images(name) ON DELETE CASCADE,
            client_id TEXT NOT NULL, label_id INTEGER NOT NULL REFERENCES labels(id),
            kind TEXT NOT NULL CHECK (kind IN ('polygon', 'mask')), z INTEGER NOT NULL,
            hidden INTEGER NOT NULL DEFAULT 0, polygon TEXT, mask TEXT, bbox TEXT NOT NULL,
            PRIMARY KEY (image, client_id));
        INSERT INTO meta VALUES ('schema', '1');
        INSERT INTO labels (position, name, color) VALUES (0, 'fish', '#ff8000');
        INSERT INTO images VALUES ('a.jpg', 10, 8, 3);
        INSERT INTO objects VALUES ('a.jpg', 'p', 1, 'polygon', 2, 1, '[[1, 1], [9, 1], [9, 7]]', NULL, '[1, 1, 9, 7]');
    """)
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.get_meta("schema") == "3"
        record = store.load("a.jpg")
        assert record.version == 3
        (obj,) = record.objects
        assert (obj.id, obj.kind, obj.z, obj.hidden, obj.polygon, obj.bbox) == \
            ("p", "polygon", 2, True, [[1, 1], [9, 1], [9, 7]], [1, 1, 9, 7])
        assert (obj.occluded, obj.group, obj.attributes) == (False, 0, {})
        store.save("a.jpg", 10, 8, 3, [ObjectRow(id="q", label_id=obj.label_id, kind="polygon",
                                                   polygon=obj.polygon, bbox=obj.bbox, occluded=True,
                                                   group=2, attributes={"n": 1})])
    with Store(path) as store:  # opening again changes nothing
        (obj,) = store.load("a.jpg").objects
        assert (obj.occluded, obj.group, obj.attributes) == (True, 2, {"n": 1})


def test_a_newer_schema_is_refused(tmp_path, capsys):
    path = tmp_path / "new.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value='99' WHERE key='schema'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema 99"):
        Store(path)


# -- mask folders from the CLI ----------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["index-png", "color-png", "cvat-mask"])
def test_cli_imports_mask_folders(fmt, images_dir, tmp_path, capsys):
    mask = np.zeros((48, 64), bool)
    mask[10:30, 5:40] = True
    annotated = [ImageAnnotations("square.png", 64, 48, [
        {"label": "coral", "kind": "mask", "z": 0, "rle": mask_to_rle(mask)},
        {"label": "fish", "kind": "polygon", "z": 1, "polygon": [[30, 5], [60, 5], [60, 40]]}])]
    out = export_dataset(annotated, LABELS, fmt, tmp_path / fmt)
    assert main(["dataset", "import", str(images_dir), "--format", fmt, "--file", str(out)]) == 2
    assert "give it with --dir" in capsys.readouterr().err
    assert main(["dataset", "import", str(images_dir), "--format", fmt, "--dir", str(out)]) == 0
    assert "imported 2 objects on 1 images (2 masks)" in capsys.readouterr().out
    with Store(images_dir / DB_NAME) as store:
        record = store.load("square.png")
        classes = np.zeros((48, 64), np.uint8)
        index = {row.id: row.index for row in store.labels()}
        for obj in record.objects:
            classes[box_runs_to_mask(obj.mask, 48, 64)] = index[obj.label_id]
    np.testing.assert_array_equal(classes, rasterize(annotated[0], LABELS))


def test_cvat_mask_layout_without_pngs_for_unannotated_images(images_dir, tmp_path, capsys):
    """CVAT lists every image of a subset but writes PNGs only for annotated ones, names the
    PNGs after the images without extension, and may leave the images out."""
    root = tmp_path / "cvat-mask"
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    (root / "labelmap.txt").write_text("# label:color_rgb:parts:actions\nbackground:0,0,0::\n"
                                       "fish:255,128,0::\ncoral:200,0,200::\n")
    (root / "ImageSets" / "Segmentation" / "Train.txt").write_text("square\nsub/portrait\n")
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[5:20, 5:30] = (200, 0, 200)
    cv2.imwrite(str(root / "SegmentationClass" / "square.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert main(["dataset", "import", str(images_dir), "--format", "cvat-mask", "--dir", str(root)]) == 0
    assert "imported 1 objects on 2 images (1 mask)" in capsys.readouterr().out
    with Store(images_dir / DB_NAME) as store:
        (coral,) = store.load("square.png").objects
        assert box_runs_to_mask(coral.mask, 48, 64).sum() == 15 * 25
        portrait = store.load("sub/portrait.jpg")
        assert (portrait.width, portrait.height, portrait.objects) == (40, 60, [])


def test_cvat_mask_instances_stay_separate_objects(tmp_path):
    fish_left = {"label": "fish", "kind": "polygon", "z": 0, "polygon": [[2, 2], [12, 2], [12, 12], [2, 12]]}
    fish_right = {"label": "fish", "kind": "polygon", "z": 1, "polygon": [[30, 2], [40, 2], [40, 12]]}
    coral = {"label": "coral", "kind": "polygon", "z": 2, "polygon": [[8, 8], [20, 8], [20, 20], [8, 20]]}
    annotated = ImageAnnotations("a.jpg", 48, 24, [fish_left, fish_right, coral])
    out = export_dataset([annotated], LABELS, "cvat-mask", tmp_path / "out")
    labels, (image,) = import_dataset("cvat-mask", out)
    assert [o["label"] for o in image.objects] == ["fish", "fish", "coral"]
    np.testing.assert_array_equal(rasterize(image, labels), rasterize(annotated, LABELS))
    (out / "SegmentationObject" / "a.png").unlink()  # without instances: one object per class
    _, (image,) = import_dataset("cvat-mask", out)
    assert [o["label"] for o in image.objects] == ["fish", "coral"]


@pytest.mark.parametrize("attributes, message", [
    ('cx="1e12" cy="5" rx="3" ry="3"', "too far outside the image"),
    ('cx="5" cy="5" rx="-3" ry="3"', "radii >= 0"),
    ('cx="5" cy="5" rx="3"', "lacks the 'ry' attribute"),
    ('cx="nan" cy="5" rx="3" ry="3"', "not a finite number"),
])
def test_bad_ellipses_are_refused_in_one_line(tmp_path, attributes, message):
    folder = write_cvat(tmp_path, f'<ellipse label="fish" {attributes} z_order="0" occluded="0"/>')
    with pytest.raises(ValueError, match=message):
        import_dataset("cvat-xml", folder)


@pytest.mark.parametrize("bbox", [[1, 2, 3], [1, 2, -3, 4], ["1", 2, 3, 4], {"x": 1}])
def test_malformed_coco_boxes_are_refused(tmp_path, bbox):
    file = write_coco(tmp_path, [{"category_id": 1, "segmentation": [], "bbox": bbox}])
    with pytest.raises(ValueError, match=r"annotation 1: bbox must be \[x, y, width, height\]"):
        import_dataset("coco", file)
