"""Checks on dataset files made before anything in them is decoded.

A dataset file declares image names, image sizes and mask sizes; a few hundred bytes can
declare a mask of 10^10 pixels. The importers call these checks on the declared values
first, so that a hostile or broken file is refused with one sentence while memory stays
small: sizes beyond MAX_IMAGE_PIXELS, RLE runs that do not fill their box, PNG masks whose
header says they are too large. The single-file formats (coco, cvat_xml) have their own
`declared_images`, reading only names and sizes, so that an import can be matched against the
images folder before any mask is decoded.
"""

from pathlib import Path

from edgemask.images import MAX_IMAGE_PIXELS
from edgemask.runtime.shapes import check_rle as _check_rle
from edgemask.runtime.shapes import png_size


def check_image_size(width, height, where: str) -> None:
    """A declared image size: positive integers of at most MAX_IMAGE_PIXELS pixels."""
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height)):
        raise ValueError(f"{where} has an invalid size {width!r}x{height!r}")
    if width * height > MAX_IMAGE_PIXELS:
        raise ValueError(f"{where} declares {width}x{height} pixels, more than the "
                         f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels edgemask reads")


def check_rle(rle, height: int, width: int, where: str) -> None:
    """A COCO RLE of an image of height x width, checked without decoding it."""
    try:
        _check_rle(rle, height, width, MAX_IMAGE_PIXELS)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def check_png_file(path: Path) -> None:
    """A PNG mask file whose header declares at most MAX_IMAGE_PIXELS pixels."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError as exc:
        raise ValueError(f"cannot read image {path} ({exc.strerror or exc})") from None
    try:
        width, height = png_size(head)
    except ValueError:
        raise ValueError(f"{path} is not a PNG image") from None
    if width * height > MAX_IMAGE_PIXELS:
        raise ValueError(f"{path} declares {width}x{height} pixels, more than the "
                         f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels edgemask reads")


