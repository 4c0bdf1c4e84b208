"""Who may use the annotator, decided before any route runs.

Two modes, chosen by the address the server listens on (not by the peer's address, which a
proxy or a port forward can make look local):
- loopback (`LOCAL_ONLY`): no token; only requests addressed to localhost / 127.0.0.1 / [::1]
  are answered, so a web page elsewhere cannot reach the API through DNS rebinding;
- LAN (`ACCESS_TOKEN` set, what `edgemask serve --host 0.0.0.0` does): every request needs the
  token, as `Authorization: Bearer TOKEN`, as the `token` cookie, or once as `?token=TOKEN`
  in the link (which sets the cookie: HttpOnly, SameSite=Strict). Without it: 401.

In both modes a state-changing request (POST, PUT, PATCH, DELETE) must be JSON or carry the
`X-Edgemask` header: a cross-site form or text/plain POST cannot send either without the
browser asking first (CORS preflight, which this server never grants), so another site cannot
make the server save, delete or run the encoder.
"""

import hmac
import secrets

from flask import Flask, g, jsonify, request

LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
COOKIE = "edgemask_token"
HEADER = "X-Edgemask"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
LOOPBACK_PEERS = ("127.0.0.1", "::1")


def new_token() -> str:
    """A fresh access token (URL-safe, 192 bits)."""
    return secrets.token_urlsafe(24)


def init_app(app: Flask) -> None:
    """Installs the checks for app.config's LOCAL_ONLY and ACCESS_TOKEN."""
    token = app.config.get("ACCESS_TOKEN")
    if token is not None and (not isinstance(token, str) or len(token) < 16):
        raise ValueError("the access token must be a string of at least 16 characters")

    @app.before_request
    def _check_access():
        if token is not None:
            if not _token_ok(token):
                return _refuse(401, "This annotator needs its access token: open the link with "
                                    "?token=... that `edgemask serve` printed.")
        elif app.config.get("LOCAL_ONLY") and _host_name() not in LOCAL_HOSTS:
            return _refuse(403, "This annotator only answers requests addressed to this computer "
                                "(localhost or 127.0.0.1).")
        if request.method not in SAFE_METHODS and not _intended():
            return _refuse(415, "Send this request as JSON (Content-Type: application/json) "
                                f"or with an {HEADER} header.")
        return None

    @app.after_request
    def _remember_token(response):
        if g.get("edgemask_set_cookie"):
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
            response.headers["Referrer-Policy"] = "no-referrer"  # the link's token stays here
        return response


def is_trusted(req=None) -> bool:
    """Whether a request may use what only the machine's own user may (e.g. fetching a model):
    in LAN mode one that carries the token, else one from this computer. Routes call it on top
    of the checks every request already passed."""
    from flask import current_app

    req = req or request
    token = current_app.config.get("ACCESS_TOKEN")
    if token is not None:
        return _token_ok(token, req, remember=False)
    return req.remote_addr in LOOPBACK_PEERS


def _token_ok(token: str, req=None, remember: bool = True) -> bool:
    req = req or request
    auth = req.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer " and _same(auth[7:].strip(), token):
        return True
    if _same(req.cookies.get(COOKIE, ""), token):
        return True
    if _same(req.args.get("token", ""), token):
        if remember:
            g.edgemask_set_cookie = True
        return True
    return False


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode("utf-8"))


def _intended() -> bool:
    """A request a cross-site page cannot send without a preflight: JSON, or the custom header."""
    return request.mimetype == "application/json" or HEADER in request.headers


def _host_name() -> str:
    host = request.host.lower()
    return host if host.endswith("]") else host.rsplit(":", 1)[0]


def _refuse(status: int, message: str):
    if request.path.startswith("/api/"):
        return jsonify({"error": message}), status
    return message + "\n", status, {"Content-Type": "text/plain; charset=utf-8"}
