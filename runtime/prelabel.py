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
             **params) -> PrelabelSummary:
    """Computes and stores the proposals of every image of `images_dir` (see the module docstring);
    `params` are MaskGenerator's. Images whose file already holds proposals with these parameters
    are skipped. A KeyboardInterrupt stops the run (summary.interrupted)."""
    from edgemask import paths
    from edgemask.images import ImageFolder, read_rgb
    from edgemask.runtime.mask_generator import MaskGenerator
    from edgemask.runtime.predictor import Predictor

    folder = ImageFolder(images_dir)
    cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else paths.embeddings_dir()
    predictor = Predictor(model_dir, device=device, cache_dir=cache_dir)
    generator = MaskGenerator(predictor, **params)  # bad parameters fail here, before any image
    recorded = {name: getattr(generator, name, None) for name in PARAMETERS}
    recorded["points_per_side"] = params.get("points_per_side", 32)
    recorded["crop_n_points_downscale_factor"] = params.get("crop_n_points_downscale_factor", 1)
    names = folder.names()
    summary = PrelabelSummary(total=len(names))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(names), unit="img", desc="prelabel", dynamic_ncols=True)
    start = time.perf_counter()
    try:
        for name in names:
            try:
                image = read_rgb(folder.path(name))
                key = image_key(image)
                path = proposals_path(cache_dir, predictor.model, key)
                done = read_document(path)
                if done is not None and done.get("params") == recorded:
                    summary.skipped += 1
                else:
                    t0 = time.perf_counter()
                    records = generator.generate(image)
                    write_document(path, to_document(records, predictor.model, key, image.shape[:2], recorded,
                                                     time.perf_counter() - t0))
                    summary.computed += 1
                    summary.proposals += len(records)
            except (OSError, ValueError, RuntimeError) as exc:  # unreadable, too large, ...
                summary.problems.append((name, str(exc).rstrip(".")))
            if bar is not None:
                bar.set_postfix_str(f"computed {summary.computed}, done before {summary.skipped}", refresh=False)
                bar.update(1)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        summary.seconds = time.perf_counter() - start
        if bar is not None:
            bar.close()
        predictor.close()
    return summary
