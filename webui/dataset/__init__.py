"""Dataset export and import: annotated images as plain data in, dataset files out, and back.

Formats: index-png, color-png, cvat-mask (CVAT "Segmentation mask 1.1"), coco (COCO 1.0
instances JSON), cvat-xml (CVAT for images 1.1). Class index of a label = position + 1.
"""

from pathlib import Path
from typing import Optional

from edgemask.webui.labels import Label

from . import color_png, coco, cvat_mask, cvat_xml, index_png
from .annotations import ImageAnnotations, rasterize, validate

FORMATS = ("index-png", "color-png", "cvat-mask", "coco", "cvat-xml")

_MODULES = {
    "index-png": index_png,
    "color-png": color_png,
    "cvat-mask": cvat_mask,
    "coco": coco,
    "cvat-xml": cvat_xml,
}

__all__ = ["FORMATS", "ImageAnnotations", "export_dataset", "import_dataset", "rasterize", "validate"]


def _module(fmt: str):
    if fmt not in _MODULES:
        raise ValueError(f"unknown dataset format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return _MODULES[fmt]


def export_dataset(images: list[ImageAnnotations], labels: list[Label], fmt: str, out_dir: Path,
                   images_dir: Optional[Path] = None) -> Path:
    """Writes the annotations of ``images`` in format ``fmt`` into ``out_dir`` (created if
    needed) and returns it. With ``images_dir``, the image files are copied in as well.
    Raises ValueError on an unknown format or malformed annotations (nothing is validated
    half-way: every image is checked before a file is written)."""
    module = _module(fmt)
    names = [label.name for label in labels]
    if len(set(names)) != len(names):
        raise ValueError("label names must be unique")
    for ann in images:
        validate(ann, labels)
    seen = set()
    for ann in images:
        if ann.name in seen:
            raise ValueError(f"image {ann.name!r} is listed twice")
        seen.add(ann.name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return module.export(images, labels, out_dir, Path(images_dir) if images_dir else None)


def import_dataset(fmt: str, path: Path) -> tuple[list[Label], list[ImageAnnotations]]:
    """Reads a dataset written in format ``fmt`` (a folder, or for coco / cvat-xml also the
    JSON / XML file itself): its labels and its images' annotations as plain data.
    Raises ValueError on an unknown format or malformed files."""
    module = _module(fmt)
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    return module.import_(path)
