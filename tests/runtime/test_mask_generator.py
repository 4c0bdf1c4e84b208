"""edgemask.runtime.MaskGenerator against the official automatic mask generators (segment_anything's,
EfficientViT-SAM's, sam2's) on exports of the same random-weight checkpoints, and its answers to bad input.

Random models predict low IoUs (~0.1) and weak logits (~0.2), so the thresholds are lowered
(stability offset 0.02) until they produce masks; their masks all span the whole image, so box NMS
runs at 1.0 (it would keep one mask); the crop-layer case checks NMS across crops."""

import numpy as np
import pytest

from synthetic import synthetic_image

# per model: thresholds that keep some of its masks and drop others
LOWERED = {
    "efficientvit-sam-l0": dict(pred_iou_thresh=0.1, stability_score_thresh=0.7, stability_score_offset=0.02,
                                box_nms_thresh=1.0),
    "sam-vit-b": dict(pred_iou_thresh=0.03, stability_score_thresh=0.5, stability_score_offset=0.02,
                      box_nms_thresh=1.0),
    # random SAM 2.1: IoUs ~0.48-0.56, stabilities ~0.4-0.62 or ~0.84-0.9 at offset 0.02
    "sam2.1-hiera-tiny": dict(pred_iou_thresh=0.51, stability_score_thresh=0.7, stability_score_offset=0.02,
                              box_nms_thresh=1.0),
}


def official_generator(name, official_predictor, **kw):
    model = official_predictor(name).model
    if name.startswith("sam2"):
        from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

        return SAM2AutomaticMaskGenerator(model, **kw)
    if name.startswith("sam-"):
        from segment_anything import SamAutomaticMaskGenerator

        return SamAutomaticMaskGenerator(model, **kw)
    from efficientsam.models.efficientvit.sam import EfficientViTSamAutomaticMaskGenerator

    return EfficientViTSamAutomaticMaskGenerator(model, **kw)


def mask_iou(a, b):
    return np.logical_and(a, b).sum() / max(1, np.logical_or(a, b).sum())


def assert_same_records(ours, official):
    assert len(ours) == len(official) > 0
    left = list(range(len(ours)))
    for rec in official:  # the same point and the closest predicted IoU (a point gives up to 3 masks)
        gap = [np.abs(np.subtract(ours[i]["point_coords"], rec["point_coords"])).max() * 1e3
               + abs(ours[i]["predicted_iou"] - rec["predicted_iou"]) for i in left]
        mine = ours[left.pop(int(np.argmin(gap)))]
        assert np.allclose(mine["point_coords"], rec["point_coords"])
        iou = mask_iou(mine["segmentation"], rec["segmentation"])
        assert iou >= 0.99, f"mask IoU {iou:.4f} for the official mask at {rec['point_coords']}"
        assert mine["crop_box"] == rec["crop_box"]
        assert abs(mine["predicted_iou"] - rec["predicted_iou"]) <= 1e-4
        assert abs(mine["stability_score"] - rec["stability_score"]) <= 5e-3
        assert abs(mine["area"] - rec["area"]) <= 0.01 * rec["area"] + 2
        assert np.abs(np.array(mine["bbox"]) - np.array(rec["bbox"])).max() <= 2


@pytest.mark.slow
@pytest.mark.parametrize("name,shape,side,extra", [
    ("efficientvit-sam-l0", (333, 517), 8, {}),
    ("sam-vit-b", (389, 300), 6, {}),
    ("efficientvit-sam-l0", (300, 420), 4, dict(crop_n_layers=1, crop_nms_thresh=0.7)),
    ("sam2.1-hiera-tiny", (300, 420), 5, {}),
])
def test_matches_official_generator(exported_model, official_predictor, name, shape, side, extra):
    pytest.importorskip("torch")
    from edgemask.runtime import Predictor
    from edgemask.runtime.mask_generator import MaskGenerator

    image = synthetic_image(*shape, seed=101)
    kw = dict(LOWERED[name], points_per_side=side, **extra)
    ours = MaskGenerator(Predictor(exported_model(name), device="cpu", cache=False), **kw).generate(image)
    official = official_generator(name, official_predictor, **kw).generate(image)
    assert_same_records(ours, official)
    assert all(r["segmentation"].shape == shape and r["segmentation"].dtype == bool for r in ours)


def test_rle_output_matches_binary_mask(tiny_model):
    from edgemask.runtime import Predictor
    from edgemask.runtime.amg import rle_to_mask
    from edgemask.runtime.mask_generator import MaskGenerator

    image = synthetic_image(120, 90, seed=3)
    kw = dict(points_per_side=4, pred_iou_thresh=0, stability_score_thresh=0, box_nms_thresh=1.0)
    predictor = Predictor(tiny_model, device="cpu", cache=False)
    binary = MaskGenerator(predictor, **kw).generate(image)
    rles = MaskGenerator(predictor, output_mode="uncompressed_rle", **kw).generate(image)
    assert len(binary) == len(rles) > 0
    for b, r in zip(binary, rles):
        assert np.array_equal(rle_to_mask(r["segmentation"]), b["segmentation"])
        assert r["area"] == int(b["segmentation"].sum())


@pytest.mark.parametrize("kw,words", [
    (dict(points_per_side=0), "points_per_side must be a whole number from 1 to 128"),
    (dict(points_per_side=10_000), "at most 16,384 points"),
    (dict(points_per_side=None), "exactly one of points_per_side or point_grids"),
    (dict(crop_n_layers=9), "crop_n_layers must be"),
    (dict(output_mode="png"), "output_mode must be one of"),
    (dict(points_per_batch=0), "points_per_batch must be"),
])
def test_bad_parameters_one_sentence(tiny_model, kw, words):
    from edgemask.runtime import Predictor
    from edgemask.runtime.mask_generator import MaskGenerator

    with pytest.raises(ValueError, match=words) as err:
        MaskGenerator(Predictor(tiny_model, device="cpu", cache=False), **kw)
    assert str(err.value).count(". ") == 0 and str(err.value).endswith(".")


def test_no_model_one_sentence():
    from edgemask.runtime.mask_generator import MaskGenerator

    with pytest.raises(ValueError, match="no model"):
        MaskGenerator(None)
