"""The AI wand's routes: the model held, getting a model (download + export in the background),
an image's embedding (with prefetch of the following ones) and predict."""

from flask import jsonify

from edgemask.webui.ai.assistant import ImageError
from edgemask.webui.routes import bp, payloads
from edgemask.webui.routes.errors import ApiError, sentence
from edgemask.webui.routes.requests import _body, _ctx, _image


@bp.get("/model")
def model_info():
    assistant = _ctx().assistant
    return jsonify({"loaded": assistant.loaded, "name": assistant.name, "message": assistant.message,
                    "warning": assistant.warning})


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
        raise ApiError(415, f"The image {name!r} cannot be read: {sentence(exc)}") from None
    return jsonify({"ready": True, "ms": round(ms, 2), "cached": cached, "model_warning": assistant.warning})


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
    coords, labels = payloads.parse_points(body.get("points"), width, height)
    box = payloads.parse_box(body.get("box"), width, height)
    if not coords and box is None:
        raise ApiError(400, "Give at least one point or a box.")
    refine = body.get("refine", False)
    if not isinstance(refine, bool):
        raise ApiError(400, "\"refine\" must be true or false.")
    mask_format = body.get("mask_format", "runs")
    if mask_format not in payloads.MASK_FORMATS:
        raise ApiError(400, f"\"mask_format\" must be one of: {', '.join(payloads.MASK_FORMATS)}.")
    session = body.get("session", "")
    if not isinstance(session, str) or len(session) > 200:
        raise ApiError(400, "\"session\" must be a string of at most 200 characters.")
    try:
        mask, score, ms = assistant.predict(_ctx().folder, name, coords, labels, box, refine, session)
    except ImageError as exc:  # the image, not the prompt
        raise ApiError(415, f"The image {name!r} cannot be read: {sentence(exc)}") from None
    except ValueError as exc:  # the runtime's own prompt checks
        raise ApiError(400, f"The model cannot use this prompt: {sentence(exc)}") from None
    return jsonify(payloads.mask_answer(mask, mask_format) | {"score": round(score, 4), "ms": round(ms, 2)})
