"""SAM 2.1 exports: the torch-free export (shipped weightless graphs filled from Meta's {"model": ...}
file) equals PyTorch tracing, `models get` works on the base install, and fp16 / int8 folders track the
official SAM2ImagePredictor within the other families' precision bounds (tests/export/test_precision.py)."""

import hashlib
import json
import os

import numpy as np
import pytest

from export_compare import assert_same_outputs
from file_server import FileServer
from synthetic import synthetic_image
from test_precision import TOLERANCE, mask_iou
from test_torchfree_export import edgemask, export_without_torch

pytest.importorskip("sam2")
NAME = "sam2.1-hiera-tiny"
# fp16: test_precision's bounds. int8: Hiera's attention and MLP MatMuls are quantised (EfficientViT-L0's
# convolutional encoder, which test_precision's int8 bound is for, has none), so the bound is the one for
# sam-vit-b int8, the other family with a quantised encoder (tests/runtime/test_parity.py: 6e-2, IoU 0.9).
# Measured on random weights, AVX-512 + VNNI: fp16 encoder 0.0012, logits 0.0011, IoU 0.9992;
# int8 encoder 0.0295, logits 0.0206, IoU 0.9805.
BOUNDS = {"fp16": TOLERANCE["fp16"], "int8": (6e-2, 6e-2, 0.9)}


@pytest.mark.slow
def test_export_without_torch_matches_tracing(tmp_path, torchless_venv, random_checkpoint, exported_model,
                                              distinct_checkpoint, traced_export):
    folder = export_without_torch(torchless_venv, NAME, random_checkpoint(NAME), tmp_path / "random")
    meta = json.loads((folder / "model.json").read_text())
    assert meta["graphs"].startswith("shipped") and meta["family"] == "sam2.1"
    assert meta["encoder"]["embedding_shape"] == [4194304] and meta["encoder"]["resize"] == "square"
    # the video predictor's graphs, filled too (compared with the traced ones below)
    assert set(meta["video"]["graphs"].values()) <= set(meta["files"]) and meta["video"]["num_maskmem"] == 7
    assert_same_outputs(folder, exported_model(NAME))
    # distinct values in every tensor: each weight lands where tracing put it
    folder = export_without_torch(torchless_venv, NAME, distinct_checkpoint(NAME), tmp_path / "distinct")
    assert_same_outputs(folder, traced_export(NAME), video=True)


@pytest.mark.slow
def test_models_get_without_torch(tmp_path, torchless_venv, random_checkpoint):
    root = tmp_path / "www"
    root.mkdir()
    os.symlink(random_checkpoint(NAME), root / "sam2.1_hiera_tiny.pt")
    env = {"EDGEMASK_HOME": str(tmp_path / "home")}
    digest = hashlib.sha256(random_checkpoint(NAME).read_bytes()).hexdigest()
    with FileServer(root) as server:
        result = edgemask(torchless_venv, "models", "get", NAME, "--url", server.url("sam2.1_hiera_tiny.pt"),
                          "--sha256", digest, "--precision", "fp32", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    folder = tmp_path / "home" / "models" / f"{NAME}-fp32"
    meta = json.loads((folder / "model.json").read_text())
    assert meta["checkpoint"]["sha256"] == digest and (folder / meta["video"]["graphs"]["memory_attention"]).is_file()
    # a SAM 1 checkpoint given as SAM 2.1 is refused in one line, naming both
    result = edgemask(torchless_venv, "export", NAME, "--checkpoint", random_checkpoint("efficientvit-sam-l0"),
                      "--out", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2 and f"does not match {NAME}" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_reduced_precision_tracks_official(precision, exported_model, official_predictor):
    from edgemask.runtime import Predictor
    from edgemask.runtime.cpu_features import detect

    folder = exported_model(NAME, precision)
    meta = json.loads((folder / "model.json").read_text())
    assert meta["precision"] == precision
    assert (precision == "int8") == ("quantization" in meta)
    ours = Predictor(folder, device="cpu", cache=False)
    official = official_predictor(NAME)
    image = synthetic_image(400, 600, seed=5)
    official.set_image(image)
    ours.set_image(image)
    ref_emb = official.get_image_embedding().numpy()
    enc_err = np.abs(ours.get_image_embedding() - ref_emb).max() / np.abs(ref_emb).max()
    kw = dict(point_coords=np.array([[300, 200], [100, 100]]), point_labels=np.array([1, 0]))
    _, _, ref_low = official.predict(**kw, multimask_output=True)
    _, _, low = ours.predict(**kw, multimask_output=True)
    dec_err = np.abs(low - ref_low).max() / np.abs(ref_low).max()
    iou = min(mask_iou(low[i] > 0, ref_low[i] > 0) for i in range(3))
    print(f"{NAME} {precision} on {detect().summary()}: encoder rel err {enc_err:.4f}, "
          f"decoder rel err {dec_err:.4f}, min mask IoU {iou:.4f}")
    max_enc, max_dec, min_iou = BOUNDS[precision]
    assert enc_err <= max_enc
    assert dec_err <= max_dec
    assert iou >= min_iou
