"""The JSON API blueprint (`/api`), as specified in docs/webui-api.md.

Errors are `{"error": "<one sentence>"}` with a 4xx status and nothing stored.
"""

import re
import tempfile
import zipfile
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request, send_file
from werkzeug.exceptions import HTTPException

from edgemask.runtime import shapes
from edgemask.webui import jsonbody
from edgemask.webui import labels as label_names
from edgemask.webui import objects as objs
from edgemask.webui import text as text_rule
from edgemask.webui.assist import ImageError
from edgemask.images import MAX_IMAGE_PIXELS
from edgemask.webui.budget import Busy, PixelBudget
from edgemask.webui.store import Conflict, Damaged, DiskFull, NotFound, StoreError, TooManyLabels, VersionConflict, check_box_runs
from edgemask.webui.wand import flood_fill

bp = Blueprint("api", __name__, url_prefix="/api")

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_LABEL_NAME = label_names.MAX_NAME_LENGTH


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra):
        super().__init__(message)
        self.status = status
        self.extra = extra


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return jsonify({"error": str(exc), **exc.extra}), exc.status


@bp.errorhandler(DiskFull)
def _disk_full(exc):
    return jsonify({"error": str(exc)}), 507


@bp.errorhandler(Damaged)
def _damaged(exc):
    return jsonify({"error": str(exc), "damaged": True}), 409


@bp.errorhandler(TooManyLabels)
def _too_many_labels(exc):
    return jsonify({"error": str(exc)}), 409


@bp.errorhandler(Busy)
def _busy(exc):
    return jsonify({"error": str(exc)}), 503


@bp.errorhandler(objs.Invalid)
def _invalid(exc):
    return jsonify({"error": str(exc)}), 400


@bp.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    """JSON errors for every /api path, also those that match no route."""
    if not request.path.startswith("/api/"):
        return exc
    messages = {404: "There is no such API endpoint or image.",
                405: "This method is not allowed on this endpoint.",
                413: "The request is too large."}
    return jsonify({"error": messages.get(exc.code, exc.description)}), exc.code


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    """A bug or an environment failure: logged with its traceback, answered as JSON."""
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    current_app.logger.exception("error in %s %s", request.method, request.path)
    return jsonify({"error": f"The server failed ({type(exc).__name__}: {exc}); see its console."}), 500


def _ctx():
    return current_app.extensions["edgemask"]


def _image(name: str):
    """(name, width, height) of a listed image, else 404."""
    folder = _ctx().folder
    if folder.path(name) is None:
        raise ApiError(404, f"There is no image named {name!r} in the images folder.")
    try:
        width, height = folder.size(name)
    except Exception as exc:  # noqa: BLE001 - any unreadable file: say why
        raise ApiError(415, f"The image {name!r} cannot be read: {objs.sentence(exc)}") from None
    return name, width, height


def _body() -> dict:
    try:
        body = jsonbody.parse(request.get_data(cache=True))
    except jsonbody.BadBody as exc:
        raise ApiError(400, str(exc)) from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


def _client(body: dict):
    """The optional "client" of a save: the page that sends it (see Store.save)."""
    client = body.get("client")
    if client is not None and (not isinstance(client, str) or not 1 <= len(client) <= 100):
        raise ApiError(400, "\"client\" must be a string of 1 to 100 characters naming the page.")
    if client is not None and text_rule.bad_character(client) is not None:
        raise ApiError(400, "\"client\" must be printable text naming the page.")
    return client


def _rgb(name: str):
    """The decoded pixels of a listed image, else 415 saying why they cannot be read."""
    try:
        return _ctx().folder.read_rgb(name)
    except (OSError, ValueError) as exc:
        raise ApiError(415, f"The image {name!r} cannot be read: {objs.sentence(exc)}") from None


def _label_id(label_id: int) -> int:
    if label_id > jsonbody.INT64_MAX:
        raise ApiError(404, f"There is no label with id {label_id}.")
    return label_id


