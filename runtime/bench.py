"""`edgemask bench`: encoder and per-click latency of a model folder, side by side with PyTorch when present."""

import gc
import os
import resource
import sys
import time
from typing import Callable, Optional

import numpy as np

BENCH_SIZE = (1080, 1920)  # the click benchmark's image: full HD


def synthetic_photo(h: int = BENCH_SIZE[0], w: int = BENCH_SIZE[1], seed: int = 0) -> np.ndarray:
    """A deterministic RGB test picture: gradients, noise and a few filled shapes."""
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w * 200, yy / h * 200, (xx + yy) / (w + h) * 120], axis=-1)
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    for _ in range(6):
        color = [int(c) for c in rng.integers(0, 256, 3)]
        center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(img, center, int(rng.integers(min(h, w) // 12, min(h, w) // 4)), color, -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def prompts(h: int, w: int) -> dict:
    """The benchmark's prompts, in pixels of an h x w image."""
    return {
        "1 point": dict(point_coords=np.array([[0.4 * w, 0.5 * h]]), point_labels=np.array([1])),
        "5 points": dict(point_coords=np.array([[0.4 * w, 0.5 * h], [0.5 * w, 0.45 * h], [0.3 * w, 0.6 * h],
                                                [0.8 * w, 0.2 * h], [0.1 * w, 0.9 * h]]),
                         point_labels=np.array([1, 1, 1, 0, 0]), multimask_output=False),
        "box": dict(box=np.array([0.2 * w, 0.25 * h, 0.7 * w, 0.8 * h]), multimask_output=False),
    }


def reference_mask(h: int, w: int) -> np.ndarray:
    """A smooth object mask (an ellipse and an overlapping rectangle), like a trained model's.

    Random-weight test models give ragged masks with many small parts, whose polygons cost far
    more than a real object's; this row shows the cost for a mask of the kind real models give.
    """
    import cv2

    m = np.zeros((h, w), np.uint8)
    cv2.ellipse(m, (int(0.45 * w), int(0.5 * h)), (int(0.2 * w), int(0.3 * h)), 15, 0, 360, 1, -1)
    cv2.rectangle(m, (int(0.55 * w), int(0.3 * h)), (int(0.8 * w), int(0.6 * h)), 1, -1)
    return m.astype(bool)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def timed(fn: Callable, runs: int, warmup: int = 1) -> dict:
    """Median / p90 / min milliseconds of fn() over `runs` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    a = np.array(times)
    return {"median_ms": float(np.median(a)), "p90_ms": float(np.percentile(a, 90)), "min_ms": float(a.min()),
            "runs": runs}


def bench_runtime(model_dir, device: str = "auto", image: Optional[np.ndarray] = None, encoder_runs: int = 5,
                  click_runs: int = 30, threads: Optional[int] = None, log=print) -> dict:
    """Times the onnxruntime side: encoder, decoder per prompt, and the end-to-end click."""
    from edgemask.runtime.predictor import Predictor
    from edgemask.runtime.shapes import mask_to_polygons
    from edgemask.runtime.transforms import encoder_input

    rss_start = rss_mb()
    t0 = time.perf_counter()
    predictor = Predictor(model_dir, device=device, cache=False, threads=threads)
    load_s = time.perf_counter() - t0
    model = predictor.model
    image = synthetic_photo() if image is None else image
    h, w = image.shape[:2]
    log(f"benchmarking {model.name} ({model.precision}) on {predictor.device}, image {w}x{h} ...")
    results = {"model": model.name, "precision": model.precision, "device": predictor.device,
               "providers": predictor.engine.providers[0], "threads": thread_count(threads),
               "image": [w, h], "load_s": load_s}
    results["preprocess"] = timed(lambda: encoder_input(image, model.encoder_size, model.pixel_mean,
                                                        model.interpolation), max(encoder_runs, 3))
    results["encoder"] = timed(lambda: predictor.set_image(image), encoder_runs)
    embedding = predictor._embedding_value
    engine = predictor.engine
    for name, kw in prompts(h, w).items():
        coords, labels = predictor._prompt(kw.get("point_coords"), kw.get("point_labels"), kw.get("box"),
                                           (h, w))
        results[f"decoder {name}"] = timed(lambda: engine.decode(embedding, coords, labels), click_runs, 3)
    click = prompts(h, w)["1 point"]

    def end_to_end():
        mask, _, _ = predictor.predict_mask(**click)
        mask_to_polygons(mask)

    results["click end-to-end"] = timed(end_to_end, click_runs, 3)
    results["click mask"] = timed(lambda: predictor.predict_mask(**click), click_runs, 3)
    mask, _, low = predictor.predict_mask(**click)
    results["upscale+threshold"] = timed(lambda: predictor._upscaler.mask(low[0]), click_runs, 3)
    results["polygons"] = timed(lambda: mask_to_polygons(mask), click_runs, 3)
    results["polygons, smooth reference mask"] = timed(lambda: mask_to_polygons(reference_mask(h, w)), click_runs, 3)
    results["rss_mb"] = rss_mb()
    results["rss_model_mb"] = results["rss_mb"] - rss_start
    results["peak_rss_mb"] = peak_rss_mb()
    predictor.close()
    del predictor, embedding, engine
    gc.collect()
    return results


def thread_count(threads: Optional[int] = None) -> int:
    """The threads a benchmark uses: `threads`, else $EDGEMASK_THREADS, else the physical cores."""
    from edgemask.runtime.providers import physical_cores

    return threads or int(os.environ.get("EDGEMASK_THREADS", 0)) or physical_cores()


ROWS = [
    ("encoder (set_image, no cache)", "encoder", "encoder"),
    ("  of which preprocessing", "preprocess", None),
    ("decoder, 1 point", "decoder 1 point", "predict 1 point"),
    ("decoder, 5 points", "decoder 5 points", "predict 5 points"),
    ("decoder, box", "decoder box", "predict box"),
    ("upscale + threshold (best mask)", "upscale+threshold", None),
    ("polygons (this model's mask)", "polygons", None),
    ("polygons (smooth reference mask)", "polygons, smooth reference mask", None),
    ("click mask (1 point, no polygons)", "click mask", None),
    ("click end to end (1 point)", "click end-to-end", "click end-to-end"),
]


def format_table(r: dict) -> str:
    t = r.get("torch")
    w, h = r["image"]
    lines = [f"{r['model']} ({r['precision']}) on {r['device']}, {r['threads']} threads, image {w}x{h}"]
    head = f"{'':34s}{'median ms':>10s}{'p90 ms':>9s}"
    if t:
        head += f"{'torch ms':>10s}{'speed-up':>9s}  (speed-up from interleaved runs)"
    lines.append(head)
    for label, key, tkey in ROWS:
        row = r[key]
        line = f"{label:34s}{row['median_ms']:10.1f}{row['p90_ms']:9.1f}"
        if t and tkey and tkey in t:
            tm, om = t[tkey]["median_ms"], t[tkey]["ours_median_ms"]
            line += f"{tm:10.1f}{tm / om:8.2f}x"
        lines.append(line)
    lines.append(f"{'RSS after the runs (whole process)':34s}{r['rss_mb']:10.0f} MB")
    lines.append(f"{'peak RSS (before any torch run)':34s}{r['peak_rss_mb']:10.0f} MB")
    lines.append(f"decoder-only click timings exclude the 1 ms of prompt handling; end to end = predict_mask "
                 f"(decoder + crop-only upscale to {w}x{h} + threshold) + mask_to_polygons")
    return "\n".join(lines)
