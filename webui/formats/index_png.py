"""index-png: one single-channel PNG per image whose pixels are class indices.

Layout: ``labels.txt`` (line i = name of class i, line 0 ``background``),
``masks/<image path with .png>``, and ``images/<image path>`` when images are included.
``dataset_meta.json`` names the classes again for datumaro, which reads the folder as its
``common_semantic_segmentation`` format.
"""

from pathlib import Path
from typing import Optional

from edgemask.webui.formats.labels import Label, format_labels, load_labels

from edgemask.webui.formats.model import ImageAnnotations, label_index, rasterize
from edgemask.webui.formats.files import (
    copy_images,
    import_mask_folder,
    output_paths,
    read_png,
    write_dataset_meta,
    write_png,
)

NAME = "index-png"  # --format and /api/export/<fmt>
TITLE = "class-index PNGs"


def export(images: list[ImageAnnotations], labels: list[Label], out_dir: Path,
           images_dir: Optional[Path] = None) -> Path:
    label_index(labels)  # a class index per label: refuses more than 255, before anything is written
    for ann, path in zip(images, output_paths(images, ".png")):
        write_png(out_dir / "masks" / path, rasterize(ann, labels))
    (out_dir / "labels.txt").write_text(format_labels(labels, with_colors=False), encoding="utf-8")
    write_dataset_meta(out_dir, labels)
    copy_images(images, images_dir, out_dir / "images")
    return out_dir


def import_(path: Path) -> tuple[list[Label], list[ImageAnnotations]]:
    labels = load_labels(path / "labels.txt")
    return labels, import_mask_folder(path, labels, _read_classes)


def _read_classes(mask_file: Path):
    classes = read_png(mask_file, color=False)
    if classes.dtype.itemsize != 1:
        raise ValueError(f"{mask_file} must be an 8-bit PNG")
    return classes
