"""The images folder: listing, safe name -> path resolution, sizes and decoding.

An image name is its path relative to the folder with forward slashes. Hidden files and folders
(starting with ".") are skipped, and so is anything whose real path leaves the folder (a symlink
escape), so a name that resolves outside the folder is never listed and never served.
"""

import threading
from pathlib import Path, PurePosixPath
from typing import Optional

import cv2
import numpy as np
from PIL import Image

from edgemask.runtime.transforms import load_image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

_EXIF_ORIENTATION = 0x0112
_TRANSPOSED_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height


class ImageFolder:
    """A folder of images, listed recursively; sizes are cached by (mtime, size)."""

    def __init__(self, root):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"{root} is not a folder")
        self._sizes = {}
        self._lock = threading.Lock()

    def names(self) -> list:
        """All image names, sorted."""
        found = []
        for path in self.root.rglob("*"):
            rel = path.relative_to(self.root)
            if any(part.startswith(".") for part in rel.parts):
                continue
            if path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file():
                continue
            if not _inside(path.resolve(), self.root):
                continue
            found.append(rel.as_posix())
        return sorted(found)

    def path(self, name: str) -> Optional[Path]:
        """The file of a listed image name, or None if the name is not a safe image in the folder."""
        if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
            return None
        pure = PurePosixPath(name)
        if pure.is_absolute() or any(p in ("..", ".", "") for p in name.split("/")):
            return None
        if any(part.startswith(".") for part in pure.parts):
            return None
        if pure.suffix.lower() not in IMAGE_EXTENSIONS:
            return None
        candidate = self.root.joinpath(*pure.parts)
        try:
            real = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not _inside(real, self.root) or not real.is_file():
            return None
        return candidate

    def size(self, name: str) -> tuple:
        """(width, height) as displayed, i.e. after the EXIF orientation; reads only the header."""
        path = self.path(name)
        if path is None:
            raise KeyError(name)
        stat = path.stat()
        key = (name, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if key in self._sizes:
                return self._sizes[key]
        size = image_size(path)
        with self._lock:
            self._sizes[key] = size
        return size

    def read_rgb(self, name: str) -> np.ndarray:
        """The image as an HxWx3 uint8 RGB array (EXIF orientation applied, as browsers show it)."""
        path = self.path(name)
        if path is None:
            raise KeyError(name)
        return read_rgb(path)


def exif_orientation(path) -> int:
    """The EXIF orientation (1 = upright as stored, 2..8 turned or mirrored), from the header."""
    with Image.open(path) as im:
        return _orientation(im)


def _orientation(im) -> int:
    try:
        value = int(im.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # unreadable EXIF: show as stored
        return 1
    return value if 1 <= value <= 8 else 1


def image_size(path) -> tuple:
    """(width, height) after the EXIF orientation, from the file header."""
    with Image.open(path) as im:
        w, h = im.size
        orientation = _orientation(im)
    if orientation in _TRANSPOSED_ORIENTATIONS:
        w, h = h, w
    return int(w), int(h)


def read_rgb(path) -> np.ndarray:
    """Decodes an image file to HxWx3 uint8 RGB, EXIF orientation applied.

    Uses the runtime's loader, so that the pixels (and so the embedding cache keys) are the
    same as those of images the predictor prefetches by path; OpenCV reads what Pillow cannot."""
    try:
        return load_image(path)
    except Exception:
        bgr = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{Path(path).name} is not an image this program can read") from None
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
