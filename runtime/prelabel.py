"""`edgemask prelabel`: proposals (MaskGenerator) for every image of a folder, stored where the page reads them.

The store is a folder of small JSON files, one per (model, image content), in the embedding cache's
folder: `<cache_dir>/proposals/<model name>-<model identity[:12]>/<image key>.json` (image key: the
sha256 of the decoded pixels, edgemask.runtime.cache.image_key, the one the embedding cache uses).
Masks are box-runs (edgemask.runtime.shapes). docs/proposals-format.md describes the file. A file
whose parameters match the run's is not computed again, so an interrupted run resumes.
"""

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from edgemask.runtime.cache import image_key

FORMAT = "edgemask-proposals/1"
# the MaskGenerator parameters a proposals file records (and a re-run compares)
PARAMETERS = ("points_per_side", "points_per_batch", "pred_iou_thresh", "stability_score_thresh",
              "stability_score_offset", "box_nms_thresh", "crop_n_layers", "crop_nms_thresh",
              "crop_overlap_ratio", "crop_n_points_downscale_factor", "min_mask_region_area")


def proposals_dir(cache_dir, model) -> Path:
    """The folder of one model's proposals files under an embedding cache folder."""
    return Path(cache_dir) / "proposals" / f"{model.name}-{model.identity[:12]}"


def proposals_path(cache_dir, model, key: str) -> Path:
    return proposals_dir(cache_dir, model) / f"{key}.json"


def to_document(records, model, key: str, size, params: dict, seconds: float) -> dict:
    """MaskGenerator records (binary_mask) -> the proposals file's JSON document."""
    from edgemask.runtime.shapes import mask_to_box_runs

    h, w = size
    proposals = []
    for r in records:
        runs = mask_to_box_runs(r["segmentation"])
        proposals.append({"box": runs["box"], "runs": runs["runs"], "area": int(r["area"]),
                          "predicted_iou": round(float(r["predicted_iou"]), 6),
                          "stability_score": round(float(r["stability_score"]), 6),
                          "point": [round(float(v), 3) for v in r["point_coords"][0]],
                          "crop_box": [int(v) for v in r["crop_box"]]})
    return {"format": FORMAT, "model": model.name, "model_identity": model.identity, "image_key": key,
            "width": int(w), "height": int(h), "params": params, "seconds": round(seconds, 3),
            "proposals": proposals}


