"""cvat-mask: CVAT "Segmentation mask 1.1" (Pascal VOC segmentation layout).

Layout: ``labelmap.txt`` (``name:r,g,b::``, background first), ``ImageSets/Segmentation/
default.txt`` (image paths without extension), ``SegmentationClass/<id>.png`` (RGB in class
colours), ``SegmentationObject/<id>.png`` (RGB, one VOC-palette colour per object), and
``JPEGImages/<image path>`` when images are included. CVAT tells labels apart by colour, so a
label whose colour repeats an earlier one (or black, the background) gets a generated one.

On import, the images are those listed in every ``ImageSets/Segmentation/*.txt`` (CVAT writes
one list per subset) and those with a ``SegmentationClass`` PNG. CVAT writes no PNG for an
image without annotations: such an image imports with no objects, its size read from its
file under ``JPEGImages`` (or, when that is absent, left for the importer to take from the
images folder). Where a ``SegmentationObject`` PNG is there, each instance colour in it becomes
one object (of the class under it), so separate objects stay separate; else one object per class.
"""

from pathlib import Path, PurePosixPath
from typing import Optional

import numpy as np
from PIL import Image

from edgemask.runtime.shapes import mask_to_rle
from edgemask.webui.formats.labels import Label, distinct_colors, load_labels, voc_colormap

from edgemask.webui.formats.model import (
    ImageAnnotations,
    label_index,
    objects_from_class_map,
    painted_masks,
    palette,
)
from edgemask.webui.formats.files import copy_images, image_name_for, output_paths, read_png, write_png
from .color_png import colors_to_classes

NAME = "cvat-mask"  # --format and /api/export/<fmt>
TITLE = "CVAT Segmentation mask 1.1"


def unique_colors(labels: list[Label]) -> list[tuple[int, int, int]]:
    """Label colours with repeats (and black) replaced by distinct generated colours."""
    used = {(0, 0, 0)}
    repeats = 0
    for label in labels:
        repeats += label.color in used
        used.add(label.color)
    spare = iter(distinct_colors(repeats, used))
    colors, seen = [], {(0, 0, 0)}
    for label in labels:
        color = label.color if label.color not in seen else next(spare)
        seen.add(color)
        colors.append(color)
    return colors


def export(images: list[ImageAnnotations], labels: list[Label], out_dir: Path,
           images_dir: Optional[Path] = None) -> Path:
    colors = [(0, 0, 0)] + unique_colors(labels)
    ids = output_paths(images, "")
    object_colors = [voc_colormap(i) for i in range(256)]
    index = label_index(labels)
    for ann, path in zip(images, output_paths(images, ".png")):
        painted = painted_masks(ann, labels)
        if len(painted) > 255:
            raise ValueError(f"image {ann.name!r} has over 255 objects, more than a VOC palette holds")
        classes = np.zeros((ann.height, ann.width), np.uint8)
        instances = np.zeros((ann.height, ann.width), np.uint8)
        for number, (obj, mask) in enumerate(painted, start=1):
            classes[mask] = index[obj["label"]]
            instances[mask] = number
        write_png(out_dir / "SegmentationClass" / path, palette(colors, classes))
        write_png(out_dir / "SegmentationObject" / path, palette(object_colors, instances))
    lines = ["# label:color_rgb:parts:actions", "background:0,0,0::"]
    lines += [f"{label.name}:{r},{g},{b}::" for label, (r, g, b) in zip(labels, colors[1:])]
    (out_dir / "labelmap.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    image_sets = out_dir / "ImageSets" / "Segmentation"
    image_sets.mkdir(parents=True, exist_ok=True)
    (image_sets / "default.txt").write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    copy_images(images, images_dir, out_dir / "JPEGImages")
    return out_dir


def _item_ids(path: Path) -> list[str]:
    """Image ids (paths without extension) of the subset lists, then of the class PNGs."""
    lists = sorted((path / "ImageSets" / "Segmentation").glob("*.txt"),
                   key=lambda f: (f.name != "default.txt", f.name))
    class_dir = path / "SegmentationClass"
    if not lists and not class_dir.is_dir():
        raise ValueError(f"{path} has neither ImageSets/Segmentation/default.txt nor SegmentationClass/")
    ids = [line.strip() for listing in lists
           for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
    if class_dir.is_dir():
        ids += [f.relative_to(class_dir).with_suffix("").as_posix() for f in sorted(class_dir.rglob("*.png"))]
    return list(dict.fromkeys(ids))


def _image_size(path: Path) -> tuple[Optional[int], Optional[int]]:
    """(width, height) from an image file's header, (None, None) when it cannot be read."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None, None


def import_(path: Path) -> tuple[list[Label], list[ImageAnnotations]]:
    labels = load_labels(path / "labelmap.txt")
    colors = [(0, 0, 0)] + [label.color for label in labels]
    class_dir = path / "SegmentationClass"
    images = []
    for item in _item_ids(path):
        mask_file = class_dir / f"{item}.png"
        name = image_name_for(PurePosixPath(item + ".png"), path / "JPEGImages")
        if not mask_file.is_file():  # CVAT writes no PNG for an image without annotations
            width, height = _image_size(path / "JPEGImages" / name)
            images.append(ImageAnnotations(name, width, height, []))
            continue
        classes = colors_to_classes(read_png(mask_file, color=True), colors, str(mask_file))
        h, w = classes.shape
        instance_file = path / "SegmentationObject" / f"{item}.png"
        if instance_file.is_file():
            objects = _instance_objects(classes, read_png(instance_file, color=True), labels, str(instance_file))
        else:
            objects = objects_from_class_map(classes, labels, str(mask_file))
        images.append(ImageAnnotations(name, w, h, objects))
    return labels, images


def _instance_objects(classes: np.ndarray, instances_rgb: np.ndarray, labels: list[Label],
                      where: str) -> list[dict]:
    """One mask object per (instance colour, class) found on the annotated pixels, in the order
    of the instance colours' VOC palette indices (the painting order of the export)."""
    if instances_rgb.shape[:2] != classes.shape:
        raise ValueError(f"{where} is {instances_rgb.shape[1]}x{instances_rgb.shape[0]}, its class "
                         f"PNG {classes.shape[1]}x{classes.shape[0]}")
    keys = ((instances_rgb[..., 0].astype(np.int64) << 16) | (instances_rgb[..., 1].astype(np.int64) << 8)
            | instances_rgb[..., 2])
    order = {(r << 16) | (g << 8) | b: i for i, (r, g, b) in enumerate(voc_colormap(i) for i in range(256))}
    pairs = np.unique(np.stack([keys[classes > 0], classes[classes > 0]]), axis=1).T
    pairs = sorted(pairs.tolist(), key=lambda pair: (order.get(pair[0], 256), pair[0], pair[1]))
    return [{"label": labels[cls - 1].name, "kind": "mask", "z": z,
             "rle": mask_to_rle((keys == key) & (classes == cls))}
            for z, (key, cls) in enumerate(pairs)]
