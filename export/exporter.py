"""`export_model`: official checkpoint -> encoder.onnx + decoder.onnx + model.json."""

import importlib.util
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from edgemask import __version__
from edgemask.export import weightless
from edgemask.export.checkpoint import load_state_dict
from edgemask.export.decoder_split import write_split
from edgemask.export.download import file_sha256
from edgemask.export.precision import INT8_WEIGHT_RANGE, to_fp16, to_int8
from edgemask.runtime.model_folder import remember_digest
from edgemask.export.registry import SAM_MEAN, SAM_STD, ModelSpec, get_spec
from edgemask.export.video_weights import video_weights

PRECISIONS = ("fp32", "fp16", "int8")
DEFAULT_OPSET = 20  # Gelu is one op from opset 20: EfficientViT encoders run 1.5-2x faster on CPU
MIN_OPSET = 16  # GridSample-free graphs, but LayerNorm folding and Resize semantics want >= 16
METHODS = ("auto", "fill", "trace")
VIDEO_PREFIX = "memory_"  # SAM 2.1's video graphs: memory_attention / memory_decoder / memory_encoder.onnx


class NeedsTorch(ValueError):
    """This export needs tracing, and PyTorch or the official model code is not installed."""


GRID_WEIGHTS = "decoder_weights.npz"  # model.json decoder.grid_weights


