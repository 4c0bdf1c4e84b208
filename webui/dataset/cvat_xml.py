"""cvat-xml: "CVAT for images 1.1" annotations.xml, as CVAT 2.x writes and reads it.

Layout: ``annotations.xml`` and ``images/<image path>`` when images are included. Polygons
are ``<polygon points="x,y;x,y" z_order>``; masks are ``<mask rle left top width height>``
where ``rle`` holds run lengths over the mask's box row by row, starting with a run of 0s.
On import, ``<box>`` becomes a 4-point polygon; polylines, points, ellipses, cuboids,
skeletons and tags are skipped (they paint no area here).
"""

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import numpy as np

from edgemask.runtime.shapes import mask_bbox, mask_to_rle
from edgemask.webui.labels import Label, distinct_colors, parse_color

from . import limits
from .annotations import ImageAnnotations, copy_images, painted_masks

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
    if any(r < 0 for r in runs) or sum(runs) != width * height:
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
    for label in labels:
        element = ET.SubElement(label_list, "label")
        ET.SubElement(element, "name").text = label.name
        ET.SubElement(element, "color").text = label.hex
        ET.SubElement(element, "type").text = "any"
        ET.SubElement(element, "attributes")
    ET.SubElement(meta, "dumped").text = datetime.now(timezone.utc).isoformat()
    for image_id, ann in enumerate(images):
        image = ET.SubElement(root, "image", {"id": str(image_id), "name": ann.name,
                                              "width": str(ann.width), "height": str(ann.height)})
        for obj, mask in painted_masks(ann, labels):
            common = {"label": obj["label"], "source": "manual", "occluded": "0"}
            if obj["kind"] == "polygon":
                points = ";".join(f"{_number(x)},{_number(y)}" for x, y in obj["polygon"])
                ET.SubElement(image, "polygon", {**common, "points": points,
                                                 "z_order": str(int(obj.get("z", 0)))})
                continue
            box = mask_bbox(mask)
            if box is None:
                continue  # CVAT has no empty masks; an empty one paints nothing
            x0, y0, x1, y1 = box
            ET.SubElement(image, "mask", {
                **common, "rle": encode_rle(mask[y0:y1, x0:x1]), "left": str(x0), "top": str(y0),
                "width": str(x1 - x0), "height": str(y1 - y0), "z_order": str(int(obj.get("z", 0))),
            })
    ET.indent(root, space="  ")
    out_dir.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(out_dir / ANNOTATION_FILE, encoding="utf-8", xml_declaration=True)
    copy_images(images, images_dir, out_dir / "images")
    return out_dir


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


def _shape(element: ET.Element, image: ImageAnnotations, where: str) -> Optional[dict]:
    label = element.attrib.get("label")
    if not label:
        raise ValueError(f"{where} has no label")
    z = _int(element, "z_order", where) if "z_order" in element.attrib else 0
    if element.tag == "polygon":
        return {"label": label, "kind": "polygon", "z": z,
                "polygon": _points(element.attrib.get("points", ""), where)}
    if element.tag == "box":
        try:
            x0, y0, x1, y1 = (float(element.attrib[k]) for k in ("xtl", "ytl", "xbr", "ybr"))
        except (KeyError, ValueError):
            raise ValueError(f"{where}: a box needs numeric xtl, ytl, xbr, ybr") from None
        return {"label": label, "kind": "polygon", "z": z,
                "polygon": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]}
    if element.tag == "mask":
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
        return {"label": label, "kind": "mask", "z": z, "rle": mask_to_rle(mask)}
    return None


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


def import_(path: Path) -> tuple[list[Label], list[ImageAnnotations]]:
    source = path if path.is_file() else path / ANNOTATION_FILE
    if not source.is_file():
        raise ValueError(f"no {ANNOTATION_FILE} found in {path}")
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
            obj = _shape(child, image, f"{where} <{child.tag}> #{number}")
            if obj is not None:
                image.objects.append(obj)
                used.append(obj["label"])
        images.append(image)
    return _labels(root, used), images
