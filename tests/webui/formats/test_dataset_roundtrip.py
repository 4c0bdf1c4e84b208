import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from edgemask.runtime.shapes import mask_to_rle, rle_to_mask
from edgemask.webui.formats import FORMATS, ImageAnnotations, export_dataset, import_dataset, rasterize
from edgemask.webui.formats.labels import SUIM_LABELS, Label, load_labels

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")

IMAGE_FOLDERS = {"index-png": "images", "color-png": "images", "cvat-mask": "JPEGImages",
                 "coco": "images", "cvat-xml": "images"}
LABELS = [Label("fish", (255, 128, 0)), Label("coral", (200, 0, 200)),
          Label("rock", (90, 90, 90)), Label("diver", (0, 0, 255))]


def ring_mask(h, w, cx, cy, r_out, r_in):
    yy, xx = np.mgrid[:h, :w]
    d2 = (xx - cx) ** 2 + (yy - cy) ** 2
    return (d2 <= r_out ** 2) & (d2 > r_in ** 2)


@pytest.fixture
def annotated():
    """Landscape, portrait, odd-sized and empty images; polygons and masks with holes,
    overlapping at different z."""
    rng = np.random.default_rng(11)
    noisy = rng.random((77, 41)) > 0.7
    return [
        ImageAnnotations("scenes/a.jpg", 96, 64, [
            {"label": "rock", "kind": "polygon", "z": -1, "polygon": [[0, 40], [96, 30], [96, 64], [0, 64]]},
            {"label": "fish", "kind": "mask", "z": 2, "rle": mask_to_rle(ring_mask(64, 96, 40, 35, 20, 8))},
            {"label": "coral", "kind": "polygon", "z": 1, "polygon": [[10.25, 5.5], [70.75, 12], [55, 50.5], [12, 44]]},
            {"label": "fish", "kind": "polygon", "z": 2, "polygon": [[80, 2], [94, 2], [94, 20], [80, 20]]},
        ]),
        ImageAnnotations("b.png", 41, 77, [
            {"label": "diver", "kind": "mask", "z": 0, "rle": mask_to_rle(noisy)},
            {"label": "coral", "kind": "polygon", "z": 0, "polygon": [[3, 3], [38, 10], [20, 70]]},
            {"label": "fish", "kind": "mask", "z": -3, "rle": mask_to_rle(ring_mask(77, 41, 20, 38, 15, 5))},
        ]),
        ImageAnnotations("deep/dir/c.jpeg", 33, 33, [
            {"label": "rock", "kind": "mask", "z": 5, "rle": mask_to_rle(ring_mask(33, 33, 16, 16, 16, 4))},
            {"label": "diver", "kind": "mask", "z": 1, "rle": mask_to_rle(np.zeros((33, 33), bool))},
        ]),
        ImageAnnotations("empty.jpg", 10, 7, []),
    ]


@pytest.fixture
def images_dir(tmp_path, annotated):
    folder = tmp_path / "source-images"
    for ann in annotated:
        path = folder / ann.name
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, data = cv2.imencode(path.suffix, np.full((ann.height, ann.width, 3), 120, np.uint8))
        path.write_bytes(data.tobytes())
    return folder


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_import_gives_the_same_class_maps(fmt, tmp_path, annotated, images_dir):
    out = export_dataset(annotated, LABELS, fmt, tmp_path / fmt, images_dir=images_dir)
    labels, images = import_dataset(fmt, out)
    assert [label.name for label in labels] == [label.name for label in LABELS]
    if fmt in ("color-png", "coco", "cvat-xml", "cvat-mask"):
        assert [label.color for label in labels] == [label.color for label in LABELS]
    by_name = {ann.name: ann for ann in images}
    assert sorted(by_name) == sorted(ann.name for ann in annotated)
    for original in annotated:
        back = by_name[original.name]
        assert (back.width, back.height) == (original.width, original.height)
        assert np.array_equal(rasterize(back, labels), rasterize(original, LABELS)), original.name
    # the images travel with the dataset
    folder = out / IMAGE_FOLDERS[fmt]
    for ann in annotated:
        assert (folder / ann.name).read_bytes() == (images_dir / ann.name).read_bytes()


