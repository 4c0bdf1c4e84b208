import numpy as np
import pytest

from edgemask.runtime.transforms import apply_coords, check_image, encoder_input, resize_shape
from synthetic import IMAGE_SHAPES, synthetic_image

MEAN = (123.675, 116.28, 103.53)


@pytest.mark.parametrize("h,w", IMAGE_SHAPES + [(1080, 1920), (1, 999), (1024, 1024)])
@pytest.mark.parametrize("long", [512, 1024])
def test_resize_shape_matches_official(h, w, long):
    from segment_anything.utils.transforms import ResizeLongestSide

    assert resize_shape(h, w, long) == ResizeLongestSide.get_preprocess_shape(h, w, long)


@pytest.mark.parametrize("h,w", IMAGE_SHAPES)
def test_encoder_input_matches_official_resize_and_padding(h, w):
    pytest.importorskip("torch")
    from segment_anything.utils.transforms import ResizeLongestSide

    image = synthetic_image(h, w, seed=3)
    out = encoder_input(image, 512, MEAN)
    official = ResizeLongestSide(512).apply_image(image)
    nh, nw = official.shape[:2]
    assert out.shape == (512, 512, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:nh, :nw], official.astype(np.float32))
    np.testing.assert_allclose(out[nh:, :, :], np.broadcast_to(np.float32(MEAN), out[nh:].shape))
    np.testing.assert_allclose(out[:, nw:, :], np.broadcast_to(np.float32(MEAN), out[:, nw:].shape))


@pytest.mark.parametrize("h,w", IMAGE_SHAPES)
def test_apply_coords_matches_official(h, w):
    from segment_anything.utils.transforms import ResizeLongestSide

    pts = np.array([[0, 0], [w, h], [w / 3, h / 7]], np.float64)
    np.testing.assert_allclose(apply_coords(pts, (h, w), 1024),
                               ResizeLongestSide(1024).apply_coords(pts, (h, w)), rtol=1e-6)


def test_check_image_accepts_rgb_and_bgr():
    image = synthetic_image(20, 30)
    np.testing.assert_array_equal(check_image(image, "BGR"), image[..., ::-1])
    assert check_image(image[:, ::2]).flags.c_contiguous


@pytest.mark.parametrize("bad,match", [
    (np.zeros((10, 10), np.uint8), "HxWx3"),
    (np.zeros((10, 10, 4), np.uint8), "HxWx3"),
    (np.zeros((10, 10, 3), np.float32), "uint8"),
    (np.zeros((0, 10, 3), np.uint8), "empty"),
    ([[1, 2, 3]], "numpy array"),
])
def test_check_image_rejects_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        check_image(bad)


def test_check_image_rejects_unknown_format():
    with pytest.raises(ValueError, match="image_format"):
        check_image(synthetic_image(5, 5), "RGBA")
