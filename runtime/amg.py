"""Geometry of the automatic mask generator, in numpy: point grids, crop boxes, mask boxes, box NMS,
uncompressed RLE and small-region clean-up, with the semantics of segment_anything.utils.amg and
torchvision.ops.batched_nms (torch-free)."""

import math
from itertools import product
from typing import List, Tuple

import numpy as np


def build_point_grid(n_per_side: int) -> np.ndarray:
    """n_per_side**2 points evenly spaced in [0,1]x[0,1], (x, y), row by row."""
    offset = 1 / (2 * n_per_side)
    side = np.linspace(offset, 1 - offset, n_per_side)
    xs = np.tile(side[None, :], (n_per_side, 1))
    ys = np.tile(side[:, None], (1, n_per_side))
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def build_all_layer_point_grids(n_per_side: int, n_layers: int, scale_per_layer: int) -> List[np.ndarray]:
    """One grid per crop layer; layer i has n_per_side / scale_per_layer**i points a side."""
    return [build_point_grid(int(n_per_side / (scale_per_layer ** i))) for i in range(n_layers + 1)]


def generate_crop_boxes(im_size: Tuple[int, int], n_layers: int, overlap_ratio: float
                        ) -> Tuple[List[List[int]], List[int]]:
    """Crop boxes [x0, y0, x1, y1] (the whole image first) and their layer index; layer i has (2**i)**2."""
    im_h, im_w = im_size
    short_side = min(im_h, im_w)
    boxes, layers = [[0, 0, im_w, im_h]], [0]

    def crop_len(orig_len, n_crops, overlap):
        return int(math.ceil((overlap * (n_crops - 1) + orig_len) / n_crops))

    for i_layer in range(n_layers):
        n = 2 ** (i_layer + 1)
        overlap = int(overlap_ratio * short_side * (2 / n))
        crop_w, crop_h = crop_len(im_w, n, overlap), crop_len(im_h, n, overlap)
        x0s = [int((crop_w - overlap) * i) for i in range(n)]
        y0s = [int((crop_h - overlap) * i) for i in range(n)]
        for x0, y0 in product(x0s, y0s):
            boxes.append([x0, y0, min(x0 + crop_w, im_w), min(y0 + crop_h, im_h)])
            layers.append(i_layer + 1)
    return boxes, layers


def mask_box(mask: np.ndarray) -> np.ndarray:
    """[x0, y0, x1, y1] of a bool HxW mask with inclusive x1, y1 (batched_mask_to_box); zeros if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return np.zeros(4, np.int64)
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1], rows[-1]], np.int64)


def box_area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy NMS, by decreasing score (torchvision.ops.nms)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    areas = box_area(boxes)
    suppressed = np.zeros(len(boxes), bool)
    keep = []
    for pos, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        rest = order[pos + 1:]
        rest = rest[~suppressed[rest]]
        if rest.size == 0:
            continue
        w = np.clip(np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]), 0, None)
        h = np.clip(np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]), 0, None)
        inter = w * h
        with np.errstate(invalid="ignore", divide="ignore"):  # empty boxes: NaN, never suppressed
            iou = inter / (areas[i] + areas[rest] - inter)
        suppressed[rest[iou > iou_threshold]] = True
    return np.array(keep, np.int64)


def is_box_near_crop_edge(boxes: np.ndarray, crop_box, orig_box, atol: float = 20.0) -> np.ndarray:
    """Boxes (crop frame) near an edge of their crop that is not an edge of the image."""
    x0, y0 = crop_box[0], crop_box[1]
    boxes = (np.asarray(boxes).reshape(-1, 4) + np.array([x0, y0, x0, y0])).astype(np.float32)
    near_crop = np.abs(boxes - np.asarray(crop_box, np.float32)[None]) <= atol
    near_image = np.abs(boxes - np.asarray(orig_box, np.float32)[None]) <= atol
    return np.any(near_crop & ~near_image, axis=1)


def mask_to_rle(mask: np.ndarray) -> dict:
    """Uncompressed COCO RLE of a bool HxW mask (column-major counts, starting with a 0-run)."""
    h, w = mask.shape
    flat = mask.T.ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], change, [h * w])))
    counts = ([] if not flat.size or not flat[0] else [0]) + runs.tolist()
    return {"size": [h, w], "counts": counts}


def rle_to_mask(rle: dict) -> np.ndarray:
    """A bool HxW mask from an uncompressed COCO RLE."""
    h, w = rle["size"]
    counts = np.asarray(rle["counts"], np.int64)
    values = np.zeros(counts.size, bool)
    values[1::2] = True
    return np.repeat(values, counts).reshape(w, h).T


def area_from_rle(rle: dict) -> int:
    return int(sum(rle["counts"][1::2]))


def remove_small_regions(mask: np.ndarray, area_thresh: float, mode: str) -> Tuple[np.ndarray, bool]:
    """Fills holes ("holes") or drops islands ("islands") smaller than area_thresh (8-connected);
    returns (mask, whether it changed). If every island is small, the largest stays."""
    import cv2

    correct_holes = mode == "holes"
    working = (correct_holes ^ mask).astype(np.uint8)
    n_labels, regions, stats, _ = cv2.connectedComponentsWithStats(working, 8)
    sizes = stats[:, -1][1:]
    small = [i + 1 for i, s in enumerate(sizes) if s < area_thresh]
    if not small:
        return mask, False
    fill = [0] + small
    if not correct_holes:
        fill = [i for i in range(n_labels) if i not in fill]
        if not fill:
            fill = [int(np.argmax(sizes)) + 1]
    return np.isin(regions, fill), True


def xyxy_to_xywh(box) -> list:
    x0, y0, x1, y1 = (float(v) if isinstance(v, (float, np.floating)) else int(v) for v in box)
    return [x0, y0, x1 - x0, y1 - y0]
