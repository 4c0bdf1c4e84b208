"""Conversions between binary masks, polygons, COCO RLE and PNG data URLs.

Coordinates follow the pixel-corner convention: pixel (row i, column j) is the square
[j, j + 1] x [i, i + 1], so a polygon traced along pixel edges rasterises back to exactly
the same pixels. A pixel is inside a polygon when its centre (j + 0.5, i + 0.5) is.
"""

import base64
import binascii
from typing import Any, Iterable, Optional, Sequence, Union

import cv2
import numpy as np
from pycocotools import mask as mask_utils

Ring = np.ndarray  # float64 [N, 2] of (x, y)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class MaskSizeError(ValueError):
    """A mask whose declared size is not the one wanted (found before decoding it)."""
_DATA_URL_PREFIX = "data:image/png;base64,"


def _as_binary(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be a 2-D array, got shape {mask.shape}")
    return mask != 0 if mask.dtype != bool else mask


# --- polygons -----------------------------------------------------------------------------


def _ring_area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _simplify(contour: np.ndarray, tolerance: float) -> np.ndarray:
    ring = contour.reshape(-1, 2)
    # Keep the midpoints of pixel edges (one even lattice coordinate): they lie half-way
    # between inside and outside pixel centres, so a line through them cuts no centre.
    midpoints = ring[(ring[:, 0] + ring[:, 1]) % 2 == 1]
    ring = (midpoints if len(midpoints) >= 3 else ring).astype(np.float32)
    if tolerance > 0 and len(ring) > 3:
        ring = cv2.approxPolyDP(ring.reshape(-1, 1, 2), float(tolerance), True).reshape(-1, 2)
    return ring.astype(np.float64)


def mask_to_polygons(
    mask: np.ndarray, tolerance: float = 1.0, min_area: float = 0.0
) -> list[dict[str, Any]]:
    """Traces a binary mask into polygons with holes.

    Each part of the mask gives one ``{"exterior": ring, "holes": [ring, ...]}``, rings being
    float arrays of (x, y) vertices in pixel-corner coordinates (traced along pixel edges, so
    ``polygons_to_mask`` gives the mask back exactly at ``tolerance=0``). ``tolerance`` is the
    Douglas-Peucker simplification in pixels (cv2.approxPolyDP); rings with fewer than 3
    vertices or an area below ``min_area`` square pixels after simplification are dropped.
    """
    binary = _as_binary(mask)
    box = mask_bbox(binary)
    if box is None:
        return []
    x0, y0, x1, y1 = box
    crop = binary[y0:y1, x0:x1].astype(np.uint8)
    # Lattice of corners (even, even), edges and pixel centres (odd, odd), twice as fine,
    # with a zero border. A corner or edge is set when it touches a set pixel, so the
    # boundary of the set region passes exactly through pixel corners.
    h, w = crop.shape
    lattice = np.zeros((2 * h + 3, 2 * w + 3), np.uint8)
    lattice[2:-1:2, 2:-1:2] = crop
    lattice = cv2.dilate(lattice, np.ones((3, 3), np.uint8))
    contours, hierarchy = cv2.findContours(lattice, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    if hierarchy is None:
        return []
    hierarchy = hierarchy[0]
    offset = np.array([x0 - 0.5, y0 - 0.5])  # lattice index 1 is the crop's corner 0

    def to_ring(contour: np.ndarray) -> Optional[np.ndarray]:
        ring = _simplify(contour, tolerance * 2) / 2.0 + offset
        if len(ring) < 3 or _ring_area(ring) < max(min_area, 1e-9):
            return None
        return ring

    polygons = []
    for index, (_, _, first_child, parent) in enumerate(hierarchy):
        if parent >= 0:
            continue
        exterior = to_ring(contours[index])
        if exterior is None:
            continue
        holes = []
        child = first_child
        while child >= 0:
            hole = to_ring(contours[child])
            if hole is not None:
                holes.append(hole)
            child = hierarchy[child][0]
        polygons.append({"exterior": exterior, "holes": holes})
    return polygons


def mask_to_outer_polygons(
    mask: np.ndarray, tolerance: float = 1.0, min_area: float = 0.0
) -> list[list[list[float]]]:
    """The outer rings of ``mask_to_polygons`` as JSON-ready ``[[x, y], ...]`` lists."""
    return [
        [[float(x), float(y)] for x, y in polygon["exterior"]]
        for polygon in mask_to_polygons(mask, tolerance, min_area)
    ]


def _as_ring(points: Any) -> np.ndarray:
    ring = np.asarray(points, dtype=np.float64)
    if ring.ndim != 2 or ring.shape[1] != 2:
        raise ValueError("a polygon must be a list of [x, y] points")
    if len(ring) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(ring)}")
    if not np.all(np.isfinite(ring)):
        raise ValueError("a polygon has a coordinate that is not a finite number")
    return ring


def _fill_even_odd(rings: Sequence[np.ndarray], height: int, width: int) -> Optional[tuple]:
    """Pixels whose centres lie inside the rings under the even-odd rule, as
    ``(row0, col0, bool block)`` covering the rings' box, or None when no pixel is inside."""
    edges = np.concatenate([np.stack([r, np.roll(r, -1, axis=0)], axis=1) for r in rings])
    (xa, ya), (xb, yb) = edges[:, 0].T, edges[:, 1].T
    # Rows whose centre y = i + 0.5 lies in [min(ya, yb), max(ya, yb)).
    lo = np.maximum(np.ceil(np.minimum(ya, yb) - 0.5), 0).astype(np.int64)
    hi = np.minimum(np.ceil(np.maximum(ya, yb) - 0.5), height).astype(np.int64)
    counts = np.maximum(hi - lo, 0)
    total = int(counts.sum())
    if total == 0:
        return None
    edge = np.repeat(np.arange(len(edges)), counts)
    rows = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + lo[edge]
    t = (rows + 0.5 - ya[edge]) / (yb[edge] - ya[edge])
    xs = xa[edge] + t * (xb[edge] - xa[edge])
    # Each crossing toggles inside/outside from the first column whose centre is at or
    # right of it; only the box of the crossings is filled.
    cols = np.clip(np.ceil(xs - 0.5), 0, width).astype(np.int64)
    row0, col0 = int(rows.min()), int(cols.min())
    block_h, block_w = int(rows.max()) + 1 - row0, int(cols.max()) + 1 - col0
    flat = (rows - row0) * block_w + (cols - col0)
    toggles = (np.bincount(flat, minlength=block_h * block_w) & 1).astype(np.uint8)
    inside = np.cumsum(toggles.reshape(block_h, block_w), axis=1, dtype=np.uint8) & 1
    return row0, col0, inside.astype(bool)


PolygonLike = Union[dict, Sequence[Sequence[float]], np.ndarray]


def polygons_to_mask(polygons: Iterable[PolygonLike], height: int, width: int) -> np.ndarray:
    """Rasterises polygons into a bool ``[height, width]`` mask (union of all polygons).

    A polygon is either a ring of ``[x, y]`` points or ``{"exterior": ring, "holes": [...]}``;
    holes are cut out of their own exterior. A pixel is set when its centre is inside.
    """
    result = np.zeros((int(height), int(width)), dtype=bool)
    for polygon in polygons:
        if isinstance(polygon, dict):
            if "exterior" not in polygon:
                raise ValueError("a polygon dict needs an 'exterior' ring")
            rings = [_as_ring(polygon["exterior"])]
            rings += [_as_ring(hole) for hole in polygon.get("holes", [])]
        else:
            rings = [_as_ring(polygon)]
        filled = _fill_even_odd(rings, result.shape[0], result.shape[1])
        if filled is not None:
            row0, col0, block = filled
            # the last column of the box only holds closing toggles, past the image or empty
            block = block[:, : max(0, result.shape[1] - col0)]
            result[row0 : row0 + block.shape[0], col0 : col0 + block.shape[1]] |= block
    return result


# --- RLE, boxes --------------------------------------------------------------------------


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE ``{"size": [h, w], "counts": str}`` of a binary mask."""
    binary = _as_binary(mask)
    rle = mask_utils.encode(np.asfortranarray(binary.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def compressed_counts(raw: bytes) -> np.ndarray:
    """The run lengths of a COCO compressed RLE counts string, decoded as pycocotools does
    (uint32 runs), without allocating the mask. ValueError on a malformed string."""
    chars = np.frombuffer(raw, np.uint8).astype(np.int64) - 48
    if chars.size == 0:
        return np.zeros(0, np.int64)
    if chars.min() < 0 or chars.max() > 63:
        raise ValueError("RLE counts string has characters outside the COCO alphabet")
    ends = (chars & 0x20) == 0
    if not ends[-1]:
        raise ValueError("RLE counts string ends in the middle of a number")
    starts = np.concatenate([[0], np.flatnonzero(ends)[:-1] + 1])
    lengths = np.diff(np.concatenate([starts, [chars.size]]))
    if lengths.max() > 7:  # 35 bits: more than any uint32 run needs
        raise ValueError("RLE counts string holds a run longer than 2**32 pixels")
    shift = 5 * (np.arange(chars.size) - np.repeat(starts, lengths))
    values = np.add.reduceat((chars & 0x1F) << shift, starts)
    negative = (chars[ends] & 0x10) != 0
    values = values - (negative.astype(np.int64) << (5 * lengths))
    counts = values.copy()  # from the 4th run on, a run adds the run two before it
    counts[2::2] = np.cumsum(values[2::2])
    counts[1::2] = np.cumsum(values[1::2])
    return counts % 2**32


def check_rle(rle: Any, height: Optional[int] = None, width: Optional[int] = None,
              max_pixels: Optional[int] = None) -> tuple[int, int]:
    """Checks a COCO RLE without decoding it: its size (equal to height x width when given, at
    most max_pixels) and that its runs cover exactly its pixels. Returns (h, w); ValueError
    otherwise. Run it before ``rle_to_mask`` on anything that came from outside."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError("an RLE must be a dict with 'size' and 'counts'")
    size = rle["size"]
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in size)):
        raise ValueError("RLE 'size' must be [height, width]")
    h, w = int(size[0]), int(size[1])
    if h < 0 or w < 0:
        raise ValueError("RLE 'size' must not be negative")
    if height is not None and width is not None and (h, w) != (int(height), int(width)):
        raise ValueError(f"RLE size [{h}, {w}] differs from the image [{int(height)}, {int(width)}]")
    if max_pixels is not None and h * w > max_pixels:
        raise ValueError(f"RLE size {w}x{h} is more than {max_pixels} pixels")
    counts = rle["counts"]
    if isinstance(counts, list):
        if any(not isinstance(c, (int, np.integer)) or isinstance(c, bool) or c < 0 or c > h * w
               for c in counts):
            raise ValueError("uncompressed RLE counts must be non-negative integers of at most the mask's pixels")
        total = sum(int(c) for c in counts)  # Python ints: an int64 sum could wrap to the area
    elif isinstance(counts, (str, bytes)):
        try:
            raw = counts.encode("ascii") if isinstance(counts, str) else counts
        except UnicodeEncodeError:
            raise ValueError("RLE counts string has characters outside the COCO alphabet") from None
        total = int(compressed_counts(raw).sum())
    else:
        raise ValueError("RLE 'counts' must be a string, bytes or a list of integers")
    if total != h * w:
        raise ValueError(f"RLE counts cover {total} pixels, its size {w}x{h} has {h * w}")
    return h, w


def rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    """Decodes COCO RLE (compressed str/bytes counts, or uncompressed list counts) to bool.

    The runs are checked against the size first (``check_rle``), so a malformed RLE is
    refused before any pixel is written."""
    check_rle(rle)
    h, w = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, list):
        compressed = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    else:
        compressed = {"size": [h, w], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    decoded = mask_utils.decode(compressed)
    if decoded.shape != (h, w):
        raise ValueError("RLE counts do not match its size")
    return decoded.astype(bool)


def mask_bbox(mask: np.ndarray) -> Optional[tuple[int, int, int, int]]:
    """``(x0, y0, x1, y1)`` of the set pixels (x1, y1 exclusive), or None when empty."""
    binary = _as_binary(mask)
    rows = np.flatnonzero(binary.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(binary.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


# --- PNG data URLs -----------------------------------------------------------------------


def mask_to_png_data_url(mask: np.ndarray) -> str:
    """A single-channel 0/255 PNG of the mask as a ``data:image/png;base64,`` URL."""
    binary = _as_binary(mask)
    ok, encoded = cv2.imencode(".png", binary.astype(np.uint8) * 255)
    if not ok:
        raise ValueError("could not encode the mask as PNG")
    return _DATA_URL_PREFIX + base64.b64encode(encoded.tobytes()).decode("ascii")


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR header, without decoding; ValueError if it is not a PNG."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("the data is not a PNG image")
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ValueError("the PNG is corrupt: it has no IHDR header")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if width == 0 or height == 0:
        raise ValueError("the PNG has a zero width or height")
    return width, height


def png_data_url_to_mask(
    url: str, height: Optional[int] = None, width: Optional[int] = None,
    max_pixels: Optional[int] = None,
) -> np.ndarray:
    """Decodes a PNG data URL to a bool mask: a pixel is set where any channel is > 0.

    When ``height`` and ``width`` are given the PNG must have exactly that size, else at most
    ``max_pixels``; both are checked on the PNG header before anything is decoded.
    Raises ValueError on anything that is not a valid PNG data URL.
    """
    if not isinstance(url, str):
        raise ValueError("the mask must be a string holding a PNG data URL")
    if url.startswith("data:"):
        header, sep, payload = url.partition(",")
        if not sep or header.lower() != "data:image/png;base64":
            raise ValueError("the mask must be a 'data:image/png;base64,...' URL")
    else:
        raise ValueError("the mask must be a 'data:image/png;base64,...' URL")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the mask data URL does not hold valid base64") from None
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("the mask data URL does not hold a PNG image")
    png_w, png_h = png_size(data)
    if height is not None and width is not None and (png_h, png_w) != (int(height), int(width)):
        raise MaskSizeError(
            f"the mask is {png_w}x{png_h} pixels, but the image is {int(width)}x{int(height)}"
        )
    if max_pixels is not None and png_w * png_h > max_pixels:
        raise MaskSizeError(f"the mask is {png_w}x{png_h} pixels, more than {max_pixels}")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("the mask PNG could not be decoded (corrupt file)")
    mask = image != 0 if image.ndim == 2 else (image != 0).any(axis=2)
    if height is not None and width is not None and mask.shape != (int(height), int(width)):
        raise ValueError(
            f"the mask is {mask.shape[1]}x{mask.shape[0]} pixels, "
            f"but the image is {int(width)}x{int(height)}"
        )
    return mask


# --- box runs: a mask as its bounding box and row-major run lengths ------------------------
# {"box": [x0, y0, x1, y1], "runs": [outside, inside, outside, ...]}: the box is the mask's
# bounding box (exclusive ends) and the runs alternate, starting with pixels outside (possibly
# 0), over the box's pixels row by row; they add up to the box's area. An empty mask is
# {"box": [0, 0, 0, 0], "runs": []}. This is what the web API moves and the store keeps: its
# size follows the object's outline, not the image's size.

EMPTY_BOX_RUNS = {"box": [0, 0, 0, 0], "runs": []}


def crop_to_runs(crop: np.ndarray) -> list[int]:
    """Row-major run lengths of a 2-D mask (outside first), as a list of ints."""
    flat = _as_binary(crop).ravel()
    if flat.size == 0:
        return []
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], change, [flat.size])))
    if flat[0]:
        runs = np.concatenate(([0], runs))
    return runs.tolist()


