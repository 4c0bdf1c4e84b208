"""coco: COCO instances JSON as CVAT writes it ("COCO 1.0").

Layout: ``annotations/instances_default.json`` and ``images/<image path>`` when images are
included. Polygon objects become polygon segmentations, mask objects compressed RLE (counts
as str, iscrowd 0 unless the object's ``is_crowd`` attribute is true, which detectron2 and
mmdet read with bitmask loading). Annotations are written in painting order. Extras other
readers ignore, as CVAT writes them: a category's ``color`` and an annotation's
``attributes`` (``occluded``, ``z_order`` and the object's own attributes).

On import, annotations paint in the order of the file (COCO has no z-order; a later
annotation covers an earlier one) and ``attributes.z_order``, where given, is a hint that
moves an annotation up or down (a stable sort, ties keep the file's order). An annotation
with an empty ``segmentation`` and a ``bbox`` (a box-only object, as datumaro and CVAT write
boxes) becomes a rectangle; ``iscrowd`` RLE, compressed (string counts) or uncompressed (a
list of counts), becomes a mask with the ``is_crowd`` attribute. Annotations with neither
(keypoints only) are counted as skipped.
"""

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from edgemask.runtime.shapes import mask_bbox, mask_to_rle, rle_to_mask
from edgemask.webui.formats.labels import Label, distinct_colors, parse_color

from . import limits
from edgemask.webui.formats.model import (
    ImageAnnotations,
    box_polygon,
    extras,
    in_painting_order,
    painted_masks,
)
from edgemask.webui.formats.files import copy_images, require_keys

NAME = "coco"  # --format and /api/export/<fmt>
TITLE = "COCO instances JSON"

ANNOTATION_FILE = "annotations/instances_default.json"


def _number(value: float) -> float:
    value = round(float(value), 4)
    return int(value) if value.is_integer() else value


def export(images: list[ImageAnnotations], labels: list[Label], out_dir: Path,
           images_dir: Optional[Path] = None) -> Path:
    categories = [
        {"id": i + 1, "name": label.name, "supercategory": "", "color": label.hex}
        for i, label in enumerate(labels)
    ]
    category_id = {label.name: i + 1 for i, label in enumerate(labels)}
    coco_images, annotations = [], []
    for image_id, ann in enumerate(images, start=1):
        coco_images.append({"id": image_id, "width": int(ann.width), "height": int(ann.height),
                            "file_name": ann.name, "license": 0, "flickr_url": "",
                            "coco_url": "", "date_captured": 0})
        for obj, mask in painted_masks(ann, labels):
            extra = extras(obj)
            crowd = obj["kind"] == "mask" and extra["attributes"].pop("is_crowd", False) in (True, "true", 1)
            box = mask_bbox(mask)
            if obj["kind"] == "polygon":
                points = np.asarray(obj["polygon"], np.float64)
                segmentation: Any = [[_number(v) for v in points.reshape(-1)]]
                x0, y0 = points.min(axis=0)
                x1, y1 = points.max(axis=0)
                bbox = [_number(x0), _number(y0), _number(x1 - x0), _number(y1 - y0)]
            else:
                if box is None:
                    continue  # an empty mask paints nothing
                segmentation = mask_to_rle(mask)
                bbox = [box[0], box[1], box[2] - box[0], box[3] - box[1]]
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id,
                "category_id": category_id[obj["label"]], "segmentation": segmentation,
                "area": int(mask.sum()), "bbox": bbox, "iscrowd": int(crowd),
                "attributes": {**extra["attributes"], "occluded": extra["occluded"],
                               "z_order": int(obj.get("z", 0))},
            })
    document = {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "", "date_created": "", "description": "edgemask export",
                 "url": "", "version": "", "year": ""},
        "categories": categories, "images": coco_images, "annotations": annotations,
    }
    target = out_dir / ANNOTATION_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(document), encoding="utf-8")
    copy_images(images, images_dir, out_dir / "images")
    return out_dir


