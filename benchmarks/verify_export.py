"""Export a model and check it against the official PyTorch predictor, end to end through
edgemask.runtime.Predictor. Prints one line of figures per prompt.

    python benchmarks/verify_export.py sam-vit-h --checkpoint sam_vit_h_4b8939.pth
    python benchmarks/verify_export.py efficientvit-sam-xl1 --random   # random init of the official architecture

With --random the weights are random: this checks the architecture and the export path, not the
quality of any annotation.
"""

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from edgemask.export.checkpoint import build_model, load_state_dict
from edgemask.export.exporter import export_model
from edgemask.export.registry import get_spec
from edgemask.runtime import Predictor


def official_predictor(spec, model):
    if spec.family == "sam":
        from segment_anything import SamPredictor

        return SamPredictor(model)
    from efficientsam.models.efficientvit.sam import EfficientViTSamPredictor

    return EfficientViTSamPredictor(model)


def random_checkpoint(spec, folder: Path) -> Path:
    from efficientsam.sam_model_zoo import create_efficientvit_sam_model
    from segment_anything import sam_model_registry

    torch.manual_seed(0)
    if spec.family == "sam":
        model = sam_model_registry[spec.name.removeprefix("sam-").replace("-", "_")](checkpoint=None)
    else:
        model = create_efficientvit_sam_model(spec.name, pretrained=False)
    path = folder / f"{spec.name}-random.pth"
    torch.save(model.state_dict(), path)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path)
    src.add_argument("--random", action="store_true", help="random init of the official architecture")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--work", type=Path, help="folder for the export (default: a temporary one)")
    args = ap.parse_args()
    spec = get_spec(args.model)
    work = args.work or Path(tempfile.mkdtemp(prefix="edgemask-verify-"))
    work.mkdir(parents=True, exist_ok=True)
    ckpt = args.checkpoint or random_checkpoint(spec, work)
    t0 = time.monotonic()
    folder = export_model(spec.name, ckpt, work / f"{spec.name}-{args.precision}", precision=args.precision)
    export_s = time.monotonic() - t0
    size_mb = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
    print(f"{spec.name}: exported in {export_s:.0f} s, folder {size_mb:.0f} MiB")

    official = official_predictor(spec, build_model(spec, load_state_dict(ckpt)))
    ours = Predictor(folder, device="cpu", cache=False)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    image[100:300, 200:420] = (30, 160, 90)
    official.set_image(image)
    t0 = time.monotonic()
    ours.set_image(image)
    enc_s = time.monotonic() - t0
    emb_err = np.abs(ours.get_image_embedding() - official.features.numpy()).max()
    print(f"  embedding: max abs err {emb_err:.2e} (scale {np.abs(official.features.numpy()).max():.2f}), "
          f"onnxruntime encoder {enc_s:.1f} s")
    prompts = {
        "point": dict(point_coords=np.array([[300, 200]]), point_labels=np.array([1])),
        "box+points": dict(point_coords=np.array([[300, 200], [50, 50]]), point_labels=np.array([1, 0]),
                           box=np.array([180, 80, 440, 320])),
    }
    worst_iou = 1.0
    for label, kwargs in prompts.items():
        m_ref, s_ref, l_ref = official.predict(**kwargs, multimask_output=True)
        m, s, low = ours.predict(**kwargs, multimask_output=True)
        rel = np.abs(low - l_ref).max() / (np.abs(l_ref).max() + 1e-6)
        ious = [np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1) for a, b in zip(m, m_ref)]
        worst_iou = min(worst_iou, min(ious))
        print(f"  {label}: low-res logits max rel err {rel:.2e}, mask IoU {min(ious):.4f}, "
              f"iou-pred max abs err {np.abs(s - s_ref).max():.2e}")
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB")
    return 0 if worst_iou > 0.98 else 1


if __name__ == "__main__":
    raise SystemExit(main())