# -- images --------------------------------------------------------------------------------
@bp.get("/images")
def list_images():
    from edgemask.webui import imagestatus

    ctx = _ctx()
    counts = ctx.store.object_counts()
    marked = imagestatus.marked(ctx.store)
    out, unreadable = [], []
    for name in ctx.folder.names():
        try:
            width, height = ctx.folder.size(name)
        except Exception as exc:  # noqa: BLE001 - not an image we can annotate: say why
            unreadable.append({"name": name, "error": objs.sentence(exc)})
            continue
        n = counts.get(name, 0)
        out.append({"name": name, "width": width, "height": height, "objects": n,
                    "status": imagestatus.effective(marked.get(name), n), "marked": marked.get(name)})
    return jsonify({"images": out, "total": len(out),
                    "annotated": sum(1 for i in out if i["objects"]),
                    "statuses": imagestatus.counts(i["status"] for i in out), "unreadable": unreadable})


@bp.get("/images/<path:name>/file")
def image_file(name):
    _image(name)
    return send_file(_ctx().folder.path(name), max_age=0)


@bp.get("/images/<path:name>/annotations")
def get_annotations(name):
    name, width, height = _image(name)
    record = _ctx().store.load(name)
    objects = [objs.object_to_json(o) for o in record.objects] if record else []
    return jsonify({"image": name, "width": width, "height": height,
                    "version": record.version if record else 0, "objects": objects})


def _expected_version(body: dict) -> int:
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ApiError(400, "\"version\" must be the integer version you loaded (0 for a new image).")
    return version


def _saved(save):
    """Runs a store save; its new version as JSON, a conflict as 409 and a refused change as 400."""
    try:
        return jsonify({"version": save()})
    except VersionConflict as exc:
        raise ApiError(409, str(exc), version=exc.stored) from None
    except (DiskFull, Damaged):
        raise
    except StoreError as exc:
        raise ApiError(400, str(exc)) from None


@bp.put("/images/<path:name>/annotations")
def put_annotations(name):
    name, width, height = _image(name)
    body = _body()
    version = _expected_version(body)
    raw = body.get("objects")
    if not isinstance(raw, list):
        raise ApiError(400, "\"objects\" must be a list of objects.")
    client = _client(body)
    store = _ctx().store
    label_ids = {label.id for label in store.labels()}
    parsed = [objs.parse_object(o, width, height, label_ids) for o in raw]
    return _saved(lambda: store.save(name, width, height, version, parsed, client=client))


@bp.patch("/images/<path:name>/annotations")
def patch_annotations(name):
    """Saves only what changed: objects added or replaced, attributes updated, objects deleted."""
    name, width, height = _image(name)
    body = _body()
    version = _expected_version(body)
    upsert, update, delete = (body.get(key, []) for key in ("upsert", "update", "delete"))
    for key, value in (("upsert", upsert), ("update", update), ("delete", delete)):
        if not isinstance(value, list):
            raise ApiError(400, f"\"{key}\" must be a list.")
    if not all(isinstance(oid, str) for oid in delete):
        raise ApiError(400, "\"delete\" must be a list of object ids.")
    client = _client(body)
    store = _ctx().store
    label_ids = {label.id for label in store.labels()}
    rows = [objs.parse_object(o, width, height, label_ids) for o in upsert]
    updates = [objs.parse_update(u, label_ids) for u in update]
    return _saved(lambda: store.save_changes(name, width, height, version, rows, updates, delete, client=client))


# -- labels --------------------------------------------------------------------------------
@bp.get("/labels")
def list_labels():
    return jsonify(_labels_json())


def _labels_json() -> dict:
    ctx = _ctx()
    labels = ctx.store.labels()
    return {"labels": [label.as_dict() for label in labels], "preset": ctx.preset_of(labels)}


@bp.post("/labels")
def add_label():
    body = _body()
    name = _label_name(body.get("name"))
    color = _label_color(body.get("color"))
    try:
        label = _ctx().store.add_label(name, color)
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    return jsonify(label.as_dict()), 201


