"""`edgemask serve` without --model opens the fastest exported precision for this machine."""

import json

import pytest

from edgemask.runtime.cpu_features import CpuFeatures
from edgemask.webui.ai.assistant import find_default_model

VNNI = CpuFeatures("x86_64", frozenset({"avx2", "avx512f", "avx512_vnni"}))
AVX2 = CpuFeatures("x86_64", frozenset({"avx2"}))
ARM_DOT = CpuFeatures("arm64", frozenset({"asimd", "asimddp"}))


def make(root, name, precision):
    folder = root / "models" / name
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({"model": "efficientvit-sam-l0", "precision": precision}))
    return folder


@pytest.fixture
def cpu_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path))
    monkeypatch.setattr("edgemask.runtime.providers.available_providers", lambda: ["CPUExecutionProvider"])

    def with_cpu(features):
        monkeypatch.setattr("edgemask.runtime.cpu_features.detect", lambda: features)

    return with_cpu


@pytest.mark.parametrize("cpu", [VNNI, ARM_DOT], ids=["x86-vnni", "arm-dotprod"])
def test_prefers_int8_where_the_cpu_has_an_int8_dot_product(tmp_path, cpu_machine, cpu):
    cpu_machine(cpu)
    assert find_default_model() is None
    make(tmp_path, "efficientvit-sam-l0-fp16", "fp16")
    fp32 = make(tmp_path, "efficientvit-sam-l0-fp32", "fp32")
    assert find_default_model() == fp32
    int8 = make(tmp_path, "efficientvit-sam-l0-int8", "int8")
    assert find_default_model() == int8
    (tmp_path / "models" / "notes").mkdir()  # a folder without model.json is not a model
    assert find_default_model() == int8


def test_prefers_fp32_on_a_cpu_without_vnni(tmp_path, cpu_machine):
    cpu_machine(AVX2)
    int8 = make(tmp_path, "efficientvit-sam-l0-int8", "int8")
    assert find_default_model() == int8  # the only one there: better than none
    fp32 = make(tmp_path, "efficientvit-sam-l0-fp32", "fp32")
    assert find_default_model() == fp32


def test_prefers_fp16_where_cuda_is_present(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path))
    monkeypatch.setattr("edgemask.runtime.providers.available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    make(tmp_path, "a-int8", "int8")
    fp16 = make(tmp_path, "b-fp16", "fp16")
    assert find_default_model() == fp16
