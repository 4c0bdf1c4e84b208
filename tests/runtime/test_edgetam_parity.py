"""EdgeTAM (SAM 2's image pipeline with a RepViT trunk): the torch-free export (shipped weightless graphs
filled from a random-weight {"model": state_dict} checkpoint of the official architecture) against
EdgeTAM's official SAM2ImagePredictor (edgetam-dimos, loaded beside Meta's sam2 by edgemask.export.edgetam),
points with negatives, box + points, multimask on and off, mask_input refinement (both ways) and
the box's logits, on a held-out non-square image."""

import numpy as np
import pytest

from synthetic import synthetic_image
from test_sam2_parity import cases, check_image

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def pair(random_checkpoint, official_predictor, tmp_path_factory):
    from edgemask.export.exporter import export_model
    from edgemask.runtime import Predictor

    folder = export_model("edgetam", random_checkpoint("edgetam"), tmp_path_factory.mktemp("edgetam") / "fp32",
                          progress=lambda *_: None)
    return official_predictor("edgetam"), Predictor(folder, device="cpu", cache=False)


def test_torch_free_export_matches_official_predictor(pair):
    import json

    official, ours = pair
    meta = json.loads((ours.model.path / "model.json").read_text())
    assert meta["graphs"] == "shipped weightless graphs, filled" and meta["family"] == "sam2.1"
    assert meta["checkpoint"]["official"] is False  # no published sha256 to be the official file by
    h, w = 389, 700
    names = ["points +/-, multimask", "box + points"]  # negative points, a box, multimask on and off
    assert set(names) <= set(cases(h, w))
    check_image(official, ours, synthetic_image(h, w, seed=22), names, f"edgetam {h}x{w}")  # + mask_input, both ways


def test_meta_sam2_is_untouched_after_edgetam(pair):
    import importlib.util
    import sys

    import sam2.build_sam

    official, _ = pair  # EdgeTAM built and run: its trunk is timm's, from edgetam-dimos's sam2
    assert type(official.model.image_encoder.trunk).__name__ == "TimmBackbone"
    assert "site-packages" in sam2.build_sam.__file__ and sys.modules["sam2"] is sam2
    assert importlib.util.find_spec("sam2.modeling.backbones.timm") is None  # Meta's sam2 has no such module
    assert importlib.util.find_spec("sam2.modeling.backbones.hieradet") is not None


def test_missing_edgetam_code_is_one_sentence_with_the_install_line(tmp_path, monkeypatch):
    from edgemask.export.edgetam import EdgeTamMissing, build_edgetam

    monkeypatch.setenv("EDGEMASK_EDGETAM_PATH", str(tmp_path))
    with pytest.raises(EdgeTamMissing) as err:
        build_edgetam("configs/edgetam.yaml")
    message = str(err.value)
    assert "pip install --no-deps --target DIR edgetam-dimos" in message and str(tmp_path) in message
    assert "\n" not in message and isinstance(err.value, ValueError)  # the CLI prints ValueErrors as one line
