"""color-png: one RGB PNG per image painted in the label colours (SUIM style).

Layout: ``labels.txt`` (``name #rrggbb`` a line, line 0 ``background #000000``),
``masks/<image path with .png>``, and ``images/<image path>`` when images are included.
Unannotated pixels are black. ``dataset_meta.json`` gives the classes and colours again for
datumaro, which reads the folder as its ``common_semantic_segmentation`` format. On import a colour shared by several labels (or by a label
and the black background, as SUIM's waterbody) reads as the first of them.
"""

from pathlib import Path
from typing import Optional

import numpy as np

from edgemask.webui.formats.labels import Label, format_labels, load_labels

from edgemask.webui.formats.model import ImageAnnotations, label_index, palette, rasterize
from edgemask.webui.formats.files import (
    copy_images,
    import_mask_folder,
    output_paths,
    read_png,
    write_dataset_meta,
    write_png,
)

NAME = "color-png"  # --format and /api/export/<fmt>
TITLE = "label-colour PNGs"


def export(images: list[ImageAnnotations], labels: list[Label], out_dir: Path,
           images_dir: Optional[Path] = None) -> Path:
    label_index(labels)  # a class index per label: refuses more than 255, before anything is written
    colors = [(0, 0, 0)] + [label.color for label in labels]
    for ann, path in zip(images, output_paths(images, ".png")):
        write_png(out_dir / "masks" / path, palette(colors, rasterize(ann, labels)))
    (out_dir / "labels.txt").write_text(format_labels(labels, with_colors=True), encoding="utf-8")
    write_dataset_meta(out_dir, labels)
    copy_images(images, images_dir, out_dir / "images")
    return out_dir


def colors_to_classes(rgb: np.ndarray, colors: list[tuple[int, int, int]], where: str) -> np.ndarray:
    """Class map of an RGB image whose pixels are all in ``colors`` (first match wins)."""
    keys = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    classes = np.zeros(keys.shape, np.uint8)
    known = np.zeros(keys.shape, bool)
    for index in range(len(colors) - 1, -1, -1):  # backwards, so the first match is painted last
        r, g, b = colors[index]
        hit = keys == ((r << 16) | (g << 8) | b)
        classes[hit] = index
        known |= hit
    if not known.all():
        unknown = np.unique(keys[~known])[:5]
        raise ValueError(
            f"{where} has colours that belong to no label: {', '.join(f'#{int(v):06x}' for v in unknown)}"
        )
    return classes


def import_(path: Path) -> tuple[list[Label], list[ImageAnnotations]]:
    labels = load_labels(path / "labels.txt")
    colors = [(0, 0, 0)] + [label.color for label in labels]
    return labels, import_mask_folder(
        path, labels, lambda f: colors_to_classes(read_png(f, color=True), colors, str(f)))
