"""The API's payloads: checking request bodies and turning objects between their JSON form and
their stored form.

Every check raises `Invalid` with one clear sentence; the API turns it into a 400.
"""

import base64
import dataclasses
import math
import threading

import numpy as np

from edgemask.runtime import shapes
from edgemask.webui import text as text_rule
from edgemask.webui.formats.model import check_extras
from edgemask.webui.routes.errors import Invalid, sentence
from edgemask.webui.store import ObjectRow, check_box_runs, polygon_bbox

MAX_ID_LENGTH = 200
MAX_POINTS = 100


def _entry_id(raw, not_an_object: str, no_id: str) -> str:
    if not isinstance(raw, dict):
        raise Invalid(not_an_object)
    oid = raw.get("id")
    if not isinstance(oid, str) or not oid.strip() or len(oid) > MAX_ID_LENGTH:
        raise Invalid(no_id)
    check_id(oid)
    return oid


def parse_object(raw, width: int, height: int, label_ids) -> ObjectRow:
    """Checks one object of a PUT annotations body and returns its stored form (mask -> RLE)."""
    oid = _entry_id(raw, "Each object must be a JSON object.",
                    f"Each object needs an \"id\" string of 1 to {MAX_ID_LENGTH} characters.")
    where = f"Object {oid!r}"
    label_id = raw.get("label_id")
    if not _is_int(label_id):
        raise Invalid(f"{where} needs an integer \"label_id\".")
    if label_id not in label_ids:
        raise Invalid(f"{where} uses label id {label_id}, which does not exist.")
    z = raw.get("z", 0)
    if not _is_int(z):
        raise Invalid(f"{where} has a \"z\" that is not an integer.")
    hidden = raw.get("hidden", False)
    if not isinstance(hidden, bool):
        raise Invalid(f"{where} has a \"hidden\" that is not true or false.")
    common = {"id": oid, "label_id": label_id, "z": z, "hidden": hidden, **parse_extras(raw, where)}
    kind = raw.get("kind")
    if kind == "polygon":
        polygon = parse_polygon(raw.get("polygon"), width, height, where)
        return ObjectRow(kind=kind, polygon=polygon, bbox=polygon_bbox(polygon, width, height), **common)
    if kind == "mask":
        value = parse_mask_value(raw.get("mask"), width, height, where)
        return ObjectRow(kind=kind, mask=value, bbox=list(value["box"]), **common)
    raise Invalid(f"{where} has kind {kind!r}; it must be \"polygon\" or \"mask\".")


def parse_paint(raw, width: int, height: int):
    """Checks one entry of a PATCH "paint" list, {"id", "box": [x0, y0, x1, y1], "runs"}: the
    pixels of that box in a stored mask object, as they are now (a brush or eraser stroke).
    Returns (id, box, bool crop of the box)."""
    oid = _entry_id(raw, "Each paint must be a JSON object {\"id\", \"box\", \"runs\"}.",
                    "Each paint needs the \"id\" of a stored mask object.")
    extra = set(raw) - {"id", "box", "runs"}
    if extra:
        raise Invalid(f"The paint of {oid!r} may have only \"id\", \"box\" and \"runs\", not {sorted(extra)[0]!r}.")
    try:
        box, crop = shapes.box_runs_to_crop(raw, height, width)
    except ValueError as exc:
        raise Invalid(f"The paint of {oid!r} is unusable: {sentence(exc)}") from None
    return oid, box, crop


def painted(row: ObjectRow, box, crop, width: int, height: int) -> ObjectRow:
    """The stored mask object `row` with the pixels of `box` replaced by `crop` (parse_paint)."""
    if row.kind != "mask":
        raise Invalid(f"Object {row.id!r} is a polygon; paint changes mask objects only, send the object whole.")
    bx0, by0, bx1, by1 = box
    if bx1 <= bx0 or by1 <= by0:
        return row
    # the stored runs were checked when the store read them back: used as they are
    value = _painted_rows(row.mask, box, crop) or _painted_anywhere(row.mask, box, crop)
    return dataclasses.replace(row, mask=value, bbox=list(value["box"]))


