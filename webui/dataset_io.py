"""Between the store and dataset files (edgemask.webui.formats): export what is stored, import a dataset into it.

An image is exported when it has objects, or when it is marked done with none (that says "all
background"; semantic datasets need those). Every other image is left out, and the export says
which and why: not started, no objects and not marked done, marked skipped, gone from the folder,
or unreadable (its pixels do not decode whole, e.g. a truncated JPEG; its file is not copied).
"""

import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from edgemask.images import exif_orientation
from edgemask.runtime import shapes
from edgemask.webui import formats
from edgemask.webui import text as text_rule
from edgemask.webui.formats.labels import Label, is_background, parse_color
from edgemask.webui.formats.labels import check_name as check_label_name
from edgemask.webui.formats.model import extras
from edgemask.webui.store import Damaged, ObjectRow, polygon_bbox
from edgemask.webui.store import status as imagestatus

IMPORT_FORMATS = formats.FORMATS
FILE_FORMATS = formats.FILE_FORMATS  # the others are folders


def store_labels(store) -> list:
    """The store's labels as dataset Labels, in class order."""
    return [Label(export_name(row), parse_color(row.color)) for row in store.labels()]


def export_name(row) -> str:
    """A stored label's name in exports. One named "background" (a store made before that name
    was refused) is written "background (class N)", so class 0 is the only "background"."""
    name = text_rule.clean(row.name, line_breaks=False)
    return f"{name} (class {row.index})" if is_background(name) else name


@dataclass
class ExportPlan:
    """Which images an export writes, and which it leaves out with the reason."""

    exported: list = field(default_factory=list)   # image names
    left_out: list = field(default_factory=list)   # (image name, reason)

    def as_dict(self) -> dict:
        return {"exported": self.exported,
                "left_out": [{"name": n, "reason": r} for n, r in self.left_out]}

    def summary(self, limit: int = 10) -> str:
        """One line per left-out reason, with up to `limit` names each."""
        by_reason = {}
        for name, reason in self.left_out:
            by_reason.setdefault(reason, []).append(name)
        lines = []
        for reason, names in by_reason.items():
            shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
            lines.append(f"left out {len(names)} ({reason}): {shown}")
        return "\n".join(lines)


def export_plan(store, folder) -> ExportPlan:
    """What an export of the store would write, by image name."""
    present = folder.names()
    counts = store.object_counts()
    marked = imagestatus.marked(store)
    saved = set(store.image_names())
    plan = ExportPlan()
    for name in present:
        status, n = marked.get(name), counts.get(name, 0)
        problem = _problem(folder, name, thorough=bool(n) or status == "done")
        if problem:  # never exported, and its file is never copied
            plan.left_out.append((name, f"unreadable: {problem.rstrip('.')}"))
        elif status == "skipped":
            plan.left_out.append((name, "marked skipped"))
        elif n or status == "done":
            plan.exported.append(name)
        elif name in marked or name in saved:
            plan.left_out.append((name, "no objects and not marked done"))
        else:
            plan.left_out.append((name, "not annotated yet"))
    gone = sorted((set(counts) | {n for n, s in marked.items() if s == "done"}) - set(present))
    plan.left_out += [(name, "not in the images folder any more") for name in gone]
    return plan


def _problem(folder, name, thorough):
    """Why an image of the folder cannot be read (see ImageFolder.problem), or None."""
    try:
        return folder.problem(name, thorough=thorough)
    except Exception as exc:  # noqa: BLE001 - gone or unreadable since it was listed
        return str(exc) or type(exc).__name__


def stored_annotations(store, folder, progress: bool = False, plan: ExportPlan = None) -> list:
    """ImageAnnotations of the images an export writes (see export_plan), by name."""
    plan = plan or export_plan(store, folder)
    names_by_id = {row.id: export_name(row) for row in store.labels()}
    out = []
    for name in tqdm(list(plan.exported), desc="reading annotations", unit="image", disable=not progress):
        try:
            record = store.load(name)
        except Damaged as exc:  # left out, saying why; the rest is exported
            plan.exported.remove(name)
            plan.left_out.append((name, f"damaged in the store: {exc}"))
            continue
        if record is None:  # marked done, never saved: all background
            width, height = folder.size(name)
            out.append(formats.ImageAnnotations(name, width, height, []))
            continue
        objects = []
        for o in record.objects:
            obj = {"label": names_by_id[o.label_id], "kind": o.kind, "z": o.z,
                   "occluded": o.occluded, "group": o.group, "attributes": _cleaned(o.attributes)}
            if o.kind == "polygon":
                obj["polygon"] = o.polygon
            else:
                obj["rle"] = shapes.box_runs_to_rle(o.mask, record.height, record.width)
            objects.append(obj)
        out.append(formats.ImageAnnotations(name, record.width, record.height, objects))
    return out


