import numpy as np
import pytest

from edgemask.runtime.postprocess import MaskUpscaler

torch = pytest.importorskip("torch")


def official_upscale(low_res, original_size, input_size):
    """SamPredictor / EfficientViT-SAM postprocess_masks, in torch."""
    import torch.nn.functional as F

    x = torch.from_numpy(low_res)[None]
    x = F.interpolate(x, (1024, 1024), mode="bilinear", align_corners=False)
    x = x[..., : input_size[0], : input_size[1]]
    return F.interpolate(x, original_size, mode="bilinear", align_corners=False)[0].numpy()


@pytest.mark.parametrize("size", [(480, 640), (700, 389), (333, 517), (1080, 1920), (1024, 1024), (5, 2000)])
def test_upscale_matches_official_postprocess(size):
    rng = np.random.default_rng(1)
    # smooth logits of SAM's scale: blobs of +-20
    low = np.stack([np.kron(rng.normal(0, 10, (32, 32)), np.ones((8, 8))) for _ in range(3)]).astype(np.float32)
    up = MaskUpscaler(size)
    ref = official_upscale(low, size, up.input_size)
    ours = up.batch(low, return_logits=True)
    assert ours.shape == (3, *size) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=2e-3 * np.abs(ref).max())
    masks = up.batch(low)
    assert masks.dtype == bool
    agree = (masks == (ref > 0)).mean()
    assert agree > 0.9999


def test_mask_u8_is_0_255_threshold():
    low = np.linspace(-5, 5, 256 * 256, dtype=np.float32).reshape(256, 256)
    up = MaskUpscaler((300, 400))
    u8 = up.mask_u8(low)
    assert u8.dtype == np.uint8 and set(np.unique(u8)) <= {0, 255}
    np.testing.assert_array_equal(u8 == 255, up.mask(low))
