"""Low-res decoder logits -> masks in original image pixels.

The official pipelines upsample the 256x256 logits bilinearly (align_corners=False)
to the square prompt frame, crop the valid `input_size` region, and resize that to
the original image size. `MaskUpscaler` computes the same values with OpenCV but
only upsamples the rows and columns of the low-res grid that the crop needs.
"""

import math
from typing import Tuple

import cv2
import numpy as np

from edgemask.runtime.transforms import resize_shape


class MaskUpscaler:
    """Per-image geometry of the upscaling, computed once per image and reused for each click."""

    def __init__(self, original_size: Tuple[int, int], prompt_frame: int = 1024, low_res_size: int = 256):
        self.original_size = (int(original_size[0]), int(original_size[1]))
        self.input_size = resize_shape(*self.original_size, prompt_frame)
        factor = prompt_frame / low_res_size
        if factor != int(factor):
            raise ValueError(f"prompt frame {prompt_frame} is not a multiple of the low-res size {low_res_size}.")
        self.factor = int(factor)
        # low-res rows/cols that the crop reads, plus one neighbour so that
        # OpenCV's border clamping never kicks in inside the crop
        in_h, in_w = self.input_size
        self.block = (
            min(low_res_size, math.ceil(in_h / self.factor) + 1),
            min(low_res_size, math.ceil(in_w / self.factor) + 1),
        )

    def crop_logits(self, low_res: np.ndarray) -> np.ndarray:
        """One 256x256 logit map -> the valid input_size region of the prompt frame (float32)."""
        bh, bw = self.block
        block = np.ascontiguousarray(low_res[:bh, :bw], dtype=np.float32)
        up = cv2.resize(block, (bw * self.factor, bh * self.factor), interpolation=cv2.INTER_LINEAR)
        return up[: self.input_size[0], : self.input_size[1]]

    def logits(self, low_res: np.ndarray) -> np.ndarray:
        """One 256x256 logit map -> float32 HxW logits in original image pixels."""
        crop = self.crop_logits(low_res)
        h, w = self.original_size
        if crop.shape == (h, w):
            return np.ascontiguousarray(crop)
        return cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)

    def mask(self, low_res: np.ndarray, threshold: float = 0.0) -> np.ndarray:
        """One 256x256 logit map -> HxW bool mask (logits > threshold)."""
        return self.logits(low_res) > threshold

    def mask_u8(self, low_res: np.ndarray, threshold: float = 0.0) -> np.ndarray:
        """One 256x256 logit map -> HxW uint8 mask, 255 inside, 0 outside (ready for PNG / contours)."""
        _, out = cv2.threshold(self.logits(low_res), threshold, 255, cv2.THRESH_BINARY)
        return out.astype(np.uint8)

    def batch(self, low_res: np.ndarray, return_logits: bool = False, threshold: float = 0.0) -> np.ndarray:
        """Cx256x256 logits -> CxHxW float32 logits or bool masks."""
        h, w = self.original_size
        out = np.empty((low_res.shape[0], h, w), np.float32 if return_logits else bool)
        for i, lr in enumerate(low_res):
            out[i] = self.logits(lr) if return_logits else self.mask(lr, threshold)
        return out


class SquareUpscaler(MaskUpscaler):
    """SAM 2.1's geometry: the image was resized to the square frame on both axes, so the 256x256 logits
    are resized straight to the image size (SAM2Transforms.postprocess_masks), no crop."""

    def __init__(self, original_size: Tuple[int, int], prompt_frame: int = 1024, low_res_size: int = 256):
        self.original_size = (int(original_size[0]), int(original_size[1]))
        self.input_size = (prompt_frame, prompt_frame)
        self.low_res_size = low_res_size

    def crop_logits(self, low_res: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(low_res, dtype=np.float32)

    def logits(self, low_res: np.ndarray) -> np.ndarray:
        h, w = self.original_size
        low_res = np.ascontiguousarray(low_res, dtype=np.float32)
        if low_res.shape == (h, w):
            return low_res.copy()
        return cv2.resize(low_res, (w, h), interpolation=cv2.INTER_LINEAR)
