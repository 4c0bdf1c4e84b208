"""SAM 2.1 on this CPU: encoder and click times of edgemask's runtime vs the official SAM2ImagePredictor,
taking turns in one run, with ratios (the machine may be shared: compare ratios), and peak RSS.

    python benchmarks/bench_sam2.py [--models sam2.1-hiera-tiny sam2.1-hiera-small] [--rounds 3]
    python benchmarks/bench_sam2.py --models sam2.1-hiera-tiny --precision fp32 int8 --rounds 7

With several --precision values each round times torch and then every precision, in turn. int8 is
what `edgemask models get` opens on a CPU with VNNI (AVX512-VNNI / AVX-VNNI) or ARM dot product;
fp32 elsewhere.

Random weights of the official architectures (timings do not depend on the values); exports go to
--cache (default /tmp/edgemask-bench-sam2). Needs the export extra (torch, sam2)."""

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import synthetic_image  # noqa: E402
from turns import load, machine_line  # noqa: E402


def timed(fn, rounds):
    best = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        best.append(time.perf_counter() - t)
    return float(np.median(best))


def main(argv=None):
    import torch
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    from edgemask.export.exporter import export_model
    from edgemask.export.registry import get_spec
    from edgemask.runtime import Predictor

    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["sam2.1-hiera-tiny", "sam2.1-hiera-small"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "fp16", "int8"])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/edgemask-bench-sam2"))
    args = ap.parse_args(argv)
    from edgemask.runtime.providers import physical_cores

    image = synthetic_image(768, 1024, seed=1)
    print(machine_line())
    print(f"threads: torch {torch.get_num_threads()} (torch.get_num_threads()), edgemask's onnxruntime "
          f"{physical_cores()} (intra-op, physical cores)")
    click = dict(point_coords=np.array([[400.0, 300.0]]), point_labels=np.array([1]))
    for name in args.models:
        spec = get_spec(name)
        model = build_sam2(spec.config, ckpt_path=None, device="cpu")
        ckpt = args.cache / f"{name}.pt"
        if not ckpt.exists():
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"model": model.state_dict()}, ckpt)
        ours = {}
        for precision in args.precision:
            folder = args.cache / (name if precision == "fp32" else f"{name}-{precision}")
            if not (folder / "model.json").exists():
                export_model(name, ckpt, folder, precision=precision, progress=lambda *_: None)
            ours[precision] = Predictor(folder, device="cpu", cache=False)
        official = SAM2ImagePredictor(model)
        rows = {(what, p): [] for what in ("encoder", "click") for p in ours}
        for _ in range(args.rounds):  # taking turns, so load changes hit all alike
            with torch.inference_mode():
                t_enc = timed(lambda: official.set_image(image), 1)
                t_click = timed(lambda: official.predict(**click), 5)
            for p, pred in ours.items():
                rows["encoder", p].append((t_enc, timed(lambda: pred.set_image(image), 1)))
                rows["click", p].append((t_click, timed(lambda: pred.predict_mask(**click), 5)))
        for (what, p), pairs in rows.items():
            t_off, t_ours = (float(np.median(v)) for v in zip(*pairs))
            print(f"{name:22} {what:8} torch {t_off * 1000:8.1f} ms  edgemask {p} {t_ours * 1000:8.1f} ms  "
                  f"ratio {t_ours / t_off:.2f}  (rounds: {' '.join(f'{b / a:.2f}' for a, b in pairs)})", flush=True)
        print(f"  {load()}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
