"""/api/images/<name>/proposals: pre-labelling. Compute an image's proposals in the background (progress
polled at .../proposals/job), list them, accept one, those inside a box or all remaining (new objects of a
label, on top), reject one. Proposals are stored apart from the objects and never exported."""

import threading

from flask import current_app, jsonify

from edgemask.webui.ai.proposal_jobs import ProposalJobs, parameters
from edgemask.webui.routes import bp, payloads
from edgemask.webui.routes.annotations import _expected_version
from edgemask.webui.routes.errors import ApiError, sentence
from edgemask.webui.routes.requests import _body, _client, _ctx, _image
from edgemask.webui.store import NotFound, StoreError, VersionConflict
from edgemask.webui.store import proposals as stored

_jobs_lock = threading.Lock()


def _jobs() -> ProposalJobs:
    with _jobs_lock:
        jobs = current_app.extensions.get("edgemask_proposals")
        if jobs is None:
            from edgemask import paths

            jobs = ProposalJobs([current_app.config.get("CACHE_DIR"), paths.embeddings_dir()])
            current_app.extensions["edgemask_proposals"] = jobs
        return jobs


def _current(name):
    ctx = _ctx()
    try:
        return _jobs().current(ctx.assistant, ctx.folder, ctx.store, name)
    except (OSError, ValueError) as exc:
        raise ApiError(415, f"The image {name!r} cannot be read: {sentence(exc)}") from None


@bp.post("/images/<path:name>/proposals")
def compute_proposals(name):
    name, _, _ = _image(name)
    ctx = _ctx()
    if not ctx.assistant.loaded:
        raise ApiError(409, f"Pre-labelling needs a model. {ctx.assistant.message}")
    try:
        params = parameters(_body())
        status = _jobs().start(ctx.assistant, ctx.folder, ctx.store, name, params)
    except ValueError as exc:
        raise ApiError(400, sentence(exc)) from None
    if status is None:
        raise ApiError(409, f"Proposals are being computed for {_jobs().running_image()!r}; wait for them to end.")
    return jsonify(status), 202


@bp.get("/images/<path:name>/proposals/job")
def proposals_job(name):
    name, _, _ = _image(name)
    return jsonify(_jobs().status(name))


@bp.get("/images/<path:name>/proposals")
def list_proposals(name):
    name, width, height = _image(name)
    held = _current(name)
    answer = {"image": name, "width": width, "height": height, "job": _jobs().status(name), "proposals": [],
              "counts": {"open": 0, "accepted": 0, "rejected": 0}, "model": None, "params": None, "source": None}
    if held is not None:
        for p in held.proposals:
            answer["counts"][p.state] += 1
        answer.update(model=held.model, params=held.params, source=held.source, created=held.created,
                      proposals=[_proposal_json(p) for p in held.proposals if p.state == "open"])
    return jsonify(answer)


def _proposal_json(p) -> dict:
    out = p.as_dict()
    del out["state"], out["object_id"]
    return out


@bp.post("/images/<path:name>/proposals/<int:proposal_id>/accept")
def accept_proposal(name, proposal_id):
    return _accept(name, lambda held, w, h: [proposal_id])


@bp.post("/images/<path:name>/proposals/accept")
def accept_proposals(name):
    """Accepts the open proposals inside `box` ([x0, y0, x1, y1], each proposal's box within it), or all
    of them with `"all": true`."""

    def chosen(held, width, height):
        body = _body()
        box = payloads.parse_box(body.get("box"), width, height)
        everything = body.get("all", False)
        if not isinstance(everything, bool):
            raise ApiError(400, "\"all\" must be true or false.")
        if (box is None) == (not everything):
            raise ApiError(400, "Give either a \"box\" to accept the proposals inside it, or \"all\": true.")
        open_ones = [p for p in held.proposals if p.state == "open"]
        if box is None:
            return [p.id for p in open_ones]
        return [p.id for p in open_ones if _inside(p.mask["box"], box)]

    return _accept(name, chosen)


def _inside(inner, outer) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def _accept(name, choose):
    name, width, height = _image(name)
    body = _body()
    version = _expected_version(body)
    label_id = body.get("label_id")
    if not isinstance(label_id, int) or isinstance(label_id, bool):
        raise ApiError(400, "\"label_id\" must be the id of the label the new objects get.")
    client = _client(body)
    store = _ctx().store
    held = _current(name)
    if held is None:
        raise ApiError(404, f"The image {name!r} has no proposals; compute them first (Pre-label).")
    ids = choose(held, width, height)
    if not ids:
        return jsonify({"version": version, "objects": [], "accepted": []})
    try:
        new_version, rows = stored.accept(store, name, width, height, ids, label_id, version, client)
    except VersionConflict as exc:
        raise ApiError(409, str(exc), version=exc.stored) from None
    except NotFound as exc:
        raise ApiError(404, str(exc)) from None
    except StoreError as exc:
        raise ApiError(400, sentence(exc)) from None
    return jsonify({"version": new_version, "objects": [payloads.object_to_json(o) for o in rows], "accepted": ids})


@bp.post("/images/<path:name>/proposals/<int:proposal_id>/reject")
def reject_proposal(name, proposal_id):
    name, _, _ = _image(name)
    if _current(name) is None:
        raise ApiError(404, f"The image {name!r} has no proposals; compute them first (Pre-label).")
    try:
        stored.reject(_ctx().store, name, proposal_id)
    except NotFound as exc:
        raise ApiError(404, str(exc)) from None
    return jsonify({"rejected": proposal_id})
