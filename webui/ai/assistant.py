"""The AI wand behind the API: one predictor shared by all requests, serialized by a lock.

The predictor is `edgemask.runtime.Predictor` (or any object with the same interface, which tests
inject): `set_image(rgb_uint8)` then `predict(point_coords, point_labels, box, mask_input,
multimask_output) -> (masks CxHxW bool, scores C, low_res CxHxW)`. Waitress serves requests from
several threads and a predictor holds one image at a time, so every call goes through `_lock`.
Per (session, image) the low-res logits of the last answer are kept for `refine`.
"""

import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import numpy as np

from edgemask import paths
from edgemask.runtime import cpu_features
from edgemask.runtime.cpu_features import precision_order

NO_MODEL_MESSAGE = (
    "No model loaded: click the AI wand to get one, or run `edgemask models get efficientvit-sam-l0` "
    "(the classic tools work without one)."
)
MAX_SESSIONS = 64  # (session, image) pairs whose last logits are kept for refine
PREFETCH = 2  # how many following images get their embedding computed ahead


def find_default_model() -> Optional[Path]:
    """The model folder (one with model.json) in edgemask.paths.models_dir() to open by default:
    the fastest precision for this machine (fp16 where a GPU provider is present; int8 on a CPU
    with VNNI or ARM dot product, else fp32: edgemask.runtime.cpu_features), then by name."""
    import json

    root = paths.models_dir()
    if not root.is_dir():
        return None
    folders = sorted(f for f in root.iterdir() if (f / "model.json").is_file())
    if not folders:
        return None
    try:
        from edgemask.runtime.providers import available_providers

        gpu = any(p in available_providers() for p in ("CUDAExecutionProvider", "TensorrtExecutionProvider"))
    except ImportError:  # no onnxruntime: the Predictor will say so
        gpu = False
    order = precision_order(gpu, cpu_features.detect())

    def rank(folder: Path) -> int:
        try:
            return order.index(json.loads((folder / "model.json").read_text()).get("precision"))
        except (ValueError, OSError):
            return len(order)

    return min(folders, key=rank)


class ImageError(ValueError):
    """The image cannot be read or encoded (as opposed to a prompt the model cannot use)."""