def read_document(path) -> Optional[dict]:
    """A proposals file's document, or None when it is missing, damaged or of another format."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == FORMAT else None


def write_document(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, separators=(",", ":")))
    tmp.replace(path)


@dataclass
class PrelabelSummary:
    total: int
    computed: int = 0
    skipped: int = 0
    proposals: int = 0
    problems: list = field(default_factory=list)  # (name, reason)
    seconds: float = 0.0
    interrupted: bool = False

    def format(self) -> str:
        lines = [f"prelabel: {self.computed} computed ({self.proposals} proposals), {self.skipped} already done, "
                 f"{len(self.problems)} unreadable or failed, of {self.total} images in {self.seconds:.1f} s"
                 + (" (interrupted: run again to resume)" if self.interrupted else "")]
        lines += [f"  {name}: {why}" for name, why in self.problems]
        return "\n".join(lines)


def prelabel(images_dir, model_dir, cache_dir=None, device: str = "auto", progress: bool = True,
             ray: Optional[str] = None, workers: Optional[int] = None, summary: Optional[PrelabelSummary] = None,
             **params) -> PrelabelSummary:
    """Computes and stores the proposals of every image of `images_dir` (see the module docstring);
    `params` are MaskGenerator's. Images whose file already holds proposals with these parameters
    are skipped. A KeyboardInterrupt stops the run (summary.interrupted). summary: filled in as the run
    goes (a caller can report it while the run is under way).

    ray: None computes in this process; "local" starts a local Ray for the run, "auto" or host:port
    joins a cluster: `workers` actors (default: one per GPU, else one per node) on the precompute
    engine (edgemask.runtime.precompute_ray), each holding a Predictor and a MaskGenerator."""
    from edgemask import paths
    from edgemask.images import ImageFolder

    if ray is None and workers not in (None, 1):
        raise ValueError("more than one worker needs Ray: add --ray local (or --ray ADDRESS for a cluster)")
    folder = ImageFolder(images_dir)
    cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else paths.embeddings_dir()
    names = folder.names()
    summary = summary if summary is not None else PrelabelSummary(total=0)
    summary.total = len(names)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(names), unit="img", desc="prelabel", dynamic_ncols=True)

    def advance(name, status, why, count):
        if status == COMPUTED:
            summary.computed += 1
            summary.proposals += count
        elif status == SKIPPED:
            summary.skipped += 1
        else:
            summary.problems.append((name, why))
        if bar is not None:
            bar.set_postfix_str(f"computed {summary.computed}, done before {summary.skipped}", refresh=False)
            bar.update(1)

    start = time.perf_counter()
    try:
        if ray is None:
            job = PrelabelJob(str(model_dir), str(cache_dir), device, params=params)
            try:
                for name in names:
                    advance(name, *job.one(folder, name))
            finally:
                job.close()
        else:
            from edgemask.runtime.mask_generator import MaskGenerator
            from edgemask.runtime.predictor import Predictor

            with Predictor(model_dir, device="cpu", cache=False) as check:  # bad parameters fail here
                MaskGenerator(check, **params)
            _run_ray(folder, names, str(model_dir), str(cache_dir), device, ray, workers, params, advance)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        summary.seconds = time.perf_counter() - start
        if bar is not None:
            bar.close()
    return summary


COMPUTED, SKIPPED, FAILED = "computed", "skipped", "failed"


class PrelabelJob:
    """One Predictor and MaskGenerator; `one(folder, name)` does one image: (status, reason, proposals).
    Also the Ray actor of `edgemask prelabel --ray` (`__call__` takes a batch of names)."""

    def __init__(self, model_dir: str, cache_dir: str, device: str = "auto", params: Optional[dict] = None,
                 threads: Optional[int] = None, root: Optional[str] = None) -> None:
        from edgemask.runtime.mask_generator import MaskGenerator
        from edgemask.runtime.predictor import Predictor

        params = dict(params or {})
        self.cache_dir = Path(cache_dir)
        self.predictor = Predictor(model_dir, device=device, cache_dir=cache_dir, threads=threads)
        self.generator = MaskGenerator(self.predictor, **dict(params, workers=params.get("workers", threads)))
        self.recorded = {name: getattr(self.generator, name, None) for name in PARAMETERS}
        self.recorded["points_per_side"] = params.get("points_per_side", 32)
        self.recorded["crop_n_points_downscale_factor"] = params.get("crop_n_points_downscale_factor", 1)
        self.root = root

    def one(self, folder, name: str):
        from edgemask.images import read_rgb

        try:
            image = read_rgb(folder.path(name))
            key = image_key(image)
            path = proposals_path(self.cache_dir, self.predictor.model, key)
            done = read_document(path)
            if done is not None and done.get("params") == self.recorded:
                return SKIPPED, "", 0
            t0 = time.perf_counter()
            records = self.generator.generate(image)
            write_document(path, to_document(records, self.predictor.model, key, image.shape[:2], self.recorded,
                                             time.perf_counter() - t0))
            return COMPUTED, "", len(records)
        except (OSError, ValueError, RuntimeError) as exc:  # unreadable, too large, ...
            return FAILED, str(exc).rstrip("."), 0

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        from edgemask.images import ImageFolder

        folder = ImageFolder(self.root)
        rows = [self.one(folder, str(name)) for name in batch["name"]]
        return {"name": np.asarray(batch["name"]), "status": np.array([r[0] for r in rows]),
                "reason": np.array([r[1] for r in rows]), "proposals": np.array([r[2] for r in rows], np.int64)}

    def close(self) -> None:
        self.predictor.close()


def _run_ray(folder, names, model_dir, cache_dir, device, address, workers, params, advance) -> None:
    """The images on a pool of PrelabelJob actors (Ray Data, as `edgemask precompute --ray`)."""
    from edgemask.runtime import precompute_ray

    started = precompute_ray.connect(address)
    import ray

    try:
        resources = ray.cluster_resources()
        gpus = 0 if device == "cpu" else int(resources.get("GPU", 0))
        cpus = float(resources.get("CPU", 1))
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        workers = min(workers or gpus or nodes, gpus) if gpus else (workers or max(1, nodes))
        if not names:
            return
        precompute_ray.quiet_ray_data()
        if gpus:
            resources_each, threads = {"num_gpus": 1, "num_cpus": 1}, None
        else:
            resources_each = {"num_cpus": min(1.0, max(0.25, cpus / (2 * workers)))}
            threads = max(1, int(cpus // workers))
        ds = ray.data.from_items([{"name": n} for n in names], override_num_blocks=len(names))
        ds = ds.map_batches(PrelabelJob, batch_size=1, batch_format="numpy",
                            compute=ray.data.ActorPoolStrategy(size=workers),
                            fn_constructor_kwargs=dict(model_dir=model_dir, cache_dir=cache_dir, device=device,
                                                       params=params, threads=threads, root=str(folder.root)),
                            **resources_each)
        for row in ds.iter_rows():
            advance(str(row["name"]), str(row["status"]), str(row["reason"]), int(row["proposals"]))
    finally:
        if started:
            ray.shutdown()