@bp.put("/labels/<int:label_id>")
def update_label(label_id):
    body = _body()
    name = _label_name(body["name"]) if "name" in body else None
    color = _label_color(body["color"]) if "color" in body else None
    position = body.get("position")
    if position is not None and (not isinstance(position, int) or isinstance(position, bool) or position < 0):
        raise ApiError(400, "\"position\" must be a non-negative integer (0 = first label).")
    try:
        label = _ctx().store.update_label(_label_id(label_id), name=name, color=color, position=position)
    except NotFound as exc:
        raise ApiError(404, str(exc)) from None
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    return jsonify(label.as_dict())


@bp.delete("/labels/<int:label_id>")
def delete_label(label_id):
    """?objects=delete deletes the label's objects with it, ?objects=relabel&to=ID moves them."""
    from edgemask.webui import labeltools

    objects = request.args.get("objects")
    to = request.args.get("to")
    if to is not None:
        try:
            to = int(to)
        except ValueError:
            raise ApiError(400, "\"to\" must be a label id.") from None
    try:
        changed = labeltools.delete_label(_ctx().store, _label_id(label_id), objects, to)
    except ValueError as exc:
        raise ApiError(400, objs.sentence(exc)) from None
    except NotFound as exc:
        raise ApiError(404, str(exc)) from None
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    return jsonify({"deleted": label_id, "objects": changed["objects"], "images": changed["images"],
                    **_labels_json()})


def _label_name(value) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_LABEL_NAME:
        raise ApiError(400, f"A label needs a \"name\" of 1 to {MAX_LABEL_NAME} characters.")
    try:
        return label_names.check_name(value)
    except ValueError as exc:
        message = objs.sentence(exc)
        raise ApiError(400, message[:1].upper() + message[1:]) from None


def _label_color(value) -> str:
    if not isinstance(value, str) or not _COLOR.fullmatch(value):
        raise ApiError(400, "A label \"color\" must look like \"#rrggbb\".")
    return value.lower()


# -- AI wand -------------------------------------------------------------------------------
@bp.get("/model")
def model_info():
    assistant = _ctx().assistant
    return jsonify({"loaded": assistant.loaded, "name": assistant.name, "message": assistant.message})


# -- getting a model (download + export in the background) ---------------------------------
@bp.get("/models/choices")
def model_choices():
    from edgemask.export.get import choices, preferred_precision

    return jsonify({"choices": choices(), "precision": preferred_precision(),
                    "job": _ctx().model_getter.status()})


@bp.get("/models/get")
def model_get_status():
    return jsonify(_ctx().model_getter.status())


@bp.post("/models/get")
def model_get_start():
    from edgemask.export.get import CHOICES, PRECISIONS, preferred_precision

    from edgemask.webui import access

    if not access.is_trusted():
        raise ApiError(403, "Models can only be fetched from the computer the annotator runs on, "
                            "or with the access token in LAN mode.")
    body = _body()
    name = body.get("model")
    if name not in [c[0] for c in CHOICES]:
        raise ApiError(400, f"\"model\" must be one of: {', '.join(c[0] for c in CHOICES)}.")
    precision = body.get("precision") or preferred_precision()
    if precision not in PRECISIONS:
        raise ApiError(400, f"\"precision\" must be one of: {', '.join(PRECISIONS)}.")
    getter = _ctx().model_getter
    if not getter.start(name, precision):
        raise ApiError(409, "A model is being fetched and converted already; wait for it to end.")
    return jsonify(getter.status()), 202


def _assistant():
    assistant = _ctx().assistant
    if not assistant.loaded:
        raise ApiError(409, assistant.message)
    return assistant


@bp.post("/images/<path:name>/embedding")
def embedding(name):
    name, _, _ = _image(name)
    assistant = _assistant()
    folder = _ctx().folder
    names = folder.names()
    following = [n for n in names[names.index(name) + 1:][:PREFETCH_LOOKAHEAD] if _readable(folder, n)]
    try:
        ms, cached = assistant.embed(_ctx().folder, name, following)
    except (OSError, ValueError, ImageError) as exc:
        raise ApiError(415, f"The image {name!r} cannot be read: {objs.sentence(exc)}") from None
    return jsonify({"ready": True, "ms": round(ms, 2), "cached": cached})


