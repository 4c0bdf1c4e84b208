"""The annotation model the formats share: annotated images as plain data, their validation and
rasterisation (no file I/O: that is files.py)."""

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Optional

import cv2
import numpy as np

from edgemask.runtime.shapes import mask_to_rle, polygons_to_mask, rle_to_mask
from edgemask.webui import text as text_rule
from edgemask.webui.formats.labels import Label


OBJECT_KINDS = ("polygon", "mask")
MAX_ATTRIBUTES = 64
MAX_ATTRIBUTE_TEXT = 1000


@dataclass
class ImageAnnotations:
    name: str  # relative path under the images folder, forward slashes
    width: Optional[int]  # None only on import, when the file does not say (size of the image file)
    height: Optional[int]
    objects: list[dict] = field(default_factory=list)
    # {"label": str, "kind": "polygon"|"mask", "z": int, "polygon": [[x, y], ...]}
    # or {..., "rle": {"size": [h, w], "counts": str}}; optional "occluded": bool,
    # "group": int >= 0 (0: none), "attributes": {name: str | int | float | bool}
    skipped: dict[str, int] = field(default_factory=dict)


def check_extras(obj: dict, where: str) -> None:
    """ValueError unless the optional occluded / group / attributes of an object are well formed."""
    if not isinstance(obj.get("occluded", False), bool):
        raise ValueError(f"{where}: occluded must be true or false")
    group = obj.get("group", 0)
    if not isinstance(group, (int, np.integer)) or isinstance(group, bool) or not 0 <= group < 2 ** 31:
        raise ValueError(f"{where}: group must be an integer >= 0 and < 2**31, got {group!r}")
    attributes = obj.get("attributes", {})
    if not isinstance(attributes, dict) or len(attributes) > MAX_ATTRIBUTES:
        raise ValueError(f"{where}: attributes must be a dict of at most {MAX_ATTRIBUTES} names")
    for name, value in attributes.items():
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise ValueError(f"{where}: attribute name {name!r} must be 1 to 200 printable characters")
        problem = text_rule.problem(name, f"attribute name {_shown(name)}") or (
            isinstance(value, str) and text_rule.problem(value, f"the value of attribute {_shown(name)}", True))
        if problem:
            raise ValueError(f"{where}: {problem}")
        if isinstance(value, float) and not np.isfinite(value):
            raise ValueError(f"{where}: attribute {name!r} is not a finite number")
        if not isinstance(value, (str, int, float, bool)) or (
                isinstance(value, str) and len(value) > MAX_ATTRIBUTE_TEXT):
            raise ValueError(f"{where}: attribute {name!r} must be text (up to {MAX_ATTRIBUTE_TEXT} "
                             "characters), a number or true/false")


def _shown(text: str) -> str:
    """`text` quoted, with characters a message cannot show escaped."""
    return repr(text.encode("utf-8", "backslashreplace").decode())


def extras(obj: dict) -> dict:
    """An object's occluded / group / attributes with their defaults filled in."""
    return {"occluded": bool(obj.get("occluded", False)), "group": int(obj.get("group", 0)),
            "attributes": dict(obj.get("attributes") or {})}


def in_painting_order(objects: list[dict]) -> list[dict]:
    """Imported objects renumbered z = 0, 1, ... in painting order: the file's order, with a
    z_order the file gives as a hint (stable sort: equal z_order keeps the file's order)."""
    ordered = sorted(objects, key=lambda obj: int(obj.get("z", 0)))
    return [{**obj, "z": rank} for rank, obj in enumerate(ordered)]


def box_polygon(x0: float, y0: float, x1: float, y1: float, rotation: float = 0.0) -> list[list[float]]:
    """The corners of a box, turned by ``rotation`` degrees (clockwise on screen, y down) about
    its centre, as CVAT and datumaro turn a rotated box."""
    corners = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    if not rotation:
        return corners
    angle = np.radians(rotation)
    cos, sin = float(np.cos(angle)), float(np.sin(angle))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return [[cx + cos * (x - cx) - sin * (y - cy), cy + sin * (x - cx) + cos * (y - cy)]
            for x, y in corners]


