"""/api/labels: list, add, rename / recolour / move, delete (with or without their objects),
usage counts and adding labels from a label file's text."""

import re

from flask import jsonify, request

from edgemask.webui.formats import labels as label_names
from edgemask.webui.routes import bp
from edgemask.webui.routes import jsonbody
from edgemask.webui.routes.errors import ApiError, sentence
from edgemask.webui.routes.requests import _body, _ctx
from edgemask.webui.store import Conflict, NotFound


_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_LABEL_NAME = label_names.MAX_NAME_LENGTH


def _label_id(label_id: int) -> int:
    if label_id > jsonbody.INT64_MAX:
        raise ApiError(404, f"There is no label with id {label_id}.")
    return label_id


@bp.get("/labels")
def list_labels():
    return jsonify(_labels_json())


def _labels_json() -> dict:
    ctx = _ctx()
    labels = ctx.store.labels()
    return {"labels": [label.as_dict() for label in labels], "preset": ctx.preset_of(labels),
            "next_color": label_names.next_color(label.color for label in labels)}


@bp.post("/labels")
def add_label():
    body = _body()
    name = _label_name(body.get("name"))
    store = _ctx().store
    # no colour given: one that stands apart from the labels' colours (label_names.next_color)
    color = _label_color(body["color"]) if body.get("color") is not None else \
        label_names.next_color(row.color for row in store.labels())
    try:
        label = store.add_label(name, color)
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
    from edgemask.webui.store import label_changes as labeltools

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
        raise ApiError(400, sentence(exc)) from None
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
        name = label_names.check_name(value)
    except ValueError as exc:
        message = sentence(exc)
        raise ApiError(400, message[:1].upper() + message[1:]) from None
    if label_names.is_background(name):
        raise ApiError(400, label_names.BACKGROUND_CLASH)
    return name


def _label_color(value) -> str:
    if not isinstance(value, str) or not _COLOR.fullmatch(value):
        raise ApiError(400, "A label \"color\" must look like \"#rrggbb\".")
    return value.lower()


MAX_LABEL_FILE = 1024 * 1024


@bp.get("/labels/<int:label_id>/usage")
def label_usage(label_id):
    from edgemask.webui.store import label_changes as labeltools
    from edgemask.webui.store import NotFound

    try:
        return jsonify(labeltools.usage(_ctx().store, label_id))
    except NotFound as exc:
        raise ApiError(404, str(exc)) from None


@bp.post("/labels/import")
def import_labels():
    """Adds the labels of a label file's text that the store lacks (names already there keep
    their colour and place)."""
    from edgemask.webui.formats.labels import parse_labels

    text = _body().get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_LABEL_FILE:
        raise ApiError(400, "\"text\" must be the label file's text (one label a line, at most 1 MB).")
    try:
        labels = parse_labels(text)
    except ValueError as exc:
        raise ApiError(400, f"The label file cannot be read: {exc}.") from None
    if not labels:
        raise ApiError(400, "The label file has no labels (a \"background\" line is class 0, not a label).")
    store = _ctx().store
    known = {row.name for row in store.labels()}
    store.ensure_labels([(label.name, label.hex) for label in labels])
    added = [label.name for label in labels if label.name not in known]
    return jsonify({"added": added, **_labels_json()})
