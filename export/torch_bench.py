"""`edgemask bench --checkpoint`: the official PyTorch predictor timed side by side with ours.

It builds the official model from the checkpoint (edgemask.export.checkpoint), so it lives in the
export package: the runtime never imports export, and its `bench` command gets this through
edgemask.export.cli.extend.
"""

import time
from pathlib import Path
from typing import Optional

import numpy as np


def bench_torch(model_dir, checkpoint, image: np.ndarray, device: str = "auto", encoder_runs: int = 3,
                click_runs: int = 10, threads: Optional[int] = None, log=print) -> dict:
    """Times the official PyTorch predictor (eager, CPU) against ours on the same image and prompts.

    Runs alternate between the two (torch, ours, torch, ours, ...) so that a busy machine slows
    both alike; the ratios come from these interleaved runs.
    """
    import torch

    from edgemask.export.checkpoint import build_model, load_state_dict
    from edgemask.export.registry import get_spec
    from edgemask.runtime.bench import prompts, thread_count
    from edgemask.runtime.predictor import Predictor
    from edgemask.runtime.shapes import mask_to_polygons

    n_threads = thread_count(threads)
    torch.set_num_threads(n_threads)
    ours = Predictor(model_dir, device=device, cache=False, threads=threads)
    spec = get_spec(ours.model.name)
    model = build_model(spec, load_state_dict(Path(checkpoint))).eval()
    if spec.family == "sam":
        from segment_anything import SamPredictor

        official = SamPredictor(model)
    else:
        from efficientsam.models.efficientvit.sam import EfficientViTSamPredictor

        official = EfficientViTSamPredictor(model)
    log(f"benchmarking the official PyTorch {torch.__version__} predictor, interleaved with ours ...")
    h, w = image.shape[:2]
    click = prompts(h, w)["1 point"]

    def torch_click():
        masks, scores, _ = official.predict(**click)
        mask_to_polygons(masks[int(np.argmax(scores))])

    def our_click():
        mask, _, _ = ours.predict_mask(**click)
        mask_to_polygons(mask)

    pairs = {"encoder": ((lambda: official.set_image(image)), (lambda: ours.set_image(image)), encoder_runs)}
    for pname, kw in prompts(h, w).items():
        pairs[f"predict {pname}"] = ((lambda kw=kw: official.predict(**kw)), (lambda kw=kw: ours.predict(**kw)),
                                     click_runs)
    pairs["click end-to-end"] = (torch_click, our_click, click_runs)
    out = {"torch": torch.__version__}
    with torch.inference_mode():
        official.set_image(image)
        ours.set_image(image)
        for key, (theirs_fn, ours_fn, runs) in pairs.items():
            times = {"torch": [], "ours": []}
            for fn in (theirs_fn, ours_fn):
                fn()  # warm-up
            for _ in range(runs):
                for side, fn in (("torch", theirs_fn), ("ours", ours_fn)):
                    t0 = time.perf_counter()
                    fn()
                    times[side].append((time.perf_counter() - t0) * 1000)
            out[key] = {"median_ms": float(np.median(times["torch"])), "p90_ms": float(np.percentile(times["torch"], 90)),
                        "ours_median_ms": float(np.median(times["ours"])), "runs": runs}
    ours.close()
    return out
