"""edgemask.runtime.mask_bounds: the low-res bounds on full-size stability scores hold, decide the masks
far from the threshold, and the boxes found from low-res logits are the upscaled masks' boxes."""

import numpy as np
import pytest

from edgemask.runtime import amg
from edgemask.runtime.mask_bounds import MaskBounds
from edgemask.runtime.postprocess import MaskUpscaler, SquareUpscaler


def blobs(n, seed, block):
    """Low-res logits of n elliptic blobs of random size and sharpness, with noise, centred in `block`."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:256, 0:256]
    out = []
    for _ in range(n):
        cy, cx = rng.uniform(0.1, 0.9, 2) * block
        radius, squash, slope = rng.uniform(2, 90), rng.uniform(0.5, 2), rng.uniform(0.5, 8)
        out.append((radius - np.hypot(yy - cy, (xx - cx) * squash)) * slope + rng.normal(0, 0.3, (256, 256)))
    return np.array(out, np.float32)


@pytest.mark.parametrize("upscaler", [MaskUpscaler((900, 1200)), MaskUpscaler((1400, 470)),
                                      MaskUpscaler((333, 517)), SquareUpscaler((600, 800))],
                         ids=["landscape", "portrait", "small", "sam2.1 square"])
def test_bounds_hold_and_boxes_are_exact(upscaler):
    bounds = MaskBounds(upscaler)
    low = blobs(8, upscaler.original_size[0], np.array(bounds.block))
    lo, hi = bounds.stability(low, 0.0, 1.0)
    decided = 0
    for i, logits in enumerate(low):
        full = upscaler.logits(logits)
        exact = np.count_nonzero(full > 1.0) / np.count_nonzero(full > -1.0)
        assert lo[i] - 1e-9 <= exact <= hi[i] + 1e-9
        decided += bool(lo[i] >= 0.9 or hi[i] < 0.9)
        box = bounds.box(logits, 0.0)
        if box is not None:
            assert box.tolist() == amg.mask_box(full > 0.0).tolist()
    assert decided > 0  # large sharp masks are decided without upscaling
    assert bounds.box(np.full((256, 256), -5, np.float32), 0.0).tolist() == [0, 0, 0, 0]


def test_generator_scores_the_same_through_the_bounds(tiny_model):
    """The generator's results do not depend on whether its candidates are scored at low resolution."""
    from edgemask.runtime import Predictor
    from edgemask.runtime.mask_generator import MaskGenerator
    from synthetic import synthetic_image

    image = synthetic_image(120, 170, seed=5)
    predictor = Predictor(tiny_model, device="cpu", cache=False)
    runs = []
    for min_pixels in (0, 10**9):  # every crop through the bounds, then none
        for stability in (0.0, 0.05):
            gen = MaskGenerator(predictor, points_per_side=3, pred_iou_thresh=0.0, stability_score_thresh=stability,
                                stability_score_offset=0.02, box_nms_thresh=0.9, workers=2)
            gen.bounds_min_pixels = min_pixels
            runs.append(gen.generate(image))
    for bounded, full in ((runs[0], runs[2]), (runs[1], runs[3])):
        assert len(bounded) == len(full) > 0
        for a, b in zip(bounded, full):
            assert np.array_equal(a["segmentation"], b["segmentation"])
            assert a["bbox"] == b["bbox"]
            assert np.array_equal(a["stability_score"], b["stability_score"], equal_nan=True)
    assert any(r["area"] for r in runs[0])
