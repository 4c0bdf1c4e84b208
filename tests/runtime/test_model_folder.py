import json
import shutil

import pytest

from edgemask.runtime.model_folder import load_model_folder


@pytest.fixture
def folder(tiny_model, tmp_path):
    dst = tmp_path / "model"
    shutil.copytree(tiny_model, dst)
    return dst


def test_loads_geometry_and_identity(folder):
    model = load_model_folder(folder)
    assert model.encoder_size == 64 and model.prompt_frame == 1024 and model.low_res_size == 256
    assert model.multimask_indices == (1, 2, 3) and model.single_mask_index == 0
    assert len(model.identity) == 64
    meta = json.loads((folder / "model.json").read_text())
    meta["precision"] = "int8"
    (folder / "model.json").write_text(json.dumps(meta))
    assert load_model_folder(folder).identity != model.identity


def test_missing_folder_and_model_json(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model_folder(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no model.json"):
        load_model_folder(tmp_path)


def test_missing_onnx_file(folder):
    (folder / "decoder.onnx").unlink()
    with pytest.raises(FileNotFoundError, match="missing decoder.onnx"):
        load_model_folder(folder)


def test_file_of_another_model_is_detected_by_size(folder):
    with open(folder / "encoder.onnx", "ab") as f:
        f.write(b"\0" * 10)
    with pytest.raises(ValueError, match="does not belong"):
        load_model_folder(folder)


@pytest.mark.parametrize("edit,match", [
    (lambda m: m.update(format="something/2"), "format"),
    (lambda m: m["decoder"].pop("prompt_frame"), "prompt_frame"),
    (lambda m: m.update(files={}), "lists no files"),
])
def test_invalid_model_json(folder, edit, match):
    meta = json.loads((folder / "model.json").read_text())
    edit(meta)
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=match):
        load_model_folder(folder)


def test_model_json_not_json(folder):
    (folder / "model.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_model_folder(folder)