def _cleaned(attributes: dict) -> dict:
    """Stored attributes as the text rule allows them (an older database may hold any text)."""
    return {text_rule.clean(k, line_breaks=False): text_rule.clean(v) if isinstance(v, str) else v
            for k, v in attributes.items()}


def export_store(store, folder, fmt: str, out_dir, progress: bool = False, copy_images: bool = True) -> tuple:
    """Writes the annotations as dataset `fmt` into out_dir (with the image files unless
    copy_images is False), and left-out.txt naming the images left out and why. Returns
    (out_dir, ExportPlan, names of images written upright because
    of their EXIF orientation). ValueError on an unknown format."""
    if fmt not in formats.FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(formats.FORMATS)}")
    plan = export_plan(store, folder)
    images = stored_annotations(store, folder, progress, plan)
    turned = [a.name for a in images if copy_images and exif_orientation(folder.path(a.name)) != 1]
    out = formats.export_dataset(images, store_labels(store), fmt, Path(out_dir),
                                 images_dir=folder.root if copy_images else None)
    write_left_out(Path(out_dir), plan)
    return out, plan, turned


LEFT_OUT_FILE = "left-out.txt"


def write_left_out(out_dir: Path, plan: ExportPlan) -> None:
    """`left-out.txt` in out_dir: one "name<TAB>reason" line per image left out (none: no file)."""
    path = out_dir / LEFT_OUT_FILE
    if plan.left_out:
        path.write_text("".join(f"{n}\t{r}\n" for n, r in plan.left_out), encoding="utf-8")
    elif path.is_file():
        path.unlink()


def import_file(store, folder, fmt: str, path, replace: bool = False, progress: bool = False) -> dict:
    """Adds the annotations of a dataset (a COCO JSON, a CVAT XML, or a cvat-mask, index-png or
    color-png folder) to the store in one transaction.

    Labels the store lacks are added. Images are matched by their path relative to the folder,
    else by file name when that is unique in the folder, else by path without extension (mask
    folders name their PNGs after the images); a name that matches no image, or an image whose
    size differs, refuses the whole import (ValueError, nothing stored). Objects are added above
    the existing ones in the file's painting order, or replace them with `replace`. An image
    listed with no objects is marked done (all background) unless it has a status already.
    Returns {"images": n, "objects": n, "kinds": {"polygon": n, "mask": n},
    "skipped": {shape: n}, "labels_added": [names]}."""
    if fmt not in IMPORT_FORMATS:
        raise ValueError(f"import reads {', '.join(IMPORT_FORMATS)}, not {fmt!r}")
    if not Path(path).exists():
        raise ValueError(f"{path} does not exist")
    if fmt in FILE_FORMATS:  # mask folders: each PNG's header is checked before it is decoded
        check_declared_images(formats.declared_images(fmt, path), folder)
    labels, images = formats.import_dataset(fmt, Path(path))
    labels, images = _background_as_class_0(labels, images)
    for label in labels:
        try:
            check_label_name(label.name)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    matched = match_names([ann.name for ann in images], folder)
    for ann in images:
        width, height = folder.size(matched[ann.name])
        if ann.width is None or ann.height is None:  # the dataset does not say (no mask PNG)
            ann.width, ann.height = width, height
        elif (width, height) != (int(ann.width), int(ann.height)):
            raise ValueError(f"{ann.name} is {ann.width}x{ann.height} in the file but "
                             f"{matched[ann.name]} is {width}x{height} in the images folder")
        formats.validate(ann, labels)
    known = {row.name for row in store.labels()}
    items, kinds, skipped = [], {"polygon": 0, "mask": 0}, {}
    for ann in tqdm(images, desc="importing", unit="image", disable=not progress):
        pairs = [(obj["label"], _object_row(obj, ann.width, ann.height)) for obj in ann.objects]
        for _, row in pairs:
            kinds[row.kind] += 1
        for shape, n in ann.skipped.items():
            skipped[shape] = skipped.get(shape, 0) + n
        items.append((matched[ann.name], ann.width, ann.height, pairs))
    added = [label.name for label in labels if label.name not in known]
    store.add_objects([(label.name, label.hex) for label in labels], items, replace=replace)
    marked = imagestatus.marked(store)
    for name, _, _, pairs in items:  # listed without objects: the file says "all background"
        if not pairs and name not in marked:
            imagestatus.set_status(store, name, "done")
    return {"images": len(items), "objects": sum(kinds.values()), "kinds": kinds,
            "skipped": skipped, "labels_added": added}


