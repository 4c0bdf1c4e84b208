"""What the routes share: the app's context, a listed image by name, the request's JSON body
(read strictly, routes/jsonbody.py) and its "client", an image's pixels, a mask's JSON answer."""

from flask import current_app, request

from edgemask.runtime import shapes
from edgemask.webui import text as text_rule
from edgemask.webui.routes import jsonbody
from edgemask.webui.routes.errors import ApiError, sentence


def _ctx():
    return current_app.extensions["edgemask"]


def _image(name: str, decodes: bool = True):
    """(name, width, height) of a listed image, else 404; 415 saying why when it cannot be read
    (with `decodes`, also when its pixels do not decode whole: a truncated file)."""
    folder = _ctx().folder
    if folder.path(name) is None:
        raise ApiError(404, f"There is no image named {name!r} in the images folder.")
    try:
        width, height = folder.size(name)
        problem = folder.problem(name) if decodes else None
    except Exception as exc:  # noqa: BLE001 - any unreadable file: say why
        raise ApiError(415, f"The image {name!r} cannot be read: {sentence(exc)}") from None
    if problem:
        raise ApiError(415, f"The image {name!r} cannot be read: {sentence(problem)}")
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
        raise ApiError(415, f"The image {name!r} cannot be read: {sentence(exc)}") from None


def _mask_json(mask) -> dict:
    value = shapes.mask_to_box_runs(mask)
    return {"mask": value, "bbox": list(value["box"]), "area": shapes.box_runs_area(value)}
