"""Trace the official model into fp32 encoder.onnx / decoder.onnx with torch.onnx (needs PyTorch).

This is how every graph edgemask runs is made: `edgemask export --trace`, and
`edgemask.export.make_weightless`, which ships these graphs without weights for torch-free exports.
"""

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import torch

from edgemask.export.graphs import DecoderGraph, EncoderGraph, chunk_global_attention, matrix_upsampling
from edgemask.export.registry import SAM_MEAN, SAM_STD, ModelSpec


def trace_model(model, spec: ModelSpec, out_dir: Path, opset: int) -> None:
    """Write out_dir/encoder.onnx and out_dir/decoder.onnx (fp32) from the official `model` (modified in place)."""
    _export_encoder(model, spec, out_dir / "encoder.onnx", opset)
    _export_decoder(model, spec, out_dir / "decoder.onnx", opset)


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
