"""/api/images/<name>/propagate: Propagate the image's objects forward through the next K images of the
folder (edgemask.webui.ai.propagation_jobs): start (202), poll, cancel. The objects it writes carry
"propagated": <source image> in the image's annotations until edited (edgemask.webui.store.propagated)."""

import threading

from flask import current_app, jsonify

from edgemask.webui.ai.propagation_jobs import PropagationJobs, Refused, parameters
from edgemask.webui.routes import bp
from edgemask.webui.routes.errors import ApiError, sentence
from edgemask.webui.routes.requests import _body, _ctx, _image

_jobs_lock = threading.Lock()


def _jobs() -> PropagationJobs:
    with _jobs_lock:
        jobs = current_app.extensions.get("edgemask_propagation")
        if jobs is None:
            jobs = current_app.extensions["edgemask_propagation"] = PropagationJobs()
        return jobs


@bp.post("/images/<path:name>/propagate")
def start_propagation(name):
    """Body {"k": images after this one (default 5), "min_score": an object stops at or below this object
    score (default 0)}."""
    name, _, _ = _image(name)
    ctx = _ctx()
    if not ctx.assistant.loaded:
        raise ApiError(409, f"Propagate needs a SAM 2.1 model with its video parts. {ctx.assistant.message}")
    try:
        k, min_score = parameters(_body())
        status = _jobs().start(ctx.assistant, ctx.folder, ctx.store, name, k, min_score)
    except Refused as exc:
        raise ApiError(400, sentence(exc)) from None
    except (OSError, ValueError) as exc:
        raise ApiError(415, f"The images cannot be read: {sentence(exc)}") from None
    if status is None:
        raise ApiError(409, f"Propagation from {_jobs().status()['image']!r} is running; wait for it or cancel it.")
    return jsonify(status), 202


@bp.get("/images/<path:name>/propagate")
def propagation_job(name):
    name, _, _ = _image(name, decodes=False)
    return jsonify(_jobs().status(name))


@bp.post("/images/<path:name>/propagate/cancel")
def cancel_propagation(name):
    name, _, _ = _image(name, decodes=False)
    return jsonify(_jobs().cancel(name))
