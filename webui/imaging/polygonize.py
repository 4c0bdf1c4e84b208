"""Mask -> polygons for the page's "to polygon" and "Accept as polygon", with what it would cost.

Polygons in the page (and in COCO / CVAT polygon exports) have no holes, so tracing a mask into
outer rings fills its holes, and simplifying the outline moves boundary pixels. The answer counts
both, so the page can say what would change (or keep the mask) instead of changing pixels silently.
"""

from typing import Optional

import cv2
import numpy as np

from edgemask.runtime import shapes


def polygonize(mask: np.ndarray, tolerance: float, max_polygons: Optional[int] = None) -> dict:
    """{"polygons": outer rings, "area": mask pixels, "holes": pixels inside the mask's outer
    outline that are not in the mask, "changed": pixels that differ once the polygons are
    rasterised back (holes filled, the simplification's effect and parts left out), "parts": the
    polygons the mask makes, "dropped": those left out, "dropped_area": mask pixels no polygon
    returned covers}. With max_polygons, only that many of the largest polygons are returned (a
    speckled mask would otherwise become thousands of objects)."""
    mask = np.asarray(mask, bool)
    height, width = mask.shape
    polygons = [p for p in shapes.mask_to_outer_polygons(mask, tolerance=tolerance) if len(p) >= 3]
    parts = len(polygons)
    if max_polygons is not None and parts > max_polygons:
        polygons = sorted(polygons, key=lambda p: cv2.contourArea(np.asarray(p, np.float32)),
                          reverse=True)[:max_polygons]
    back = shapes.polygons_to_mask(polygons, height, width) if polygons else np.zeros_like(mask)
    return {"polygons": polygons, "area": int(mask.sum()), "holes": _holes(mask),
            "changed": int(np.count_nonzero(back ^ mask)),
            "parts": parts, "dropped": parts - len(polygons),
            "dropped_area": int(np.count_nonzero(mask & ~back))}


def _holes(mask: np.ndarray) -> int:
    """Pixels outside the mask that its exact outer outline encloses: those from which no path of
    4-connected outside pixels reaches the border (mask pixels join diagonally, as traced)."""
    box = shapes.mask_bbox(mask)
    if box is None:
        return 0
    x0, y0, x1, y1 = box
    outside = np.ones((y1 - y0 + 4, x1 - x0 + 4), np.uint8)  # a ring of outside pixels around the box
    outside[2:-2, 2:-2] = ~mask[y0:y1, x0:x1]
    cv2.floodFill(outside, None, (0, 0), 2, flags=4)
    return int(np.count_nonzero(outside == 1))
