"""The classic magic wand: a colour flood fill from one pixel, no model needed."""

import cv2
import numpy as np


def flood_fill(rgb: np.ndarray, x: int, y: int, tolerance: int) -> np.ndarray:
    """HxW bool mask of the 4-connected region around (x, y) whose colour differs from the seed
    pixel's colour by at most `tolerance` (0..255) in every channel."""
    if rgb.ndim == 2:
        rgb = cv2.cvtColor(rgb, cv2.COLOR_GRAY2RGB)
    h, w = rgb.shape[:2]
    if not (0 <= x < w and 0 <= y < h):
        raise ValueError(f"point ({x}, {y}) is outside the {w}x{h} image")
    tolerance = int(np.clip(tolerance, 0, 255))
    image = np.array(rgb[..., :3], dtype=np.uint8, order="C")  # a writable copy for OpenCV
    mask = np.zeros((h + 2, w + 2), np.uint8)
    diff = (tolerance,) * 3
    flags = 4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (255 << 8)
    cv2.floodFill(image, mask, (int(x), int(y)), (0, 0, 0), diff, diff, flags)
    return mask[1:-1, 1:-1] > 0
