import json

import numpy as np
import pytest

from edgemask.runtime.shapes import mask_to_rle
from edgemask.webui.formats import FORMATS, ImageAnnotations, export_dataset, import_dataset, rasterize

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")

from edgemask.webui.formats.labels import Label

LABELS = [Label("fish", (255, 128, 0)), Label("rock", (90, 90, 90))]
SQUARE = [[1, 1], [6, 1], [6, 6], [1, 6]]


def image(objects, name="a.jpg", w=8, h=8):
    return ImageAnnotations(name, w, h, objects)


def test_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset format 'yolo'"):
        export_dataset([], LABELS, "yolo", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset format"):
        import_dataset("voc", tmp_path)


@pytest.mark.parametrize("obj, message", [
    ({"label": "shark", "kind": "polygon", "z": 0, "polygon": SQUARE}, "label 'shark', which is not in the label set"),
    ({"label": "fish", "kind": "circle", "z": 0}, "kind must be one of"),
    ({"label": "fish", "kind": "polygon", "z": 0, "polygon": [[0, 0], [1, 1]]}, "at least 3 points"),
    ({"label": "fish", "kind": "polygon", "z": "top", "polygon": SQUARE}, "z must be an integer"),
    ({"label": "fish", "kind": "mask", "z": 0, "rle": mask_to_rle(np.ones((4, 4), bool))}, "differs from the image size"),
    ({"label": "fish", "kind": "mask", "z": 0, "rle": {"size": [8, 8], "counts": [1, 2]}}, "RLE counts cover"),
])
@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_objects_are_refused_before_writing(tmp_path, fmt, obj, message):
    good = image([{"label": "fish", "kind": "polygon", "z": 0, "polygon": SQUARE}], name="first.jpg")
    with pytest.raises(ValueError, match=message) as info:
        export_dataset([good, image([obj])], LABELS, fmt, tmp_path / "out")
    assert "object 0 of image 'a.jpg'" in str(info.value)
    assert not any((tmp_path / "out").rglob("*.*"))  # nothing half-written


def test_rasterize_validates():
    with pytest.raises(ValueError, match="not in the label set"):
        rasterize(image([{"label": "shark", "kind": "polygon", "z": 0, "polygon": SQUARE}]), LABELS)


@pytest.mark.parametrize("name", ["../escape.jpg", "/abs/x.jpg", "dir\\x.jpg", "a//b.jpg", ""])
def test_unsafe_image_names(tmp_path, name):
    with pytest.raises(ValueError, match="image name"):
        export_dataset([image([], name=name)], LABELS, "index-png", tmp_path)


def test_duplicate_and_colliding_names(tmp_path):
    with pytest.raises(ValueError, match="listed twice"):
        export_dataset([image([]), image([])], LABELS, "coco", tmp_path)
    with pytest.raises(ValueError, match="would both be written as"):
        export_dataset([image([], "x.jpg"), image([], "x.png")], LABELS, "index-png", tmp_path)
    with pytest.raises(ValueError, match="label names must be unique"):
        export_dataset([], LABELS + [Label("fish", (1, 2, 3))], "coco", tmp_path)


def test_missing_image_file(tmp_path):
    (tmp_path / "imgs").mkdir()
    with pytest.raises(ValueError, match="does not exist"):
        export_dataset([image([])], LABELS, "cvat-xml", tmp_path / "out", images_dir=tmp_path / "imgs")


def write_coco(tmp_path, document):
    path = tmp_path / "instances.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


COCO_OK = {"images": [{"id": 1, "file_name": "a.jpg", "width": 8, "height": 8}],
           "categories": [{"id": 1, "name": "fish"}], "annotations": []}


@pytest.mark.parametrize("document, message", [
    ("{not json", "not valid JSON"),
    ({"images": []}, "lacks categories"),
    ({**COCO_OK, "images": COCO_OK["images"] * 2}, "image id 1 is listed twice"),
    ({**COCO_OK, "categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}, "category id 1 is listed twice"),
    ({**COCO_OK, "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "a"}]}, "duplicate category names"),
    ({**COCO_OK, "images": [{"id": 1, "file_name": "a.jpg", "width": "wide", "height": 8}]}, "size"),
    ({**COCO_OK, "annotations": [{"id": 1, "image_id": 9, "category_id": 1, "segmentation": [[0, 0, 1, 1, 2, 2]]}]}, "image id 9"),
    ({**COCO_OK, "annotations": [{"id": 1, "image_id": 1, "category_id": 4, "segmentation": [[0, 0, 1, 1, 2, 2]]}]}, "category id 4"),
    ({**COCO_OK, "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 1]]}]}, "at least 3 x, y pairs"),
    ({**COCO_OK, "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": {"size": [4, 4], "counts": "0"}}]}, "differs from the image"),
    ({**COCO_OK, "annotations": [{"id": 1, "image_id": 1, "category_id": 1}]}, "lacks segmentation"),
])
def test_malformed_coco(tmp_path, document, message):
    with pytest.raises(ValueError, match=message):
        import_dataset("coco", write_coco(tmp_path, document))


def test_coco_without_colours_or_z_and_with_multi_part_polygons(tmp_path):
    doc = {**COCO_OK, "categories": [{"id": 7, "name": "fish"}, {"id": 3, "name": "rock"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 3,
                            "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4], [5, 5, 8, 5, 8, 8]]}]}
    labels, images = import_dataset("coco", write_coco(tmp_path, doc))
    assert [l.name for l in labels] == ["fish", "rock"] and len({l.color for l in labels}) == 2
    assert [o["kind"] for o in images[0].objects] == ["polygon", "polygon"]
    classes = rasterize(images[0], labels)
    assert classes[1, 1] == 2 and classes[7, 7] == 2 and classes[1, 6] == 0


def write_xml(tmp_path, body):
    path = tmp_path / "annotations.xml"
    path.write_text(body)
    return tmp_path


def cvat(image_body):
    return ("<?xml version='1.0' encoding='utf-8'?><annotations><version>1.1</version>"
            f"<image id='0' name='a.jpg' width='8' height='6'>{image_body}</image></annotations>")


@pytest.mark.parametrize("body, message", [
    ("<annotations><image", "not valid XML"),
    ("<root/>", "not a CVAT annotations file"),
    (cvat("<mask label='fish' rle='1, 2' left='0' top='0' width='2' height='2'/>"), "covers 3 pixels, its box has 4"),
    (cvat("<mask label='fish' rle='0, 4' left='7' top='0' width='2' height='2'/>"), "outside the 8x6 image"),
    (cvat("<mask label='fish' rle='a, b' left='0' top='0' width='2' height='2'/>"), "comma-separated integers"),
    (cvat("<polygon label='fish' points='1,1;2,2'/>"), "at least 3"),
    (cvat("<polygon label='fish' points='1,1;2,x;3,3'/>"), "x,y;x,y"),
    (cvat("<polygon points='1,1;2,2;3,1'/>"), "has no label"),
    ("<annotations><track id='0' label='fish'/></annotations>", "CVAT for video"),
    ("<annotations><image id='0' name='a.jpg' width='0' height='6'/></annotations>", "invalid size 0x6"),
    ("<annotations><image id='0' name='a.jpg' height='6'/></annotations>", "lacks the 'width' attribute"),
])
def test_malformed_cvat_xml(tmp_path, body, message):
    with pytest.raises(ValueError, match=message):
        import_dataset("cvat-xml", write_xml(tmp_path, body))


def test_cvat_xml_boxes_and_labels_without_meta(tmp_path):
    body = cvat("<box label='rock' xtl='0' ytl='0' xbr='4' ybr='3' z_order='1'/>"
                "<polyline label='fish' points='0,0;1,1'/>"
                "<mask label='fish' rle='1, 2, 1' left='5' top='2' width='2' height='2' z_order='0'/>")
    labels, images = import_dataset("cvat-xml", write_xml(tmp_path, body))
    assert [l.name for l in labels] == ["rock", "fish"]
    classes = rasterize(images[0], labels)
    expected = np.zeros((6, 8), np.uint8)
    expected[0:3, 0:4] = 1
    expected[2, 6] = expected[3, 5] = 2
    assert np.array_equal(classes, expected)


@pytest.mark.parametrize("fmt", FORMATS)
def test_import_of_a_missing_or_empty_folder(tmp_path, fmt):
    with pytest.raises(ValueError, match="does not exist"):
        import_dataset(fmt, tmp_path / "nothing")
    with pytest.raises(ValueError):
        import_dataset(fmt, tmp_path)


def test_png_import_refuses_unknown_colours_and_indices(tmp_path):
    import cv2

    out = export_dataset([image([{"label": "rock", "kind": "polygon", "z": 0, "polygon": SQUARE}])],
                         LABELS, "color-png", tmp_path / "color")
    png = cv2.imread(str(out / "masks/a.png"))
    png[0, 0] = (1, 2, 3)
    cv2.imwrite(str(out / "masks/a.png"), png)
    with pytest.raises(ValueError, match="colours that belong to no label: #030201"):
        import_dataset("color-png", out)
    out = export_dataset([image([])], LABELS, "index-png", tmp_path / "index")
    cv2.imwrite(str(out / "masks/a.png"), np.full((8, 8), 9, np.uint8))
    with pytest.raises(ValueError, match="class indices \\[9\\] beyond the 2 labels"):
        import_dataset("index-png", out)
