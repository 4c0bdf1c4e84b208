"""Per-family geometry: image -> encoder input, prompts -> decoder inputs, the decoder's four masks ->
the ones asked for, logits -> image pixels. `family_of(model)` picks the one for a model folder."""

from typing import Optional, Tuple

import numpy as np

from edgemask.runtime.model_folder import ModelFolder
from edgemask.runtime.postprocess import MaskUpscaler, SquareUpscaler
from edgemask.runtime.transforms import apply_coords, encoder_input, scale_coords, square_encoder_input

_PADDING = (np.zeros((1, 2), np.float32), np.array([-1], np.float32))
_BOX_LABELS = np.array([2, 3], np.float32)


class SamFamily:
    """SAM and EfficientViT-SAM (SamPredictor): the longest side resized and padded with the pixel mean;
    points first, then the box corners; a padding point only without a box; mask 0 is the single mask."""

    def __init__(self, model: ModelFolder) -> None:
        self.model = model

    def encoder_input(self, image: np.ndarray) -> np.ndarray:
        m = self.model
        return encoder_input(image, m.encoder_size, m.pixel_mean, m.interpolation)

    def upscaler(self, size: Tuple[int, int]) -> MaskUpscaler:
        return MaskUpscaler(tuple(size), self.model.prompt_frame, self.model.low_res_size)

    def to_frame(self, coords: np.ndarray, original_size) -> np.ndarray:
        return apply_coords(coords, original_size, self.model.prompt_frame)

    def prompt(self, points: Optional[np.ndarray], labels: Optional[np.ndarray], box: Optional[np.ndarray],
               original_size) -> Tuple[np.ndarray, np.ndarray]:
        """Checked pixel prompts (points Nx2, labels N, box 2x2 or None) -> decoder coords [1,M,2], labels [1,M]."""
        parts = []
        if points is not None and len(points):
            parts.append((self.to_frame(points, original_size), labels.astype(np.float32)))
        if box is not None:
            parts.append((self.to_frame(box, original_size), _BOX_LABELS))
        else:
            parts.append(_PADDING)
        return _join(parts)

    def select(self, iou: np.ndarray, low: np.ndarray, multimask: bool) -> Tuple[np.ndarray, np.ndarray]:
        """(low-res logits Cx256x256, iou C) of the masks asked for, from the decoder's four."""
        idx = list(self.model.multimask_indices) if multimask else [self.model.single_mask_index]
        return low[idx], iou[idx]

    def clamp_low_res(self, low: np.ndarray) -> np.ndarray:
        """The low-res logits predict() returns (masks come from the unclamped ones)."""
        return low

    def image_embedding(self, host: np.ndarray) -> np.ndarray:
        """What get_image_embedding returns, from the cached embedding."""
        return host


class Sam2Family(SamFamily):
    """SAM 2.1 (SAM2ImagePredictor): the image resized to the square on both axes, coordinates scaled per
    axis; the box corners first, then the points, then always the padding point; without multimask the
    single mask falls back to the best multimask output when its stability score is low; returned
    low-res logits are clamped. The embedding packs image_embed and the two high-resolution features."""

    def __init__(self, model: ModelFolder) -> None:
        super().__init__(model)
        decoder = model.config["decoder"]
        fallback = decoder.get("single_mask_fallback")
        self.fallback = (np.float32(fallback["stability_delta"]), np.float32(fallback["stability_thresh"])) \
            if fallback else None
        self.clamp = float(decoder.get("low_res_clamp", 0)) or None
        parts = model.config["encoder"].get("embedding_parts") or []
        self.embed_shape = tuple(parts[0]["shape"]) if parts else None

    def encoder_input(self, image: np.ndarray) -> np.ndarray:
        return square_encoder_input(image, self.model.encoder_size)

    def upscaler(self, size: Tuple[int, int]) -> MaskUpscaler:
        return SquareUpscaler(tuple(size), self.model.prompt_frame, self.model.low_res_size)

    def to_frame(self, coords: np.ndarray, original_size) -> np.ndarray:
        return scale_coords(coords, original_size, self.model.prompt_frame)

    def prompt(self, points, labels, box, original_size):
        parts = []
        if box is not None:
            parts.append((self.to_frame(box, original_size), _BOX_LABELS))
        if points is not None and len(points):
            parts.append((self.to_frame(points, original_size), labels.astype(np.float32)))
        parts.append(_PADDING)
        return _join(parts)

    def select(self, iou, low, multimask):
        if multimask or self.fallback is None:
            low, iou = super().select(iou, low, multimask)
        else:
            single = self.model.single_mask_index
            best = self.model.multimask_indices[int(np.argmax(iou[list(self.model.multimask_indices)]))]
            idx = single if _stability(low[single], self.fallback[0]) >= self.fallback[1] else best
            low, iou = low[idx:idx + 1], iou[idx:idx + 1]
        return low, iou

    def clamp_low_res(self, low: np.ndarray) -> np.ndarray:
        return np.clip(low, -self.clamp, self.clamp) if self.clamp else low

    def image_embedding(self, host: np.ndarray) -> np.ndarray:
        if self.embed_shape is None:
            return host
        size = int(np.prod(self.embed_shape))
        return host.reshape(-1)[:size].reshape(self.embed_shape)


def _stability(logits: np.ndarray, delta: np.float32) -> np.float32:
    """The official stability score: area above +delta over area above -delta (1 when both are empty)."""
    inner = np.float32(np.count_nonzero(logits > delta))
    outer = np.float32(np.count_nonzero(logits > -delta))
    return inner / outer if outer > 0 else np.float32(1.0)


def _join(parts) -> Tuple[np.ndarray, np.ndarray]:
    coords = np.concatenate([c for c, _ in parts])[None].astype(np.float32)
    labels = np.concatenate([lbl for _, lbl in parts])[None].astype(np.float32)
    return coords, labels


FAMILIES = {"sam2.1": Sam2Family}


def family_of(model: ModelFolder) -> SamFamily:
    """The geometry of `model`'s family (SAM's for families it does not list)."""
    return FAMILIES.get(model.family, SamFamily)(model)