def export_model(name: str, checkpoint, out_dir, precision: str = "fp32", opset: int = DEFAULT_OPSET,
                 progress=print, method: str = "auto") -> Path:
    """Export model `name` from `checkpoint` into `out_dir`; returns the folder.

    method "fill" fills the weightless graph shipped for (name, opset) with the checkpoint, no PyTorch
    needed; "trace" traces the official code with torch.onnx (the export extra); "auto" fills when a
    graph ships for the opset, else traces. Writes atomically: files are built in a temporary folder
    beside `out_dir` and moved in at the end, so an interrupted export never leaves a half-written folder.
    """
    spec = get_spec(name)
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if not MIN_OPSET <= opset <= 21:
        raise ValueError(f"opset {opset} is not supported; use {MIN_OPSET}..21 (default {DEFAULT_OPSET})")
    method = choose_method(name, opset, method)
    checkpoint = Path(checkpoint)
    progress(f"reading {checkpoint} as {name}")
    state_dict = load_state_dict(checkpoint)
    digest = file_sha256(checkpoint)
    if spec.sha256 and digest != spec.sha256:  # fine-tuned checkpoints are normal: say so, export it all the same
        progress(f"note: {checkpoint.name} is not the official {spec.filename} (sha256 {digest[:16]}..., the "
                 f"official file's is {spec.sha256[:16]}...): exporting it as a fine-tuned {name}")
    grid = _grid_decoder_weights(spec, state_dict)
    if method == "trace":
        from edgemask.export.checkpoint import build_model

        model = build_model(spec, state_dict)  # checks the keys and shapes first
        extra = _video_weights_of(spec, state_dict)
        del state_dict

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        fp32 = work / "fp32"
        fp32.mkdir()
        if method == "trace":
            progress(f"tracing encoder ({spec.encoder_size}x{spec.encoder_size} input) and decoder")
            video = trace_graphs(model, spec, fp32, opset)
            del model
        else:
            weightless.fill(name, state_dict, fp32, progress=progress)  # checks the keys and shapes first
            video, extra = weightless.shipped_meta(name).get("video"), _video_weights_of(spec, state_dict)
            del state_dict
        final = work / "final"
        final.mkdir()
        for part in ("encoder", "decoder"):
            src, dst = fp32 / f"{part}.onnx", final / f"{part}.onnx"
            if precision == "fp32":
                for f in fp32.glob(f"{part}.onnx*"):
                    shutil.move(str(f), final / f.name)
            elif precision == "fp16":
                progress(f"converting {part} to fp16")
                to_fp16(src, dst)
            else:
                progress(f"quantising {part} to int8")
                to_int8(src, dst, part)
        for f in fp32.glob(f"{VIDEO_PREFIX}*.onnx*"):  # the video graphs stay fp32 (model.json "video")
            shutil.move(str(f), final / f.name)
        progress("splitting the decoder into per-image and per-click parts")
        split = write_split(final)
        if grid:
            np.savez(final / GRID_WEIGHTS, **grid)
        manifest = _manifest(spec, precision, opset, checkpoint, digest, final, split, method)
        if grid:
            manifest["decoder"]["grid_weights"] = GRID_WEIGHTS
        if video:
            manifest["video"] = {**video, **extra}
        (final / "model.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(final, out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, entry in manifest["files"].items():  # loading it need not hash them again
        remember_digest(out_dir / name, entry["sha256"])
    progress(f"wrote {out_dir}")
    return out_dir


def trace_graphs(model, spec: ModelSpec, out_dir: Path, opset: int) -> Optional[dict]:
    """Trace the official `model` into out_dir/encoder.onnx + decoder.onnx (fp32) with its family's graphs,
    and SAM 2.1's video graphs (sam2_video_graphs); returns model.json's "video" section then, else None."""
    if spec.family == "sam2.1":
        from edgemask.export.sam2_graphs import trace_sam2
        from edgemask.export.sam2_video_graphs import has_video_parts, trace_video_parts

        if spec.builder.startswith("edgemask.export.edgetam:"):
            from edgemask.export.edgetam import traceable

            traceable(model)
        trace_sam2(model, out_dir, opset)
        return trace_video_parts(model, spec, out_dir, opset) if has_video_parts(spec) else None
    else:
        from edgemask.export.trace import trace_model

        trace_model(model, spec, out_dir, opset)
        return None


def _grid_decoder_weights(spec: ModelSpec, state_dict) -> dict:
    """SAM's mask decoder and prompt encoder weights (fp32), for the pre-label grid decoder
    (edgemask.runtime.grid_decoder); none for SAM 2.1, whose decoder differs."""
    if spec.family == "sam2.1":
        return {}
    return {k: np.asarray(v, np.float32) for k, v in state_dict.items()
            if k.startswith(("mask_decoder.", "prompt_encoder.")) and "mask_downscaling" not in k}


def _video_weights_of(spec: ModelSpec, state_dict) -> dict:
    return video_weights(state_dict) if spec.family == "sam2.1" else {}


def choose_method(name: str, opset: int, method: str = "auto") -> str:
    """"fill" or "trace" for exporting `name` at `opset`; NeedsTorch when only tracing could, without torch."""
    if method not in METHODS:
        raise ValueError(f"unknown export method {method!r}; choose one of: {', '.join(METHODS)}")
    shipped = opset in weightless.shipped_opsets(name)
    if method == "fill" or (method == "auto" and shipped):
        if not shipped:
            raise ValueError(f"no weightless graph ships for {name} at opset {opset}"
                             f" (shipped: {weightless.shipped_opsets(name) or 'none'})")
        return "fill"
    needed = ("torch", "segment_anything", "efficientsam") + (("sam2",) if get_spec(name).family == "sam2.1" else ())
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        why = f"opset {opset} has no shipped graph" if method == "auto" else "tracing was asked for"
        raise NeedsTorch(f"{why}, so this export traces the official code, which needs {', '.join(missing)}: "
                         f"pip install 'edgemask[export]'" + (f", or use --opset {DEFAULT_OPSET}" if not shipped else ""))
    return "trace"


def _sam2_encoder() -> dict:
    from edgemask.export.registry import SAM2_PARTS

    size = sum(math.prod(shape) for _, shape in SAM2_PARTS)
    return {"resize": "square", "resize_antialias": True, "embedding_shape": [size],
            "embedding_parts": [{"name": n, "shape": list(shape)} for n, shape in SAM2_PARTS]}


# model.json fields where a family differs from SAM's (docs/model-format.md, "SAM 2.1")
_FAMILY_ENCODER = {"sam2.1": _sam2_encoder()}
_FAMILY_DECODER = {"sam2.1": {
    "prompt_order": "box_first", "padding_point": "always", "low_res_clamp": 32.0,
    # build_sam2's default: the single mask falls back to the best multimask output when unstable
    "single_mask_fallback": {"stability_delta": 0.05, "stability_thresh": 0.98},
}}


def _manifest(spec: ModelSpec, precision: str, opset: int, checkpoint: Path, digest: str, folder: Path,
              split: dict, method: str) -> dict:
    return {
        "format": "edgemask-model/1",
        "model": spec.name,
        "family": spec.family,
        "precision": precision,
        "opset": opset,
        "mask_threshold": 0.0,
        "encoder": {
            "file": "encoder.onnx", "input": "image", "input_size": spec.encoder_size, "layout": "HWC",
            "interpolation": spec.interpolation, "pixel_mean": list(SAM_MEAN), "pixel_std": list(SAM_STD),
            "output": "image_embeddings", "embedding_shape": [1, 256, 64, 64],
            **_FAMILY_ENCODER.get(spec.family, {}),
        },
        "decoder": {
            "file": "decoder.onnx", "prompt_frame": spec.prompt_frame, "low_res_size": 256,
            "single_mask_index": 0, "multimask_indices": [1, 2, 3], "split": split,
            **_FAMILY_DECODER.get(spec.family, {}),
        },
        **({"quantization": {"weights": "int8, per output channel, symmetric", "weight_range": list(INT8_WEIGHT_RANGE),
                             "activations": "uint8, dynamic"}} if precision == "int8" else {}),
        "checkpoint": {"file": checkpoint.name, "sha256": digest, "official": digest == spec.sha256},
        "graphs": "traced" if method == "trace" else "shipped weightless graphs, filled",
        "files": {
            f.name: {"bytes": f.stat().st_size, "sha256": file_sha256(f)}
            for f in sorted(folder.iterdir()) if f.name.startswith(("encoder", "decoder", VIDEO_PREFIX))
        },
        "edgemask_version": __version__,
    }