class Assistant:
    """Runs a predictor for the API. `predictor` None means no model: only `loaded`/`message` work."""

    def __init__(self, predictor=None, name: Optional[str] = None, message: Optional[str] = None):
        self.predictor = predictor
        self.name = name
        self.message = message or (f"Model {name} is loaded." if predictor is not None else NO_MODEL_MESSAGE)
        self.warning = None  # a sentence once the model's files fail their re-check after start
        self._lock = threading.Lock()
        self._current = None  # (image name, mtime) the predictor holds
        self._logits = OrderedDict()  # (session, image) -> 1x256x256 float32

    @classmethod
    def from_model_dir(cls, model_dir, device: str = "auto", cache_dir=None) -> "Assistant":
        """Loads edgemask.runtime.Predictor from a model folder (embedding cache in `cache_dir`, default
        edgemask's own); a folder that fails to load gives an Assistant without a model whose message
        says why."""
        model_dir = Path(model_dir)
        try:
            from edgemask.runtime import Predictor

            # the decoder's idle threads sleep, not spin: spinning they take the cores the answer's
            # encoding, the web server and the browser on this machine need (bench_page_click.py
            # --decoder-spinning: on 2 loaded cores the click is faster without, predictor included)
            predictor = Predictor(model_dir, device=device, cache_dir=cache_dir, spinning=False)
        except Exception as exc:  # shown in /api/model, the classic tools keep working
            return cls(None, None, f"Could not load the model in {model_dir}: {exc}")
        from edgemask.runtime.model_folder import verify_in_background

        name = _model_name(model_dir)
        assistant = cls(predictor, name, f"Model {name} is loaded ({getattr(predictor, 'device', 'cpu')}, from {model_dir}).")
        verify_in_background(model_dir, assistant._warn)  # damage that kept the files' size and mtime
        return assistant

    def _warn(self, sentence: str) -> None:
        self.warning = f"The model's files failed their check: {sentence}"

    @property
    def loaded(self) -> bool:
        return self.predictor is not None

    def embed(self, folder, name: str, following=()) -> tuple:
        """Makes the predictor hold this image's embedding; returns (ms, cached). Then asks the
        predictor to prefetch (encode into its cache, in its own thread) up to PREFETCH
        `following` images."""
        start = time.perf_counter()
        with self._lock:
            cached = self._set_image(folder, name)
        ms = (time.perf_counter() - start) * 1000
        prefetch = getattr(self.predictor, "prefetch", None)
        paths = [str(p) for p in (folder.path(n) for n in list(following)[:PREFETCH]) if p is not None]
        if prefetch is not None and paths:
            prefetch(paths)
        return ms, cached

    def predict(self, folder, name: str, coords, labels, box=None, refine=False, session=""):
        """-> (mask HxW bool, score, ms). One include point alone gives the best of the
        multimask outputs; anything else (several points, a box, refine) a single mask."""
        start = time.perf_counter()
        key = (session, name)
        with self._lock:
            self._set_image(folder, name)
            mask_input = self._logits.get(key) if refine else None
            multimask = len(coords) == 1 and box is None and mask_input is None
            prompt = dict(
                point_coords=np.asarray(coords, np.float32).reshape(-1, 2) if coords else None,
                point_labels=np.asarray(labels, np.float32) if coords else None,
                box=np.asarray(box, np.float32) if box is not None else None,
                mask_input=mask_input,
                multimask_output=multimask,
            )
            if hasattr(self.predictor, "predict_mask"):  # upscales only the best mask
                mask, score, low_res = self.predictor.predict_mask(**prompt)
            else:
                masks, scores, low_res = self.predictor.predict(**prompt)
                best = int(np.argmax(scores)) if multimask else 0
                mask, score, low_res = masks[best], scores[best], low_res[best:best + 1]
            self._logits[key] = np.asarray(low_res, np.float32).reshape(1, *np.shape(low_res)[-2:])
            self._logits.move_to_end(key)
            while len(self._logits) > MAX_SESSIONS:
                self._logits.popitem(last=False)
        ms = (time.perf_counter() - start) * 1000
        return np.asarray(mask, bool), float(score), ms

    def decoder_embedding(self, folder, name: str) -> tuple:
        """(float32 embedding as decoder.onnx takes it, image content key, (height, width)) of this
        image, encoded unless cached; for the page's own decoder (edgemask.webui.ai.browser_decoder)."""
        with self._lock:
            self._set_image(folder, name)
            p = self.predictor
            return p.get_decoder_embedding(), p.image_key, tuple(p.original_size)

    @contextmanager
    def exclusive(self):
        """`with assistant.exclusive() as predictor:` the predictor for a long job that sets images itself
        (pre-labelling); other calls wait for it, and set their image again afterwards."""
        with self._lock:
            try:
                yield self.predictor
            finally:
                self._current = None

    # -- internals ------------------------------------------------------------------------
    def _set_image(self, folder, name) -> bool:
        """Under _lock: sets the image unless the predictor holds it; True if nothing was encoded."""
        if self.predictor is None:
            raise RuntimeError(NO_MODEL_MESSAGE)
        path = folder.path(name)
        stamp = (name, path.stat().st_mtime_ns if path else None)
        if self._current == stamp:
            return True
        try:
            if hasattr(self.predictor, "set_image_path"):  # finds a cached embedding without decoding
                self.predictor.set_image_path(path, read=lambda _: folder.read_rgb(name))
            else:
                self.predictor.set_image(folder.read_rgb(name))
        except (OSError, ValueError) as exc:
            raise ImageError(str(exc)) from None
        self._current = stamp
        return bool(getattr(self.predictor, "embedding_cached", False))


def _model_name(model_dir: Path) -> str:
    import json

    try:
        info = json.loads((model_dir / "model.json").read_text())
        return f"{info['model']} ({info.get('precision', 'fp32')})"
    except Exception:
        return model_dir.name
