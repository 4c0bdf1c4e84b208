"""Time to proposals for one photo with a cached embedding: edgemask's MaskGenerator against the
official automatic mask generator (segment_anything's / EfficientViT-SAM's) on the same checkpoint,
in the same run, taking turns.

    python benchmarks/bench_prelabel.py --model sam-vit-b=DIR:CKPT --model efficientvit-sam-l0=DIR:CKPT \
        [--size 4000x3000] [--points-per-side 32] [--rounds 1] [--official-batch 16] [--lowered] [--before REV]

DIR is an exported model folder, CKPT the checkpoint it was exported from. The encoder is not timed
on either side: ours reads the embedding from the memory cache, the official generator's predictor is
given its features once (set_image on the same image reuses them). --lowered uses the thresholds
of tests/runtime/test_mask_generator.py, which let random-weight models' masks through the filters
(so that the stability scoring and upscaling of candidates is timed too); default: the official
defaults. The official generator runs --official-batch points at a time (its full-size logits of
64 points x 3 masks of a 4000x3000 photo would take 9 GB); results do not depend on the batch size.
--before REV also times runtime/mask_generator.py as it was at git revision REV (before/after in one run).
The load average is printed before and after each model: the machine may be shared.
"""

import argparse
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                flags = open("/proc/cpuinfo").read()
                simd = [f for f in ("avx2", "avx512f", "avx512_vnni") if f" {f}" in flags]
                return f"{line.split(':', 1)[1].strip()} ({', '.join(simd) or 'no AVX2'})"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def generator_at(rev: str):
    """The MaskGenerator class of runtime/mask_generator.py at git revision `rev`."""
    source = subprocess.run(["git", "show", f"{rev}:runtime/mask_generator.py"], check=True, capture_output=True,
                            text=True).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location(f"mask_generator_{rev.replace('~', '_')}", f.name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    os.unlink(f.name)
    return module.MaskGenerator


def load() -> str:
    return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg())


def official(name: str, ckpt: str, image, **kw):
    """The official generator with its predictor's features computed once for `image`."""
    import torch

    if name.startswith("sam-"):
        from segment_anything import SamAutomaticMaskGenerator, sam_model_registry

        gen = SamAutomaticMaskGenerator(sam_model_registry[name.removeprefix("sam-").replace("-", "_")](
            checkpoint=ckpt).eval(), **kw)
    else:
        from efficientsam.models.efficientvit.sam import EfficientViTSamAutomaticMaskGenerator
        from efficientsam.sam_model_zoo import create_efficientvit_sam_model

        gen = EfficientViTSamAutomaticMaskGenerator(
            create_efficientvit_sam_model(name, pretrained=True, weight_url=ckpt).eval(), **kw)
    pred = gen.predictor
    with torch.no_grad():
        pred.set_image(image)
    held = (pred.features, pred.original_size, pred.input_size)
    real_set = pred.set_image

    def set_image(img, *a, **k):  # the cached embedding: the same image is not encoded again
        if img.shape == image.shape and (img is image or (img == image).all()):
            pred.features, pred.original_size, pred.input_size = held
            pred.is_image_set = True
            return
        real_set(img, *a, **k)

    pred.set_image = set_image
    return gen


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, metavar="NAME=DIR:CKPT")
    ap.add_argument("--size", default="4000x3000", metavar="WxH")
    ap.add_argument("--points-per-side", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--official-batch", type=int, default=16)
    ap.add_argument("--lowered", action="store_true")
    ap.add_argument("--skip-official", action="store_true")
    ap.add_argument("--before", metavar="REV", help="also time the MaskGenerator of this git revision")
    args = ap.parse_args()
    sys.path[:0] = ["tests", "tests/runtime"]
    from edgemask.runtime import Predictor
    from edgemask.runtime.bench import synthetic_photo
    from edgemask.runtime.mask_generator import MaskGenerator

    w, h = (int(v) for v in args.size.split("x"))
    image = synthetic_photo(h, w, seed=7)
    kw = dict(points_per_side=args.points_per_side)
    if args.lowered:
        from test_mask_generator import LOWERED
    print(f"CPU: {cpu_name()}; photo {w}x{h}; {args.points_per_side}x{args.points_per_side} points; "
          f"{'lowered' if args.lowered else 'official default'} thresholds; {load()}", flush=True)
    before = generator_at(args.before) if args.before else None
    for spec in args.model:
        name, rest = spec.split("=", 1)
        folder, ckpt = rest.rsplit(":", 1)
        params = dict(kw, **(LOWERED[name] if args.lowered else {}))
        if args.lowered:
            params["box_nms_thresh"] = 0.7
        pred = Predictor(folder, device="cpu", cache="memory")
        pred.set_image(image)  # the embedding, cached
        ours = {"edgemask": MaskGenerator(pred, **params)}
        if before is not None:
            ours[f"edgemask@{args.before}"] = before(pred, **params)
        theirs = None if args.skip_official else official(name, ckpt, image, points_per_batch=args.official_batch,
                                                           **params)
        times = {key: [] for key in [*ours, "official"]}
        counts = {}
        print(f"  {name}: {load()}", flush=True)
        for _ in range(args.rounds):  # taking turns, so that load changes hit all
            for key, gen in ours.items():
                t = time.perf_counter()
                counts[key] = len(gen.generate(image))
                times[key].append(time.perf_counter() - t)
                print(f"  {name} {key}: {times[key][-1]:.1f} s, {counts[key]} masks; {load()}", flush=True)
            if theirs is not None:
                import torch

                with torch.no_grad():
                    t = time.perf_counter()
                    counts["official"] = len(theirs.generate(image))
                    times["official"].append(time.perf_counter() - t)
                print(f"  {name} official: {times['official'][-1]:.1f} s, {counts['official']} masks; {load()}",
                      flush=True)
        other = statistics.median(times["official"]) if times["official"] else None
        for key in ours:
            mine = statistics.median(times[key])
            line = f"{name}: {key} {mine:.1f} s"
            if other:
                line += f", official {other:.1f} s, ratio {mine / other:.2f}x"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
