"""cvat-xml: "CVAT for images 1.1" annotations.xml, as CVAT 2.x writes and reads it.

Layout: ``annotations.xml`` and ``images/<image path>`` when images are included. Polygons
are ``<polygon points="x,y;x,y" z_order>``; masks are ``<mask rle left top width height>``
where ``rle`` holds run lengths over the mask's box row by row, starting with a run of 0s.
An object's ``occluded``, ``group_id`` and ``<attribute>`` children are written back as read
(the attribute names are declared on their label in ``<meta>``).

On import, shapes paint by ``z_order``, ties in the order of the file. A ``<box>`` becomes a
4-point polygon, turned by its ``rotation`` (degrees, clockwise) about its centre; an
``<ellipse>`` becomes a mask painted as CVAT paints it for its mask exports (OpenCV's filled
ellipse, centre and radii rounded to whole pixels). Polylines, points, cuboids, skeletons and
tags paint no area, nor does a shape marked ``outside="1"``: they are not imported, and counted in
``ImageAnnotations.skipped``.
"""

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from edgemask.runtime.shapes import mask_bbox, mask_to_rle
from edgemask.webui import text as text_rule
from edgemask.webui.formats.labels import Label, distinct_colors, parse_color

from . import limits
from edgemask.webui.formats.model import (
    ImageAnnotations,
    box_polygon,
    extras,
    in_painting_order,
    painted_masks,
)
from edgemask.webui.formats.files import copy_images

NAME = "cvat-xml"  # --format and /api/export/<fmt>
TITLE = "CVAT for images 1.1"

ANNOTATION_FILE = "annotations.xml"


def _number(value: float) -> str:
    """CVAT's two decimals, more (up to 4) only where the value needs them."""
    text = f"{float(value):.4f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


