"""int8 on trained-like weights: a random sam-vit-b checkpoint with the outlier LayerNorm channels of
trained ViTs injected (tests/outlier_checkpoint.py). Per-tensor dynamic quantisation of the encoder's
activations broke on it (measured on a first variant of the injection: encoder rel. error 0.32, logits 0.23,
worst mask IoU 0.89 against 0.031 / 0.030 / 0.978 on the plain one); the export now migrates those channels into the next
MatMul's weights first (export/smoothing.py) and int8 must track the official fp32 predictor there too.
"""

import numpy as np
import pytest

from outlier_checkpoint import inject_outliers, outlier_ratio
from reference_pipeline import contract_input, decoder_feeds, sessions
from synthetic import synthetic_image

NAME = "sam-vit-b"
# end to end, the bounds of tests/export/test_precision.py's int8 row (decoder logits, mask IoU); the
# encoder bound there (0.02) was set on l0, whose encoder stays fp32: ViT-B's int8 encoder measured
# 0.029-0.031 on the plain random checkpoint, so its embedding is held to 0.05
MAX_ENC, MAX_LOGITS, MIN_IOU = 0.05, 0.05, 0.85
IMAGE = synthetic_image(400, 600, seed=5)
COORDS, LABELS = np.array([[300, 200], [100, 100]]), np.array([1, 0])


@pytest.fixture(scope="module")
def outlier_checkpoint(test_cache, random_checkpoint):
    path = test_cache / "checkpoints" / f"{NAME}-outliers.pth"
    if not path.exists():
        import torch

        tmp = path.with_suffix(".tmp")
        torch.save(inject_outliers(torch.load(random_checkpoint(NAME))), tmp)
        tmp.replace(path)
    return path


def official(checkpoint):
    from segment_anything import SamPredictor, sam_model_registry

    predictor = SamPredictor(sam_model_registry["vit_b"](checkpoint=str(checkpoint)).eval())
    predictor.set_image(IMAGE)
    _, _, low = predictor.predict(point_coords=COORDS, point_labels=LABELS, multimask_output=True)
    return predictor, low


def mask_iou(a, b):
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else np.logical_and(a, b).sum() / union


def worst_iou(low, ref):
    return min(mask_iou(low[i] > 0, ref[i] > 0) for i in range(len(ref)))


@pytest.mark.slow
def test_injected_outliers_keep_the_fp32_function(outlier_checkpoint, random_checkpoint):
    import torch

    assert outlier_ratio(torch.load(outlier_checkpoint)) >= 20, "no outlier channels were injected"
    _, ref = official(random_checkpoint(NAME))
    _, low = official(outlier_checkpoint)
    err = np.abs(low - ref).max() / np.abs(ref).max()
    print(f"fp32 official, outliers vs plain: logits rel err {err:.2e}, worst IoU {worst_iou(low, ref):.4f}")
    assert err <= 1e-3 and worst_iou(low, ref) >= 0.995


@pytest.mark.slow
def test_int8_tracks_official_with_outlier_channels(outlier_checkpoint, test_cache):
    from edgemask.export.exporter import export_model

    folder = export_model(NAME, outlier_checkpoint, test_cache / "models" / f"{NAME}-outliers-int8",
                          precision="int8", progress=lambda *_: None)
    predictor, ref_low = official(outlier_checkpoint)
    ref_emb = predictor.features.numpy()
    enc, dec = sessions(folder)
    emb = enc.run(None, {"image": contract_input(IMAGE, 1024, (123.675, 116.28, 103.53))})[0]
    tc = predictor.transform.apply_coords(COORDS, IMAGE.shape[:2])
    _, low = dec.run(None, decoder_feeds(emb, tc, LABELS, None, None))
    enc_err = np.abs(emb - ref_emb).max() / np.abs(ref_emb).max()
    dec_err = np.abs(low[0, 1:] - ref_low).max() / np.abs(ref_low).max()
    iou = worst_iou(low[0, 1:], ref_low)
    print(f"int8 with outlier channels: encoder rel err {enc_err:.4f}, logits rel err {dec_err:.4f}, worst IoU {iou:.4f}")
    assert enc_err <= MAX_ENC and dec_err <= MAX_LOGITS and iou >= MIN_IOU
