import logging

import numpy as np
import onnxruntime as ort
import pytest

from edgemask.runtime import providers as prov
from edgemask.runtime.engine import Engine
from edgemask.runtime.model_folder import load_model_folder

GPU_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_auto_order_prefers_tensorrt_then_cuda():
    assert prov.candidate_devices("auto", GPU_BUILD) == ["tensorrt", "cuda", "cpu"]
    assert prov.candidate_devices("auto", ["CoreMLExecutionProvider", "CPUExecutionProvider"]) == ["coreml", "cpu"]
    assert prov.candidate_devices("auto", ["DmlExecutionProvider", "CPUExecutionProvider"]) == ["directml", "cpu"]
    assert prov.candidate_devices("auto", ["CPUExecutionProvider"]) == ["cpu"]


def test_forced_device_falls_back_to_cpu_with_one_warning(caplog):
    assert prov.candidate_devices("cuda", GPU_BUILD) == ["cuda", "cpu"]
    assert prov.candidate_devices("cpu", GPU_BUILD) == ["cpu"]
    with caplog.at_level(logging.WARNING, "edgemask.runtime"):
        assert prov.candidate_devices("tensorrt", ["CPUExecutionProvider"]) == ["cpu"]
    assert len(caplog.records) == 1 and "TensorrtExecutionProvider" in caplog.text and "\n" not in caplog.messages[0]
    with pytest.raises(ValueError, match="unknown device"):
        prov.candidate_devices("gpu", GPU_BUILD)


def test_cuda_options_bound_memory():
    (name, opts), (cpu, _) = prov.provider_chain("cuda", prov.DeviceSettings(gpu_mem_limit=3 * 2**30))
    assert name == "CUDAExecutionProvider" and cpu == "CPUExecutionProvider"
    assert opts["arena_extend_strategy"] == "kSameAsRequested"
    assert opts["gpu_mem_limit"] == 3 * 2**30
    _, default = prov.provider_chain("cuda", prov.DeviceSettings(), model_bytes=100)[0]
    assert 2**30 < default["gpu_mem_limit"] < 3 * 2**30


def test_tensorrt_options_cache_engines_on_disk_in_fp16(tmp_path):
    chain = prov.provider_chain("tensorrt", prov.DeviceSettings(trt_cache_dir=tmp_path))
    assert [n for n, _ in chain] == GPU_BUILD
    trt = chain[0][1]
    assert trt["trt_engine_cache_enable"] and trt["trt_fp16_enable"]
    assert trt["trt_engine_cache_path"] == str(tmp_path)


def test_env_overrides_gpu_memory_limit(monkeypatch):
    monkeypatch.setenv("EDGEMASK_GPU_MEM_LIMIT_MB", "512")
    assert prov.default_gpu_mem_limit(10**9) == 512 * 2**20


def test_session_options_use_physical_cores_and_all_optimisations():
    so = prov.session_options("cpu")
    assert so.intra_op_num_threads == prov.physical_cores() >= 1
    assert so.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert prov.session_options("cpu", threads=1).intra_op_num_threads == 1


class FakeSession:
    def __init__(self, providers):
        self._providers = providers

    def get_providers(self):
        return self._providers


def test_provider_that_raises_falls_back_in_one_line(tiny_model, caplog):
    calls = []

    def factory(path, so, providers, provider_options, **kw):
        calls.append(providers[0])
        if providers[0] == "CUDAExecutionProvider":
            raise RuntimeError("libcudnn.so.9: cannot open shared object file\nmore details")
        return FakeSession(providers)

    with caplog.at_level(logging.WARNING, "edgemask.runtime"):
        session, device = prov.create_session(tiny_model / "decoder.onnx", ["cuda", "cpu"], prov.DeviceSettings(),
                                              session_factory=factory)
    assert device == "cpu" and calls == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert len(caplog.records) == 1
    assert "CUDAExecutionProvider failed to load (libcudnn.so.9" in caplog.messages[0]
    assert "\n" not in caplog.messages[0]


def test_provider_silently_dropped_is_reported(tiny_model, caplog):
    def factory(path, so, providers, provider_options, **kw):
        return FakeSession(["CPUExecutionProvider"])  # what onnxruntime does when CUDA libraries are missing

    with caplog.at_level(logging.WARNING, "edgemask.runtime"):
        session, device = prov.create_session(tiny_model / "decoder.onnx", ["tensorrt", "cuda", "cpu"],
                                              prov.DeviceSettings(), session_factory=factory)
    assert device == "cpu"
    assert [m.split(" ")[0] for m in caplog.messages] == ["TensorrtExecutionProvider", "CUDAExecutionProvider"]


def test_cpu_failure_propagates(tiny_model):
    def factory(*a, **kw):
        raise RuntimeError("broken model")

    with pytest.raises(RuntimeError, match="broken model"):
        prov.create_session(tiny_model / "decoder.onnx", ["cpu"], prov.DeviceSettings(), session_factory=factory)


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="CUDA build")
def test_engine_on_cuda_without_cuda_runs_on_cpu(tiny_model, caplog):
    with caplog.at_level(logging.WARNING, "edgemask.runtime"):
        engine = Engine(load_model_folder(tiny_model), device="cuda")
    assert engine.device == "cpu" and not engine.io_binding
    assert "CUDAExecutionProvider" in caplog.text


def test_io_binding_path_gives_the_same_outputs(tiny_model):
    model = load_model_folder(tiny_model)
    plain, bound = Engine(model, "cpu"), Engine(model, "cpu", io_binding=True)
    image = np.random.default_rng(0).uniform(0, 255, (64, 64, 3)).astype(np.float32)
    e1, e2 = plain.encode(image), bound.encode(image)
    assert e1.device_value is None and e2.device_value is not None
    np.testing.assert_array_equal(e1.host, e2.host)
    coords = np.array([[[100, 200], [0, 0]]], np.float32)
    labels = np.array([[1, -1]], np.float32)
    mask = np.full((1, 1, 256, 256), 0.5, np.float32)
    for m in (None, mask):
        iou1, low1 = plain.decode(e1, coords, labels, m)
        iou2, low2 = bound.decode(bound.to_device(e1.host), coords, labels, m)
        assert low1.shape == (4, 256, 256) and iou1.shape == (4,)
        np.testing.assert_array_equal(low1, low2)
        np.testing.assert_array_equal(iou1, iou2)


def test_engine_rejects_decoder_without_contract_inputs(tiny_model, tmp_path):
    import shutil

    import onnx

    dst = tmp_path / "m"
    shutil.copytree(tiny_model, dst)
    # an encoder file in the decoder's place, with model.json sizes and sha256 updated to match
    shutil.copy(dst / "encoder.onnx", dst / "decoder.onnx")
    import hashlib
    import json

    meta = json.loads((dst / "model.json").read_text())
    meta["files"]["decoder.onnx"]["bytes"] = (dst / "decoder.onnx").stat().st_size
    meta["files"]["decoder.onnx"]["sha256"] = hashlib.sha256((dst / "decoder.onnx").read_bytes()).hexdigest()
    (dst / "model.json").write_text(json.dumps(meta))
    assert onnx.load(str(dst / "decoder.onnx"))
    with pytest.raises(ValueError, match="decoder.onnx lacks"):
        Engine(load_model_folder(dst), "cpu")
