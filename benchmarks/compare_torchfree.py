"""Export a model both ways, torch-free (filling the shipped graphs) and by tracing with PyTorch, from
the same checkpoint, and compare the folders on the same inputs. Prints one line of figures.

    python benchmarks/compare_torchfree.py sam-vit-h                    # distinct random weights
    python benchmarks/compare_torchfree.py sam-vit-h --checkpoint sam_vit_h_4b8939.pth

Without --checkpoint every tensor gets distinct random values (BatchNorm statistics too; see
edgemask.export.make_weightless), which checks every recipe; it is not a working annotator.
The torch-free export runs first, so the peak RSS printed for it does not include tracing.
"""

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from export_compare import run_folder  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--work", type=Path, help="folder for the exports (default: a temporary one, removed)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="edgemask-torchfree-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        checkpoint = args.checkpoint
        if checkpoint is None:
            import torch

            from edgemask.export.make_weightless import distinct_state_dict

            checkpoint = work / f"{args.model}-distinct.pth"
            torch.save({k: torch.from_numpy(v) for k, v in distinct_state_dict(args.model).items()}, checkpoint)
            del torch
        from edgemask.export.exporter import export_model

        quiet = lambda *_: None  # noqa: E731
        start = time.monotonic()
        filled = export_model(args.model, checkpoint, work / "filled", method="fill", progress=quiet)
        fill_s = time.monotonic() - start
        fill_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        start = time.monotonic()
        traced = export_model(args.model, checkpoint, work / "traced", method="trace", progress=quiet)
        trace_s = time.monotonic() - start
        size = sum(f.stat().st_size for f in filled.iterdir()) / 2**20
        ours, ref = run_folder(filled), run_folder(traced)
        errors = {k: float(abs(ours[k] - ref[k]).max() / abs(ref[k]).max()) for k in ours}
        agree = min(float(((ours[k] > 0) == (ref[k] > 0)).mean()) for k in ("low", "low_click"))
        print(f"{args.model}: torch-free export {fill_s:.0f} s (peak RSS {fill_rss:.1f} GiB), traced {trace_s:.0f} s, "
              f"folder {size:.0f} MiB, embedding max rel. error {errors['embedding']:.1e}, "
              f"logits max rel. error {max(errors['low'], errors['low_click']):.1e}, "
              f"IoU-score max rel. error {max(errors['iou'], errors['iou_click']):.1e}, mask agreement {agree:.6f}",
              flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
