"""The images folder: listing, safe name -> path resolution, sizes and decoding.

An image name is its path relative to the folder with forward slashes. Hidden files and folders
(starting with ".") are skipped, and so is anything whose real path leaves the folder (a symlink
escape), so a name that resolves outside the folder is never listed and never served.
"""

import re
import threading
import warnings
from pathlib import Path, PurePosixPath
from typing import Optional

import cv2
import numpy as np
from PIL import Image

from edgemask.runtime.transforms import load_image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MAX_IMAGE_PIXELS = 100_000_000  # 100 megapixels: 300 MB decoded; larger images are refused


class UnreadableImage(ValueError):
    """An image file this program will not decode; the message says why."""

_EXIF_ORIENTATION = 0x0112
_TRANSPOSED_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height


class ImageFolder:
    """A folder of images, listed recursively; sizes are cached by (mtime, size)."""

    def __init__(self, root):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"{root} is not a folder")
        self._sizes = {}
        self._problems = {}
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

    def _file_key(self, name: str):
        path = self.path(name)
        if path is None:
            raise KeyError(name)
        stat = path.stat()
        return path, (name, stat.st_mtime_ns, stat.st_size)

    def size(self, name: str) -> tuple:
        """(width, height) as displayed, i.e. after the EXIF orientation; reads only the header."""
        path, key = self._file_key(name)
        with self._lock:
            if key in self._sizes:
                return self._sizes[key]
        size = image_size(path)
        with self._lock:
            self._sizes[key] = size
        return size

    def problem(self, name: str, thorough: bool = True):
        """Why the image cannot be annotated (one sentence), or None when it decodes whole.

        `thorough` decodes the pixels (JPEGs at 1/8 scale, which still reads every coded byte),
        so a truncated or damaged file is found; else only the header and the file's end are
        read, and a decode confirms a file whose end marker is missing (cached by mtime, size)."""
        path, key = self._file_key(name)
        with self._lock:
            known = self._problems.get(key, ())
        if known != () and (not thorough or known[1]):
            return known[0]
        found = image_problem(path, thorough)
        with self._lock:
            self._problems[key] = (found, thorough or found is not None)
        return found

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
    """(width, height) after the EXIF orientation, from the file header. UnreadableImage when
    the file is not an image Pillow knows, or is larger than MAX_IMAGE_PIXELS."""
    name = Path(path).name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                orientation = _orientation(im)
    except Image.DecompressionBombError as exc:
        raise UnreadableImage(f"{name} is too large to read ({_pixels_of(exc)}; edgemask reads up "
                              f"to {MAX_IMAGE_PIXELS // 1_000_000} megapixels)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise UnreadableImage(f"{name} is not an image this program can read ({exc})") from None
    if w * h > MAX_IMAGE_PIXELS:
        raise UnreadableImage(f"{name} is too large to read ({w}x{h} pixels; edgemask reads up to "
                              f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels)")
    if orientation in _TRANSPOSED_ORIENTATIONS:
        w, h = h, w
    return int(w), int(h)


_END_MARKERS = {".jpg": b"\xff\xd9", ".jpeg": b"\xff\xd9", ".png": b"IEND"}


def image_problem(path, thorough: bool = True):
    """Why the image file cannot be annotated (one sentence), or None. Pillow decodes it strictly
    (never LOAD_TRUNCATED_IMAGES), so a file cut short is found, not shown half-empty. Without
    `thorough`, a JPEG or PNG whose last 4 KiB hold its end marker is taken as whole (cheap)."""
    path = Path(path)
    try:
        image_size(path)
    except UnreadableImage as exc:
        return f"{exc}."
    marker = _END_MARKERS.get(path.suffix.lower())
    if not thorough and marker is not None:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - 4096))
            if marker in f.read():
                return None
    try:
        with Image.open(path) as im:
            if im.format == "JPEG":
                im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except Image.DecompressionBombError:
        return None  # image_size judged the size already
    except Exception as exc:  # noqa: BLE001 - Pillow's decode errors are of many kinds
        if "truncated" in str(exc) or isinstance(exc, EOFError):
            return f"{path.name} is cut short: the file ends before the picture does (truncated)."
        return f"{path.name} cannot be decoded ({str(exc).rstrip('.')})."
    return None


def _pixels_of(exc) -> str:
    found = re.search(r"\((\d+) pixels\)", str(exc))
    return f"{int(found.group(1)) // 1_000_000} megapixels" if found else "too many pixels"


def read_rgb(path) -> np.ndarray:
    """Decodes an image file to HxWx3 uint8 RGB, EXIF orientation applied.

    Uses the runtime's loader, so that the pixels (and so the embedding cache keys) are the
    same as those of images the predictor prefetches by path; OpenCV reads what Pillow cannot.
    The header's size is checked first (UnreadableImage beyond MAX_IMAGE_PIXELS), and so is the
    decoded size: a truncated file is refused, never half-read."""
    try:
        expected = image_size(path)
    except UnreadableImage as exc:
        if "too large" in str(exc):
            raise
        expected = None  # not a Pillow format: OpenCV may read it
    try:
        rgb = load_image(path)
    except Exception as exc:  # noqa: BLE001 - Pillow's errors are of many kinds
        if expected is not None:  # Pillow knows the format, so the file itself is broken
            raise UnreadableImage(f"{Path(path).name} cannot be decoded ({exc})") from None
        data = np.fromfile(str(path), dtype=np.uint8)
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if bgr is None:
            raise UnreadableImage(f"{Path(path).name} is not an image this program can read") from None
        if bgr.shape[0] * bgr.shape[1] > MAX_IMAGE_PIXELS:
            raise UnreadableImage(f"{Path(path).name} is too large to read") from None
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if expected is not None and rgb.shape[:2] != (expected[1], expected[0]):
        raise UnreadableImage(f"{Path(path).name} decodes to {rgb.shape[1]}x{rgb.shape[0]} pixels, "
                              f"not the {expected[0]}x{expected[1]} its header says")
    return rgb


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
