"""The page's Propagate: the current image's objects sent forward through the next K images of the folder's
name order (a sequence, edgemask.frames) by SAM 2.1's video predictor (edgemask.runtime.sequence_predictor),
in a background thread with progress the page polls and a cancel.

Each object is prompted by its mask (a polygon filled) on the current image. On each following image an
object lands as a new mask object of its label on top, marked propagated from the current image
(edgemask.webui.store.propagated), unless that image already holds an object of the same label that
overlaps it (one shared pixel): then it is skipped there, and nothing stored is ever replaced or changed.
An object stops (no later image gets it) on the first image where sam2's object score (the occlusion
logit, > 0: the object is there) is at or below `min_score` or its mask is empty; the answer names that
image. Frames are encoded through the AI wand's predictor (its embedding cache), holding its lock for one
image at a time, never for the whole run.
"""

import threading
from pathlib import Path
from typing import Optional

import numpy as np

from edgemask.runtime import shapes
from edgemask.webui.store import propagated as marks

DEFAULT_K, MAX_K = 5, 100
DEFAULT_MIN_SCORE = 0.0  # sam2's own rule: an object score <= 0 means the object is not on the frame


class Refused(ValueError):
    """A propagation that cannot start; the message is one sentence saying why (and what to do)."""


def parameters(body: dict) -> tuple:
    """(k, min_score) of a request body; Refused with one sentence for a bad value."""
    unknown = sorted(set(body) - {"k", "min_score", "client"})
    if unknown:
        raise Refused(f"Unknown propagate parameter {unknown[0]!r}; the parameters are: k, min_score.")
    k = body.get("k", DEFAULT_K)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise Refused(f"\"k\" must be a whole number of images from 1 to {MAX_K}.")
    score = body.get("min_score", DEFAULT_MIN_SCORE)
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not np.isfinite(score):
        raise Refused("\"min_score\" must be a number (sam2's object score; 0 is its own threshold).")
    return k, float(score)


def video_model_dir(assistant) -> Path:
    """The loaded model's folder when it can propagate (SAM 2.1 with its video parts), else Refused."""
    model = getattr(assistant.predictor, "model", None)
    if model is None or not getattr(model, "path", None):
        raise Refused("Propagate needs an exported SAM 2.1 model with its video parts; load one.")
    if model.family != "sam2.1":
        raise Refused(f"Propagate needs a SAM 2.1 model with its video parts, and {model.name} is not one: "
                      "load a SAM 2.1 model (`edgemask models get sam2.1-hiera-tiny` makes one with them).")
    if not model.config.get("video"):
        raise Refused(f"The loaded {model.name} has no video parts (it was exported before them): run "
                      f"`edgemask models get {model.name}` again, which re-makes it with them, and load it again.")
    return Path(model.path)


def _object_mask(o, height: int, width: int) -> np.ndarray:
    """The bool pixel mask of a stored object (ObjectRow)."""
    if o.kind == "mask":
        return shapes.box_runs_to_mask(o.mask, height, width)
    return shapes.polygons_to_mask([o.polygon], height, width)


def _overlaps(existing, label_id, mask_value, height, width) -> bool:
    box = mask_value["box"]
    mine = None
    for o in existing:
        if o.label_id != label_id:
            continue
        b = o.bbox
        if b[0] >= box[2] or box[0] >= b[2] or b[1] >= box[3] or box[1] >= b[3]:
            continue
        if mine is None:
            mine = shapes.box_runs_to_mask(mask_value, height, width)
        if (mine & _object_mask(o, height, width)).any():
            return True
    return False


