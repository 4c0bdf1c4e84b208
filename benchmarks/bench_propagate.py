"""Propagating masks along a sequence on this CPU: seconds per 1920x1080 frame for sam2.1-hiera-tiny
(encoder + memory attention + decoder + memory encoder, each part timed) and the memory the bank holds
per frame and object, with edgemask.runtime.sequence_predictor.

    python benchmarks/bench_propagate.py [--frames 10] [--objects 1] [--model DIR]

--model: a SAM 2.1 model folder with the video graphs; without it random weights of the official
architecture are exported to --cache (default /tmp/edgemask-bench-propagate; timings do not depend on
the values). The machine may be shared: the load average is printed before and after."""

import argparse
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import synthetic_image  # noqa: E402
from turns import load, machine_line  # noqa: E402

NAME = "sam2.1-hiera-tiny"


class Timed:
    """An onnxruntime session whose run() adds its seconds to totals[name]; a `shadow` session (the
    memory attention as exported, before runtime.fuse_attention) runs on the same inputs right after,
    timed apart, so both figures come from the same moments of a shared machine."""

    def __init__(self, session, name, totals, shadow=None):
        self.session, self.name, self.totals, self.shadow = session, name, totals, shadow

    def run(self, *args, **kwargs):
        t = time.perf_counter()
        out = self.session.run(*args, **kwargs)
        self.totals[self.name] += time.perf_counter() - t
        if self.shadow is not None:
            t = time.perf_counter()
            ref = self.shadow.run(*args, **kwargs)
            self.totals[self.name + " (unfused)"] += time.perf_counter() - t
            self.totals["fused vs unfused, max abs diff"] = max(self.totals["fused vs unfused, max abs diff"],
                                                                float(np.abs(ref[0] - out[0]).max()))
        return out


def model_folder(args) -> Path:
    if args.model:
        return Path(args.model)
    folder = args.cache / NAME
    if not (folder / "memory_attention.onnx").exists():  # SAM 2.1 exports carry the video graphs
        import torch
        from sam2.build_sam import build_sam2

        from edgemask.export.exporter import export_model
        from edgemask.export.registry import get_spec

        ckpt = args.cache / f"{NAME}.pt"
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"model": build_sam2(get_spec(NAME).config, ckpt_path=None, device="cpu").state_dict()}, ckpt)
        export_model(NAME, ckpt, folder, progress=lambda *_: None)
    return folder


def main(argv=None):
    from edgemask.runtime.sequence_predictor import SequenceModel, SequencePredictor

    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--objects", type=int, default=1)
    ap.add_argument("--model", help="model folder with the video graphs")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/edgemask-bench-propagate"))
    ap.add_argument("--unfused", action="store_true",
                    help="also run the memory attention as exported (no fused attention) on the same inputs")
    args = ap.parse_args(argv)
    lscpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout.strip()
    print(lscpu or "lscpu: no Model name line")
    print(machine_line())

    folder = model_folder(args)
    model = SequenceModel(folder)
    totals = defaultdict(float)
    unfused = None
    if args.unfused:
        from edgemask.runtime.sequence_predictor import _session

        unfused = _session(folder / model.video["graphs"]["memory_attention"], None)
    for attr, name in (("encoder", "encoder"), ("attention", "memory attention"), ("decoder", "decoder"),
                       ("memory_encoder", "memory encoder")):
        setattr(model, attr, Timed(getattr(model, attr), name, totals, unfused if attr == "attention" else None))
    scene = synthetic_image(1080 + 4 * args.frames, 1920 + 8 * args.frames, seed=7)
    frames = [np.ascontiguousarray(scene[4 * i:4 * i + 1080, 8 * i:8 * i + 1920]) for i in range(args.frames)]
    predictor = SequencePredictor(model)
    state = predictor.init_state(frames)
    for k in range(args.objects):
        predictor.add_new_points_or_box(state, 0, k + 1, points=np.array([[400.0 + 300 * k, 500.0]]),
                                        labels=np.array([1]))
    first = dict(totals)
    totals.clear()
    t0 = time.perf_counter()
    steps = []
    for _ in predictor.propagate_in_video(state):
        steps.append(time.perf_counter())
    tracked = args.frames - 1  # frame 0 is the prompted one
    per_frame = (steps[-1] - steps[0]) / max(1, tracked)
    print(f"{NAME}, {args.objects} object(s), {args.frames} frames of 1920x1080; {load()}")
    print(f"  prompt on frame 0: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in first.items()))
    print(f"  propagate: {per_frame:.2f} s per frame (frames 1..{tracked}; preflight + frame 0: "
          f"{steps[0] - t0:.2f} s)")
    for name, seconds in totals.items():
        if "diff" in name:
            print(f"    {name}: {seconds:.2e}")
            continue
        print(f"    {name:26} {seconds / max(1, tracked) * 1000:8.0f} ms per frame (summed over objects)")
    if unfused is not None:
        print("  (per frame excludes the unfused runs: the propagate figure above includes them)")
    held = predictor.memory_bytes(state)
    print(f"  memory bank: {held / 2 ** 20:.1f} MiB for {args.frames} frames x {args.objects} object(s) = "
          f"{held / args.frames / args.objects / 2 ** 20:.2f} MiB per frame and object (bfloat16 spatial memory "
          f"64x64x64, low-res mask 256x256 fp32, pointer), plus {predictor.cached_frames} cached frame embeddings "
          f"of {model.folder.embedding_shape[0] * 4 / 2 ** 20:.1f} MiB")
    print(f"  {load()}; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
