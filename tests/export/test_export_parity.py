"""The exported graphs reproduce the official PyTorch models on the same checkpoint and inputs.

Encoder: the official predictor's own preprocessing (resize, normalise, pad) vs our contract
(resize, pad with the mean, normalise in the graph). Decoder: prompts transformed by the official
predictor's transforms, our padding-point / box-corner convention vs the official prompt encoder.
"""

import numpy as np
import pytest
import torch

from reference_pipeline import close_relative, contract_input, decoder_feeds, sessions
from synthetic import IMAGE_SHAPES, synthetic_image

MODELS = ["efficientvit-sam-l0", "efficientvit-sam-xl0", "sam-vit-b"]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("shape", IMAGE_SHAPES)
def test_encoder_matches_official(name, shape, exported_model, official_predictor):
    folder = exported_model(name)
    predictor = official_predictor(name)
    image = synthetic_image(*shape, seed=1)
    predictor.set_image(image)
    ref = predictor.features.numpy()
    enc, _ = sessions(folder)
    size = enc.get_inputs()[0].shape[0]
    ours = enc.run(None, {"image": contract_input(image, size, (123.675, 116.28, 103.53))})[0]
    assert ours.shape == (1, 256, 64, 64)
    close_relative(ours, ref, 2e-3)


_IMAGE_STATES = {}


def set_image_once(predictor, name, shape):
    """predictor.set_image of the decoder tests' synthetic image of `shape`, computed once per model
    and shape: the four prompts' tests restore the state it left (features, sizes) instead of
    running the official encoder again (a ViT-B encoding is seconds)."""
    key = (name, shape)
    if key not in _IMAGE_STATES:
        predictor.set_image(synthetic_image(*shape, seed=2))
        _IMAGE_STATES[key] = {k: v for k, v in vars(predictor).items() if k != "model"}
    vars(predictor).update(_IMAGE_STATES[key])


PROMPTS = {
    "single point": dict(point_coords=[[100, 80]], point_labels=[1]),
    "points pos/neg": dict(point_coords=[[100, 80], [200, 150], [30, 300]], point_labels=[1, 1, 0]),
    "box": dict(box=[40, 50, 260, 300]),
    "box+points": dict(point_coords=[[120, 140], [60, 70]], point_labels=[1, 0], box=[40, 50, 260, 300]),
}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("shape", IMAGE_SHAPES)
@pytest.mark.parametrize("prompt", list(PROMPTS))
def test_decoder_matches_official(name, shape, prompt, exported_model, official_predictor):
    folder = exported_model(name)
    predictor = official_predictor(name)
    set_image_once(predictor, name, shape)
    _, dec = sessions(folder)
    kwargs = dict(PROMPTS[prompt])
    h, w = shape
    for key in ("point_coords", "box"):  # keep prompts inside this image
        if key in kwargs:
            arr = np.array(kwargs[key], np.float32).reshape(-1, 2)
            arr = np.minimum(arr, [w - 1, h - 1])
            kwargs[key] = arr if key == "point_coords" else arr.reshape(4)
    if "point_labels" in kwargs:
        kwargs["point_labels"] = np.array(kwargs["point_labels"])
    embedding = predictor.features.numpy()

    def run(mask_input=None):
        ref_masks, ref_iou, ref_low = predictor.predict(**kwargs, mask_input=mask_input, multimask_output=True)
        coords = predictor.transform.apply_coords(kwargs["point_coords"], (h, w)) if "point_coords" in kwargs else None
        box = predictor.transform.apply_boxes(kwargs["box"][None], (h, w))[0] if "box" in kwargs else None
        iou, low = dec.run(None, decoder_feeds(embedding, coords, kwargs.get("point_labels"), box,
                                               mask_input))
        close_relative(low[0, 1:], ref_low, 1e-3)
        close_relative(iou[0, 1:], ref_iou, 1e-3)
        single_ref = predictor.predict(**kwargs, mask_input=mask_input, multimask_output=False)[2]
        close_relative(low[0, :1], single_ref, 1e-3)
        return ref_low

    low = run()
    # refinement: the previous prediction's best low-res logits as mask_input
    run(mask_input=low[:1])