def _background_as_class_0(labels, images) -> tuple:
    """A dataset label named "background" is class 0 here: it becomes no label, and its objects
    (which cover what no object covers) are counted in the image's skipped shapes, not stored."""
    if not any(is_background(label.name) for label in labels):
        return labels, images
    for ann in images:
        kept = [obj for obj in ann.objects if not is_background(obj["label"])]
        if len(kept) != len(ann.objects):
            ann.skipped = {**ann.skipped, BACKGROUND_SKIPPED: len(ann.objects) - len(kept)}
            ann.objects = kept
    return [label for label in labels if not is_background(label.name)], images


BACKGROUND_SKIPPED = "labelled background (class 0)"


def check_declared_images(declared, folder) -> None:
    """Refuses (ValueError) a file whose [(name, width, height)] are not images of the folder
    with those sizes: checked before any of its masks is decoded."""
    matched = match_names([name for name, _, _ in declared], folder)
    for name, width, height in declared:
        try:
            real = folder.size(matched[name])
        except Exception as exc:  # noqa: BLE001 - an unreadable image refuses the import
            raise ValueError(f"{matched[name]} in {folder.root} cannot be read: {exc}") from None
        if real != (int(width), int(height)):
            raise ValueError(f"{name} is {width}x{height} in the file but {matched[name]} is "
                             f"{real[0]}x{real[1]} in the images folder")


def match_names(names, folder) -> dict:
    """{name in the file: image name in the folder}; ValueError listing names it cannot match."""
    listed = folder.names()
    exact = set(listed)
    by_file, by_stem = {}, {}
    for name in listed:
        by_file.setdefault(PurePosixPath(name).name, []).append(name)
        by_stem.setdefault(str(PurePosixPath(name).with_suffix("")), []).append(name)
    matched, missing, ambiguous = {}, [], []
    for name in names:
        clean = name.replace("\\", "/").lstrip("./")
        if clean in exact:
            matched[name] = clean
            continue
        candidates = by_file.get(PurePosixPath(clean).name, []) \
            or by_stem.get(str(PurePosixPath(clean).with_suffix("")), [])
        if len(candidates) == 1:
            matched[name] = candidates[0]
        elif candidates:
            ambiguous.append(name)
        else:
            missing.append(name)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ValueError(f"{len(missing)} image(s) of the file are not in {folder.root}: {shown}")
    if ambiguous:
        raise ValueError(f"several images in {folder.root} are named like {ambiguous[0]}; "
                         "give the file paths relative to the images folder")
    targets = list(matched.values())
    if len(set(targets)) != len(targets):
        twice = next(t for t in targets if targets.count(t) > 1)
        raise ValueError(f"the file has two entries for the image {twice}")
    return matched


def _object_row(obj: dict, width: int, height: int) -> ObjectRow:
    """The stored form of an imported object. A polygon that reaches outside the image (a
    rotated box at its edge) is stored as the mask of its pixels inside, which the editor
    paints the same; moving its points onto the border would change the shape."""
    oid = uuid.uuid4().hex
    common = {"id": oid, "label_id": None, "z": int(obj.get("z", 0)),
              **extras(obj)}
    if obj["kind"] == "polygon":
        polygon = [[float(x), float(y)] for x, y in obj["polygon"]]
        if all(0 <= x <= width and 0 <= y <= height for x, y in polygon):
            return ObjectRow(kind="polygon", polygon=polygon,
                             bbox=polygon_bbox(polygon, width, height), **common)
        value = shapes.mask_to_box_runs(shapes.polygons_to_mask([polygon], height, width))
    else:
        value = shapes.rle_to_box_runs(obj["rle"])
    return ObjectRow(kind="mask", mask=value, bbox=list(value["box"]), **common)

