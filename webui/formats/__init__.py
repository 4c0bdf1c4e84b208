"""Dataset formats: annotated images as plain data in, dataset files out, and back.

One module per format, each with NAME (what `--format` and /api/export/<fmt> take), TITLE,
export(images, labels, out_dir, images_dir) and import_(path); a format whose annotations are one
file (COCO JSON, CVAT XML) also has declared_images(path), which reads only the images' names and
sizes. The registry below is built from those modules. The annotation model is model.py, the file
I/O the formats share files.py, the checks made before decoding limits.py, label sets labels.py.
Class index of a label = position + 1.
"""

from pathlib import Path
from typing import Optional

from edgemask.webui.formats import coco, color_png, cvat_mask, cvat_xml, index_png
from edgemask.webui.formats.labels import Label
from edgemask.webui.formats.model import ImageAnnotations, rasterize, validate

MODULES = (index_png, color_png, cvat_mask, coco, cvat_xml)
REGISTRY = {module.NAME: module for module in MODULES}
FORMATS = tuple(REGISTRY)
FILE_FORMATS = tuple(name for name, module in REGISTRY.items() if hasattr(module, "declared_images"))

__all__ = ["FORMATS", "FILE_FORMATS", "REGISTRY", "ImageAnnotations", "declared_images", "export_dataset",
           "import_dataset", "rasterize", "validate"]


def _module(fmt: str):
    if fmt not in REGISTRY:
        raise ValueError(f"unknown dataset format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return REGISTRY[fmt]


def listed(names=FORMATS) -> str:
    """"a, b or c" for help texts."""
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


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


def declared_images(fmt: str, path: Path) -> list:
    """[(name, width, height)] that a single-file format's file declares (FILE_FORMATS), read
    without looking at its annotations. ValueError on a file that cannot be read that far."""
    module = _module(fmt)
    if not hasattr(module, "declared_images"):
        raise ValueError(f"no declared-image reader for {fmt!r}")
    return module.declared_images(Path(path))
