"""A tiny model folder made in the test: real ONNX graphs with the encoder/decoder contract of
docs/model-format.md (shapes, names), cheap enough to run thousands of times. It exercises the
runtime's plumbing (sessions, caches, IO binding, prompts, geometry); parity with the official
predictors is tested on real exports in test_parity.py."""

import hashlib
import json
from pathlib import Path

import numpy as np


def _save(model, path: Path) -> None:
    import onnx

    onnx.checker.check_model(model)
    onnx.save_model(model, str(path))


def _encoder(size: int):
    from onnx import TensorProto, helper, numpy_helper

    weights = np.linspace(-1.0, 1.0, 256, dtype=np.float32).reshape(1, 256, 1, 1)
    nodes = [
        helper.make_node("Transpose", ["image"], ["chw"], perm=[2, 0, 1]),  # 3,S,S
        helper.make_node("ReduceMean", ["chw"], ["grey"], axes=[0], keepdims=1),  # 1,S,S
        helper.make_node("Unsqueeze", ["grey", "axes0"], ["grey4"]),  # 1,1,S,S
        helper.make_node("Resize", ["grey4", "", "", "size64"], ["small"], mode="linear"),  # 1,1,64,64
        helper.make_node("Mul", ["small", "w"], ["scaled"]),  # 1,256,64,64
        helper.make_node("Div", ["scaled", "c255"], ["image_embeddings"]),
    ]
    inits = [
        numpy_helper.from_array(weights, "w"),
        numpy_helper.from_array(np.array([0], np.int64), "axes0"),
        numpy_helper.from_array(np.array([1, 1, 64, 64], np.int64), "size64"),
        numpy_helper.from_array(np.array(255.0, np.float32), "c255"),
    ]
    graph = helper.make_graph(
        nodes, "tiny_encoder",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [size, size, 3])],
        [helper.make_tensor_value_info("image_embeddings", TensorProto.FLOAT, [1, 256, 64, 64])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _decoder():
    """low_res[k] = upsampled mean embedding + mask_input * has_mask + k + mean(x*label) / 1024;
    iou[k] = mean of low_res[k]. Every input changes the output."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceMean", ["image_embeddings"], ["m"], axes=[1], keepdims=1),  # 1,1,64,64
        helper.make_node("Resize", ["m", "", "", "size256"], ["m256"], mode="linear"),  # 1,1,256,256
        helper.make_node("Mul", ["mask_input", "has_mask_input"], ["mi"]),
        helper.make_node("Add", ["m256", "mi"], ["base"]),
        helper.make_node("Add", ["base", "offsets"], ["four"]),  # 1,4,256,256
        helper.make_node("Gather", ["point_coords", "zero"], ["xs"], axis=2),  # 1,N
        helper.make_node("Mul", ["xs", "point_labels"], ["xl"]),
        helper.make_node("ReduceMean", ["xl"], ["prompt"], keepdims=0),  # scalar
        helper.make_node("Div", ["prompt", "c1024"], ["prompt_n"]),
        helper.make_node("Add", ["four", "prompt_n"], ["low_res_masks"]),
        helper.make_node("ReduceMean", ["low_res_masks"], ["iou4"], axes=[2, 3], keepdims=0),  # 1,4
        helper.make_node("Identity", ["iou4"], ["iou_predictions"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([1, 1, 256, 256], np.int64), "size256"),
        numpy_helper.from_array(np.array([0.5, -1.0, 0.25, 1.0], np.float32).reshape(1, 4, 1, 1), "offsets"),
        numpy_helper.from_array(np.array(0, np.int64), "zero"),
        numpy_helper.from_array(np.array(1024.0, np.float32), "c1024"),
    ]
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "tiny_decoder",
        [
            helper.make_tensor_value_info("image_embeddings", f, [1, 256, 64, 64]),
            helper.make_tensor_value_info("point_coords", f, [1, "N", 2]),
            helper.make_tensor_value_info("point_labels", f, [1, "N"]),
            helper.make_tensor_value_info("mask_input", f, [1, 1, 256, 256]),
            helper.make_tensor_value_info("has_mask_input", f, [1]),
        ],
        [
            helper.make_tensor_value_info("iou_predictions", f, [1, 4]),
            helper.make_tensor_value_info("low_res_masks", f, [1, 4, 256, 256]),
        ],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def make_tiny_model(folder: Path, encoder_size: int = 64, name: str = "tiny-test-model") -> Path:
    """Writes encoder.onnx, decoder.onnx and model.json into `folder`; returns it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _save(_encoder(encoder_size), folder / "encoder.onnx")
    _save(_decoder(), folder / "decoder.onnx")
    files = {}
    for f in ("encoder.onnx", "decoder.onnx"):
        data = (folder / f).read_bytes()
        files[f] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    meta = {
        "format": "edgemask-model/1", "model": name, "family": "sam", "precision": "fp32", "opset": 17,
        "mask_threshold": 0.0,
        "encoder": {"file": "encoder.onnx", "input": "image", "input_size": encoder_size, "layout": "HWC",
                    "interpolation": "bilinear", "pixel_mean": [123.675, 116.28, 103.53],
                    "pixel_std": [58.395, 57.12, 57.375], "output": "image_embeddings",
                    "embedding_shape": [1, 256, 64, 64]},
        "decoder": {"file": "decoder.onnx", "prompt_frame": 1024, "low_res_size": 256,
                    "single_mask_index": 0, "multimask_indices": [1, 2, 3]},
        "checkpoint": {"file": "none", "sha256": ""},
        "files": files,
        "edgemask_version": "0.1.0",
    }
    (folder / "model.json").write_text(json.dumps(meta, indent=2))
    return folder
