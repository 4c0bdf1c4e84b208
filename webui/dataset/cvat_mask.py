"""cvat-mask: CVAT "Segmentation mask 1.1" (Pascal VOC segmentation layout).

Layout: ``labelmap.txt`` (``name:r,g,b::``, background first), ``ImageSets/Segmentation/
default.txt`` (image paths without extension), ``SegmentationClass/<id>.png`` (RGB in class
colours), ``SegmentationObject/<id>.png`` (RGB, one VOC-palette colour per object), and
``JPEGImages/<image path>`` when images are included. CVAT tells labels apart by colour, so a
label whose colour repeats an earlier one (or black, the background) gets a generated one.
"""

from pathlib import Path, PurePosixPath
from typing import Optional

import numpy as np

from edgemask.webui.labels import Label, distinct_colors, load_labels, voc_colormap

from .annotations import (
    ImageAnnotations,
    copy_images,
    image_name_for,
    label_index,
    objects_from_class_map,
    output_paths,
    painted_masks,
    palette,
    read_png,
    write_png,
)
from .color_png import colors_to_classes


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


def import_(path: Path) -> tuple[list[Label], list[ImageAnnotations]]:
    labels = load_labels(path / "labelmap.txt")
    colors = [(0, 0, 0)] + [label.color for label in labels]
    class_dir = path / "SegmentationClass"
    listing = path / "ImageSets" / "Segmentation" / "default.txt"
    if listing.is_file():
        ids = [line.strip() for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif class_dir.is_dir():
        ids = [p.relative_to(class_dir).with_suffix("").as_posix() for p in sorted(class_dir.rglob("*.png"))]
    else:
        raise ValueError(f"{path} has neither ImageSets/Segmentation/default.txt nor SegmentationClass/")
    images = []
    for item in ids:
        mask_file = class_dir / f"{item}.png"
        classes = colors_to_classes(read_png(mask_file, color=True), colors, str(mask_file))
        h, w = classes.shape
        objects = objects_from_class_map(classes, labels, str(mask_file))
        name = image_name_for(PurePosixPath(item + ".png"), path / "JPEGImages")
        images.append(ImageAnnotations(name, w, h, objects))
    return labels, images
