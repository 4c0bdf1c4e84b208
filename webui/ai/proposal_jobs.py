"""The page's pre-labelling: proposals (edgemask.runtime.mask_generator.MaskGenerator) computed for one
image in a background thread on the cached embedding, with progress the page polls, and the proposals
file `edgemask prelabel` wrote taken over when there is one. Both go into the store
(edgemask.webui.store.proposals), keyed by image name and checked against the image's content.
"""

import math
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Optional

from edgemask.runtime import prelabel as prelabel_files
from edgemask.runtime.cache import file_identity, image_key
from edgemask.webui.store import proposals as stored

# the generator's parameters a page may set, with the official defaults (points_per_side 32; pred_iou_thresh
# None: the model family's, 0.88 for SAM and EfficientViT-SAM, 0.8 for SAM 2.1)
DEFAULTS = {"points_per_side": 32, "points_per_batch": 64, "pred_iou_thresh": None, "stability_score_thresh": 0.95,
            "stability_score_offset": 1.0, "box_nms_thresh": 0.7, "crop_n_layers": 0, "crop_nms_thresh": 0.7,
            "crop_overlap_ratio": 512 / 1500, "crop_n_points_downscale_factor": 1, "min_mask_region_area": 0}
WHOLE = ("points_per_side", "points_per_batch", "crop_n_layers", "crop_n_points_downscale_factor",
         "min_mask_region_area")
KEYS_KEPT = 256  # (image, file stamp) -> content key, so that listing does not decode an image again


def parameters(body: dict) -> dict:
    """The generator parameters of a request body (DEFAULTS for those it leaves out); ValueError with one
    sentence for an unknown name or a value that is not a number of the right kind."""
    unknown = sorted(set(body) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"Unknown pre-label parameter {unknown[0]!r}; the parameters are: {', '.join(DEFAULTS)}.")
    params = dict(DEFAULTS)
    for name, value in body.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name!r} must be a number.")
        if name in WHOLE and value != int(value):
            raise ValueError(f"{name!r} must be a whole number.")
        params[name] = int(value) if name in WHOLE else float(value)
    return params


def stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def set_from_document(name: str, file_stamp: str, doc: dict, source: str) -> stored.ProposalSet:
    """A proposals document (docs/proposals-format.md) as the store's proposal set; empty masks are left out."""
    proposals = [stored.Proposal(i + 1, {"box": [int(v) for v in p["box"]], "runs": [int(v) for v in p["runs"]]},
                                 int(p["area"]), float(p["predicted_iou"]), float(p["stability_score"]))
                 for i, p in enumerate(q for q in doc["proposals"] if q.get("area", 0) > 0)]
    return stored.ProposalSet(name, doc["image_key"], file_stamp, int(doc["width"]), int(doc["height"]),
                              doc["model"], dict(doc.get("params") or {}), source, proposals=proposals)


