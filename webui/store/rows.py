"""The store's rows as Python objects (labels, objects, image records), and the checks and
conversions of an object between its row and its ObjectRow."""

import json
import math
from dataclasses import dataclass, field
from typing import Optional

from edgemask.runtime.shapes import check_box_runs


_OBJECT_COLUMNS = "image, client_id, label_id, kind, z, hidden, polygon, mask, bbox, occluded, group_id, attributes"


@dataclass
class LabelRow:
    id: int
    name: str
    color: str
    index: int  # class index: position + 1

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "color": self.color}


@dataclass
class ObjectRow:
    """An object as stored: `polygon` is a list of [x, y], `mask` a box-runs dict
    ({"box": [x0, y0, x1, y1], "runs": [...]}, edgemask.runtime.shapes)."""

    id: str
    label_id: int
    kind: str
    z: int = 0
    hidden: bool = False
    polygon: Optional[list] = None
    mask: Optional[dict] = None
    bbox: list = field(default_factory=lambda: [0, 0, 0, 0])
    occluded: bool = False
    group: int = 0
    attributes: dict = field(default_factory=dict)


@dataclass
class ImageRecord:
    name: str
    width: int
    height: int
    version: int
    objects: list


def _object_row(r, width: int, height: int) -> ObjectRow:
    """An objects row read back, its JSON and its mask's runs checked (ValueError when damaged)."""
    where = f"object {r['client_id']!r}"
    polygon = json.loads(r["polygon"]) if r["polygon"] else None
    mask = json.loads(r["mask"]) if r["mask"] else None
    if r["kind"] == "mask":
        try:
            check_box_runs(mask, height, width)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    elif not isinstance(polygon, list):
        raise ValueError(f"{where} has no polygon")
    bbox = json.loads(r["bbox"])
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise ValueError(f"{where} has no box")
    attributes = json.loads(r["attributes"]) if r["attributes"] else {}
    if not isinstance(attributes, dict):
        raise ValueError(f"{where} has attributes that are not a mapping")
    return ObjectRow(id=r["client_id"], label_id=r["label_id"], kind=r["kind"], z=r["z"],
                     hidden=bool(r["hidden"]), polygon=polygon, mask=mask, bbox=bbox,
                     occluded=bool(r["occluded"]), group=r["group_id"], attributes=attributes)


def _object_values(image: str, o: ObjectRow, label_id: int, z: int) -> tuple:
    """One objects row in _OBJECT_COLUMNS order."""
    return (image, o.id, label_id, o.kind, z, int(bool(o.hidden)),
            json.dumps(o.polygon) if o.polygon is not None else None,
            json.dumps(o.mask) if o.mask is not None else None,
            json.dumps([int(v) for v in o.bbox]), int(bool(o.occluded)), int(o.group),
            json.dumps(o.attributes) if o.attributes else None)


def polygon_bbox(polygon, width, height) -> list:
    """[x0, y0, x1, y1] pixel box (inclusive-exclusive) covering the polygon."""
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    x0 = max(0, math.floor(min(xs)))
    y0 = max(0, math.floor(min(ys)))
    x1 = min(width, max(x0, math.ceil(max(xs))))
    y1 = min(height, max(y0, math.ceil(max(ys))))
    return [int(x0), int(y0), int(x1), int(y1)]