PREFETCH_LOOKAHEAD = 8  # following files looked at for prefetch (unreadable ones are skipped)


def _readable(folder, name) -> bool:
    try:
        folder.size(name)
    except Exception:  # noqa: BLE001 - too large, broken: not worth encoding ahead
        return False
    return True


@bp.post("/images/<path:name>/predict")
def predict(name):
    name, width, height = _image(name)
    assistant = _assistant()
    body = _body()
    coords, labels = objs.parse_points(body.get("points"), width, height)
    box = objs.parse_box(body.get("box"), width, height)
    if not coords and box is None:
        raise ApiError(400, "Give at least one point or a box.")
    refine = body.get("refine", False)
    if not isinstance(refine, bool):
        raise ApiError(400, "\"refine\" must be true or false.")
    session = body.get("session", "")
    if not isinstance(session, str) or len(session) > 200:
        raise ApiError(400, "\"session\" must be a string of at most 200 characters.")
    try:
        mask, score, ms = assistant.predict(_ctx().folder, name, coords, labels, box, refine, session)
    except ImageError as exc:  # the image, not the prompt
        raise ApiError(415, f"The image {name!r} cannot be read: {objs.sentence(exc)}") from None
    except ValueError as exc:  # the runtime's own prompt checks
        raise ApiError(400, f"The model cannot use this prompt: {objs.sentence(exc)}") from None
    return jsonify(_mask_json(mask) | {"score": round(score, 4), "ms": round(ms, 2)})


@bp.post("/images/<path:name>/wand")
def wand(name):
    name, width, height = _image(name)
    body = _body()
    x, y, tol = body.get("x"), body.get("y"), body.get("tolerance", 32)
    if not all(objs._is_number(v) for v in (x, y, tol)):
        raise ApiError(400, "The wand needs numbers \"x\", \"y\" and \"tolerance\".")
    if not (0 <= x < width and 0 <= y < height):
        raise ApiError(400, f"The point ({x:g}, {y:g}) is outside the {width}x{height} image.")
    if not 0 <= tol <= 255:
        raise ApiError(400, "\"tolerance\" must be between 0 and 255.")
    rgb = _rgb(name)
    if rgb.shape[:2] != (height, width):
        raise ApiError(415, f"The image {name!r} decodes to a size other than its header says.")
    mask = flood_fill(rgb, int(x), int(y), int(round(tol)))
    return jsonify(_mask_json(mask))


@bp.post("/polygonize")
def polygonize():
    body = _body()
    tolerance = body.get("tolerance", 1.0)
    if not objs._is_number(tolerance) or not 0 <= tolerance <= 100:
        raise ApiError(400, "\"tolerance\" must be a number of pixels between 0 and 100.")
    raw = body.get("mask")
    from edgemask.webui.polygonize import polygonize as trace

    if isinstance(raw, dict):  # box-runs: only the box's own pixels are traced
        height, width = _polygonize_bounds(body.get("image"), raw.get("box"))
        try:
            check_box_runs(raw, height, width)  # Python integers: no int64 wrap-around
        except ValueError as exc:
            raise ApiError(400, f"The mask cannot be decoded: {objs.sentence(exc)}") from None
        x0, y0, x1, y1 = raw["box"]
        with DECODE_BUDGET.take((x1 - x0) * (y1 - y0)):
            try:
                (x0, y0, _, _), crop = shapes.box_runs_to_crop(raw, height, width)
            except (ValueError, TypeError) as exc:
                raise ApiError(400, f"The mask cannot be decoded: {objs.sentence(exc)}") from None
            answer = trace(crop, float(tolerance))
            del crop
        answer["polygons"] = [[[x + x0, y + y0] for x, y in ring] for ring in answer["polygons"]]
        return jsonify(answer)
    if not isinstance(raw, str) or not raw.startswith("data:image/png;base64,"):
        raise ApiError(400, "\"mask\" must be {\"box\", \"runs\"} or a data:image/png;base64 URL.")
    try:
        mask = shapes.png_data_url_to_mask(raw, max_pixels=MAX_IMAGE_PIXELS)
    except shapes.MaskSizeError as exc:
        raise ApiError(413, f"The mask is too large: {objs.sentence(exc)}") from None
    except ValueError as exc:
        raise ApiError(400, f"The mask cannot be decoded: {objs.sentence(exc)}") from None
    return jsonify(trace(mask, float(tolerance)))


