"""Small real test data made in the test: synthetic images (import as `from synthetic import ...`)."""

import numpy as np


def synthetic_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """An RGB uint8 test image: smooth gradients plus a few solid shapes (things a mask can find)."""
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([xx / max(width - 1, 1) * 200, yy / max(height - 1, 1) * 200,
                    (xx + yy) / max(width + height - 2, 1) * 120], axis=-1)
    img += rng.normal(0, 6, img.shape)
    for _ in range(4):
        color = [int(c) for c in rng.integers(0, 256, 3)]
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        radius = int(rng.integers(max(2, min(height, width) // 10), max(3, min(height, width) // 4)))
        cv2.circle(img, center, radius, color, -1)
    return np.clip(img, 0, 255).astype(np.uint8)


# landscape, portrait and odd-sized: the geometry bugs peers ship show only off the square
IMAGE_SHAPES = [(480, 640), (700, 389), (333, 517)]
