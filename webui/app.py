"""The Flask app factory of the web annotator."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from flask import Flask, render_template

from edgemask.images import ImageFolder
from edgemask.webui import access
from edgemask.webui.ai.assistant import Assistant
from edgemask.webui.ai.model_get import ModelGetter
from edgemask.webui.store import DB_NAME, Store

MAX_REQUEST_BYTES = 64 * 1024 * 1024  # a page of full-size PNG masks fits easily


@dataclass
class AppContext:
    """What the API works on, kept in app.extensions["edgemask"]."""

    folder: ImageFolder
    store: Store
    assistant: Assistant
    suim_labels: Optional[list] = None  # [(name, color)] of the SUIM preset, to report "preset"
    model_getter: Any = None  # webui.model_get.ModelGetter: the page's "get a model"

    def preset_of(self, labels) -> Optional[str]:
        if self.suim_labels and [(lb.name, lb.color.lower()) for lb in labels] == self.suim_labels:
            return "suim"
        return None


def create_app(config: Optional[dict] = None) -> Flask:
    """Builds the app. Config keys:

    IMAGES_DIR   folder of images (required)
    DB_PATH      the SQLite store (default IMAGES_DIR/.edgemask.sqlite)
    LABELS       "suim", a labels file, or None; added to the store when missing from it.
                 A store without labels gets the SUIM preset.
    PREDICTOR    a ready predictor object (tests inject a fake one), or
    MODEL_DIR    a model folder for edgemask.runtime.Predictor; neither: no AI tools
    DEVICE       the runtime device for MODEL_DIR ("auto") and for a model the page fetches
    CACHE_DIR    the embedding cache folder for MODEL_DIR (default edgemask.paths.embeddings_dir())
    CHECKPOINT_URLS  {model: URL} to fetch checkpoints from instead of the official URLs (a mirror)
    CHECKPOINT_SHA256  {model: sha256} of the file such a mirror serves, where it is not the official one
    LOCAL_ONLY   answer only requests addressed to localhost / 127.0.0.1 / [::1] (what
                 `edgemask serve` sets when it listens on a loopback address): a web page
                 elsewhere cannot reach the API through DNS rebinding
    ACCESS_TOKEN require this token on every request (what `edgemask serve` sets when it
                 listens beyond this computer); see edgemask.webui.access
    """
    config = dict(config or {})
    if not config.get("IMAGES_DIR"):
        raise ValueError("create_app needs IMAGES_DIR")
    app = Flask(__name__)
    app.url_map.merge_slashes = False  # "//etc/x.png" must reach the name check, not redirect
    app.config.update(MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES)
    app.config.update(config)

    folder = ImageFolder(config["IMAGES_DIR"])
    store = Store(config.get("DB_PATH") or folder.root / DB_NAME)
    from edgemask.webui.formats import labels as label_presets

    suim = [(label.name, label.hex) for label in label_presets.preset_labels("suim")]
    wanted = _wanted_labels(config.get("LABELS"), label_presets)
    if wanted is None and not store.labels():
        wanted = suim
    if wanted:
        store.ensure_labels(wanted)

    if config.get("PREDICTOR") is not None:
        assistant = Assistant(config["PREDICTOR"], config.get("MODEL_NAME", "injected predictor"))
    elif config.get("MODEL_DIR"):
        assistant = Assistant.from_model_dir(config["MODEL_DIR"], config.get("DEVICE", "auto"),
                                             config.get("CACHE_DIR"))
    else:
        assistant = Assistant(None)

    ctx = AppContext(folder, store, assistant, suim)
    ctx.model_getter = ModelGetter(_loader(ctx, config.get("DEVICE", "auto"), config.get("CACHE_DIR")),
                                   config.get("CHECKPOINT_URLS"), config.get("CHECKPOINT_SHA256"))
    app.extensions["edgemask"] = ctx

    from edgemask.webui.routes import bp

    app.register_blueprint(bp)

    access.init_app(app)
    _isolate(app)

    @app.get("/")
    def index():
        return render_template("index.html")

    return app


def _isolate(app: Flask) -> None:
    """Every answer asks for cross-origin isolation, which the page's decoder needs for wasm threads
    (SharedArrayBuffer); the page loads nothing from other origins, and no other site may embed ours."""

    @app.after_request
    def _isolation_headers(response):
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Embedder-Policy", "require-corp")
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        return response


def _loader(ctx: AppContext, device: str, cache_dir):
    """on_ready for the page's "get a model": load the new folder and put it behind the API."""

    def load(folder) -> None:
        assistant = Assistant.from_model_dir(folder, device, cache_dir)
        if not assistant.loaded:
            raise RuntimeError(assistant.message)
        ctx.assistant = assistant

    return load


def _wanted_labels(spec, label_presets):
    """[(name, color)] for a LABELS config value, or None."""
    if spec is None or spec == "":
        return None
    if isinstance(spec, str) and spec.lower() in label_presets.PRESETS:
        labels = label_presets.preset_labels(spec)
    elif isinstance(spec, (str, Path)):
        labels = label_presets.load_labels(spec)
    else:
        labels = spec
    return [(label.name, label.hex) for label in labels]
