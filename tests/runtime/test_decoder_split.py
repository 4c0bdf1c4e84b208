"""A decoder split into a per-image and a per-click part (edgemask.export.decoder_split; recorded in
model.json decoder.split, which every export writes) gives the same masks as the whole decoder."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgemask.runtime import Predictor
from synthetic import synthetic_image

pytest.importorskip("onnx")


def write_split(folder: Path) -> None:
    """Adds the split to a folder without one and records it in model.json."""
    from edgemask.export.decoder_split import write_split as write_parts

    meta = json.loads((folder / "model.json").read_text())
    meta["decoder"]["split"] = write_parts(folder)
    for name in ("decoder_image.onnx", "decoder_click.onnx"):
        data = (folder / name).read_bytes()
        meta["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / "model.json").write_text(json.dumps(meta))


def without_split(folder: Path, dest: Path) -> Path:
    """A copy of an exported folder whose model.json names no split: the whole decoder runs."""
    shutil.copytree(folder, dest)
    meta = json.loads((dest / "model.json").read_text())
    meta["decoder"].pop("split", None)
    (dest / "model.json").write_text(json.dumps(meta))
    return dest


def prompts(h, w):
    return [
        dict(point_coords=np.array([[0.3 * w, 0.6 * h]]), point_labels=np.array([1])),
        dict(point_coords=np.array([[0.3 * w, 0.6 * h], [0.7 * w, 0.2 * h]]), point_labels=np.array([1, 0]),
             multimask_output=False),
        dict(box=np.array([0.1 * w, 0.2 * h, 0.8 * w, 0.9 * h])),
    ]


def compare(whole_dir, split_dir, h, w, rel):
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
    split_dir = tmp_path / "split"
    shutil.copytree(tiny_model, split_dir)
    write_split(split_dir)
    compare(tiny_model, split_dir, 50, 70, 1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_split_decoder_matches_whole_decoder_on_real_export(exported_model, tmp_path, precision):
    exported = exported_model("efficientvit-sam-l0", precision)
    compare(without_split(exported, tmp_path / "whole"), exported, 333, 517, 1e-5)


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
