"""The model folder the CLI writes: files, model.json fields, graph contract (names, shapes, dynamic points)."""

import contextlib
import io
import json

import numpy as np
import onnx
import pytest

from edgemask.cli import main
from edgemask.export.download import file_sha256


@pytest.fixture(scope="module")
def cli_export(tmp_path_factory, random_checkpoint):
    out = tmp_path_factory.mktemp("cli") / "l0"
    ckpt = random_checkpoint("efficientvit-sam-l0")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["export", "efficientvit-sam-l0", "--checkpoint", str(ckpt), "--out", str(out), "--opset",
                     "17"]) == 0
    return out, ckpt, printed.getvalue()


def test_a_checkpoint_that_is_not_the_official_file_exports_with_a_note(cli_export):
    out, ckpt, printed = cli_export
    notes = [line for line in printed.splitlines() if "not the official" in line]
    assert len(notes) == 1 and "efficientvit_sam_l0.pt" in notes[0] and "fine-tuned" in notes[0]
    assert json.loads((out / "model.json").read_text())["checkpoint"]["official"] is False


def test_model_json_describes_folder(cli_export):
    out, ckpt, _ = cli_export
    assert sorted(p.name for p in out.iterdir()) == ["decoder.onnx", "decoder_click.onnx", "decoder_image.onnx",
                                                     "decoder_weights.npz", "encoder.onnx", "model.json"]
    meta = json.loads((out / "model.json").read_text())
    assert meta["model"] == "efficientvit-sam-l0" and meta["family"] == "efficientvit-sam"
    assert meta["encoder"]["input_size"] == 512 and meta["decoder"]["prompt_frame"] == 1024
    assert meta["precision"] == "fp32" and meta["opset"] == 17 and meta["mask_threshold"] == 0.0
    assert meta["checkpoint"]["sha256"] == file_sha256(ckpt)
    assert meta["decoder"]["split"]["tensors"]
    assert meta["decoder"]["grid_weights"] == "decoder_weights.npz"
    for name in ("encoder.onnx", "decoder.onnx", "decoder_image.onnx", "decoder_click.onnx", "decoder_weights.npz"):
        assert meta["files"][name]["bytes"] == (out / name).stat().st_size
        assert meta["files"][name]["sha256"] == file_sha256(out / name)
    assert len(meta["encoder"]["pixel_mean"]) == 3 and meta["edgemask_version"]


def test_graph_contract(cli_export):
    out, _, _ = cli_export
    enc = onnx.load(str(out / "encoder.onnx"), load_external_data=False)
    assert [i.name for i in enc.graph.input] == ["image"]
    assert [d.dim_value for d in enc.graph.input[0].type.tensor_type.shape.dim] == [512, 512, 3]
    dec = onnx.load(str(out / "decoder.onnx"))
    names = [i.name for i in dec.graph.input]
    assert names == ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input"]
    assert dec.graph.input[1].type.tensor_type.shape.dim[1].dim_param == "num_points"
    assert [o.name for o in dec.graph.output] == ["iou_predictions", "low_res_masks"]
    # TensorRT-friendly: no Shape-driven Resize/Expand of the image, no orig_im_size input
    assert not any(n.op_type in ("Resize", "NonZero") for n in dec.graph.node)


@pytest.mark.parametrize("n_points", [1, 2, 7])
def test_decoder_takes_any_number_of_points(cli_export, n_points):
    import onnxruntime as ort

    out, _, _ = cli_export
    sess = ort.InferenceSession(str(out / "decoder.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(n_points)
    iou, low = sess.run(None, {
        "image_embeddings": rng.standard_normal((1, 256, 64, 64), dtype=np.float32),
        "point_coords": rng.uniform(0, 1024, (1, n_points, 2)).astype(np.float32),
        "point_labels": np.ones((1, n_points), np.float32),
        "mask_input": np.zeros((1, 1, 256, 256), np.float32),
        "has_mask_input": np.zeros(1, np.float32),
    })
    assert iou.shape == (1, 4) and low.shape == (1, 4, 256, 256)
    assert np.isfinite(low).all()
