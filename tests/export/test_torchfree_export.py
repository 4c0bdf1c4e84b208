"""`edgemask export` and `edgemask models get` in a fresh virtualenv from `pip install '.[cpu]'`: no torch,
torchvision, segment-anything or efficientsam. The folders match what PyTorch tracing exports from the
same checkpoint files, and the official predictors; bad checkpoints get the same one-line errors."""

import hashlib
import json
import os
import subprocess

import numpy as np
import pytest

from export_compare import assert_same_outputs
from file_server import FileServer
from reference_pipeline import close_relative, contract_input, decoder_feeds, sessions
from synthetic import synthetic_image

pytestmark = pytest.mark.slow
MODELS = ["efficientvit-sam-l0", "efficientvit-sam-xl0", "sam-vit-b"]


def edgemask(torchless_venv, *args, cwd, env=None):
    bin_dir, base_env = torchless_venv
    return subprocess.run([str(bin_dir / "edgemask"), *map(str, args)], capture_output=True, text=True,
                          env={**base_env, **(env or {})}, cwd=cwd, timeout=1800)


def export_without_torch(torchless_venv, name, checkpoint, out, *extra):
    result = edgemask(torchless_venv, "export", name, "--checkpoint", checkpoint, "--out", out, *extra, cwd=out.parent)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "filling the encoder graph" in result.stdout
    return out


@pytest.mark.parametrize("name", MODELS)
def test_export_without_torch_matches_tracing_and_the_official_predictor(
        name, tmp_path, torchless_venv, random_checkpoint, exported_model, official_predictor,
        distinct_checkpoint, traced_export):
    folder = export_without_torch(torchless_venv, name, random_checkpoint(name), tmp_path / "random")
    meta = json.loads((folder / "model.json").read_text())
    assert meta["graphs"].startswith("shipped") and meta["model"] == name
    assert_same_outputs(folder, exported_model(name))  # PyTorch tracing of the same file, in this env

    # and the official predictor on the same file (as tests/export/test_export_parity.py does for tracing)
    predictor = official_predictor(name)
    image = synthetic_image(300, 400, seed=3)
    predictor.set_image(image)
    enc, dec = sessions(folder)
    size = enc.get_inputs()[0].shape[0]
    embedding = enc.run(None, {"image": contract_input(image, size, (123.675, 116.28, 103.53))})[0]
    close_relative(embedding, predictor.features.numpy(), 2e-3)
    coords, labels = np.array([[120.0, 140.0], [60.0, 70.0]]), np.array([1, 0])
    _, ref_iou, ref_low = predictor.predict(point_coords=coords, point_labels=labels, multimask_output=True)
    iou, low = dec.run(None, decoder_feeds(predictor.features.numpy(), predictor.transform.apply_coords(coords, (300, 400)),
                                           labels, None, None))
    close_relative(low[0, 1:], ref_low, 1e-3)
    close_relative(iou[0, 1:], ref_iou, 1e-3)

    # distinct values in every tensor (BatchNorm statistics too): filled == traced, to 1e-5. For ViT-B
    # (two more 375 MB exports, a minute of CI) test_weightless does this in-process, through the same
    # torch-free reader and fill; what only this venv shows, that no torch is needed, is shown above.
    if name != "sam-vit-b":
        folder = export_without_torch(torchless_venv, name, distinct_checkpoint(name), tmp_path / "distinct")
        assert_same_outputs(folder, traced_export(name))


def test_int8_without_torch(tmp_path, torchless_venv, random_checkpoint, exported_model):
    name = "efficientvit-sam-l0"
    folder = export_without_torch(torchless_venv, name, random_checkpoint(name), tmp_path / "int8", "--precision", "int8")
    traced = exported_model(name, "int8")
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in traced.iterdir())
    assert_same_outputs(folder, traced, rtol=2e-3, mask_agreement=0.999)


def test_bad_checkpoints_give_the_same_one_line_errors(tmp_path, torchless_venv, random_checkpoint):

    from bad_checkpoints import EVIL_MARKER, write_bad_checkpoints

    files = write_bad_checkpoints(tmp_path, random_checkpoint("efficientvit-sam-l0"))
    expected = {"notes.pth": "not a PyTorch checkpoint", "cut.pt": "truncated",
                "evil.pth": "refused without running it", "bad_shape.pt": "other shapes"}
    for file, words in expected.items():
        result = edgemask(torchless_venv, "export", "efficientvit-sam-l0", "--checkpoint", files[file],
                          "--out", tmp_path / "out", cwd=tmp_path)
        assert result.returncode == 2, (file, result.stderr)
        assert words in result.stderr and "Traceback" not in result.stderr, (file, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / EVIL_MARKER).exists() and not (tmp_path / "out").exists()

    result = edgemask(torchless_venv, "export", "sam-vit-b", "--checkpoint", random_checkpoint("efficientvit-sam-l0"),
                      "--out", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2 and "does not match sam-vit-b" in result.stderr and "EfficientViT-SAM" in result.stderr
    for extra in (["--trace"], ["--opset", "17"]):  # tracing needs PyTorch: said in one line
        result = edgemask(torchless_venv, "export", "efficientvit-sam-l0", "--checkpoint",
                          random_checkpoint("efficientvit-sam-l0"), "--out", tmp_path / "out", *extra, cwd=tmp_path)
        assert result.returncode == 2 and "pip install 'edgemask[export]'" in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_models_get_without_torch(tmp_path, torchless_venv, random_checkpoint):
    root = tmp_path / "www"
    root.mkdir()
    os.symlink(random_checkpoint("efficientvit-sam-l0"), root / "efficientvit_sam_l0.pt")
    env = {"EDGEMASK_HOME": str(tmp_path / "home")}
    with FileServer(root) as server:
        # the random checkpoint stands for a mirror's file, so --sha256 names its hash
        digest = hashlib.sha256(random_checkpoint("efficientvit-sam-l0").read_bytes()).hexdigest()
        mirror = ["--url", server.url("efficientvit_sam_l0.pt"), "--sha256", digest]
        first = edgemask(torchless_venv, "models", "get", "efficientvit-sam-l0", *mirror, "--precision", "int8",
                         cwd=tmp_path, env=env)
        assert first.returncode == 0, first.stderr[-2000:]
        assert "ready:" in first.stdout and "quantising" in first.stdout
        second = edgemask(torchless_venv, "models", "get", "efficientvit-sam-l0", *mirror, "--precision", "int8",
                          cwd=tmp_path, env=env)
        assert second.returncode == 0 and "nothing to do" in second.stdout
        assert server.requests == ["/efficientvit_sam_l0.pt"]
    meta = json.loads((tmp_path / "home" / "models" / "efficientvit-sam-l0-int8" / "model.json").read_text())
    assert meta["precision"] == "int8" and meta["graphs"].startswith("shipped")
