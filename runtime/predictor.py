"""`Predictor`: a torch-free drop-in for segment_anything.SamPredictor on an exported model folder."""

import threading
import time
from typing import Iterable, Optional, Tuple

import numpy as np

from edgemask.runtime.cache import DEFAULT_DISK_BYTES, DEFAULT_MEMORY_BYTES, EmbeddingCache, file_identity, image_key
from edgemask.runtime.encode_ahead import EncodeAhead
from edgemask.runtime.engine import Engine
from edgemask.runtime.families import family_of
from edgemask.runtime.model_folder import load_model_folder
from edgemask.runtime.providers import DeviceSettings
from edgemask.runtime.transforms import check_image, load_image


class Predictor:
    """Runs an exported SAM / EfficientViT-SAM / SAM 2.1 model folder like SamPredictor (SAM 2.1 like
    SAM2ImagePredictor), without PyTorch.

    Arguments:
      model_dir: folder with model.json, encoder.onnx and decoder.onnx.
      device: "auto" (TensorRT, CUDA, CoreML, DirectML, CPU: the first that loads),
        or one of "tensorrt", "cuda", "coreml", "directml", "cpu". A provider that
        fails to load is reported in one warning line and the next one is used.
      cache: True for the memory + disk embedding cache (disk under
        edgemask.paths.embeddings_dir() or `cache_dir`), "memory" for memory only,
        False for none, or an EmbeddingCache.
      threads: intra-op threads (default: physical cores, or $EDGEMASK_THREADS).
      gpu_mem_limit: bytes for the CUDA memory arena (default from the model size).
    """

    def __init__(self, model_dir, device: str = "auto", cache=True, cache_dir=None,
                 memory_cache_bytes: int = DEFAULT_MEMORY_BYTES, disk_cache_bytes: int = DEFAULT_DISK_BYTES,
                 threads: Optional[int] = None, gpu_mem_limit: Optional[int] = None,
                 io_binding: Optional[bool] = None, spinning: bool = True):
        self.model = load_model_folder(model_dir)
        self.family = family_of(self.model)
        self.engine = Engine(self.model, device, DeviceSettings(gpu_mem_limit=gpu_mem_limit), threads=threads,
                             io_binding=io_binding, spinning=spinning)
        if isinstance(cache, EmbeddingCache):
            self.cache = cache
        elif cache is True or cache == "memory":
            if cache is True and cache_dir is None:
                from edgemask.paths import embeddings_dir

                cache_dir = embeddings_dir()
            self.cache = EmbeddingCache(self.model.identity, cache_dir if cache is True else None,
                                        memory_bytes=memory_cache_bytes, disk_bytes=disk_cache_bytes,
                                        model_name=self.model.name,
                                        embedding_shape=self.model.embedding_shape)
        elif not cache:
            self.cache = None
        else:
            raise ValueError(f"cache must be True, 'memory', False or an EmbeddingCache, not {cache!r}.")
        self.embedding_cached = False  # whether the last set_image found its embedding in a cache
        self.embedding_ms = 0.0  # time the last set_image took
        self._state_lock = threading.RLock()
        self.encode_ahead = EncodeAhead(self.engine.encode, self.encoder_input, self.cache)
        self.reset_image()

    # -- SamPredictor API ------------------------------------------------
    @property
    def device(self) -> str:
        """The device the encoder runs on: tensorrt, cuda, coreml, directml or cpu."""
        return self.engine.device

    def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
        """Computes (or finds in the cache) the embedding of an HxWx3 uint8 image for predict()."""
        start = time.perf_counter()
        image = check_image(image, image_format)
        key = image_key(image)
        embedding, cached = self.encode_ahead.embedding(key, lambda: self.encoder_input(image))
        if cached:  # a host array from a cache: onto the device once, for the clicks
            embedding = self.engine.to_device(embedding.host)
        self._hold(embedding, key, image.shape[:2], cached, start)

    def _hold(self, embedding, key: str, size, cached: bool, start: float) -> None:
        upscaler = self.family.upscaler(tuple(size))
        self.engine.prepare(embedding)  # click-independent decoder work, once per image
        with self._state_lock:
            self._embedding_value = embedding
            self._upscaler = upscaler
            self.original_size = upscaler.original_size
            self.input_size = upscaler.input_size
            self.image_key = key
            self.is_image_set = True
            self.embedding_cached = cached
            self.embedding_ms = (time.perf_counter() - start) * 1000

    def set_image_file(self, path, image_format: str = "RGB") -> np.ndarray:
        """Reads an image file (EXIF orientation applied), sets it and returns the RGB array."""
        image = load_image(path)
        self.set_image(image, "RGB")
        return image

    def set_image_path(self, path, read=load_image) -> None:
        """Sets an image file for predict(). When the cache's file index knows this file (same
        path, size and mtime) and its embedding is cached, the file is not decoded at all;
        otherwise `read(path)` (an HxWx3 RGB uint8 array) goes through set_image()."""
        start = time.perf_counter()
        identity = file_identity(path)
        known = self.cache.files.get(identity) if self.cache is not None else None
        if known is not None:
            key, height, width = known
            host = self.cache.get(key)
            if host is not None:
                self._hold(self.engine.to_device(host), key, (height, width), True, start)
                return
        image = read(path)
        self.set_image(image, "RGB")
        if self.cache is not None:
            self.cache.files.put(identity, self.image_key, *self.original_size)

    def reset_image(self) -> None:
        """Forgets the current image (cached embeddings stay cached)."""
        with self._state_lock:
            self.is_image_set = False
            self._embedding_value = None
            self._upscaler = None
            self.original_size = None
            self.input_size = None
            self.image_key = None

    def get_image_embedding(self) -> np.ndarray:
        """The current image's embedding, float32 1x256x64x64 (a host copy; for SAM 2.1 its image_embed,
        without the high-resolution features)."""
        with self._state_lock:
            if not self.is_image_set:
                raise RuntimeError("An image must be set with .set_image(...) to generate an embedding.")
            return np.array(self.family.image_embedding(self._embedding_value.host), copy=True)

    def get_decoder_embedding(self) -> np.ndarray:
        """The current image's embedding as decoder.onnx takes it (float32; for SAM 2.1 image_embed and
        the high-resolution features packed), read-only, not a copy."""
        with self._state_lock:
            if not self.is_image_set:
                raise RuntimeError("An image must be set with .set_image(...) to generate an embedding.")
            view = self._embedding_value.host.view()
        view.flags.writeable = False
        return view

    def held_embedding(self):
        """(embedding, upscaler) of the current image: the engine's Embedding (on the device; for SAM 2.1
        with its high-resolution features) and its MaskUpscaler, for callers that run the decoder on
        many prompts themselves (the automatic mask generator)."""
        with self._state_lock:
            if not self.is_image_set:
                raise RuntimeError("An image must be set with .set_image(...) before mask prediction.")
            return self._embedding_value, self._upscaler

    def predict(self, point_coords: Optional[np.ndarray] = None, point_labels: Optional[np.ndarray] = None,
                box: Optional[np.ndarray] = None, mask_input: Optional[np.ndarray] = None,
                multimask_output: bool = True, return_logits: bool = False
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks for point / box / mask prompts in original image pixels, as SamPredictor.predict.

        Returns (masks CxHxW bool, or float32 logits with return_logits; iou_predictions C;
        low_res_masks Cx256x256 float32 logits), C = 3 with multimask_output else 1.
        """
        low, iou, upscaler = self._decode(point_coords, point_labels, box, mask_input, multimask_output)
        masks = upscaler.batch(low, return_logits=return_logits, threshold=self.model.mask_threshold)
        return masks, iou, self.family.clamp_low_res(low)

    def predict_mask(self, point_coords: Optional[np.ndarray] = None, point_labels: Optional[np.ndarray] = None,
                     box: Optional[np.ndarray] = None, mask_input: Optional[np.ndarray] = None,
                     multimask_output: bool = True) -> Tuple[np.ndarray, float, np.ndarray]:
        """The one best mask for a click: (HxW bool mask, predicted IoU, 1x256x256 low-res logits).

        With multimask_output the highest-scoring of the three masks is taken; only
        that one is upscaled, which is what an interactive click needs.
        """
        low, iou, upscaler = self._decode(point_coords, point_labels, box, mask_input, multimask_output)
        best = int(np.argmax(iou))
        mask = upscaler.mask(low[best], self.model.mask_threshold)
        return mask, float(iou[best]), self.family.clamp_low_res(low[best:best + 1])

    # -- encoding ahead (edgemask.runtime.encode_ahead) -------------------------------------
    @property
    def encoder_runs(self) -> int:
        """How many times this predictor's encoder ran."""
        return self.encode_ahead.runs

    def encoder_input(self, image: np.ndarray) -> np.ndarray:
        """The encoder's float32 [S, S, 3] input for an HxWx3 uint8 RGB image."""
        return self.family.encoder_input(image)

    def prefetch(self, images: Iterable) -> None:
        """Warms the embedding cache for upcoming images (paths or HxWx3 RGB arrays) in a background thread.

        A new call replaces the images still waiting from an earlier call. Images that
        fail to load are skipped (logged at debug level).
        """
        self.encode_ahead.prefetch(images)

    def wait_prefetch(self, timeout: Optional[float] = None) -> bool:
        """Blocks until the prefetch queue is empty; False on timeout."""
        return self.encode_ahead.wait(timeout)

    def close(self) -> None:
        """Stops the prefetch thread (pending images are dropped)."""
        self.encode_ahead.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals -------------------------------------------------------
    def _decode(self, point_coords, point_labels, box, mask_input, multimask_output):
        with self._state_lock:
            if not self.is_image_set:
                raise RuntimeError("An image must be set with .set_image(...) before mask prediction.")
            embedding, upscaler = self._embedding_value, self._upscaler
        coords, labels = self._prompt(point_coords, point_labels, box, upscaler.original_size)
        mask = self._mask_input(mask_input)
        iou, low = self.engine.decode(embedding, coords, labels, mask)
        low, iou = self.family.select(iou, low, multimask_output)
        return low, iou, upscaler

    def _prompt(self, point_coords, point_labels, box, original_size):
        h, w = original_size
        pts = lbl = b = None
        if point_coords is not None:
            if point_labels is None:
                raise ValueError("point_labels must be supplied if point_coords is supplied.")
            pts = np.asarray(point_coords, dtype=np.float64)
            lbl = np.asarray(point_labels, dtype=np.float64)
            if pts.ndim != 2 or pts.shape[1] != 2:
                raise ValueError(f"point_coords must have shape Nx2 (x, y), got {pts.shape}.")
            if lbl.shape != (pts.shape[0],):
                raise ValueError(f"point_labels must have shape ({pts.shape[0]},) to match point_coords, got {lbl.shape}.")
            if not np.all(np.isfinite(pts)):
                raise ValueError("point_coords contains NaN or infinite values.")
            if not np.all(np.isin(lbl, (-1, 0, 1, 2, 3))):
                raise ValueError("point_labels must be 1 (foreground) or 0 (background).")
            outside = (pts[:, 0] < 0) | (pts[:, 0] > w) | (pts[:, 1] < 0) | (pts[:, 1] > h)
            if outside.any():
                x, y = pts[np.argmax(outside)]
                raise ValueError(f"point ({x:g}, {y:g}) is outside the {w}x{h} image.")
        if box is not None:
            b = np.asarray(box, dtype=np.float64).reshape(-1)
            if b.shape != (4,):
                raise ValueError(f"box must be 4 numbers x0, y0, x1, y1, got shape {np.shape(box)}.")
            if not np.all(np.isfinite(b)):
                raise ValueError("box contains NaN or infinite values.")
            if b[2] < b[0] or b[3] < b[1]:
                raise ValueError(f"box {b.tolist()} must be x0, y0, x1, y1 with x0 <= x1 and y0 <= y1.")
            if b[0] < 0 or b[1] < 0 or b[2] > w or b[3] > h:
                raise ValueError(f"box {b.tolist()} is not inside the {w}x{h} image.")
            b = b.reshape(2, 2)
        if b is None and (pts is None or not len(pts)):
            raise ValueError("no prompt: give at least one point or a box.")
        return self.family.prompt(pts, lbl, b, original_size)

    def _mask_input(self, mask_input):
        if mask_input is None:
            return None
        size = self.model.low_res_size
        m = np.asarray(mask_input)
        if m.size != size * size or m.shape[-2:] != (size, size):
            raise ValueError(f"mask_input must be 1x{size}x{size} low-res logits (low_res_masks of a previous "
                             f"prediction, one mask), got shape {m.shape}.")
        return m.astype(np.float32, copy=False).reshape(1, 1, size, size)