def mask_to_box_runs(mask: np.ndarray) -> dict[str, Any]:
    """The box-runs form of a full-size binary mask (tight box)."""
    binary = _as_binary(mask)
    box = mask_bbox(binary)
    if box is None:
        return {"box": [0, 0, 0, 0], "runs": []}
    x0, y0, x1, y1 = box
    return {"box": [x0, y0, x1, y1], "runs": crop_to_runs(binary[y0:y1, x0:x1])}


def check_runs(runs: Any, area: int, what: str = "box") -> list[int]:
    """Checks run lengths in Python integers, before anything is allocated: a list of
    non-negative ints, each at most ``area``, adding up to exactly ``area``. Returns them as
    Python ints; ValueError with one sentence otherwise."""
    if not isinstance(runs, (list, tuple)) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in runs):
        raise ValueError("a mask's runs must be a list of non-negative integers")
    values = [int(v) for v in runs]
    if any(v < 0 for v in values):
        raise ValueError("a mask's runs must be a list of non-negative integers")
    total = sum(values)  # exact: non-negative runs adding up to the area are each at most the area
    if total != area:
        raise ValueError(f"the mask's runs cover {total} pixels but its {what} has {area}")
    return values


def check_box_runs(value: Any, height: int, width: int) -> tuple[tuple[int, int, int, int], list[int]]:
    """Checks a box-runs dict against a width x height image, in Python integers and before anything
    is allocated: ((x0, y0, x1, y1), runs). ValueError with a clear reason otherwise."""
    if not isinstance(value, dict) or "box" not in value or "runs" not in value:
        raise ValueError('a mask must be {"box": [x0, y0, x1, y1], "runs": [...]}')
    box, runs = value["box"], value["runs"]
    if (not isinstance(box, (list, tuple)) or len(box) != 4
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in box)):
        raise ValueError("a mask's box must be 4 integers [x0, y0, x1, y1]")
    x0, y0, x1, y1 = (int(v) for v in box)
    if not (0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height):
        raise ValueError(f"the mask's box [{x0}, {y0}, {x1}, {y1}] is not inside the {width}x{height} image")
    return (x0, y0, x1, y1), check_runs(runs, (x1 - x0) * (y1 - y0), f"{x1 - x0}x{y1 - y0} box")


