"""Image and prompt transforms matching the official SAM / EfficientViT-SAM pipelines."""

from typing import Optional, Tuple

import numpy as np
from PIL import Image

_PIL_FILTERS = {
    "nearest": Image.NEAREST,
    "bilinear": Image.BILINEAR,
    "bicubic": Image.BICUBIC,
    "lanczos": Image.LANCZOS,
}


def resize_shape(h: int, w: int, long_side: int) -> Tuple[int, int]:
    """(h, w) scaled so that the longest side is `long_side`, rounded as the official code does."""
    scale = long_side * 1.0 / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


def check_image(image, image_format: str = "RGB") -> np.ndarray:
    """Validates an HxWx3 uint8 image and returns it as contiguous RGB."""
    if image_format not in ("RGB", "BGR"):
        raise ValueError(f"image_format must be 'RGB' or 'BGR', not {image_format!r}.")
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array (HxWx3 uint8), not {type(image).__name__}.")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape HxWx3 (RGB), got {image.shape}; convert grey or RGBA images to RGB first.")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 with values 0..255, got dtype {image.dtype}.")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image is empty (shape {image.shape}).")
    if image_format == "BGR":
        image = image[..., ::-1]
    return np.ascontiguousarray(image)


def resize_for_encoder(image: np.ndarray, size: int, interpolation: str = "bilinear") -> np.ndarray:
    """The uint8 image Pillow-resized so that its long side is `size` (the encoder input before padding)."""
    h, w = image.shape[:2]
    new_h, new_w = resize_shape(h, w, size)
    if new_h < 1 or new_w < 1:
        raise ValueError(f"the {w}x{h} image is too thin for the model: scaled to {size} pixels "
                         f"on its long side it would be {new_w}x{new_h}")
    if (new_h, new_w) == (h, w):
        return image
    try:
        resample = _PIL_FILTERS[interpolation]
    except KeyError:
        raise ValueError(f"unknown interpolation {interpolation!r} in model.json.") from None
    return np.asarray(Image.fromarray(image).resize((new_w, new_h), resample))


def pad_for_encoder(resized: np.ndarray, size: int, pixel_mean, out: Optional[np.ndarray] = None) -> np.ndarray:
    """The encoder's float32 [size, size, 3] input: a resized image padded with pixel_mean."""
    if out is None:
        out = np.empty((size, size, 3), np.float32)
    out[...] = np.asarray(pixel_mean, np.float32)
    out[:resized.shape[0], :resized.shape[1]] = resized
    return out


def encoder_input(
    image: np.ndarray,
    size: int,
    pixel_mean,
    interpolation: str = "bilinear",
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """The encoder's float32 [size, size, 3] input: Pillow-resized to the long side, padded with pixel_mean."""
    return pad_for_encoder(resize_for_encoder(image, size, interpolation), size, pixel_mean, out)


def square_encoder_input(image: np.ndarray, size: int) -> np.ndarray:
    """SAM 2.1's encoder input: float32 [size, size, 3], the image resized on both axes (aspect ratio not
    kept) as torchvision's antialiased bilinear Resize does on the float tensor, with Pillow's float mode
    (the filter torchvision's was ported from), so no rounding to uint8 in between."""
    h, w = image.shape[:2]
    out = np.empty((size, size, 3), np.float32)
    for c in range(3):
        channel = np.ascontiguousarray(image[:, :, c], dtype=np.float32)
        if (h, w) == (size, size):
            out[:, :, c] = channel
        else:
            out[:, :, c] = np.asarray(Image.fromarray(channel).resize((size, size), Image.BILINEAR))
    return out


def scale_coords(coords: np.ndarray, original_size: Tuple[int, int], frame: int) -> np.ndarray:
    """Pixel (x, y) coordinates -> SAM 2.1's square prompt frame: each axis scaled on its own."""
    old_h, old_w = original_size
    coords = np.array(coords, dtype=np.float32, copy=True)
    coords[..., 0] = coords[..., 0] / np.float32(old_w) * np.float32(frame)
    coords[..., 1] = coords[..., 1] / np.float32(old_h) * np.float32(frame)
    return coords


def apply_coords(coords: np.ndarray, original_size: Tuple[int, int], frame: int) -> np.ndarray:
    """Pixel (x, y) coordinates -> the model's prompt frame, as ResizeLongestSide.apply_coords."""
    old_h, old_w = original_size
    new_h, new_w = resize_shape(old_h, old_w, frame)
    coords = np.array(coords, dtype=np.float64, copy=True)
    coords[..., 0] *= new_w / old_w
    coords[..., 1] *= new_h / old_h
    return coords.astype(np.float32)


def load_image(path) -> np.ndarray:
    """Reads an image file as HxWx3 uint8 RGB, EXIF orientation applied (as browsers show it)."""
    from PIL import ImageOps

    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img)
        return to_rgb8(img)


def to_rgb8(img: Image.Image) -> np.ndarray:
    """A Pillow image as HxWx3 uint8 RGB. 16-bit and 32-bit grey images (modes I;16, I, F) are
    scaled from 0..65535 to 0..255, where Pillow's own convert would clip them to white."""
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        values = np.asarray(img, dtype=np.float64) / 257.0
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(img.convert("RGB"))
