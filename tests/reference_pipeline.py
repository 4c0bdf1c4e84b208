"""An independent, minimal reading of docs/model-format.md, used to check exported graphs against the
official predictors without going through edgemask.runtime."""

import numpy as np
import onnxruntime as ort
from PIL import Image


def contract_input(image: np.ndarray, size: int, mean) -> np.ndarray:
    """The encoder input the model-format doc specifies, made independently of edgemask.runtime."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nh, nw = int(h * scale + 0.5), int(w * scale + 0.5)
    resized = np.asarray(Image.fromarray(image).resize((nw, nh), Image.BILINEAR), dtype=np.float32)
    padded = np.empty((size, size, 3), np.float32)
    padded[:] = mean
    padded[:nh, :nw] = resized
    return padded


def sessions(folder):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    enc = ort.InferenceSession(str(folder / "encoder.onnx"), opts, providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(folder / "decoder.onnx"), opts, providers=["CPUExecutionProvider"])
    return enc, dec


def decoder_feeds(embedding, coords, labels, box, mask_input):
    """Our prompt convention: points, then box corners (labels 2, 3); a padding point when no box."""
    pts = np.zeros((0, 2), np.float32) if coords is None else np.asarray(coords, np.float32)
    lab = np.zeros((0,), np.float32) if labels is None else np.asarray(labels, np.float32)
    if box is not None:
        pts = np.concatenate([pts, np.asarray(box, np.float32).reshape(2, 2)])
        lab = np.concatenate([lab, [2, 3]])
    else:
        pts = np.concatenate([pts, [[0, 0]]])
        lab = np.concatenate([lab, [-1]])
    has_mask = mask_input is not None
    return {
        "image_embeddings": embedding.astype(np.float32),
        "point_coords": pts[None].astype(np.float32),
        "point_labels": lab[None].astype(np.float32),
        "mask_input": (mask_input if has_mask else np.zeros((1, 256, 256)))[None].astype(np.float32),
        "has_mask_input": np.array([1.0 if has_mask else 0.0], np.float32),
    }


def close_relative(ours, ref, rtol):
    scale = float(np.abs(ref).max()) + 1e-6
    err = float(np.abs(ours - ref).max())
    assert err <= rtol * scale, f"max abs error {err:.3g} exceeds {rtol} x scale {scale:.3g}"
