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


def _edit(folder, section, key, value):
    meta = json.loads((folder / "model.json").read_text())
    if section is None:
        meta[key] = value
    else:
        meta[section][key] = value
    (folder / "model.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("section,key,value,words", [
    ("encoder", "input_size", 100000, "encoder.input_size 100000 is not the sam family's"),
    ("encoder", "embedding_shape", [1, 256, 128, 128], "embedding_shape"),
    ("decoder", "prompt_frame", 2048, "prompt_frame 2048 is not 1024"),
    ("decoder", "low_res_size", 512, "low_res_size 512 is not 256"),
    (None, "family", "made-up", "family 'made-up' is not one edgemask knows"),
])
def test_geometry_the_family_does_not_have_is_refused(folder, section, key, value, words):
    _edit(folder, section, key, value)
    with pytest.raises(ValueError, match=words) as info:
        load_model_folder(folder)
    assert "\n" not in str(info.value)


def test_each_family_s_geometry_loads(folder):
    _edit(folder, None, "family", "efficientvit-sam")
    _edit(folder, "encoder", "input_size", 512)
    assert load_model_folder(folder).encoder_size == 512
    _edit(folder, None, "family", "sam2.1")
    _edit(folder, "encoder", "input_size", 1024)
    _edit(folder, "encoder", "embedding_shape", [256 * 64 * 64 + 32 * 256 * 256 + 64 * 128 * 128])
    _edit(folder, "encoder", "embedding_parts", [{"name": "image_embed", "shape": [1, 256, 64, 64]},
                                                 {"name": "high_res_feats_0", "shape": [1, 32, 256, 256]},
                                                 {"name": "high_res_feats_1", "shape": [1, 64, 128, 128]}])
    assert load_model_folder(folder).family == "sam2.1"
    _edit(folder, "encoder", "embedding_parts", [{"name": "image_embed", "shape": [1, 256, 64, 64]}])
    with pytest.raises(ValueError, match="embedding_parts"):
        load_model_folder(folder)


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink"])
def test_files_outside_the_folder_are_refused(folder, tmp_path, kind):
    outside = tmp_path / "elsewhere.onnx"
    shutil.copy(folder / "decoder.onnx", outside)
    name = {"absolute": str(outside), "dotdot": "../elsewhere.onnx", "symlink": "link.onnx"}[kind]
    if kind == "symlink":
        (folder / "link.onnx").symlink_to(outside)
    meta = json.loads((folder / "model.json").read_text())
    meta["files"][name] = meta["files"].pop("decoder.onnx")
    meta["decoder"]["file"] = name
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="not a plain file name inside the model folder") as info:
        load_model_folder(folder)
    assert "\n" not in str(info.value)


def test_garbled_encoder_without_sha256_is_one_sentence_and_warned(folder, caplog):
    from edgemask.runtime import Predictor

    meta = json.loads((folder / "model.json").read_text())
    for entry in meta["files"].values():
        entry.pop("sha256")
    (folder / "model.json").write_text(json.dumps(meta))
    size = (folder / "encoder.onnx").stat().st_size
    (folder / "encoder.onnx").write_bytes(bytes(range(256)) * (size // 256) + b"\0" * (size % 256))
    with caplog.at_level("WARNING", logger="edgemask.runtime"):
        load_model_folder(folder)
    assert "records no sha256" in caplog.text
    with pytest.raises(ValueError, match="onnxruntime cannot load encoder.onnx") as info:
        Predictor(folder, device="cpu")
    assert "\n" not in str(info.value)


def test_damage_keeping_size_and_mtime_is_found_in_the_background(folder):
    import os

    from edgemask.runtime.model_folder import verify_in_background

    load_model_folder(folder)  # verified once: remembered by size and mtime
    path = folder / "decoder.onnx"
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    load_model_folder(folder)  # trusted by size and mtime
    failures = []
    verify_in_background(folder, failures.append).join(30)
    assert len(failures) == 1 and "decoder.onnx" in failures[0] and "\n" not in failures[0]
    with pytest.raises(ValueError, match="does not match the sha256"):
        load_model_folder(folder)  # forgotten: hashed again


def test_background_verification_of_a_sound_folder_reports_nothing(folder):
    from edgemask.runtime.model_folder import verify_in_background

    failures = []
    verify_in_background(folder, failures.append).join(30)
    assert failures == []