def box_runs_to_crop(value: Any, height: int, width: int) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """Checks a box-runs dict against a width x height image (check_box_runs) and decodes it:
    ((x0, y0, x1, y1), bool crop of the box)."""
    (x0, y0, x1, y1), runs = check_box_runs(value, height, width)
    counts = np.asarray(runs, dtype=np.int64)
    values = np.zeros(counts.size, bool)
    values[1::2] = True
    crop = np.repeat(values, counts).reshape(y1 - y0, x1 - x0)
    return (x0, y0, x1, y1), crop


def box_runs_to_mask(value: Any, height: int, width: int) -> np.ndarray:
    """A box-runs dict -> full-size bool ``[height, width]`` mask (checked as box_runs_to_crop)."""
    (x0, y0, x1, y1), crop = box_runs_to_crop(value, height, width)
    mask = np.zeros((int(height), int(width)), bool)
    mask[y0:y1, x0:x1] = crop
    return mask


def tighten_box_runs(box: Sequence[int], crop: np.ndarray) -> dict[str, Any]:
    """The box-runs form (tight box) of a crop placed at box's corner."""
    inner = mask_bbox(crop)
    if inner is None:
        return {"box": [0, 0, 0, 0], "runs": []}
    cx0, cy0, cx1, cy1 = inner
    x0, y0 = int(box[0]), int(box[1])
    if (cx0, cy0, cx1, cy1) == (0, 0, crop.shape[1], crop.shape[0]):
        return {"box": [x0, y0, x0 + cx1, y0 + cy1], "runs": crop_to_runs(crop)}
    return {"box": [x0 + cx0, y0 + cy0, x0 + cx1, y0 + cy1], "runs": crop_to_runs(crop[cy0:cy1, cx0:cx1])}


def box_runs_area(value: dict[str, Any]) -> int:
    """Number of set pixels of a box-runs dict."""
    return int(sum(value["runs"][1::2]))


def rle_to_box_runs(rle: dict[str, Any]) -> dict[str, Any]:
    """COCO RLE -> box-runs (lossless)."""
    return mask_to_box_runs(rle_to_mask(rle))


def box_runs_to_rle(value: dict[str, Any], height: int, width: int) -> dict[str, Any]:
    """Box-runs -> COCO compressed RLE of the full ``height x width`` image (lossless)."""
    return mask_to_rle(box_runs_to_mask(value, height, width))