def _painted_anywhere(mask: dict, box, crop) -> dict:
    """The paint applied by decoding the whole mask (and the box of both)."""
    bx0, by0, bx1, by1 = box
    sx0, sy0, sx1, sy1 = mask["box"]
    stored = np.repeat(np.arange(len(mask["runs"])) % 2 == 1, mask["runs"]).reshape(sy1 - sy0, sx1 - sx0)
    boxes = [box] + ([(sx0, sy0, sx1, sy1)] if stored.any() else [])
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    canvas = np.zeros((y1 - y0, x1 - x0), bool)
    if len(boxes) > 1:
        canvas[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = stored
    canvas[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0] = crop
    return shapes.tighten_box_runs((x0, y0), canvas)


def _painted_rows(mask: dict, box, crop):
    """The paint applied to the runs of the rows it covers only (a stroke on a big mask touches a
    few of its rows), when it lies inside the mask's box and leaves that box tight; else None."""
    bx0, by0, bx1, by1 = box
    sx0, sy0, sx1, sy1 = mask["box"]
    if not (sx0 <= bx0 and bx1 <= sx1 and sy0 <= by0 and by1 <= sy1):
        return None
    sw = sx1 - sx0
    runs = np.asarray(mask["runs"], np.int64)
    inside = np.arange(runs.size) % 2 == 1
    ends = np.cumsum(runs)
    start, stop = (by0 - sy0) * sw, (by1 - sy0) * sw  # the rows' pixels in the box's raster
    i = int(np.searchsorted(ends, start, side="right"))  # the run holding pixel `start`
    j = int(np.searchsorted(ends, stop - 1, side="right"))  # and pixel `stop - 1`
    band = np.repeat(inside[i:j + 1], runs[i:j + 1])
    begin = ends[i] - runs[i]
    band = band[start - begin:stop - begin].reshape(by1 - by0, sw)
    band[:, bx0 - sx0:bx1 - sx0] = crop
    # the box stays tight when the paint leaves a pixel on each edge of it that it covers
    if ((by0 == sy0 and not band[0].any()) or (by1 == sy1 and not band[-1].any())
            or (bx0 == sx0 and not band[:, 0].any()) or (bx1 == sx1 and not band[:, -1].any())):
        return None
    flat = band.ravel()
    cut = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    lengths = np.concatenate([runs[:i], [start - begin], np.diff(np.concatenate(([0], cut, [flat.size]))),
                              [ends[j] - stop], runs[j + 1:]])
    values = np.concatenate([inside[:i], inside[i:i + 1], flat[np.concatenate(([0], cut))],
                             inside[j:j + 1], inside[j + 1:]])
    keep = lengths > 0
    lengths, values = lengths[keep], values[keep]
    heads = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    merged = np.add.reduceat(lengths, heads).tolist()
    return {"box": [sx0, sy0, sx1, sy1], "runs": [0] + merged if values[0] else merged}


MASK_FORMATS = ("runs", "leb128")


def mask_answer(mask, mask_format: str = "runs") -> dict:
    """A predicted HxW mask as the API answers it: {"mask": box-runs, "bbox", "area"}. With
    mask_format "leb128" the runs come as "runs_leb128": the run lengths as unsigned LEB128
    bytes (7 bits each, low first, the high bit set when more follow), base64: a fraction of the
    JSON list's size, made in numpy without a Python int per run (a speckled 12 MP mask has
    hundreds of thousands of runs)."""
    if mask_format == "runs":
        value = shapes.mask_to_box_runs(mask)
        return {"mask": value, "bbox": list(value["box"]), "area": shapes.box_runs_area(value)}
    box = shapes.mask_bbox(mask)
    if box is None:
        return {"mask": {"box": [0, 0, 0, 0], "runs_leb128": ""}, "bbox": [0, 0, 0, 0], "area": 0}
    x0, y0, x1, y1 = box
    flat = np.ascontiguousarray(mask[y0:y1, x0:x1]).ravel()
    change = _changes(flat)
    runs = np.diff(np.concatenate(([0], change, [flat.size])))
    if flat[0]:
        runs = np.concatenate(([0], runs))
    return {"mask": {"box": [x0, y0, x1, y1], "runs_leb128": leb128_base64(runs)},
            "bbox": [x0, y0, x1, y1], "area": int(runs[1::2].sum())}


_CHANGES = {"lock": threading.Lock(), "buffer": np.zeros(0, bool)}


def _changes(flat) -> np.ndarray:
    """The indices i where flat[i] != flat[i - 1]. The comparison goes into a buffer kept
    between answers when it is free: a new 12 MB array costs its page faults on every click,
    several ms on a loaded machine."""
    scratch = _CHANGES
    if not scratch["lock"].acquire(blocking=False):
        return np.flatnonzero(flat[1:] != flat[:-1]) + 1
    try:
        if scratch["buffer"].size < flat.size:
            scratch["buffer"] = np.empty(flat.size, bool)
        differ = np.not_equal(flat[1:], flat[:-1], out=scratch["buffer"][:max(0, flat.size - 1)])
        return np.flatnonzero(differ) + 1
    finally:
        scratch["lock"].release()


def leb128_base64(values) -> str:
    """Non-negative integers below 2**64 as unsigned LEB128 bytes, base64 (ASCII)."""
    values = np.asarray(values)
    top = int(values.max()) if values.size else 0
    kind = np.uint32 if top < 2 ** 32 else np.uint64  # (32-bit work is faster)
    rest = values.astype(kind)
    if top < 0x80:  # every value one byte
        return base64.b64encode(rest.astype(np.uint8).tobytes()).decode("ascii")
    size = np.ones(rest.size, np.int64)  # bytes per value
    bits = 7
    while bits < 64 and top >= 1 << bits:
        size += rest >= kind(1 << bits)
        bits += 7
    out = np.empty(int(size.sum()), np.uint8)
    pos = np.cumsum(size) - size
    while rest.size:  # one byte of each value left a pass: most runs take one
        more = rest >= kind(0x80)
        out[pos] = (rest & kind(0x7F)).astype(np.uint8) | (more.view(np.uint8) << np.uint8(7))
        pos, rest = pos[more] + 1, rest[more] >> kind(7)
    return base64.b64encode(out.tobytes()).decode("ascii")


def parse_update(raw, label_ids) -> dict:
    """Checks one entry of a PATCH "update" list: {"id", and any of "label_id", "z", "hidden"}."""
    oid = _entry_id(raw, "Each update must be a JSON object.", "Each update needs the \"id\" of a stored object.")
    where = f"The update of {oid!r}"
    extra = set(raw) - {"id", "label_id", "z", "hidden"}
    if extra:
        raise Invalid(f"{where} may change only \"label_id\", \"z\" and \"hidden\", not {sorted(extra)[0]!r}.")
    if "label_id" in raw and (not _is_int(raw["label_id"]) or raw["label_id"] not in label_ids):
        raise Invalid(f"{where} names a label id that does not exist.")
    if "z" in raw and not _is_int(raw["z"]):
        raise Invalid(f"{where} has a \"z\" that is not an integer.")
    if "hidden" in raw and not isinstance(raw["hidden"], bool):
        raise Invalid(f"{where} has a \"hidden\" that is not true or false.")
    return dict(raw)


def check_id(oid: str) -> None:
    """An object id follows the text rule (edgemask.webui.text): no control character (NUL,
    line breaks), noncharacter or lone surrogate."""
    problem = text_rule.problem(oid, "An object id")
    if problem:
        raise Invalid(sentence(problem))


def parse_extras(raw: dict, where: str) -> dict:
    """The optional "occluded", "group" and "attributes" of an object, checked."""
    out = {"occluded": raw.get("occluded", False), "group": raw.get("group", 0),
           "attributes": raw.get("attributes", {})}
    try:
        check_extras(out, where)
    except ValueError as exc:
        raise Invalid(sentence(exc)) from None
    return out


def object_to_json(row: ObjectRow) -> dict:
    """The JSON form of a stored object (masks in box-runs form, plus its bbox)."""
    out = {"id": row.id, "label_id": row.label_id, "kind": row.kind, "z": row.z,
           "hidden": row.hidden, "bbox": list(row.bbox), "occluded": row.occluded,
           "group": row.group, "attributes": dict(row.attributes)}
    if row.kind == "polygon":
        out["polygon"] = row.polygon
    else:
        out["mask"] = row.mask
    return out


def parse_polygon(raw, width, height, where="The polygon") -> list:
    if not isinstance(raw, list) or len(raw) < 3:
        raise Invalid(f"{where} needs a \"polygon\" of at least 3 [x, y] points.")
    points = []
    for p in raw:
        x, y = _point(p, where)
        if not (0 <= x <= width and 0 <= y <= height):
            raise Invalid(f"{where} has the point ({x:g}, {y:g}) outside the {width}x{height} image.")
        points.append([x, y])
    return points


def parse_mask_value(raw, width, height, where="The mask") -> dict:
    """A mask of a request body -> its box-runs dict with a tight box. Takes the box-runs form
    ({"box", "runs"}) or a full-size PNG data URL (the form of earlier versions)."""
    if isinstance(raw, dict):
        try:
            check_box_runs(raw, height, width)  # Python integers: no int64 wrap-around
            box, crop = shapes.box_runs_to_crop(raw, height, width)
        except ValueError as exc:
            raise Invalid(f"{where} has an unusable mask: {sentence(exc)}") from None
        return shapes.tighten_box_runs(box, crop)
    return shapes.mask_to_box_runs(parse_mask(raw, width, height, where))


def parse_mask(raw, width, height, where="The mask"):
    """A PNG data URL of the image's size -> HxW bool mask."""
    if not isinstance(raw, str) or not raw.startswith("data:image/png;base64,"):
        raise Invalid(f"{where} needs a \"mask\" given as {{\"box\", \"runs\"}} or a data:image/png;base64 URL.")
    try:
        mask = shapes.png_data_url_to_mask(raw, height, width)
    except ValueError as exc:
        raise Invalid(f"{where} has an unusable mask: {sentence(exc)}") from None
    if mask.shape != (height, width):
        raise Invalid(f"{where} has a {mask.shape[1]}x{mask.shape[0]} mask; "
                      f"it must be {width}x{height} like the image.")
    return mask


def mask_bbox(mask) -> list:
    """[x0, y0, x1, y1] of the set pixels (exclusive ends); [0, 0, 0, 0] for an empty mask."""
    box = shapes.mask_bbox(mask)
    return [int(v) for v in box] if box is not None else [0, 0, 0, 0]


def parse_points(raw, width, height):
    """[[x, y, 1|0], ...] inside the image -> (coords Nx2 list, labels N list)."""
    if raw is None:
        return [], []
    if not isinstance(raw, list) or len(raw) > MAX_POINTS:
        raise Invalid(f"\"points\" must be a list of at most {MAX_POINTS} [x, y, 1 or 0] triples.")
    coords, labels = [], []
    for p in raw:
        if not isinstance(p, list) or len(p) != 3 or p[2] not in (0, 1) or isinstance(p[2], bool):
            raise Invalid("Each point must be [x, y, 1] (include) or [x, y, 0] (exclude).")
        x, y = _point(p[:2], "A point")
        if not (0 <= x <= width and 0 <= y <= height):
            raise Invalid(f"The point ({x:g}, {y:g}) is outside the {width}x{height} image.")
        coords.append([x, y])
        labels.append(int(p[2]))
    return coords, labels


def parse_box(raw, width, height):
    """[x0, y0, x1, y1] inside the image with x0 <= x1 and y0 <= y1, or None."""
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != 4 or not all(_is_number(v) for v in raw):
        raise Invalid("\"box\" must be [x0, y0, x1, y1] or null.")
    x0, y0, x1, y1 = (float(v) for v in raw)
    if not (0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height):
        raise Invalid(f"The box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] must have x0 <= x1 and y0 <= y1 "
                      f"and lie inside the {width}x{height} image.")
    return [x0, y0, x1, y1]


def _point(p, where):
    if not isinstance(p, (list, tuple)) or len(p) != 2 or not all(_is_number(v) for v in p):
        raise Invalid(f"{where} has a point that is not [x, y] with finite numbers.")
    return float(p[0]), float(p[1])


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


