"""Mask -> polygons for the page's "to polygon" and "Accept as polygon", with what it would cost.

Polygons in the page (and in COCO / CVAT polygon exports) have no holes, so tracing a mask into
outer rings fills its holes, and simplifying the outline moves boundary pixels. The answer counts
both, so the page can say what would change (or keep the mask) instead of changing pixels silently.
"""

import numpy as np

from edgemask.runtime import shapes


def polygonize(mask: np.ndarray, tolerance: float) -> dict:
    """{"polygons": outer rings, "area": mask pixels, "holes": pixels inside the mask's outer
    outline that are not in the mask, "changed": pixels that differ once the polygons are
    rasterised back (holes filled plus the simplification's effect)}."""
    mask = np.asarray(mask, bool)
    height, width = mask.shape
    polygons = shapes.mask_to_outer_polygons(mask, tolerance=tolerance)
    exact = [p["exterior"] for p in shapes.mask_to_polygons(mask, tolerance=0.0)]
    outline = shapes.polygons_to_mask(exact, height, width) if exact else np.zeros_like(mask)
    kept = [p for p in polygons if len(p) >= 3]
    back = shapes.polygons_to_mask(kept, height, width) if kept else np.zeros_like(mask)
    return {"polygons": polygons, "area": int(mask.sum()),
            "holes": int(np.count_nonzero(outline & ~mask)),
            "changed": int(np.count_nonzero(back ^ mask))}
