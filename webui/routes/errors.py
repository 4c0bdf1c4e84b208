"""The API's errors: ApiError (a status and one sentence), the handlers that answer every error of
an /api path as `{"error": ...}` JSON, and `sentence()` for an exception's message."""

from flask import current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from edgemask.webui.budget import Busy
from edgemask.webui.routes import bp
from edgemask.webui.store import Damaged, DiskFull, TooManyLabels


class Invalid(ValueError):
    """A request body that cannot be used: the message is one sentence for the user."""


def sentence(exc) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if text.endswith(".") else text + "."


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


@bp.errorhandler(Invalid)
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
