"""Mask -> polygons for the page's "to polygon" and "Accept as polygon", with what it would cost.

Polygons in the page (and in COCO / CVAT polygon exports) have no holes, so tracing a mask into
outer rings fills its holes, and simplifying the outline moves boundary pixels. The answer counts
both, so the page can say what would change (or keep the mask) instead of changing pixels silently.
"""

from typing import Optional

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
        polygons = sorted(polygons, key=_ring_area, reverse=True)[:max_polygons]
    exact = [p["exterior"] for p in shapes.mask_to_polygons(mask, tolerance=0.0)]
    outline = shapes.polygons_to_mask(exact, height, width) if exact else np.zeros_like(mask)
    back = shapes.polygons_to_mask(polygons, height, width) if polygons else np.zeros_like(mask)
    return {"polygons": polygons, "area": int(mask.sum()),
            "holes": int(np.count_nonzero(outline & ~mask)),
            "changed": int(np.count_nonzero(back ^ mask)),
            "parts": parts, "dropped": parts - len(polygons),
            "dropped_area": int(np.count_nonzero(mask & ~back))}


def _ring_area(ring) -> float:
    """The area a ring encloses (shoelace formula)."""
    xy = np.asarray(ring, np.float64)
    x, y = xy[:, 0], xy[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2
