"""Round trips against datumaro, the library CVAT builds its formats on.

Each edgemask export is loaded by datumaro and rasterised by datumaro's own code; it must agree
with edgemask's index-png of the same annotations on >= 99.5 % of the pixels of every image.
The other way, COCO and CVAT files written by datumaro are imported by edgemask and compared
with datumaro's rasterisation of the same files. Annotations are small and made in the test.
"""

import json
import logging
from typing import Optional

import cv2
import numpy as np
import pytest

import datumaro as dm
from datumaro.components.annotation import (
    AnnotationType,
    Bbox,
    CompiledMask,
    Ellipse,
    Label,
    Mask,
    Points,
    Polygon,
    PolyLine,
    RotatedBbox,
)
from datumaro.components.media import Image
from datumaro.plugins.transforms import BoxesToMasks, PolygonsToMasks

from edgemask.cli import main
from edgemask.runtime.shapes import mask_to_rle
from edgemask.webui.formats import FORMATS, ImageAnnotations, export_dataset, import_dataset, rasterize
from edgemask.webui.formats.labels import Label as EdgeLabel

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


@pytest.fixture(autouse=True)
def quiet_datumaro():
    """datumaro warns on the root logger about every shape a format drops: quiet it for these tests
    only (a module-level setLevel would silence every later test's log assertions)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    yield
    root.setLevel(level)


AGREEMENT = 0.995
LABELS = [EdgeLabel("fish", (255, 128, 0)), EdgeLabel("coral", (200, 0, 200)),
          EdgeLabel("rock", (90, 90, 90))]
NAMES = [label.name for label in LABELS]
# how datumaro reads each export: its format name and the image file naming it keeps
DATUMARO_FORMAT = {"index-png": "common_semantic_segmentation", "color-png": "common_semantic_segmentation",
                   "cvat-mask": "voc_segmentation", "coco": "coco_instances", "cvat-xml": "cvat"}


def ring(h, w, cx, cy, r_out, r_in):
    yy, xx = np.mgrid[:h, :w]
    d2 = (xx - cx) ** 2 + (yy - cy) ** 2
    return (d2 <= r_out ** 2) & (d2 > r_in ** 2)


def datumaro_classes(item: dm.DatasetItem, label_names: list, h: int, w: int,
                     coco_order: Optional[dict] = None) -> np.ndarray:
    """datumaro's rasterisation of an item's area shapes (masks, polygons, ellipses, boxes,
    rotated boxes), painted by z_order then annotation order, as edgemask class indices.

    With ``coco_order`` ({annotation id: position in the file}): datumaro reads a COCO
    annotation as its shape plus its instance box (same group); only a box without a shape is an
    area. And datumaro's COCO reader returns the annotations in reverse file order (it pops them
    off the list), while COCO's painting order, edgemask's and pycocotools', is the file order:
    they are put back in file order."""
    index = {"background": 0, **{name: i + 1 for i, name in enumerate(NAMES)}}
    annotations = list(item.annotations)
    if coco_order is not None:
        shaped = {ann.group for ann in annotations if ann.type != AnnotationType.bbox}
        annotations = sorted((ann for ann in annotations
                              if ann.type != AnnotationType.bbox or ann.group not in shaped),
                             key=lambda ann: coco_order[ann.id])
    masks, classes = [], []
    for ann in annotations:
        if ann.type == AnnotationType.mask:
            mask = ann
        elif ann.type in (AnnotationType.polygon, AnnotationType.ellipse):
            mask = PolygonsToMasks.convert_polygon(ann, h, w)
        elif ann.type == AnnotationType.bbox:
            mask = BoxesToMasks.convert_bbox(ann, h, w)
        elif ann.type == AnnotationType.rotated_bbox:
            corners = [v for point in ann.as_polygon() for v in point]
            mask = PolygonsToMasks.convert_polygon(Polygon(corners, z_order=ann.z_order), h, w)
        else:
            continue
        masks.append(mask)
        classes.append(index[label_names[ann.label]])
    if not masks:
        return np.zeros((h, w), np.uint8)
    return CompiledMask.from_instance_masks(masks, instance_labels=classes).class_mask.astype(np.uint8)


def coco_file_order(folder) -> dict:
    """{image file stem: {annotation id: position in the file}} of a COCO export."""
    document = json.loads((folder / "annotations" / "instances_default.json").read_text())
    stems = {image["id"]: image["file_name"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
             for image in document["images"]}
    order: dict = {stem: {} for stem in stems.values()}
    for position, ann in enumerate(document["annotations"]):
        order[stems[ann["image_id"]]][ann["id"]] = position
    return order


def label_names(dataset) -> list:
    return [category.name for category in dataset.categories()[AnnotationType.label]]


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float((a == b).mean())


# -- edgemask exports, read by datumaro ---------------------------------------------------------
@pytest.fixture(scope="module")
def annotated():
    """Polygons (fractional, concave, overlapping), masks with holes, an empty image; z mixed."""
    rng = np.random.default_rng(5)
    blobs = cv2.GaussianBlur(rng.random((70, 50)).astype(np.float32), (0, 0), 3) > 0.5
    return [
        ImageAnnotations("a.jpg", 96, 64, [
            {"label": "rock", "kind": "polygon", "z": -1, "polygon": [[0, 40], [96, 30], [96, 64], [0, 64]]},
            {"label": "fish", "kind": "mask", "z": 2, "rle": mask_to_rle(ring(64, 96, 40, 35, 20, 8)),
             "occluded": True, "group": 2, "attributes": {"species": "cod"}},
            {"label": "coral", "kind": "polygon", "z": 1,
             "polygon": [[10.25, 5.5], [70.75, 12], [40, 25.5], [55, 50.5], [12, 44]]},
            {"label": "fish", "kind": "polygon", "z": 3, "polygon": [[80, 2], [94, 2], [94, 20], [80, 20]]},
        ]),
        ImageAnnotations("b.png", 50, 70, [
            {"label": "coral", "kind": "mask", "z": 0, "rle": mask_to_rle(blobs)},
            {"label": "rock", "kind": "polygon", "z": 1, "polygon": [[3, 3], [45, 10], [20, 66]]},
        ]),
        ImageAnnotations("c.jpg", 33, 33, []),
    ]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, annotated):
    """Every export of the same annotations (with the image files), and their index-png masks."""
    root = tmp_path_factory.mktemp("exports")
    images = root / "source"
    for ann in annotated:
        images.mkdir(exist_ok=True)
        cv2.imwrite(str(images / ann.name), np.full((ann.height, ann.width, 3), 100, np.uint8))
    outs = {fmt: export_dataset(annotated, LABELS, fmt, root / fmt, images_dir=images) for fmt in FORMATS}
    reference = {ann.name: cv2.imread(str(outs["index-png"] / "masks" / (ann.name.rsplit(".", 1)[0] + ".png")),
                                      cv2.IMREAD_UNCHANGED) for ann in annotated}
    return outs, reference


@pytest.mark.parametrize("fmt", FORMATS)
def test_datumaro_reads_each_export_like_our_index_png(fmt, exported, annotated):
    outs, reference = exported
    dataset = dm.Dataset.import_from(str(outs[fmt]), DATUMARO_FORMAT[fmt])
    names = label_names(dataset)
    assert [n for n in names if n != "background"] == NAMES
    items = {item.id.rsplit("/", 1)[-1]: item for item in dataset}
    order = coco_file_order(outs[fmt]) if fmt == "coco" else {}
    for ann in annotated:
        stem = ann.name.rsplit(".", 1)[0]
        if fmt in ("index-png", "color-png", "cvat-mask") or ann.objects:
            assert stem in items, f"{fmt}: datumaro lost {ann.name}"
        item = items.get(stem)
        theirs = (datumaro_classes(item, names, ann.height, ann.width, order.get(stem)) if item is not None
                  else np.zeros((ann.height, ann.width), np.uint8))
        ours = reference[ann.name]
        assert np.array_equal(ours, rasterize(ann, LABELS))
        score = agreement(ours, theirs)
        assert score >= AGREEMENT, f"{fmt} {ann.name}: datumaro agrees on {score:.2%} of the pixels"


def test_datumaro_reads_cvat_xml_extras(exported):
    dataset = dm.Dataset.import_from(str(exported[0]["cvat-xml"]), "cvat")
    item = next(item for item in dataset if item.id.endswith("a"))
    masks = [ann for ann in item.annotations if ann.type == AnnotationType.mask]
    assert len(masks) == 1
    assert masks[0].group == 2
    assert masks[0].attributes["occluded"] is True and masks[0].attributes["species"] == "cod"


# -- datumaro's files, imported by edgemask ----------------------------------------------------
def datumaro_dataset():
    """Every shape datumaro has, two annotated images and one without annotations."""
    crowd = ring(60, 80, 60, 40, 14, 5)
    blob = np.zeros((60, 80), np.uint8)
    blob[5:25, 50:78] = 1
    blob[10:15, 60:70] = 0
    first = [
        Bbox(2, 3, 30, 20, label=0, id=1, z_order=0),
        Polygon([10, 10, 45.5, 12, 40, 40.25, 25, 30, 12, 44], label=1, id=2, z_order=1, group=7,
                attributes={"occluded": True, "health": "bleached"}),
        Mask(crowd, label=2, id=3, z_order=2, attributes={"is_crowd": True}),
        Mask(blob, label=0, id=4, z_order=1),
        Ellipse(30, 35, 60, 55, label=2, id=5, z_order=3),
        RotatedBbox(20, 48, 24, 10, 30, label=1, id=6, z_order=4),
        PolyLine([1, 1, 20, 20, 30, 5], label=0, id=7),
        Points([3, 3, 9, 9], label=1, id=8),
        Label(0, id=9),
    ]
    second = [
        Polygon([0, 0, 50, 0, 50, 35, 0, 35], label=2, id=1),
        Bbox(10.4, 20.6, 25, 30, label=0, id=2),
    ]
    items = [
        dm.DatasetItem(id="one", media=Image.from_numpy(np.zeros((60, 80, 3), np.uint8)), annotations=first),
        dm.DatasetItem(id="two", media=Image.from_numpy(np.zeros((70, 50, 3), np.uint8)), annotations=second),
        dm.DatasetItem(id="three", media=Image.from_numpy(np.zeros((20, 30, 3), np.uint8)), annotations=[]),
    ]
    return dm.Dataset.from_iterable(items, categories=NAMES, media_type=Image)


@pytest.fixture(scope="module")
def datumaro_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("datumaro")
    dataset = datumaro_dataset()
    dataset.export(str(root / "coco"), "coco_instances", save_media=True)
    dataset.export(str(root / "cvat"), "cvat", save_media=True, allow_undeclared_attrs=True)
    return root


@pytest.mark.parametrize("fmt, folder, datumaro_format", [
    ("coco", "coco", "coco_instances"), ("cvat-xml", "cvat", "cvat")])
def test_datumaro_files_import_like_datumaro_paints_them(fmt, folder, datumaro_format, datumaro_files):
    path = datumaro_files / folder
    labels, images = import_dataset(fmt, path)
    assert [label.name for label in labels] == NAMES
    theirs = dm.Dataset.import_from(str(path), datumaro_format)
    names = label_names(theirs)
    items = {item.id.rsplit("/", 1)[-1]: item for item in theirs}
    ours = {ann.name.rsplit("/", 1)[-1].rsplit(".", 1)[0]: ann for ann in images}
    order = coco_file_order(path) if fmt == "coco" else {}
    assert {"one", "two"} <= set(ours)
    for stem, ann in ours.items():
        expected = datumaro_classes(items[stem], names, ann.height, ann.width, order.get(stem))
        score = agreement(rasterize(ann, labels), expected)
        assert score >= AGREEMENT, f"{fmt} {stem}: {score:.2%} of the pixels agree with datumaro"
    one = ours["one"]
    # box, polygon, 2 masks, and the ellipse (COCO: as datumaro's polygon) or rotated box (CVAT)
    assert len(one.objects) == 5
    assert [o["z"] for o in one.objects] == list(range(5))
    if fmt == "coco":
        assert one.objects[0]["kind"] == "polygon"  # the box-only annotation (segmentation: [])
        document = json.loads((path / "annotations" / "instances_default.json").read_text())
        crowds = sum(ann["iscrowd"] for ann in document["annotations"] if ann["image_id"] == 1)
        assert crowds >= 1
        assert [o.get("attributes", {}).get("is_crowd") for o in one.objects].count(True) == crowds
        assert len(ours["two"].objects) == 2
    else:
        assert one.skipped == {"polyline": 1, "points": 1, "tag": 1}
        polygon = next(o for o in one.objects if o.get("group") == 7)
        assert polygon["occluded"] is True and polygon["attributes"] == {"health": "bleached"}


def test_cvat_ellipses_paint_like_cvat(tmp_path):
    """CVAT paints an ellipse with OpenCV at whole-pixel centre and radii; an upright one must
    match datumaro's ellipse, a turned one the analytic ellipse (turned clockwise on screen)."""
    h, w = 60, 90
    (tmp_path / "annotations.xml").write_text(f"""<?xml version="1.0"?>
<annotations><version>1.1</version>
<image id="0" name="e.png" width="{w}" height="{h}">
  <ellipse label="fish" cx="30" cy="25" rx="20" ry="12" z_order="0" occluded="0"/>
  <ellipse label="coral" cx="70" cy="40" rx="15" ry="6" rotation="45" z_order="1" occluded="1"/>
</image></annotations>""")
    labels, (image,) = import_dataset("cvat-xml", tmp_path)
    classes = rasterize(image, labels)
    upright = PolygonsToMasks.convert_polygon(Ellipse(10, 13, 50, 37, label=0), h, w).image.astype(bool)
    ours = classes == 1
    assert (ours & upright).sum() / (ours | upright).sum() > 0.9  # OpenCV's is half a pixel off
    yy, xx = np.mgrid[:h, :w]  # OpenCV's coordinates: pixel (x, y) is centred on (x, y)

    def turned(degrees):
        angle = np.radians(degrees)
        u = (xx - 70) * np.cos(angle) + (yy - 40) * np.sin(angle)
        v = -(xx - 70) * np.sin(angle) + (yy - 40) * np.cos(angle)
        return (u / 15) ** 2 + (v / 6) ** 2 <= 1

    ours = classes == 2
    assert (ours & turned(45)).sum() / (ours | turned(45)).sum() > 0.85
    assert (ours & turned(-45)).sum() / (ours | turned(-45)).sum() < 0.5
    assert image.objects[1]["occluded"] is True


def test_cli_imports_datumaro_cvat_and_writes_extras_back(datumaro_files, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for name, (h, w) in {"one": (60, 80), "two": (70, 50), "three": (20, 30)}.items():
        cv2.imwrite(str(images / f"{name}.jpg"), np.full((h, w, 3), 128, np.uint8))
    assert main(["dataset", "import", str(images), "--format", "cvat-xml", "--dir",
                 str(datumaro_files / "cvat")]) == 0
    out = capsys.readouterr().out
    assert "imported 7 objects on 3 images" in out
    assert "not imported, as they paint no area: points: 1, polyline: 1, tag: 1" in out
    assert main(["dataset", "export", str(images), "--format", "cvat-xml", "--out", str(tmp_path / "back")]) == 0
    back = dm.Dataset.import_from(str(tmp_path / "back"), "cvat")
    item = next(item for item in back if item.id.endswith("one"))
    grouped = [ann for ann in item.annotations if ann.group == 7]
    assert len(grouped) == 1
    assert grouped[0].attributes["occluded"] is True
    assert grouped[0].attributes["health"] == "bleached"
