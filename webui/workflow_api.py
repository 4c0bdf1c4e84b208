"""API routes of a dataset's workflow, on the one `api` blueprint (see docs/webui-api.md):
per-image status, thumbnails, the export plan's neighbours, label usage / import."""

from flask import Response, current_app, jsonify, request

from edgemask.webui import imagestatus
from edgemask.webui.api import ApiError, _body, _ctx, _image, _labels_json, bp
from edgemask.webui.thumbnails import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE, Thumbnails

MAX_LABEL_FILE = 1024 * 1024


@bp.put("/images/<path:name>/status")
def set_status(name):
    name, _, _ = _image(name)
    status = _body().get("status")
    if status not in imagestatus.STATUSES:
        raise ApiError(400, f"\"status\" must be one of: {', '.join(imagestatus.STATUSES)}.")
    store = _ctx().store
    imagestatus.set_status(store, name, status)
    return jsonify({"image": name, "status": status})


@bp.get("/images/<path:name>/thumbnail")
def thumbnail(name):
    name, _, _ = _image(name)
    size = request.args.get("size", DEFAULT_SIZE)
    try:
        size = int(size)
    except (TypeError, ValueError):
        size = -1
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ApiError(400, f"\"size\" must be a whole number of pixels from {MIN_SIZE} to {MAX_SIZE}.")
    thumbs = current_app.extensions.setdefault("edgemask-thumbnails", Thumbnails(_ctx().folder))
    try:
        data, tag = thumbs.get(name, size)
    except (OSError, ValueError):
        raise ApiError(415, f"The image {name!r} cannot be read.") from None
    resp = Response(data, mimetype="image/jpeg")
    resp.set_etag(tag)
    resp.cache_control.private = True
    resp.cache_control.max_age = 60
    return resp.make_conditional(request)


@bp.get("/labels/<int:label_id>/usage")
def label_usage(label_id):
    from edgemask.webui import labeltools
    from edgemask.webui.store import NotFound

    try:
        return jsonify(labeltools.usage(_ctx().store, label_id))
    except NotFound as exc:
        raise ApiError(404, str(exc)) from None


@bp.post("/labels/import")
def import_labels():
    """Adds the labels of a label file's text that the store lacks (names already there keep
    their colour and place)."""
    from edgemask.webui.labels import parse_labels

    text = _body().get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_LABEL_FILE:
        raise ApiError(400, "\"text\" must be the label file's text (one label a line, at most 1 MB).")
    try:
        labels = parse_labels(text)
    except ValueError as exc:
        raise ApiError(400, f"The label file cannot be read: {exc}.") from None
    if not labels:
        raise ApiError(400, "The label file has no labels.")
    store = _ctx().store
    known = {row.name for row in store.labels()}
    store.ensure_labels([(label.name, label.hex) for label in labels])
    added = [label.name for label in labels if label.name not in known]
    return jsonify({"added": added, **_labels_json()})
