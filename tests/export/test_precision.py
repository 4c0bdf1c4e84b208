"""fp16 and int8 exports: they load, keep float32 inputs/outputs, and stay within measured tolerances
of the official fp32 predictor (the README quotes the measured figures)."""

import json

import numpy as np
import pytest

from edgemask.runtime.cpu_features import detect
from synthetic import synthetic_image
from reference_pipeline import contract_input, decoder_feeds, sessions

# Bounds set from measurements on random-weight efficientvit-sam-l0 (see README, "Precision"):
#   fp16: encoder 0.0004, decoder logits 0.0018, min mask IoU 0.9985 (AVX-512 + VNNI)
#   int8: encoder 0.0000 (its convolutions stay fp32), decoder logits 0.0213, min mask IoU 0.9006, the
#   same on AVX-512 + VNNI and on an emulated AVX2 CPU without VNNI (tests/export/test_int8_cpus.py)
TOLERANCE = {
    # precision: (encoder max rel. error, decoder logits max rel. error, min mask IoU)
    "fp16": (0.002, 0.01, 0.98),
    "int8": (0.02, 0.05, 0.85),
}


def mask_iou(a, b):
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else np.logical_and(a, b).sum() / union


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_reduced_precision_tracks_official(precision, exported_model, official_predictor):
    name = "efficientvit-sam-l0"
    folder = exported_model(name, precision)
    meta = json.loads((folder / "model.json").read_text())
    assert meta["precision"] == precision
    enc, dec = sessions(folder)
    assert enc.get_inputs()[0].type == "tensor(float)" and dec.get_outputs()[1].type == "tensor(float)"

    predictor = official_predictor(name)
    image = synthetic_image(400, 600, seed=5)
    predictor.set_image(image)
    ref_emb = predictor.features.numpy()
    emb = enc.run(None, {"image": contract_input(image, 512, (123.675, 116.28, 103.53))})[0]
    enc_err = np.abs(emb - ref_emb).max() / np.abs(ref_emb).max()

    coords = np.array([[300, 200], [100, 100]])
    labels = np.array([1, 0])
    _, _, ref_low = predictor.predict(point_coords=coords, point_labels=labels, multimask_output=True)
    tc = predictor.transform.apply_coords(coords, image.shape[:2])
    # the reduced-precision decoder on the reduced-precision embedding: what a user gets end to end
    _, low = dec.run(None, decoder_feeds(emb, tc, labels, None, None))
    dec_err = np.abs(low[0, 1:] - ref_low).max() / np.abs(ref_low).max()
    iou = min(mask_iou(low[0, i + 1] > 0, ref_low[i] > 0) for i in range(3))
    print(f"{precision} on {detect().summary()}: encoder rel err {enc_err:.4f}, decoder rel err {dec_err:.4f}, min mask IoU {iou:.4f}")
    max_enc, max_dec, min_iou = TOLERANCE[precision]
    assert enc_err <= max_enc
    assert dec_err <= max_dec
    assert iou >= min_iou
