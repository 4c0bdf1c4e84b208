"""`edgemask export` and `edgemask models ...` (download, list)."""

import argparse
import json
import time
from pathlib import Path

from edgemask import paths
from edgemask.cli import UserError
from edgemask.export.registry import MODELS, get_spec


def register(sub) -> None:
    names = ", ".join(MODELS)
    p = sub.add_parser(
        "export",
        help="convert an official checkpoint to an ONNX model folder (no PyTorch needed)",
        description="Convert an official SAM / EfficientViT-SAM checkpoint into DIR/encoder.onnx, "
        "DIR/decoder.onnx and DIR/model.json, which `edgemask serve` and the runtime use. No PyTorch: "
        "edgemask reads the checkpoint itself (refusing files that would run code) and fills the graphs "
        "it ships, which were traced from the official code. --trace, or an opset no graph ships for, "
        "traces the official code instead and needs the export extra: pip install 'edgemask[export]'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="precisions: fp32 (exact), fp16 (GPUs; halves the files), int8 (CPUs; dynamic quantisation "
        "of MatMul/Gemm weights)\nexample: edgemask models download efficientvit-sam-l0 && "
        "edgemask export efficientvit-sam-l0 --precision int8\n(or both at once: edgemask models get efficientvit-sam-l0)",
    )
    p.add_argument("model", metavar="MODEL", help=f"one of: {names}")
    p.add_argument("--checkpoint", type=Path,
                   help="checkpoint file (default: the one `edgemask models download MODEL` fetched)")
    p.add_argument("--out", type=Path, help="output folder (default: the model cache, MODEL-PRECISION)")
    p.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp32")
    p.add_argument("--opset", type=int, default=20,
                   help="ONNX opset (default 20, the shipped graphs' opset; 17 for TensorRT 8.x, e.g. JetPack 5, "
                   "which lacks the Gelu op, traces and needs PyTorch)")
    p.add_argument("--trace", action="store_true",
                   help="trace the official code with PyTorch instead of filling the shipped graph")
    p.set_defaults(func=_export)

    m = sub.add_parser("models", help="download official checkpoints, list models",
                       description="Manage checkpoints and exported model folders in the cache "
                       f"({paths.home()}; set EDGEMASK_HOME to move it).")
    msub = m.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    d = msub.add_parser("download", help="fetch an official checkpoint (resumable, verified)",
                        description="Fetch MODEL's official checkpoint from its official URL into the cache, "
                        "with a progress bar; an interrupted download resumes when run again.")
    d.add_argument("model", metavar="MODEL", help=f"one of: {names}")
    d.add_argument("--url", help="fetch from this address instead (a mirror)")
    d.add_argument("--sha256", help="verify against this sha256 (64 hex digits) instead of the official "
                   "file's, for a mirror that serves another file (a fine-tuned checkpoint)")
    d.add_argument("--dir", type=Path, help="where to save (default: the checkpoint cache)")
    d.set_defaults(func=_download)
    g = msub.add_parser("get", help="download MODEL's checkpoint and export it into the cache, in one step",
                        description="Fetch MODEL's official checkpoint (resumable, verified) and export it "
                        "into the model cache as MODEL-PRECISION, where `edgemask serve` finds it; no PyTorch "
                        "needed. Does nothing when that folder is current.")
    g.add_argument("model", metavar="MODEL", help=f"one of: {names}")
    g.add_argument("--precision", choices=["fp32", "fp16", "int8"],
                   help="default: what this machine runs fastest (fp16 with a GPU, int8 on a CPU with VNNI or "
                   "ARM dot product, else fp32; `edgemask doctor` says which)")
    g.add_argument("--url", help="fetch the checkpoint from this address instead (a mirror)")
    g.add_argument("--sha256", help="verify against this sha256 (64 hex digits) instead of the official "
                   "file's, for a mirror that serves another file (a fine-tuned checkpoint)")
    g.set_defaults(func=_get)
    ls = msub.add_parser("list", help="known models, downloaded checkpoints and exported folders")
    ls.set_defaults(func=_list)


def extend(sub) -> None:
    """`edgemask bench --checkpoint` (a runtime command) times the official PyTorch predictor with
    this package's checkpoint reader."""
    if "bench" in sub.choices:
        sub.choices["bench"].set_defaults(compare_torch=_compare_torch)


def _compare_torch(*args, **kwargs) -> dict:
    from edgemask.export.torch_bench import bench_torch

    return bench_torch(*args, **kwargs)


def _export(args) -> int:
    try:
        spec = get_spec(args.model)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    checkpoint = args.checkpoint or paths.checkpoints_dir() / spec.filename
    if not checkpoint.exists():
        raise UserError(f"no checkpoint at {checkpoint}: pass --checkpoint PATH or run "
                        f"`edgemask models download {spec.name}` first")
    out = args.out or paths.models_dir() / f"{spec.name}-{args.precision}"
    try:
        from edgemask.export.checkpoint import CheckpointError
        from edgemask.export.exporter import export_model
    except ModuleNotFoundError as exc:
        raise UserError(f"export needs {exc.name}, which is not installed: pip install 'edgemask[cpu]'") from None
    start = time.monotonic()

    def progress(message):
        print(f"[{time.monotonic() - start:6.1f}s] {message}", flush=True)

    try:
        export_model(spec.name, checkpoint, out, precision=args.precision, opset=args.opset, progress=progress,
                     method="trace" if args.trace else "auto")
    except CheckpointError as exc:
        raise UserError(str(exc)) from None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return 0


def _download(args) -> int:
    from edgemask.export.download import DownloadError, download_checkpoint

    try:
        path = download_checkpoint(args.model, dest_dir=args.dir, url=args.url, sha256=args.sha256)
    except (DownloadError, ValueError) as exc:
        raise UserError(str(exc)) from None
    print(path)
    return 0


def _get(args) -> int:
    from edgemask.export.checkpoint import CheckpointError
    from edgemask.export.download import DownloadError, OfflineError
    from edgemask.export.get import get_model, offline_hint, preferred_precision

    precision = args.precision or preferred_precision()
    try:
        spec = get_spec(args.model)
        folder, fetched = get_model(spec.name, precision, url=args.url, sha256=args.sha256)
    except OfflineError as exc:
        raise UserError(f"{exc.where}: you seem to be offline. {offline_hint(spec.name, precision)}") from None
    except (DownloadError, CheckpointError, ValueError) as exc:
        raise UserError(str(exc)) from None
    if fetched:
        print(f"ready: {folder} (edgemask serve finds it)")
    else:
        print(f"{folder} is current already; nothing to do")
    return 0


def _list(args) -> int:
    ckpts = paths.checkpoints_dir()
    print(f"{'model':22} {'checkpoint':10} url")
    for spec in MODELS.values():
        have = "yes" if (ckpts / spec.filename).exists() else "-"
        print(f"{spec.name:22} {have:10} {spec.url}")
    folders = sorted(p.parent for p in paths.models_dir().glob("*/model.json")) if paths.models_dir().exists() else []
    print(f"\nexported model folders in {paths.models_dir()}:" + ("" if folders else " none"))
    for folder in folders:
        meta = json.loads((folder / "model.json").read_text())
        print(f"  {folder.name:28} {meta.get('model')} {meta.get('precision')}")
    return 0