@pytest.mark.parametrize("fmt", ["coco", "cvat-xml"])
def test_polygons_and_z_survive_as_such(fmt, tmp_path, annotated):
    labels, images = import_dataset(fmt, export_dataset(annotated, LABELS, fmt, tmp_path / fmt))
    back = {ann.name: ann for ann in images}["scenes/a.jpg"]
    polygons = [o for o in back.objects if o["kind"] == "polygon"]
    assert len(polygons) == 3
    coral = next(o for o in polygons if o["label"] == "coral")
    assert coral["z"] == 1
    assert np.allclose(coral["polygon"], annotated[0].objects[2]["polygon"])
    masks = [o for o in back.objects if o["kind"] == "mask"]
    assert len(masks) == 1 and masks[0]["z"] == 2
    assert np.array_equal(rle_to_mask(masks[0]["rle"]), rle_to_mask(annotated[0].objects[1]["rle"]))


def test_index_png_files(tmp_path, annotated):
    out = export_dataset(annotated, LABELS, "index-png", tmp_path)
    for ann in annotated:
        stem = ann.name.rsplit(".", 1)[0]
        png = cv2.imread(str(out / "masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert png.ndim == 2 and png.dtype == np.uint8
        assert np.array_equal(png, rasterize(ann, LABELS))
    lines = (out / "labels.txt").read_text().splitlines()
    assert lines == ["background"] + [label.name for label in LABELS]


def test_color_png_uses_the_suim_colours(tmp_path):
    labels = list(SUIM_LABELS)
    mask = np.zeros((20, 30), bool)
    mask[5:15, 5:25] = True
    ann = ImageAnnotations("reef.jpg", 30, 20, [
        {"label": "fish/vertebrates", "kind": "mask", "z": 0, "rle": mask_to_rle(mask)},
        {"label": "human divers", "kind": "polygon", "z": 1, "polygon": [[0, 0], [10, 0], [10, 10], [0, 10]]},
        {"label": "sea-floor/rocks", "kind": "polygon", "z": 0, "polygon": [[20, 16], [30, 16], [30, 20], [20, 20]]},
    ])
    out = export_dataset([ann], labels, "color-png", tmp_path)
    rgb = cv2.cvtColor(cv2.imread(str(out / "masks" / "reef.png")), cv2.COLOR_BGR2RGB)
    assert tuple(rgb[12, 20]) == (255, 255, 0)  # FV yellow
    assert tuple(rgb[7, 7]) == (0, 0, 255)  # HD blue over the fish
    assert tuple(rgb[18, 25]) == (255, 255, 255)  # SR white
    assert tuple(rgb[18, 2]) == (0, 0, 0)  # unannotated: black, as SUIM's waterbody
    colors = np.array([(0, 0, 0)] + [label.color for label in labels], np.uint8)
    assert np.array_equal(rgb, colors[rasterize(ann, labels)])
    assert [label.color for label in load_labels(out / "labels.txt")] == [label.color for label in labels]


def test_cvat_mask_layout(tmp_path, annotated):
    labels = list(SUIM_LABELS)  # its black waterbody collides with CVAT's background
    ann = ImageAnnotations("x/pic.jpg", 40, 30, [
        {"label": "background waterbody", "kind": "polygon", "z": 0, "polygon": [[0, 0], [40, 0], [40, 30], [0, 30]]},
        {"label": "robots", "kind": "polygon", "z": 1, "polygon": [[5, 5], [15, 5], [15, 15], [5, 15]]},
        {"label": "robots", "kind": "polygon", "z": 1, "polygon": [[20, 5], [30, 5], [30, 15], [20, 15]]},
    ])
    out = export_dataset([ann], labels, "cvat-mask", tmp_path)
    labelmap = (out / "labelmap.txt").read_text().splitlines()
    assert labelmap[1] == "background:0,0,0::"
    assert labelmap[6] == "robots:255,0,0::"
    colors = [tuple(int(v) for v in line.split(":")[1].split(",")) for line in labelmap[1:]]
    assert len(set(colors)) == len(colors)  # every class tells apart by colour
    assert (out / "ImageSets/Segmentation/default.txt").read_text().split() == ["x/pic"]
    cls = cv2.cvtColor(cv2.imread(str(out / "SegmentationClass/x/pic.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(cls, np.array(colors, np.uint8)[rasterize(ann, labels)])
    obj = cv2.cvtColor(cv2.imread(str(out / "SegmentationObject/x/pic.png")), cv2.COLOR_BGR2RGB)
    instance_colors = {tuple(c) for c in obj.reshape(-1, 3)}
    assert len(instance_colors) == 3 and (0, 0, 0) not in instance_colors  # 3 objects, no gap
    assert tuple(obj[10, 10]) != tuple(obj[10, 25])


def test_coco_is_read_by_pycocotools(tmp_path, annotated):
    out = export_dataset(annotated, LABELS, "coco", tmp_path)
    coco = COCO(str(out / "annotations/instances_default.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == [label.name for label in LABELS]
    image = next(i for i in coco.dataset["images"] if i["file_name"] == "scenes/a.jpg")
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
    assert len(anns) == 4 and all(a["iscrowd"] == 0 for a in anns)
    fish_mask = next(a for a in anns if isinstance(a["segmentation"], dict))
    expected = ring_mask(64, 96, 40, 35, 20, 8)
    assert np.array_equal(coco.annToMask(fish_mask).astype(bool), expected)
    assert fish_mask["area"] == expected.sum()
    x, y, w, h = fish_mask["bbox"]
    ys, xs = np.nonzero(expected)
    assert (x, y, x + w, y + h) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    square = next(a for a in anns if a["bbox"] == [80, 2, 14, 18])
    assert square["area"] == 14 * 18 and coco.annToMask(square).sum() == 14 * 18
    # the empty mask paints nothing and is left out
    c_image = next(i for i in coco.dataset["images"] if i["file_name"] == "deep/dir/c.jpeg")
    assert len(coco.getAnnIds(imgIds=[c_image["id"]])) == 1


def cvat_decode(rle, left, top, width, img_h, img_w):
    """Independent reading of CVAT's mask rle, as CVAT's own scripts do it."""
    mask = np.zeros((img_h, img_w), np.uint8)
    value, offset = 0, 0
    for count in rle:
        for _ in range(count):
            y, x = divmod(offset, width)
            mask[y + top, x + left] = value
            offset += 1
        value = 1 - value
    return mask.astype(bool)


def test_cvat_xml_writes_masks_and_polygons_as_cvat(tmp_path, annotated):
    out = export_dataset(annotated, LABELS, "cvat-xml", tmp_path)
    root = ET.parse(out / "annotations.xml").getroot()
    assert root.findtext("version") == "1.1"
    assert [e.findtext("name") for e in root.findall("meta/task/labels/label")] == [l.name for l in LABELS]
    image = root.find("image[@name='b.png']")
    assert (image.get("width"), image.get("height")) == ("41", "77")
    masks = image.findall("mask")
    assert len(masks) == 2
    for element, original in zip(masks, [annotated[1].objects[2], annotated[1].objects[0]]):
        runs = [int(v) for v in element.get("rle").split(",")]
        decoded = cvat_decode(runs, int(element.get("left")), int(element.get("top")),
                              int(element.get("width")), 77, 41)
        assert np.array_equal(decoded, rle_to_mask(original["rle"]))
    assert [m.get("z_order") for m in masks] == ["-3", "0"]  # written in painting order
    polygon = image.find("polygon")
    assert polygon.get("points") == "3.00,3.00;38.00,10.00;20.00,70.00"
    a = root.find("image[@name='scenes/a.jpg']")
    coral = next(p for p in a.findall("polygon") if p.get("label") == "coral")
    assert coral.get("points").startswith("10.25,5.50;70.75,12.00")


def test_rasterize_paints_by_ascending_z():
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    objects = [{"label": "coral", "kind": "polygon", "z": 3, "polygon": square},
               {"label": "fish", "kind": "polygon", "z": 1, "polygon": square},
               {"label": "rock", "kind": "polygon", "z": 3, "polygon": [[5, 5], [10, 5], [10, 10], [5, 10]]}]
    classes = rasterize(ImageAnnotations("a.jpg", 12, 12, objects), LABELS)
    assert classes[2, 2] == 2 and classes[7, 7] == 3 and classes[11, 11] == 0
    assert classes.dtype == np.uint8 and classes.shape == (12, 12)


def test_cvat_xml_mask_runs_start_with_zeros(tmp_path):
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:7] = True  # the box starts on a set pixel
    mask[4, 6] = False
    ann = ImageAnnotations("r.jpg", 12, 10, [{"label": "rock", "kind": "mask", "z": 0, "rle": mask_to_rle(mask)}])
    out = export_dataset([ann], LABELS, "cvat-xml", tmp_path)
    element = ET.parse(out / "annotations.xml").getroot().find("image/mask")
    assert [element.get(k) for k in ("left", "top", "width", "height")] == ["3", "2", "4", "3"]
    runs = [int(v) for v in element.get("rle").split(",")]
    assert runs[0] == 0 and sum(runs) == 12
    assert np.array_equal(cvat_decode(runs, 3, 2, 4, 10, 12), mask)
