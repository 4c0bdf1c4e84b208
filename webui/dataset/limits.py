"""Checks on dataset files made before anything in them is decoded.

A dataset file declares image names, image sizes and mask sizes; a few hundred bytes can
declare a mask of 10^10 pixels. The importers call these checks on the declared values
first, so that a hostile or broken file is refused with one sentence while memory stays
small: sizes beyond MAX_IMAGE_PIXELS, RLE runs that do not fill their box, PNG masks whose
header says they are too large. `declared_images` reads only names and sizes, so that an
import can be matched against the images folder before any mask is decoded.
"""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from edgemask.runtime.shapes import check_rle as _check_rle
from edgemask.runtime.shapes import png_size
from edgemask.images import MAX_IMAGE_PIXELS


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


def declared_images(fmt: str, path: Path) -> list:
    """[(name, width, height)] that a COCO JSON or CVAT XML file declares, read without
    looking at its annotations. ValueError on a file that cannot be read that far."""
    path = Path(path)
    if fmt == "coco":
        return _coco_images(path)
    if fmt == "cvat-xml":
        return _cvat_images(path)
    raise ValueError(f"no declared-image reader for {fmt!r}")


def _coco_images(path: Path) -> list:
    from .coco import _find_json

    source = _find_json(path)
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise ValueError(f"{source} has no \"images\" list")
    out = []
    for img in document["images"]:
        if not isinstance(img, dict) or not all(k in img for k in ("file_name", "width", "height")):
            raise ValueError(f"{source}: an image lacks file_name, width or height")
        where = f"{source}: image {img['file_name']!r}"
        check_image_size(img["width"], img["height"], where)
        out.append((str(img["file_name"]), img["width"], img["height"]))
    return out


def _cvat_images(path: Path) -> list:
    from .cvat_xml import _find_xml

    source = _find_xml(path)
    out = []
    try:
        for _, element in ET.iterparse(source, events=("end",)):
            if element.tag != "image":
                continue
            where = f"{source}: <image id={element.attrib.get('id')!r}>"
            name = element.attrib.get("name")
            if not name:
                raise ValueError(f"{where} has no name")
            try:
                width, height = int(element.attrib["width"]), int(element.attrib["height"])
            except (KeyError, ValueError):
                raise ValueError(f"{where} lacks an integer width or height") from None
            check_image_size(width, height, where)
            out.append((name, width, height))
            element.clear()  # only the attributes were needed
    except ET.ParseError as exc:
        raise ValueError(f"{source} is not valid XML: {exc}") from None
    return out
