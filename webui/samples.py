"""Synthetic demo images for `edgemask serve` without an images folder.

Coloured shapes (discs, boxes, stars, blobs) on textured backgrounds, landscape and portrait,
generated deterministically so that the demo looks the same on every machine.
"""

from pathlib import Path

import cv2
import numpy as np

from edgemask import paths

# (file name, width, height, seed)
SAMPLES = (
    ("reef-landscape.jpg", 960, 640, 1),
    ("shapes-portrait.png", 600, 900, 2),
    ("blobs-wide.jpg", 1280, 540, 3),
    ("stripes-square.png", 720, 720, 4),
)


def demo_dir() -> Path:
    """Where the demo images live: edgemask.paths.home()/demo."""
    return paths.home() / "demo"


def ensure_samples(folder=None) -> Path:
    """Writes the demo images into `folder` (default demo_dir()) unless they are there; returns it."""
    folder = Path(folder) if folder is not None else demo_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for name, w, h, seed in SAMPLES:
        path = folder / name
        if not path.exists():
            rgb = make_sample(w, h, seed)
            tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
            cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            tmp.replace(path)
    return folder


def make_sample(width: int, height: int, seed: int) -> np.ndarray:
    """An HxWx3 uint8 RGB image: a textured background with a few flat-coloured shapes."""
    rng = np.random.default_rng(seed)
    image = _background(width, height, rng)
    n_shapes = int(rng.integers(4, 8))
    for _ in range(n_shapes):
        color = tuple(int(c) for c in rng.integers(30, 256, 3))
        kind = rng.integers(0, 4)
        cx, cy = int(rng.integers(width // 8, width * 7 // 8)), int(rng.integers(height // 8, height * 7 // 8))
        r = int(rng.integers(min(width, height) // 14, min(width, height) // 6))
        if kind == 0:
            cv2.circle(image, (cx, cy), r, color, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(image, (cx - r, cy - r * 2 // 3), (cx + r, cy + r * 2 // 3), color, -1)
        elif kind == 2:
            angles = np.linspace(0, 2 * np.pi, 11)[:-1] + rng.uniform(0, np.pi)
            radii = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
            pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
            cv2.fillPoly(image, [pts.round().astype(np.int32)], color, cv2.LINE_AA)
        else:
            angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
            radii = r * (1 + 0.35 * np.sin(3 * angles + rng.uniform(0, 6)) * rng.uniform(0.5, 1))
            pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
            cv2.fillPoly(image, [pts.round().astype(np.int32)], color, cv2.LINE_AA)
    # a soft vertical shading so the shapes are not perfectly flat
    shade = np.linspace(0.85, 1.1, height, dtype=np.float32)[:, None, None]
    return np.clip(image.astype(np.float32) * shade, 0, 255).astype(np.uint8)


def _background(width, height, rng) -> np.ndarray:
    """Low-frequency colour noise plus fine grain: looks like sand, water or foliage."""
    base = rng.integers(40, 200, 3).astype(np.float32)
    coarse = rng.normal(0, 1, (max(2, height // 60), max(2, width // 60), 3)).astype(np.float32)
    coarse = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC) * 25
    fine = rng.normal(0, 9, (height, width, 3)).astype(np.float32)
    return np.clip(base + coarse + fine, 0, 255).astype(np.uint8)
