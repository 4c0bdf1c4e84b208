"""File I/O the formats share: PNG masks read and written, image files copied (upright), output
paths, datumaro's dataset_meta.json, and a folder of mask PNGs read back."""

import json
import shutil
from pathlib import Path, PurePosixPath
from typing import Any, Optional

import cv2
import numpy as np

from edgemask.webui.formats.labels import Label
from edgemask.webui.formats.limits import check_png_file
from edgemask.webui.formats.model import ImageAnnotations, check_name, objects_from_class_map


def write_png(path: Path, image: np.ndarray) -> None:
    """Writes a single-channel or RGB image as PNG, making parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    if not cv2.imwrite(str(path), pixels):
        raise ValueError(f"could not write {path}")


def write_dataset_meta(out_dir: Path, labels: list[Label]) -> None:
    """``dataset_meta.json``: class names by index (0: background) and their colours, as
    datumaro's ``common_semantic_segmentation`` format reads a folder of ``images/`` and
    ``masks/``."""
    names = ["background"] + [label.name for label in labels]
    colors = [[0, 0, 0]] + [list(label.color) for label in labels]
    meta = {"labels": names, "label_map": {str(i): name for i, name in enumerate(names)},
            "segmentation_colors": colors, "background_label": "0"}
    (out_dir / "dataset_meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")


def read_png(path: Path, color: bool) -> np.ndarray:
    """Reads a PNG as single-channel or RGB; ValueError if missing or unreadable."""
    check_png_file(path)  # the header's size, before decoding
    flag = cv2.IMREAD_COLOR if color else cv2.IMREAD_UNCHANGED
    image = cv2.imread(str(path), flag)
    if image is None:
        raise ValueError(f"cannot read image {path}")
    if color:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim != 2:
        raise ValueError(f"{path} must be a single-channel PNG")
    return image


def copy_images(images: list[ImageAnnotations], images_dir: Optional[Path], dest: Path) -> list[str]:
    """Copies each image file from ``images_dir`` to ``dest`` under the same relative path.

    The masks are drawn on the image as displayed (EXIF orientation applied), so an image whose
    EXIF orientation turns or mirrors it is written upright instead of copied (re-encoded, JPEG
    quality 95, orientation tag reset): a loader that ignores EXIF then still sees the image
    the mask belongs to. Returns the names of the images written upright."""
    if images_dir is None:
        return []
    turned = []
    for ann in images:
        source = Path(images_dir) / check_name(ann.name)
        if not source.is_file():
            raise ValueError(f"image file {source} does not exist")
        target = dest / check_name(ann.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if write_upright(source, target):
            turned.append(ann.name)
        else:
            shutil.copy2(source, target)
    return turned


_ORIENTATION = 0x0112


def write_upright(source: Path, target: Path) -> bool:
    """Writes ``source`` with its EXIF orientation applied to ``target`` (same format) and
    returns True; returns False, writing nothing, when the image is upright already."""
    from PIL import Image, ImageOps

    with Image.open(source) as im:
        try:
            exif = im.getexif()
            orientation = exif.get(_ORIENTATION, 1)
        except Exception:  # unreadable EXIF: browsers show it as stored, so do we
            return False
        if orientation in (None, 1) or not 2 <= int(orientation) <= 8:
            return False
        fmt = im.format
        upright = ImageOps.exif_transpose(im)
        exif[_ORIENTATION] = 1
        options = {"exif": exif.tobytes()}
        if fmt == "JPEG":
            options.update(quality=95, subsampling=0)
            icc = im.info.get("icc_profile")
            if icc:
                options["icc_profile"] = icc
        upright.save(target, format=fmt, **options)
    return True


def with_suffix(name: str, suffix: str) -> PurePosixPath:
    """``dir/img.jpg`` -> ``dir/img<suffix>``."""
    path = check_name(name)
    return path.with_suffix(suffix) if path.suffix else path.with_name(path.name + suffix)


def output_paths(images: list[ImageAnnotations], suffix: str) -> list[PurePosixPath]:
    """Per image, its name with ``suffix``; ValueError when two images would collide."""
    paths = [with_suffix(ann.name, suffix) for ann in images]
    seen: dict[PurePosixPath, str] = {}
    for ann, path in zip(images, paths):
        if path in seen:
            raise ValueError(f"images {seen[path]!r} and {ann.name!r} would both be written as {path}")
        seen[path] = ann.name
    return paths


def require_keys(obj: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(obj, dict):
        raise ValueError(f"{where} must be an object")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise ValueError(f"{where} lacks {', '.join(missing)}")


def image_name_for(mask_path: PurePosixPath, images_root: Path) -> str:
    """The image next to a mask: same relative path and stem under ``images_root`` if one
    exists there, else the mask's own relative path."""
    folder = images_root / mask_path.parent
    if folder.is_dir():
        for candidate in sorted(folder.glob(mask_path.stem + ".*")):
            if candidate.is_file() and candidate.stem == mask_path.stem:
                return str(mask_path.with_name(candidate.name))
    return str(mask_path)


def import_mask_folder(path: Path, labels: list[Label], read_classes) -> list[ImageAnnotations]:
    """The images of a `masks/` folder of PNGs (index-png, color-png): `read_classes(file)` gives a
    file's HxW class map; one mask object per class present."""
    masks_dir = path / "masks"
    if not masks_dir.is_dir():
        raise ValueError(f"{path} has no masks/ folder")
    images = []
    for mask_file in sorted(masks_dir.rglob("*.png")):
        rel = PurePosixPath(mask_file.relative_to(masks_dir).as_posix())
        classes = read_classes(mask_file)
        h, w = classes.shape
        objects = objects_from_class_map(classes, labels, str(mask_file))
        images.append(ImageAnnotations(image_name_for(rel, path / "images"), w, h, objects))
    return images
