"""/api/images: the list with statuses, an image's file, its workflow status and its thumbnail."""

from flask import Response, current_app, jsonify, request, send_file

from edgemask.webui.imaging.thumbnails import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE, Thumbnails
from edgemask.webui.routes import bp
from edgemask.webui.routes.errors import ApiError, sentence
from edgemask.webui.routes.requests import _body, _ctx, _image
from edgemask.webui.store import status as imagestatus


@bp.get("/images")
def list_images():
    ctx = _ctx()
    counts = ctx.store.object_counts()
    marked = imagestatus.marked(ctx.store)
    out, unreadable = [], []
    for name in ctx.folder.names():
        try:
            width, height = ctx.folder.size(name)
            problem = ctx.folder.problem(name, thorough=False)  # header and end marker: cheap
        except Exception as exc:  # noqa: BLE001 - not an image we can annotate: say why
            problem = sentence(exc)
        if problem:
            unreadable.append({"name": name, "error": problem})
            continue
        n = counts.get(name, 0)
        out.append({"name": name, "width": width, "height": height, "objects": n,
                    "status": imagestatus.effective(marked.get(name), n), "marked": marked.get(name)})
    return jsonify({"images": out, "total": len(out),
                    "annotated": sum(1 for i in out if i["objects"]),
                    "statuses": imagestatus.counts(i["status"] for i in out), "unreadable": unreadable})


@bp.get("/images/<path:name>/file")
def image_file(name):
    _image(name, decodes=False)
    return send_file(_ctx().folder.path(name), max_age=0)


@bp.put("/images/<path:name>/status")
def set_status(name):
    name, _, _ = _image(name, decodes=False)
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
