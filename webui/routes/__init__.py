"""The JSON API blueprint (`/api`), as specified in docs/webui-api.md: one module per resource.

`bp` is defined here, before the route modules (which add their routes to it) are imported.
Errors are `{"error": "<one sentence>"}` with a 4xx status and nothing stored (errors.py).
"""

from flask import Blueprint


bp = Blueprint("api", __name__, url_prefix="/api")

# the route modules add their routes and handlers to bp (errors first)
from edgemask.webui.routes import errors  # noqa: E402,F401
from edgemask.webui.routes import ai, annotations, export, images, labels, tools  # noqa: E402,F401
from edgemask.webui.routes import proposals  # noqa: E402,F401
from edgemask.webui.routes import embedding  # noqa: E402,F401
from edgemask.webui.routes import propagation  # noqa: E402,F401
