"""Small JPEG previews of the images for the image list, made on first request and cached.

JPEGs are decoded at a reduced scale (Pillow's draft mode), so a 12-27 MP photo costs a few
milliseconds, not a full decode. The cache holds the encoded bytes keyed by the file's name,
modification time and size, bounded in bytes (least recently used out first).
"""

import io
import threading
from collections import OrderedDict

from PIL import Image, ImageOps

DEFAULT_SIZE = 96
MIN_SIZE, MAX_SIZE = 16, 512


class Thumbnails:
    def __init__(self, folder, max_bytes: int = 64 * 1024 * 1024):
        self.folder = folder
        self.max_bytes = max_bytes
        self._cache = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, name: str, size: int = DEFAULT_SIZE) -> tuple:
        """(JPEG bytes at most size x size, a tag that changes when the file does)."""
        path = self.folder.path(name)
        if path is None:
            raise KeyError(name)
        stat = path.stat()
        key = (name, stat.st_mtime_ns, stat.st_size, size)
        tag = f"{stat.st_mtime_ns:x}-{stat.st_size:x}-{size}"
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key], tag
        data = make_thumbnail(path, size)
        with self._lock:
            self._cache[key] = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._bytes -= len(old)
        return data, tag


def make_thumbnail(path, size: int) -> bytes:
    """The image at path, upright (EXIF), fitted into size x size, as JPEG bytes."""
    with Image.open(path) as im:
        im.draft("RGB", (size, size))  # JPEG: decode at 1/2..1/8 scale
        im = ImageOps.exif_transpose(im)
        im = im.convert("RGB")
        im.thumbnail((size, size), Image.Resampling.BILINEAR)
        out = io.BytesIO()
        im.save(out, "JPEG", quality=80)
    return out.getvalue()
