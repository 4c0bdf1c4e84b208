"""A decoder split into a per-image and a per-click part (benchmarks/decoder_graph_levers.py
write_split; recorded in model.json decoder.split) gives the same masks as the whole decoder."""

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgemask.runtime import Predictor
from synthetic import synthetic_image

pytest.importorskip("onnx")
_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "decoder_graph_levers.py"


def write_split(folder):
    spec = importlib.util.spec_from_file_location("decoder_graph_levers", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_split(folder)


def prompts(h, w):
    return [
        dict(point_coords=np.array([[0.3 * w, 0.6 * h]]), point_labels=np.array([1])),
        dict(point_coords=np.array([[0.3 * w, 0.6 * h], [0.7 * w, 0.2 * h]]), point_labels=np.array([1, 0]),
             multimask_output=False),
        dict(box=np.array([0.1 * w, 0.2 * h, 0.8 * w, 0.9 * h])),
    ]


def compare(whole_dir, tmp_path, h, w, rel):
    split_dir = tmp_path / "split"
    shutil.copytree(whole_dir, split_dir)
    write_split(split_dir)
    whole = Predictor(whole_dir, device="cpu", cache=False)
    split = Predictor(split_dir, device="cpu", cache=False)
    assert split.engine.split is not None and whole.engine.split is None
    image = synthetic_image(h, w, seed=11)
    whole.set_image(image)
    split.set_image(image)
    for kw in prompts(h, w):
        m1, s1, l1 = whole.predict(**kw)
        m2, s2, l2 = split.predict(**kw)
        scale = np.abs(l1).max()
        np.testing.assert_allclose(l2, l1, atol=rel * scale)
        np.testing.assert_allclose(s2, s1, atol=rel * max(1.0, np.abs(s1).max()))
    # a mask input goes through the whole decoder
    kw = dict(prompts(h, w)[0], mask_input=l1[:1], multimask_output=False)
    np.testing.assert_allclose(split.predict(**kw)[2], whole.predict(**kw)[2], atol=rel * scale)


def test_split_decoder_matches_whole_decoder_on_tiny_model(tiny_model, tmp_path):
    compare(tiny_model, tmp_path, 50, 70, 1e-6)


@pytest.mark.slow
def test_split_decoder_matches_whole_decoder_on_real_export(exported_model, tmp_path):
    compare(exported_model("efficientvit-sam-l0"), tmp_path, 333, 517, 1e-5)


def test_split_files_must_be_listed(tiny_model, tmp_path):
    import json

    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    write_split(folder)
    meta = json.loads((folder / "model.json").read_text())
    del meta["files"]["decoder_click.onnx"]
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="decoder_click.onnx"):
        Predictor(folder, device="cpu", cache=False)
