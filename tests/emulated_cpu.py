"""Runs onnxruntime on an emulated x86 CPU without VNNI (QEMU user mode, `-cpu Haswell`: AVX2, no
AVX-512, no VNNI), so that int8 exports are checked on the kernels a laptop without VNNI runs,
whatever CPU the tests run on. onnxruntime picks its kernels from CPUID, which QEMU emulates.

`python tests/emulated_cpu.py MODEL.onnx FEEDS.npz OUT.npz` is the worker run under QEMU.
"""

import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

EMULATED_CPU = "Haswell"  # AVX2 + FMA, no AVX-512, no VNNI: U8S8 MatMuls go through VPMADDUBSW
EMULATED_ISA = "AVX2 without VNNI (QEMU -cpu Haswell)"


def qemu() -> str:
    """Path of qemu-x86_64, or "" where it is missing or this is no x86-64 machine."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return ""
    return shutil.which("qemu-x86_64") or ""


def run_onnx(model: Path, feeds: list, emulated: bool, timeout: float = 600) -> list:
    """Outputs of `model` for each feed dict in `feeds` (one list of outputs each), run natively or
    on the emulated CPU, in one fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "feeds.npz", Path(tmp) / "out.npz"
        np.savez(inp, **{f"{i}/{name}": v for i, feed in enumerate(feeds) for name, v in feed.items()})
        cmd = [sys.executable, __file__, str(model), str(inp), str(out)]
        if emulated:
            cmd = [qemu(), "-cpu", EMULATED_CPU] + cmd
        env = dict(os.environ, OMP_NUM_THREADS="1")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:4])} failed: {proc.stderr[-2000:]}")
        with np.load(out) as data:
            runs = {}
            for key in data.files:
                i, j = map(int, key.split("/"))
                runs.setdefault(i, {})[j] = data[key]
            return [[run[j] for j in sorted(run)] for _, run in sorted(runs.items())]


def saturation_probe(path: Path) -> tuple:
    """Writes a MatMulInteger whose exact result needs more than 16-bit pair sums (uint8 255 x int8 127)
    and returns (feeds, exact result, result when VPMADDUBSW saturates each pair to 32767)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    k, n = 64, 8
    weight = numpy_helper.from_array(np.full((k, n), 127, np.int8), "B")
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B"], ["Y"])], "probe",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [1, k])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [1, n])], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return {"A": np.full((1, k), 255, np.uint8)}, 255 * 127 * k, 32767 * (k // 2)


def _worker(model: str, feeds: str, out: str) -> None:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    runs = {}
    with np.load(feeds) as data:
        for key in data.files:
            i, name = key.split("/", 1)
            runs.setdefault(int(i), {})[name] = data[key]
    results = {f"{i}/{j}": r for i, inputs in runs.items() for j, r in enumerate(session.run(None, inputs))}
    np.savez(out, **results)


if __name__ == "__main__":
    _worker(*sys.argv[1:4])