def check_name(name: str) -> PurePosixPath:
    """The image name as a safe relative path (no absolute path, no '..')."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("an image name must be a non-empty string")
    path = PurePosixPath(name)
    if path.is_absolute() or "\\" in name or any(part in ("..", "") for part in name.split("/")):
        raise ValueError(f"image name {name!r} must be a relative path with forward slashes")
    return path


def label_index(labels: list[Label]) -> dict[str, int]:
    """Label name -> class index (position + 1)."""
    if len(labels) > 255:
        raise ValueError(f"at most 255 labels fit a class-index PNG, got {len(labels)}")
    return {label.name: i + 1 for i, label in enumerate(labels)}


def object_mask(obj: dict, height: int, width: int) -> np.ndarray:
    """The bool pixel mask of one object."""
    kind = obj.get("kind")
    if kind == "polygon":
        return polygons_to_mask([obj.get("polygon")], height, width)
    if kind == "mask":
        rle = obj.get("rle")
        mask = rle_to_mask(rle)
        if mask.shape != (height, width):
            raise ValueError(
                f"mask RLE size {list(mask.shape)} differs from the image size [{height}, {width}]"
            )
        return mask
    raise ValueError(f"object kind must be one of {OBJECT_KINDS}, got {kind!r}")


def _checked_mask(obj: dict, ann: "ImageAnnotations", i: int) -> np.ndarray:
    try:
        return object_mask(obj, ann.height, ann.width)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"object {i} of image {ann.name!r}: {exc}") from None


def _check_fields(ann: ImageAnnotations, names: dict[str, int]) -> None:
    check_name(ann.name)
    if ann.width is None or ann.height is None:
        raise ValueError(f"the size of image {ann.name!r} is not known")
    if int(ann.width) <= 0 or int(ann.height) <= 0:
        raise ValueError(f"image {ann.name!r} has an invalid size {ann.width}x{ann.height}")
    for i, obj in enumerate(ann.objects):
        where = f"object {i} of image {ann.name!r}"
        if not isinstance(obj, dict):
            raise ValueError(f"{where} is not a dict")
        if obj.get("label") not in names:
            raise ValueError(f"{where} has label {obj.get('label')!r}, which is not in the label set")
        if obj.get("kind") not in OBJECT_KINDS:
            raise ValueError(f"{where}: kind must be one of {OBJECT_KINDS}, got {obj.get('kind')!r}")
        z = obj.get("z", 0)
        if not isinstance(z, (int, np.integer)) or isinstance(z, bool):
            raise ValueError(f"{where}: z must be an integer, got {z!r}")
        check_extras(obj, where)


def validate(ann: ImageAnnotations, labels: list[Label]) -> None:
    """Raises ValueError naming the image and object when something is malformed."""
    _check_fields(ann, {label.name for label in labels})
    for i, obj in enumerate(ann.objects):
        _checked_mask(obj, ann, i)


def by_z(objects: list[dict]) -> list[dict]:
    """Objects in painting order: ascending z, ties in list order."""
    return sorted(objects, key=lambda obj: int(obj.get("z", 0)))


def painted_masks(ann: ImageAnnotations, labels: list[Label]) -> list[tuple[dict, np.ndarray]]:
    """Checked (object, bool mask) pairs in painting order."""
    _check_fields(ann, {label.name for label in labels})
    numbered = sorted(enumerate(ann.objects), key=lambda item: int(item[1].get("z", 0)))
    return [(obj, _checked_mask(obj, ann, i)) for i, obj in numbered]


def rasterize(ann: ImageAnnotations, labels: list[Label]) -> np.ndarray:
    """HxW uint8 class-index map: objects painted by ascending z, 0 where none."""
    index = label_index(labels)
    classes = np.zeros((ann.height, ann.width), np.uint8)
    for obj, mask in painted_masks(ann, labels):
        classes[mask] = index[obj["label"]]
    return classes


def palette(colors: list[tuple[int, int, int]], classes: np.ndarray) -> np.ndarray:
    """RGB image of a uint8 class map with ``colors[index]``."""
    table = np.zeros((256, 1, 3), np.uint8)
    table[: len(colors), 0] = np.asarray(colors, np.uint8).reshape(-1, 3)
    return cv2.LUT(cv2.merge([classes, classes, classes]), table)


def objects_from_class_map(classes: np.ndarray, labels: list[Label], where: str) -> list[dict]:
    """One mask object (z 0) per class index present in a class map."""
    present = [int(v) for v in np.flatnonzero(np.bincount(classes.reshape(-1), minlength=1)) if v != 0]
    unknown = [v for v in present if v > len(labels)]
    if unknown:
        raise ValueError(f"{where} has class indices {unknown} beyond the {len(labels)} labels")
    return [
        {"label": labels[v - 1].name, "kind": "mask", "z": 0, "rle": mask_to_rle(classes == v)}
        for v in present
    ]