class PropagationJobs:
    """One propagation at a time; its progress and result, and the video model's sessions (kept)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._job = None
        self._models = {}

    def status(self, name: Optional[str] = None) -> dict:
        """{"state": idle | running | done | cancelled | error, "image", "done", "total", "message", "frames",
        "stopped"}: the last job (of `name` when given)."""
        with self._lock:
            job = self._job
            if job is None or (name is not None and job["image"] != name):
                return {"state": "idle", "image": name, "done": 0, "total": 0, "message": "", "frames": [],
                        "stopped": []}
            return self.status_locked()

    def cancel(self, name: str) -> dict:
        with self._lock:
            if self._job is not None and self._job["image"] == name and self._job["state"] == "running":
                self._job["cancel"].set()
        return self.status(name)

    def start(self, assistant, folder, store, name: str, k: int, min_score: float) -> Optional[dict]:
        """Checks and starts; returns the job's status, None while another image's job runs; Refused
        (one sentence) when it cannot start."""
        model_dir = video_model_dir(assistant)
        names = folder.names()
        at = names.index(name)
        following = names[at + 1:at + 1 + k]
        if not following:
            raise Refused(f"{name!r} is the last image of the folder: there is no next image to propagate to.")
        size = folder.size(name)
        for other in following:
            if folder.size(other) != size:
                w, h = folder.size(other)
                raise Refused(f"Propagate needs images of one size: {name!r} is {size[0]}x{size[1]} but "
                              f"{other!r} is {w}x{h}.")
        record = store.load(name)
        objects = list(record.objects) if record else []
        if not objects:
            raise Refused(f"{name!r} has no objects to propagate; draw one first.")
        with self._lock:
            if self._job is not None and self._job["state"] == "running":
                if self._job["image"] != name:
                    return None
                return self.status_locked()
            self._job = {"image": name, "state": "running", "done": 0, "total": len(following),
                         "message": "starting", "frames": [], "stopped": [], "cancel": threading.Event()}
            threading.Thread(target=self._run, args=(assistant, folder, store, model_dir, name, following,
                                                     objects, size, min_score, self._job),
                             name="edgemask-propagate", daemon=True).start()
        return self.status(name)

    def status_locked(self) -> dict:
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self._job.items() if k != "cancel"}

    def model(self, model_dir: Path):
        """The SequenceModel (ONNX sessions) of a model folder, loaded once."""
        from edgemask.runtime.sequence_predictor import SequenceModel

        with self._lock:
            model = self._models.get(model_dir)
        if model is None:
            model = SequenceModel(model_dir)
            with self._lock:
                self._models = {model_dir: model}  # one model's sessions at a time
        return model

    def _run(self, assistant, folder, store, model_dir, name, following, objects, size, min_score, job) -> None:
        from edgemask.runtime.sequence_predictor import SequencePredictor

        width, height = size
        sequence = [name] + following
        try:
            predictor = SequencePredictor(self.model(model_dir))
            def embed(i):  # the wand's predictor and its embedding cache, its lock held for this image only
                with assistant.exclusive() as wand:
                    wand.set_image_path(folder.path(sequence[i]), read=lambda _: folder.read_rgb(sequence[i]))
                    if tuple(wand.original_size) != (height, width):
                        raise Refused(f"{sequence[i]!r} changed its size while propagating")
                    return np.array(wand.get_decoder_embedding(), np.float32)

            state = predictor.init_embedded_state(len(sequence), (height, width), embed)
            prompts = {}
            for o in objects:
                mask = _object_mask(o, height, width)
                if mask.any():
                    prompts[o.id] = o.label_id
                    predictor.add_new_mask(state, 0, o.id, mask)
            if not prompts:
                raise Refused(f"the objects of {name!r} are all empty")
            alive = dict(prompts)
            for frame_idx, obj_ids, logits in predictor.propagate_in_video(state, 0, len(following)):
                if frame_idx == 0:
                    continue
                if job["cancel"].is_set():
                    break
                image = sequence[frame_idx]
                scores = predictor.object_scores(state, frame_idx)
                new = []
                for i, oid in enumerate(obj_ids):
                    if oid not in alive:
                        continue
                    mask = logits[i, 0] > 0
                    if not scores[i] > min_score or not mask.any():
                        del alive[oid]
                        with self._lock:
                            job["stopped"].append({"object": oid, "label_id": prompts[oid], "image": image,
                                                   "score": float(scores[i])})
                        continue
                    new.append((prompts[oid], shapes.mask_to_box_runs(mask)))
                version, rows, skipped = marks.add(
                    store, image, width, height, name, new,
                    lambda existing, label_id, value: not _overlaps(existing, label_id, value, height, width))
                with self._lock:
                    job["frames"].append({"image": image, "version": version, "added": [r.id for r in rows],
                                          "skipped_labels": skipped})
                    job.update(done=frame_idx, message=f"{frame_idx} of {len(following)} images")
                if not alive:
                    break
            with self._lock:
                job.update(state="cancelled" if job["cancel"].is_set() else "done", message=self._summary(job))
        except Exception as exc:  # noqa: BLE001 - shown to the page as one sentence
            text = str(exc).strip().rstrip(".") or type(exc).__name__
            with self._lock:
                job.update(state="error", message=f"Propagating {name!r} failed: {text}.")

    @staticmethod
    def _summary(job) -> str:
        added = sum(len(f["added"]) for f in job["frames"])
        skipped = sum(len(f["skipped_labels"]) for f in job["frames"])
        parts = [f"{'Cancelled after' if job['cancel'].is_set() else 'Propagated through'} "
                 f"{len(job['frames'])} of {job['total']} images: {added} objects added"]
        if skipped:
            parts.append(f"{skipped} skipped where an object of the same label was drawn already")
        for s in job["stopped"]:
            parts.append(f"an object stopped on {s['image']!r} (object score {s['score']:.2f})")
        return "; ".join(parts) + "."
