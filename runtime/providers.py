"""Choosing onnxruntime execution providers, their options, and falling back when one fails to load."""

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

log = logging.getLogger("edgemask.runtime")

PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "directml": "DmlExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
AUTO_ORDER = ("tensorrt", "cuda", "coreml", "directml", "cpu")
DEVICES = ("auto",) + tuple(PROVIDERS)
# devices whose tensors live in CUDA memory (IO binding keeps the embedding there)
CUDA_DEVICES = ("tensorrt", "cuda")
_INSTALL_HINT = {
    "tensorrt": "install onnxruntime-gpu with TensorRT libraries on the library path",
    "cuda": "pip install onnxruntime-gpu (in place of onnxruntime), or NVIDIA's Jetson wheel",
    "coreml": "the CoreML provider ships with onnxruntime on macOS",
    "directml": "pip install onnxruntime-directml (Windows)",
}


@dataclass
class DeviceSettings:
    """Knobs for the GPU providers; defaults bound memory and keep TensorRT engines on disk."""

    gpu_mem_limit: Optional[int] = None  # bytes for the CUDA arena; None: from model size
    device_id: int = 0
    trt_cache_dir: Optional[Path] = None
    trt_fp16: bool = True
    extra: Dict[str, dict] = field(default_factory=dict)  # provider name -> options override


def physical_cores() -> int:
    """Physical cores this process may use (hyper-threads counted once)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = list(range(os.cpu_count() or 1))
    seen = set()
    for cpu in cpus:
        path = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        try:
            seen.add(path.read_text().strip())
        except OSError:
            seen.add(str(cpu))
    return max(1, len(seen))


def available_providers() -> List[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def candidate_devices(device: str, available: Sequence[str]) -> List[str]:
    """Devices to try in order for `device`; forced devices fall back to CPU. Warns about unavailable ones."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of: {', '.join(DEVICES)}.")
    if device == "auto":
        return [d for d in AUTO_ORDER if PROVIDERS[d] in available or d == "cpu"]
    if device == "cpu":
        return ["cpu"]
    if PROVIDERS[device] not in available:
        log.warning(
            "%s is not in this onnxruntime build (%s); falling back to CPU.",
            PROVIDERS[device], _INSTALL_HINT[device],
        )
        return ["cpu"]
    return [device, "cpu"]


def default_gpu_mem_limit(model_bytes: int) -> int:
    """Arena limit: weights twice over plus 2 GiB of activations; EDGEMASK_GPU_MEM_LIMIT_MB overrides."""
    env = os.environ.get("EDGEMASK_GPU_MEM_LIMIT_MB")
    if env:
        return int(float(env) * 2**20)
    return int(2 * model_bytes + 2 * 2**30)


def provider_chain(device: str, settings: DeviceSettings, model_bytes: int = 0) -> List[Tuple[str, dict]]:
    """The (provider, options) list given to onnxruntime for one device, CPU last."""
    cuda_opts = {
        "device_id": settings.device_id,
        "arena_extend_strategy": "kSameAsRequested",
        "gpu_mem_limit": settings.gpu_mem_limit or default_gpu_mem_limit(model_bytes),
        "cudnn_conv_algo_search": "HEURISTIC",
        "do_copy_in_default_stream": True,
    }
    chain: List[Tuple[str, dict]] = []
    if device == "tensorrt":
        cache = settings.trt_cache_dir
        if cache is None:
            from edgemask.paths import home

            cache = home() / "tensorrt"
        chain.append(("TensorrtExecutionProvider", {
            "device_id": settings.device_id,
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(cache),
            "trt_fp16_enable": bool(settings.trt_fp16),
        }))
        chain.append(("CUDAExecutionProvider", cuda_opts))  # nodes TensorRT cannot take
    elif device == "cuda":
        chain.append(("CUDAExecutionProvider", cuda_opts))
    elif device in ("coreml", "directml"):
        chain.append((PROVIDERS[device], {}))
    chain.append(("CPUExecutionProvider", {}))
    out = []
    for name, opts in chain:
        opts = dict(opts)
        opts.update(settings.extra.get(name, {}))
        out.append((name, opts))
    return out


def session_options(device: str, threads: Optional[int] = None, spinning: bool = True, mem_pattern: bool = True,
                    optimization: str = "all"):
    """SessionOptions tuned for latency on `device`: all graph optimisations, physical-core threads.

    mem_pattern=False stops onnxruntime from pre-planning one block for all activations and, on
    CPU, from keeping an arena: no measurable cost for the encoder, and the process keeps ~150 MB
    (efficientvit-sam-l0) to ~2.6 GB (sam-vit-b) less resident between images.
    optimization "extended" skips the NCHWc layout pass of "all", which keeps a second, reordered
    copy of every convolution weight (+450 MB for efficientvit-sam-xl0) for ~10% speed.
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    }[optimization]
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads or int(os.environ.get("EDGEMASK_THREADS", 0)) or physical_cores()
    so.inter_op_num_threads = 1
    so.log_severity_level = 4  # provider load failures are reported by us, in one line
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if device == "directml" or not mem_pattern:
        so.enable_mem_pattern = False
    if not mem_pattern and device == "cpu":
        # no arena either: the encoder's activations (3.2 GB at the peak for sam-vit-b, its global
        # attention) go back to the system after each run instead of staying reserved
        so.enable_cpu_mem_arena = False
    return so


def create_session(path: Path, devices: Sequence[str], settings: DeviceSettings, threads=None, spinning=True,
                   model_bytes: int = 0, session_factory=None, mem_pattern: bool = True, optimization: str = "all"):
    """Creates an InferenceSession on the first device of `devices` that loads.

    Returns (session, device). A device whose provider raises or is silently
    dropped by onnxruntime is reported with one logging.warning line and the
    next device is tried; CPU is the last resort and its errors propagate.
    """
    if session_factory is None:
        import onnxruntime as ort

        session_factory = ort.InferenceSession
    last = len(devices) - 1
    for i, device in enumerate(devices):
        chain = provider_chain(device, settings, model_bytes)
        names = [name for name, _ in chain]
        opts = [o for _, o in chain]
        so = session_options(device, threads, spinning, mem_pattern=mem_pattern or device != "cpu",
                             optimization=optimization)
        try:
            session = session_factory(str(path), so, providers=names, provider_options=opts, enable_fallback=0)
        except Exception as exc:  # noqa: BLE001 - any provider failure means: try the next one
            if i == last:
                raise
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.warning("%s failed to load (%s); falling back to %s.", names[0], reason[:200], devices[i + 1].upper())
            continue
        got = session.get_providers()
        if device != "cpu" and (not got or got[0] != names[0]):
            nxt = devices[i + 1] if i < last else "cpu"
            log.warning(
                "%s failed to load (its libraries are missing or do not match; see `edgemask doctor`); "
                "falling back to %s.", names[0], nxt.upper(),
            )
            if got == ["CPUExecutionProvider"] and nxt == "cpu":
                return session, "cpu"
            continue
        return session, device
    raise RuntimeError("no execution provider could be loaded")  # unreachable: CPU is always last