def encode_rle(mask: np.ndarray) -> str:
    """CVAT run lengths of a bool array, row-major, starting with the count of 0s."""
    flat = mask.reshape(-1).astype(np.int8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs.insert(0, 0)
    return ", ".join(str(r) for r in runs)


def decode_rle(text: str, width: int, height: int) -> np.ndarray:
    """Inverse of ``encode_rle``; ValueError when the runs do not fill the box."""
    try:
        runs = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError("mask rle must be comma-separated integers") from None
    if any(not 0 <= r <= width * height for r in runs) or sum(runs) != width * height:  # Python ints
        raise ValueError(f"mask rle covers {sum(runs)} pixels, its box has {width * height}")
    values = np.arange(len(runs)) % 2 == 1
    return np.repeat(values, runs).reshape(height, width)


def export(images: list[ImageAnnotations], labels: list[Label], out_dir: Path,
           images_dir: Optional[Path] = None) -> Path:
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    meta = ET.SubElement(root, "meta")
    task = ET.SubElement(meta, "task")
    for key, value in (("name", "edgemask"), ("size", str(len(images))), ("mode", "annotation"),
                       ("overlap", "0"), ("flipped", "False")):
        ET.SubElement(task, key).text = value
    label_list = ET.SubElement(task, "labels")
    declared = _attribute_names(images)
    for label in labels:
        element = ET.SubElement(label_list, "label")
        ET.SubElement(element, "name").text = label.name
        ET.SubElement(element, "color").text = label.hex
        ET.SubElement(element, "type").text = "any"
        attributes = ET.SubElement(element, "attributes")
        for name in declared.get(label.name, []):
            attribute = ET.SubElement(attributes, "attribute")
            for key, value in (("name", name), ("mutable", "False"), ("input_type", "text"),
                               ("default_value", ""), ("values", "")):
                ET.SubElement(attribute, key).text = value
    ET.SubElement(meta, "dumped").text = datetime.now(timezone.utc).isoformat()
    for image_id, ann in enumerate(images):
        image = ET.SubElement(root, "image", {"id": str(image_id), "name": ann.name,
                                              "width": str(ann.width), "height": str(ann.height)})
        for obj, mask in painted_masks(ann, labels):
            extra = extras(obj)
            common = {"label": obj["label"], "source": "manual", "occluded": str(int(extra["occluded"]))}
            tail = {"z_order": str(int(obj.get("z", 0)))}
            if extra["group"]:
                tail["group_id"] = str(extra["group"])
            if obj["kind"] == "polygon":
                points = ";".join(f"{_number(x)},{_number(y)}" for x, y in obj["polygon"])
                shape = ET.SubElement(image, "polygon", {**common, "points": points, **tail})
            else:
                box = mask_bbox(mask)
                if box is None:
                    continue  # CVAT has no empty masks; an empty one paints nothing
                x0, y0, x1, y1 = box
                shape = ET.SubElement(image, "mask", {
                    **common, "rle": encode_rle(mask[y0:y1, x0:x1]), "left": str(x0), "top": str(y0),
                    "width": str(x1 - x0), "height": str(y1 - y0), **tail})
            for name, value in extra["attributes"].items():
                ET.SubElement(shape, "attribute", {"name": name}).text = _attribute_text(value)
    _clean_tree(root)
    ET.indent(root, space="  ")
    out_dir.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(out_dir / ANNOTATION_FILE, encoding="utf-8", xml_declaration=True)
    copy_images(images, images_dir, out_dir / "images")
    return out_dir


def _clean_tree(root: ET.Element) -> None:
    """Replaces what XML 1.0 cannot hold (a file name or an older database's text) by U+FFFD, so
    that annotations.xml always parses."""
    for element in root.iter():
        if element.text:
            element.text = text_rule.clean(element.text)
        for key, value in element.attrib.items():
            element.attrib[key] = text_rule.clean(value)


def _attribute_names(images: list[ImageAnnotations]) -> dict[str, list[str]]:
    """{label name: the attribute names its objects use, in first-seen order}."""
    names: dict[str, dict[str, None]] = {}
    for ann in images:
        for obj in ann.objects:
            for name in obj.get("attributes") or {}:
                names.setdefault(obj["label"], {})[name] = None
    return {label: list(found) for label, found in names.items()}


def _attribute_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _attribute_value(text: str):
    """CVAT writes every value as text; true / false become booleans, the rest stays text."""
    return {"true": True, "false": False}.get(text, text)


def _int(element: ET.Element, key: str, where: str) -> int:
    try:
        return int(element.attrib[key])
    except KeyError:
        raise ValueError(f"{where} lacks the {key!r} attribute") from None
    except ValueError:
        raise ValueError(f"{where}: {key} {element.attrib[key]!r} is not an integer") from None


def _points(text: str, where: str) -> list[list[float]]:
    try:
        points = [[float(v) for v in pair.split(",")] for pair in text.split(";") if pair.strip()]
    except ValueError:
        raise ValueError(f"{where}: points must be 'x,y;x,y;...'") from None
    if any(len(p) != 2 for p in points) or len(points) < 3:
        raise ValueError(f"{where}: a polygon needs at least 3 'x,y' points")
    return points


def _float(element: ET.Element, key: str, where: str) -> float:
    try:
        value = float(element.attrib[key])
    except KeyError:
        raise ValueError(f"{where} lacks the {key!r} attribute") from None
    except ValueError:
        raise ValueError(f"{where}: {key} {element.attrib[key]!r} is not a number") from None
    if not np.isfinite(value):
        raise ValueError(f"{where}: {key} is not a finite number")
    return value


def paint_ellipse(cx: float, cy: float, rx: float, ry: float, rotation: float,
                  height: int, width: int) -> np.ndarray:
    """The bool mask of a CVAT ellipse as CVAT paints it: OpenCV's filled ellipse with the
    centre and radii rounded to whole pixels (Python's rounding, half to even), turned by
    ``rotation`` degrees."""
    if max(abs(cx), abs(cy), rx, ry) > 2 ** 20:  # far past any image; OpenCV slows down
        raise ValueError("an ellipse lies too far outside the image")
    canvas = np.zeros((height, width), np.uint8)
    cv2.ellipse(canvas, (round(cx), round(cy)), (round(rx), round(ry)), rotation, 0, 360, 255,
                thickness=-1)
    return canvas > 0


def _shape(element: ET.Element, image: ImageAnnotations, where: str) -> Optional[dict]:
    label = element.attrib.get("label")
    if not label:
        raise ValueError(f"{where} has no label")
    z = _int(element, "z_order", where) if "z_order" in element.attrib else 0
    if element.tag == "polygon":
        obj = {"kind": "polygon", "polygon": _points(element.attrib.get("points", ""), where)}
    elif element.tag == "box":
        x0, y0, x1, y1 = (_float(element, k, where) for k in ("xtl", "ytl", "xbr", "ybr"))
        rotation = _float(element, "rotation", where) if "rotation" in element.attrib else 0.0
        obj = {"kind": "polygon", "polygon": box_polygon(x0, y0, x1, y1, rotation)}
    elif element.tag == "ellipse":
        cx, cy, rx, ry = (_float(element, k, where) for k in ("cx", "cy", "rx", "ry"))
        rotation = _float(element, "rotation", where) if "rotation" in element.attrib else 0.0
        if rx < 0 or ry < 0:
            raise ValueError(f"{where}: an ellipse needs radii >= 0")
        mask = paint_ellipse(cx, cy, rx, ry, rotation, image.height, image.width)
        obj = {"kind": "mask", "rle": mask_to_rle(mask)}
    elif element.tag == "mask":
        left, top = _int(element, "left", where), _int(element, "top", where)
        width, height = _int(element, "width", where), _int(element, "height", where)
        if left < 0 or top < 0 or width <= 0 or height <= 0 or left + width > image.width \
                or top + height > image.height:
            raise ValueError(f"{where}: mask box lies outside the {image.width}x{image.height} image")
        try:
            crop = decode_rle(element.attrib.get("rle", ""), width, height)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        mask = np.zeros((image.height, image.width), bool)
        mask[top:top + height, left:left + width] = crop
        obj = {"kind": "mask", "rle": mask_to_rle(mask)}
    else:
        return None
    obj.update({"label": label, "z": z, "occluded": element.attrib.get("occluded") == "1"})
    group = element.attrib.get("group_id", "0")
    try:
        obj["group"] = int(group)
    except ValueError:
        raise ValueError(f"{where}: group_id {group!r} is not an integer") from None
    attributes = {child.attrib.get("name", ""): _attribute_value(child.text or "")
                  for child in element.findall("attribute")}
    if attributes:
        obj["attributes"] = attributes
    return obj


def _labels(root: ET.Element, used: list[str]) -> list[Label]:
    entries: list[tuple[str, Optional[tuple]]] = []
    for element in root.findall("./meta//labels/label"):
        name = (element.findtext("name") or "").strip()
        if not name or any(name == n for n, _ in entries):
            continue
        try:
            color = parse_color(element.findtext("color") or "")
        except ValueError:
            color = None
        entries.append((name, color))
    known = {n for n, _ in entries}
    entries += [(name, None) for name in dict.fromkeys(used) if name not in known]
    spare = iter(distinct_colors(sum(c is None for _, c in entries), [c for _, c in entries if c]))
    return [Label(name, color if color else next(spare)) for name, color in entries]


def _find_xml(path: Path) -> Path:
    """The file itself, else the folder's annotations.xml (CVAT), else its one XML file
    (datumaro names it after the subset: default.xml)."""
    if path.is_file():
        return path
    if (path / ANNOTATION_FILE).is_file():
        return path / ANNOTATION_FILE
    found = sorted(path.glob("*.xml"))
    if len(found) == 1:
        return found[0]
    if found:
        raise ValueError(f"{path} holds several XML files ({', '.join(f.name for f in found[:5])}); "
                         "give the one to import with --file")
    raise ValueError(f"no {ANNOTATION_FILE} found in {path}")


def import_(path: Path) -> tuple[list[Label], list[ImageAnnotations]]:
    source = _find_xml(path)
    try:
        root = ET.parse(source).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{source} is not valid XML: {exc}") from None
    if root.tag != "annotations":
        raise ValueError(f"{source} is not a CVAT annotations file (root <{root.tag}>)")
    image_elements = root.findall("image")
    if not image_elements and root.find("track") is not None:
        raise ValueError(f"{source} holds tracks (CVAT for video); export it as CVAT for images 1.1")
    images, used = [], []
    for element in image_elements:
        where = f"{source}: <image id={element.attrib.get('id')!r}>"
        name = element.attrib.get("name")
        if not name:
            raise ValueError(f"{where} has no name")
        image = ImageAnnotations(name, _int(element, "width", where), _int(element, "height", where), [])
        limits.check_image_size(image.width, image.height, where)
        for number, child in enumerate(element):
            if child.attrib.get("outside") == "1":  # a track's shape where the object is out of view
                image.skipped["outside"] = image.skipped.get("outside", 0) + 1
                continue
            obj = _shape(child, image, f"{where} <{child.tag}> #{number}")
            if obj is not None:
                image.objects.append(obj)
                used.append(obj["label"])
            else:
                image.skipped[child.tag] = image.skipped.get(child.tag, 0) + 1
        image.objects = in_painting_order(image.objects)
        images.append(image)
    return _labels(root, used), images


def declared_images(path: Path) -> list:
    """[(name, width, height)] that a CVAT XML declares, read without looking at its annotations.
    ValueError on a file that cannot be read that far."""
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
            limits.check_image_size(width, height, where)
            out.append((name, width, height))
            element.clear()  # only the attributes were needed
    except ET.ParseError as exc:
        raise ValueError(f"{source} is not valid XML: {exc}") from None
    return out
