"""What the page needs to run the model's decoder itself (webui/static/decoder/): whether it can, the
model's prompt geometry, and each image's embedding packed compactly for the wire.

The packed embedding is the float32 tensor decoder.onnx takes (SAM 2.1: image_embed and the two
high-resolution features, as the encoder packs them) rounded to float16, its bytes shuffled (all low
bytes, then all high bytes: the high bytes hold sign and exponent and compress well) and deflated
(zlib, level 1). The page inflates it with DecompressionStream("deflate").
"""

import threading
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Optional

import numpy as np

FORMAT = "fp16-shuffled-deflate/1"
MAX_DECODER_BYTES = 64 * 2**20  # a decoder larger than this stays on the server
VENDOR = Path(__file__).resolve().parents[1] / "static" / "vendor" / "onnxruntime-web"
VENDOR_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
_FP16_MAX = float(np.finfo(np.float16).max)


def unavailable_reason(predictor) -> Optional[str]:
    """Why the page cannot run this predictor's decoder (one sentence), or None when it can."""
    model = getattr(predictor, "model", None)
    if predictor is None:
        return "No model is loaded."
    if model is None or not hasattr(predictor, "get_decoder_embedding"):
        return "This model is not an exported model folder, so its decoder runs on the server only."
    missing = [name for name in VENDOR_FILES if not (VENDOR / name).is_file()]
    if missing:
        return (f"onnxruntime-web is not installed with edgemask ({missing[0]} is missing; run "
                "scripts/fetch_onnxruntime_web.py), so the decoder runs on the server.")
    if model.decoder_path.with_name(model.decoder_path.name + ".data").exists():
        return "The model's decoder keeps its weights in a separate file, so it runs on the server only."
    size = max(path.stat().st_size for path in decoder_files(model).values())
    if size > MAX_DECODER_BYTES:
        return (f"The model's decoder has {size / 2**20:.0f} MB, more than the {MAX_DECODER_BYTES // 2**20} MB "
                "a page loads, so it runs on the server.")
    return None


def decoder_config(model) -> dict:
    """The model.json facts the page's prompt preparation and mask post-processing need."""
    decoder = model.config["decoder"]
    parts = model.config["encoder"].get("embedding_parts") or [{"name": "image_embeddings",
                                                                 "shape": list(model.embedding_shape)}]
    fallback = decoder.get("single_mask_fallback")
    return {
        "model": model.name,
        "family": model.family,
        "precision": model.precision,
        "prompt_frame": model.prompt_frame,
        "low_res_size": model.low_res_size,
        "mask_threshold": model.mask_threshold,
        "single_mask_index": model.single_mask_index,
        "multimask_indices": list(model.multimask_indices),
        "square": model.family == "sam2.1",  # resized on both axes: coords scaled per axis, no crop
        "box_first": decoder.get("prompt_order") == "box_first",
        "padding_always": decoder.get("padding_point") == "always",
        "low_res_clamp": float(decoder.get("low_res_clamp", 0)) or None,
        "single_mask_fallback": fallback or None,
        "embedding_shape": list(model.embedding_shape),
        "embedding_parts": parts,
        "embedding_format": FORMAT,
        "decoder_bytes": {part: path.stat().st_size for part, path in decoder_files(model).items()},
        "split_tensors": list(model.split_tensors) if model.split_click_path is not None else None,
    }


def decoder_files(model) -> dict:
    """The decoder files the page may fetch, by part: "full" (decoder.onnx, which takes a mask input) and,
    for a split decoder, "image" (once per image) and "click" (per click without a mask input)."""
    files = {"full": model.decoder_path}
    if model.split_click_path is not None:
        files |= {"image": model.split_image_path, "click": model.split_click_path}
    return files


def pack_embedding(embedding: np.ndarray) -> bytes:
    """float32 embedding -> FORMAT bytes (values beyond float16's range are clipped to it)."""
    half = np.clip(np.asarray(embedding, np.float32).reshape(-1), -_FP16_MAX, _FP16_MAX).astype("<f2")
    shuffled = half.view(np.uint8).reshape(-1, 2).T.copy()
    return zlib.compress(shuffled.tobytes(), 1)


def unpack_embedding(data: bytes) -> np.ndarray:
    """FORMAT bytes -> the flat float32 embedding (what the page's worker computes)."""
    raw = np.frombuffer(zlib.decompress(data), np.uint8)
    return raw.reshape(2, -1).T.copy().view("<f2").reshape(-1).astype(np.float32)


class PackedEmbeddings:
    """The last few packed embeddings, by (model identity, image key): revisits and several annotators
    on one image are not packed again."""

    def __init__(self, entries: int = 4):
        self.entries = entries
        self._items = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, make):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.entries:
                self._items.popitem(last=False)
        return value