class ProposalJobs:
    """One pre-labelling job at a time (the predictor is shared); its progress, and the current proposal
    set of an image. `cache_dirs`: the folders to look for `edgemask prelabel`'s files in."""

    def __init__(self, cache_dirs=()):
        self.cache_dirs = [Path(d).expanduser() for d in cache_dirs if d is not None]
        self._lock = threading.Lock()
        self._job = None  # dict: image, state (running | done | error), done, total, message
        self._keys = OrderedDict()

    def status(self, name: str) -> dict:
        """The job of this image: {"state": "idle" | "running" | "done" | "error", "done", "total", "message"}."""
        with self._lock:
            job = self._job
            if job is None or job["image"] != name:
                return {"state": "idle", "done": 0, "total": 0, "message": ""}
            return {k: job[k] for k in ("state", "done", "total", "message")}

    def start(self, assistant, folder, store, name: str, params: dict) -> Optional[dict]:
        """Starts computing this image's proposals; returns its status, or None when another image's job
        runs. ValueError (one sentence) for parameters the generator refuses or a model that cannot."""
        from edgemask.runtime.mask_generator import MaskGenerator

        try:
            MaskGenerator(assistant.predictor, **params)  # checks the parameters and the model, cheaply
        except AttributeError:  # a predictor without an exported model (an injected one)
            raise ValueError("This model cannot make proposals: pre-labelling needs an exported model folder.") from None
        with self._lock:
            if self._job is not None and self._job["state"] == "running":
                if self._job["image"] != name:
                    return None
            else:
                self._job = {"image": name, "state": "running", "done": 0, "total": 0, "message": "starting"}
                threading.Thread(target=self._run, args=(assistant, folder, store, name, params),
                                 name="edgemask-prelabel", daemon=True).start()
        return self.status(name)

    def running_image(self) -> Optional[str]:
        with self._lock:
            return self._job["image"] if self._job is not None and self._job["state"] == "running" else None

    def _progress(self, done: int, total: int) -> None:
        with self._lock:
            self._job.update(done=done, total=total, message=f"{done} of {total} points")

    def _run(self, assistant, folder, store, name: str, params: dict) -> None:
        from edgemask.runtime.mask_generator import MaskGenerator

        try:
            path = folder.path(name)
            file_stamp = stamp(path)
            rgb = folder.read_rgb(name)
            key = image_key(rgb)
            with assistant.exclusive() as predictor:
                start = time.perf_counter()
                generator = MaskGenerator(predictor, **params)
                records = generator.generate(rgb, progress=self._progress)
                model = predictor.model
            params = {**params, "pred_iou_thresh": float(generator.pred_iou_thresh)}  # as the family set it
            doc = prelabel_files.to_document(records, model, key, rgb.shape[:2], params, time.perf_counter() - start)
            stored.replace(store, set_from_document(name, file_stamp, doc, "page"))
            self._remember(name, file_stamp, key)
            with self._lock:
                self._job.update(state="done", message=f"{len(doc['proposals'])} proposals in {doc['seconds']:.1f} s")
        except Exception as exc:  # noqa: BLE001 - shown to the page as one sentence
            text = str(exc).strip().rstrip(".") or type(exc).__name__
            with self._lock:
                self._job.update(state="error", message=f"Pre-labelling {name!r} failed: {text}.")

    # -- the current set of an image ---------------------------------------------------
    def current(self, assistant, folder, store, name: str) -> Optional[stored.ProposalSet]:
        """The image's proposal set: the stored one while the image's pixels are those it was made for,
        else the proposals file `edgemask prelabel` wrote for these pixels (taken into the store), else None."""
        path = folder.path(name)
        file_stamp = stamp(path)
        held = stored.load(store, name)
        if held is not None and held.stamp == file_stamp:
            return held
        if held is None and not any((root / "proposals").is_dir() for root in self._roots(assistant)):
            return None  # no `edgemask prelabel` files anywhere: the image need not be decoded
        key = self._key(assistant, folder, name, path, file_stamp)
        if held is not None:
            if held.image_key == key:
                stored.restamp(store, name, file_stamp)
                return stored.load(store, name)
            stored.forget(store, name)  # another picture under the same name
        found = self._prelabel_file(assistant, key)
        if found is None:
            return None
        file_path, doc = found
        stored.replace(store, set_from_document(name, file_stamp, doc, str(file_path)))
        return stored.load(store, name)

    def _key(self, assistant, folder, name, path, file_stamp) -> str:
        """The image's content key: remembered, from the embedding cache's file index, or by decoding it."""
        with self._lock:
            key = self._keys.get((name, file_stamp))
        if key is None:
            cache = getattr(assistant.predictor, "cache", None)
            known = cache.files.get(file_identity(path)) if getattr(cache, "files", None) is not None else None
            key = known[0] if known else image_key(folder.read_rgb(name))
            self._remember(name, file_stamp, key)
        return key

    def _remember(self, name, file_stamp, key) -> None:
        with self._lock:
            self._keys[(name, file_stamp)] = key
            while len(self._keys) > KEYS_KEPT:
                self._keys.popitem(last=False)

    def _roots(self, assistant) -> list:
        """The embedding cache folders that may hold `edgemask prelabel` files: the model's, then the others."""
        cache = getattr(assistant.predictor, "cache", None)
        roots = ([cache.root] if getattr(cache, "root", None) is not None else []) + self.cache_dirs
        return list(dict.fromkeys(roots))

    def _prelabel_file(self, assistant, key: str):
        """(path, document) of `edgemask prelabel`'s file for these pixels: the loaded model's first, else
        the newest of any model's; None when there is none."""
        model = getattr(assistant.predictor, "model", None)
        candidates = []
        for root in self._roots(assistant):
            if model is not None and getattr(model, "identity", None):
                candidates.append(prelabel_files.proposals_path(root, model, key))
            candidates += sorted((root / "proposals").glob(f"*/{key}.json"), key=_mtime, reverse=True)
        for candidate in candidates:
            doc = prelabel_files.read_document(candidate)
            if doc is not None and doc.get("image_key") == key:
                return candidate, doc
        return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
