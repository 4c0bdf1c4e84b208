"""`export_model`: official checkpoint -> encoder.onnx + decoder.onnx + model.json."""

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import torch

from edgemask import __version__
from edgemask.export.checkpoint import build_model, load_state_dict
from edgemask.export.decoder_split import write_split
from edgemask.export.download import file_sha256
from edgemask.export.graphs import DecoderGraph, EncoderGraph, chunk_global_attention, matrix_upsampling
from edgemask.export.precision import INT8_WEIGHT_RANGE, to_fp16, to_int8
from edgemask.runtime.model_folder import remember_digest
from edgemask.export.registry import SAM_MEAN, SAM_STD, ModelSpec, get_spec

PRECISIONS = ("fp32", "fp16", "int8")
DEFAULT_OPSET = 20  # Gelu is one op from opset 20: EfficientViT encoders run 1.5-2x faster on CPU
MIN_OPSET = 16  # GridSample-free graphs, but LayerNorm folding and Resize semantics want >= 16


def export_model(name: str, checkpoint, out_dir, precision: str = "fp32", opset: int = DEFAULT_OPSET,
                 progress=print) -> Path:
    """Export model `name` from `checkpoint` into `out_dir`; returns the folder.

    Writes atomically: files are built in a temporary folder beside `out_dir` and moved in at the end,
    so an interrupted export never leaves a half-written model folder.
    """
    spec = get_spec(name)
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if not MIN_OPSET <= opset <= 21:
        raise ValueError(f"opset {opset} is not supported; use {MIN_OPSET}..21 (default {DEFAULT_OPSET})")
    checkpoint = Path(checkpoint)
    progress(f"loading {checkpoint} as {name}")
    model = build_model(spec, load_state_dict(checkpoint))

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        fp32 = work / "fp32"
        fp32.mkdir()
        progress(f"exporting encoder ({spec.encoder_size}x{spec.encoder_size} input)")
        _export_encoder(model, spec, fp32 / "encoder.onnx", opset)
        progress("exporting decoder")
        _export_decoder(model, spec, fp32 / "decoder.onnx", opset)
        del model
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
        progress("splitting the decoder into per-image and per-click parts")
        split = write_split(final)
        manifest = _manifest(spec, precision, opset, checkpoint, final, split)
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


def _export_encoder(model, spec: ModelSpec, path: Path, opset: int) -> None:
    s = spec.encoder_size
    if spec.family == "sam":
        chunk_global_attention(model.image_encoder)
    else:
        matrix_upsampling(model.image_encoder, torch.zeros(1, 3, s, s))
    graph = EncoderGraph(model.image_encoder, SAM_MEAN, SAM_STD).eval()
    dummy = torch.rand(s, s, 3) * 255
    _onnx_export(graph, (dummy,), path, opset, ["image"], ["image_embeddings"], None)


def _export_decoder(model, spec: ModelSpec, path: Path, opset: int) -> None:
    graph = DecoderGraph(model, spec.prompt_frame).eval()
    n = 3
    dummy = (
        torch.randn(1, 256, 64, 64),
        torch.randint(0, spec.prompt_frame, (1, n, 2)).float(),
        torch.tensor([[1, 0, -1]], dtype=torch.float32),
        torch.randn(1, 1, 256, 256),
        torch.tensor([1], dtype=torch.float32),
    )
    names = ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input"]
    dynamic = {"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"}}
    _onnx_export(graph, dummy, path, opset, names, ["iou_predictions", "low_res_masks"], dynamic)


def _onnx_export(graph, args, path: Path, opset, input_names, output_names, dynamic_axes) -> None:
    # torch 2.14's dynamo exporter fails on the SAM decoder (ValueRangeError); the TorchScript exporter
    # handles both halves of every family.
    scratch = Path(tempfile.mkdtemp(dir=path.parent))
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph, args, str(scratch / path.name), dynamo=False, opset_version=opset,
                do_constant_folding=True, input_names=input_names, output_names=output_names,
                dynamic_axes=dynamic_axes,
            )
        if len(list(scratch.iterdir())) == 1:
            os.replace(scratch / path.name, path)
        else:
            # over 2 GB (sam-vit-h) the exporter writes one file per weight: gather them into one
            import onnx

            model = onnx.load(str(scratch / path.name))
            onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                            location=path.name + ".data")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _manifest(spec: ModelSpec, precision: str, opset: int, checkpoint: Path, folder: Path, split: dict) -> dict:
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
        },
        "decoder": {
            "file": "decoder.onnx", "prompt_frame": spec.prompt_frame, "low_res_size": 256,
            "single_mask_index": 0, "multimask_indices": [1, 2, 3], "split": split,
        },
        **({"quantization": {"weights": "int8, per output channel, symmetric", "weight_range": list(INT8_WEIGHT_RANGE),
                             "activations": "uint8, dynamic"}} if precision == "int8" else {}),
        "checkpoint": {"file": checkpoint.name, "sha256": file_sha256(checkpoint)},
        "files": {
            f.name: {"bytes": f.stat().st_size, "sha256": file_sha256(f)}
            for f in sorted(folder.iterdir()) if f.name.startswith(("encoder", "decoder"))
        },
        "edgemask_version": __version__,
    }

