"""`edgemask serve` without --model opens the fastest exported precision for this machine."""

import json

from edgemask.webui.assist import find_default_model


def make(root, name, precision):
    folder = root / "models" / name
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({"model": "efficientvit-sam-l0", "precision": precision}))
    return folder


def test_prefers_int8_on_a_cpu_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path))
    monkeypatch.setattr("edgemask.runtime.providers.available_providers", lambda: ["CPUExecutionProvider"])
    assert find_default_model() is None
    make(tmp_path, "efficientvit-sam-l0-fp16", "fp16")
    fp32 = make(tmp_path, "efficientvit-sam-l0-fp32", "fp32")
    assert find_default_model() == fp32
    int8 = make(tmp_path, "efficientvit-sam-l0-int8", "int8")
    assert find_default_model() == int8
    (tmp_path / "models" / "notes").mkdir()  # a folder without model.json is not a model
    assert find_default_model() == int8


def test_prefers_fp16_where_cuda_is_present(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path))
    monkeypatch.setattr("edgemask.runtime.providers.available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    make(tmp_path, "a-int8", "int8")
    fp16 = make(tmp_path, "b-fp16", "fp16")
    assert find_default_model() == fp16
