"""The large variants (exported and checked once by hand, see README) are covered in CI without
exporting gigabytes: each official architecture builds, takes its own state dict through the same
strict loader a real checkpoint goes through, and the exported graph's wrapper yields the embedding
shape the runtime expects."""

import pytest
import torch

from edgemask.export.checkpoint import CheckpointError, build_model
from edgemask.export.graphs import EncoderGraph
from edgemask.export.registry import MODELS, SAM_MEAN, SAM_STD, get_spec

LARGE = ["sam-vit-l", "sam-vit-h", "efficientvit-sam-l1", "efficientvit-sam-l2", "efficientvit-sam-xl1"]


def official_random_state_dict(name):
    spec = get_spec(name)
    torch.manual_seed(0)
    if spec.family == "sam":
        from segment_anything import sam_model_registry

        return sam_model_registry[name.removeprefix("sam-").replace("-", "_")](checkpoint=None).state_dict()
    from efficientsam.sam_model_zoo import create_efficientvit_sam_model

    return create_efficientvit_sam_model(name, pretrained=False).state_dict()


def test_registry_covers_the_official_family():
    assert set(MODELS) == {"sam-vit-b", "sam-vit-l", "sam-vit-h", "efficientvit-sam-l0", "efficientvit-sam-l1",
                           "efficientvit-sam-l2", "efficientvit-sam-xl0", "efficientvit-sam-xl1",
                           "sam2.1-hiera-tiny", "sam2.1-hiera-small", "sam2.1-hiera-base-plus", "sam2.1-hiera-large",
                           "edgetam"}
    assert {m.encoder_size for m in MODELS.values() if m.family == "efficientvit-sam" and "xl" not in m.name} == {512}


@pytest.mark.slow
@pytest.mark.parametrize("name", LARGE)
def test_large_variant_builds_loads_and_encodes(name):
    spec = get_spec(name)
    state = official_random_state_dict(name)
    model = build_model(spec, state)
    graph = EncoderGraph(model.image_encoder, SAM_MEAN, SAM_STD).eval()
    with torch.inference_mode():
        out = graph(torch.full((spec.encoder_size, spec.encoder_size, 3), 128.0))
    assert out.shape == (1, 256, 64, 64) and torch.isfinite(out).all()
    # a neighbour's weights are refused with a message naming the mismatch
    other = "sam-vit-b" if spec.family == "sam" else "efficientvit-sam-l0"
    with pytest.raises(CheckpointError, match=f"does not match {other}"):
        build_model(get_spec(other), state)