MAX_MASK_PIXELS = MAX_IMAGE_PIXELS  # a mask without an image is bounded as an image is
DECODE_BUDGET = PixelBudget(MAX_IMAGE_PIXELS)  # pixels all polygonize requests decode at once


def _polygonize_bounds(image, box) -> tuple:
    """(height, width) a box-runs mask may fill: its image's when "image" names one, else its box's
    own ends, bounded by MAX_MASK_PIXELS."""
    if image is not None:
        if not isinstance(image, str):
            raise ApiError(400, "\"image\" must be the name of the image the mask belongs to.")
        _, width, height = _image(image)
        return height, width
    if not isinstance(box, list) or len(box) != 4 or not all(type(v) is int for v in box):
        raise ApiError(400, "The mask cannot be decoded: a mask's box must be 4 integers [x0, y0, x1, y1].")
    y1, x1 = max(box[3], 0), max(box[2], 0)
    if max(x1, 1) * max(y1, 1) > MAX_MASK_PIXELS:  # each side too: an empty box may not name 2**62 rows
        raise ApiError(400, f"The mask is too large: its box must end within {MAX_MASK_PIXELS} pixels of "
                            "the image's corner (send \"image\" to check it against its image).")
    return y1, x1


def _mask_json(mask) -> dict:
    value = shapes.mask_to_box_runs(mask)
    return {"mask": value, "bbox": list(value["box"]), "area": shapes.box_runs_area(value)}


# -- export --------------------------------------------------------------------------------
@bp.get("/export/<fmt>")
def export(fmt):
    """A zip of the annotations in a dataset format (without the image files, which the user
    has already; `edgemask dataset export` copies them too)."""
    from edgemask.webui import dataset, transfer

    if fmt not in dataset.FORMATS:
        raise ApiError(404, f"Unknown export format {fmt!r}; use one of: {', '.join(dataset.FORMATS)}.")
    ctx = _ctx()
    archive = tempfile.TemporaryFile(suffix=".zip")  # deleted when Flask closes it
    try:
        with tempfile.TemporaryDirectory(prefix="edgemask-export-") as tmp:
            out, plan, _ = transfer.export_store(ctx.store, ctx.folder, fmt, Path(tmp) / fmt, copy_images=False)
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
                for path in sorted(out.rglob("*")):
                    if path.is_file():
                        zf.write(path, path.relative_to(out).as_posix())
                if plan.left_out:
                    zf.writestr("left-out.txt", "".join(f"{n}\t{r}\n" for n, r in plan.left_out))
    except ValueError as exc:
        archive.close()
        raise ApiError(409, f"The annotations cannot be exported: {objs.sentence(exc)}") from None
    except BaseException:
        archive.close()
        raise
    archive.seek(0)
    stem = ctx.folder.root.name or "dataset"
    resp = send_file(archive, mimetype="application/zip", as_attachment=True,
                     download_name=f"{stem}-{fmt}.zip")
    resp.headers["X-Edgemask-Exported"] = str(len(plan.exported))
    resp.headers["X-Edgemask-Left-Out"] = str(len(plan.left_out))
    return resp


@bp.get("/export-plan")
def export_plan():
    """Which images an export writes, and which it leaves out and why."""
    from edgemask.webui import transfer

    ctx = _ctx()
    return jsonify(transfer.export_plan(ctx.store, ctx.folder).as_dict())


from edgemask.webui import workflow_api  # noqa: E402,F401  (status, thumbnails, label tools: same blueprint)