def _find_json(path: Path) -> Path:
    if path.is_file():
        return path
    candidates = [path / ANNOTATION_FILE]
    candidates += sorted((path / "annotations").glob("*.json")) + sorted(path.glob("*.json"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ValueError(f"no COCO JSON found in {path} (expected {ANNOTATION_FILE})")


def _segmentation_objects(ann: dict, label: str, h: int, w: int, where: str) -> list[dict]:
    seg = ann.get("segmentation")
    if seg in ([], None) and ann.get("bbox") not in (None, []):
        box = ann["bbox"]
        if (not isinstance(box, list) or len(box) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)
                or box[2] < 0 or box[3] < 0):
            raise ValueError(f"{where}: bbox must be [x, y, width, height]")
        x, y, bw, bh = (float(v) for v in box)
        return [{"label": label, "kind": "polygon", "polygon": box_polygon(x, y, x + bw, y + bh)}]
    if isinstance(seg, list):
        objects = []
        for part in seg:
            if (not isinstance(part, list) or len(part) < 6 or len(part) % 2
                    or not all(isinstance(v, (int, float)) for v in part)):
                raise ValueError(f"{where}: a polygon must be a flat list of at least 3 x, y pairs")
            points = [[part[i], part[i + 1]] for i in range(0, len(part), 2)]
            objects.append({"label": label, "kind": "polygon", "polygon": points})
        return objects
    if isinstance(seg, dict):
        limits.check_rle(seg, h, w, where)  # before pycocotools allocates anything
        try:
            mask = rle_to_mask(seg)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if mask.shape != (h, w):
            raise ValueError(f"{where}: RLE size {list(mask.shape)} differs from the image [{h}, {w}]")
        return [{"label": label, "kind": "mask", "rle": mask_to_rle(mask)}]
    raise ValueError(f"{where}: segmentation must be a polygon list or an RLE dict")


def _extras(ann: dict) -> dict:
    """occluded, z (the z_order hint) and the other attributes of a COCO annotation."""
    given = ann.get("attributes") if isinstance(ann.get("attributes"), dict) else {}
    z = given.get("z_order", 0)
    out = {"z": int(z) if isinstance(z, (int, float)) and not isinstance(z, bool) else 0,
           "occluded": given.get("occluded") is True}
    attributes = {str(k): v for k, v in given.items() if k not in ("z_order", "occluded")
                  and isinstance(v, (str, int, float, bool))}
    if ann.get("iscrowd") in (1, True):
        attributes["is_crowd"] = True
    if attributes:
        out["attributes"] = attributes
    return out


def import_(path: Path) -> tuple[list[Label], list[ImageAnnotations]]:
    source = _find_json(path)
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{source} is not valid JSON: {exc}") from None
    require_keys(document, ("images", "categories"), str(source))
    categories = {}
    given_colors: list[Optional[tuple]] = []
    for cat in document["categories"]:
        require_keys(cat, ("id", "name"), f"{source}: a category")
        if cat["id"] in categories:
            raise ValueError(f"{source}: category id {cat['id']} is listed twice")
        categories[cat["id"]] = len(categories)
        color = cat.get("color")
        try:
            given_colors.append(parse_color(color) if isinstance(color, str) else None)
        except ValueError:
            given_colors.append(None)
    names = [cat["name"] for cat in document["categories"]]
    if len(set(names)) != len(names):
        raise ValueError(f"{source} has duplicate category names")
    spare = iter(distinct_colors(given_colors.count(None), [c for c in given_colors if c]))
    labels = [Label(str(n), c if c else next(spare)) for n, c in zip(names, given_colors)]
    images: dict[Any, ImageAnnotations] = {}
    for img in document["images"]:
        require_keys(img, ("id", "file_name", "width", "height"), f"{source}: an image")
        if img["id"] in images:
            raise ValueError(f"{source}: image id {img['id']} is listed twice")
        width, height = img["width"], img["height"]
        limits.check_image_size(width, height, f"{source}: image {img['file_name']!r}")
        images[img["id"]] = ImageAnnotations(str(img["file_name"]), width, height, [])
    for number, ann in enumerate(document.get("annotations", [])):
        where = f"{source}: annotation {ann.get('id', number) if isinstance(ann, dict) else number}"
        require_keys(ann, ("image_id", "category_id"), where)
        if "segmentation" not in ann and "bbox" not in ann:
            raise ValueError(f"{where} lacks segmentation")
        if ann["image_id"] not in images:
            raise ValueError(f"{where} refers to image id {ann['image_id']}, which is not listed")
        if ann["category_id"] not in categories:
            raise ValueError(f"{where} refers to category id {ann['category_id']}, which is not listed")
        image = images[ann["image_id"]]
        label = labels[categories[ann["category_id"]]].name
        if ann.get("segmentation") in ([], None) and ann.get("bbox") in ([], None):
            kind = "keypoints only" if ann.get("keypoints") else "no segmentation or box"
            image.skipped[kind] = image.skipped.get(kind, 0) + 1
            continue
        common = _extras(ann)
        image.objects += [{**obj, **common}
                          for obj in _segmentation_objects(ann, label, image.height, image.width, where)]
    for image in images.values():
        image.objects = in_painting_order(image.objects)
    return labels, list(images.values())


def declared_images(path: Path) -> list:
    """[(name, width, height)] that a COCO JSON declares, read without looking at its annotations.
    ValueError on a file that cannot be read that far."""
    source = _find_json(path)
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise ValueError(f"{source} has no \"images\" list")
    out = []
    for img in document["images"]:
        if not isinstance(img, dict) or not all(k in img for k in ("file_name", "width", "height")):
            raise ValueError(f"{source}: an image lacks file_name, width or height")
        where = f"{source}: image {img['file_name']!r}"
        limits.check_image_size(img["width"], img["height"], where)
        out.append((str(img["file_name"]), img["width"], img["height"]))
    return out
