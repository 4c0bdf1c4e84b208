"""`edgemask doctor`: what this machine offers the runtime (onnxruntime build, providers, GPU, models, caches)."""

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from edgemask import __version__, paths


def _dir_size(path: Path):
    total = count = 0
    if path.is_dir():
        for f in path.rglob("*"):
            try:
                if f.is_file():
                    total += f.stat().st_size
                    count += 1
            except OSError:
                pass
    return total, count


def _ort_info() -> dict:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return {"installed": False, "error": f"onnxruntime is not installed ({exc}); pip install 'edgemask[cpu]' "
                "or 'edgemask[gpu]', or NVIDIA's Jetson wheel"}
    from importlib import metadata

    packages = []
    for dist in ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-silicon",
                 "onnxruntime-openvino"):
        try:
            packages.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    info = {"installed": True, "version": ort.__version__, "packages": packages, "device": ort.get_device(),
            "providers": ort.get_available_providers()}
    if hasattr(ort, "get_build_info"):
        info["build"] = ort.get_build_info()
    if len(packages) > 1:
        info["warning"] = ("several onnxruntime packages are installed and overwrite each other's files; "
                           "keep only one (pip uninstall them all, then install one)")
    return info


def _gpu_info() -> dict:
    info = {}
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=10)
            info["nvidia-smi"] = out.stdout.strip() or out.stderr.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            info["nvidia-smi"] = f"failed: {exc}"
    tegra = Path("/etc/nv_tegra_release")
    if tegra.is_file():
        info["jetson"] = tegra.read_text().splitlines()[0].strip()
    return info


def collect() -> dict:
    """Everything `edgemask doctor` reports, as a JSON-ready dict."""
    from edgemask.runtime import cpu_features
    from edgemask.runtime.providers import candidate_devices, physical_cores

    ort_info = _ort_info()
    auto = candidate_devices("auto", ort_info.get("providers", []))[0] if ort_info["installed"] else None
    features = cpu_features.detect()
    gpu = auto in ("tensorrt", "cuda")
    models = []
    root = paths.models_dir()
    if root.is_dir():
        from edgemask.runtime.model_folder import load_model_folder

        for folder in sorted(p for p in root.iterdir() if (p / "model.json").is_file()):
            size, _ = _dir_size(folder)
            entry = {"path": str(folder), "bytes": size}
            try:
                m = load_model_folder(folder)
                entry.update(model=m.name, precision=m.precision, status="ok")
            except (OSError, ValueError) as exc:
                entry.update(status=f"broken: {exc}")
            models.append(entry)
    emb_bytes, emb_files = _dir_size(paths.embeddings_dir())
    trt_bytes, trt_files = _dir_size(paths.home() / "tensorrt")
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    return {
        "edgemask": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "onnxruntime": ort_info,
        "auto_device": auto,
        "gpu": _gpu_info(),
        "cpu": {"logical": os.cpu_count(), "usable": affinity, "physical_cores": physical_cores(),
                "threads": int(os.environ.get("EDGEMASK_THREADS", 0)) or physical_cores(),
                "processor": platform.processor() or platform.machine(), "features": features.summary(),
                "int8_dot_product": features.int8_dot or None},
        "precision": {"order": cpu_features.precision_order(gpu, features),
                      "reason": cpu_features.precision_reason(gpu, features)},
        "torch_installed": _has_module("torch"),
        "models_dir": str(root),
        "models": models,
        "embeddings_cache": {"path": str(paths.embeddings_dir()), "bytes": emb_bytes, "files": emb_files},
        "tensorrt_cache": {"path": str(paths.home() / "tensorrt"), "bytes": trt_bytes, "files": trt_files},
    }


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def format_report(info: dict) -> str:
    ort_info = info["onnxruntime"]
    lines = [f"edgemask {info['edgemask']}  python {info['python']}  {info['platform']}"]
    if ort_info["installed"]:
        lines.append(f"onnxruntime {ort_info['version']} ({', '.join(ort_info['packages']) or 'package unknown'}), "
                     f"build device {ort_info['device']}")
        lines.append(f"  providers: {', '.join(ort_info['providers'])}")
        lines.append(f"  device=auto uses: {info['auto_device']}")
        if "warning" in ort_info:
            lines.append(f"  warning: {ort_info['warning']}")
    else:
        lines.append(f"onnxruntime: {ort_info['error']}")
    gpu = info["gpu"]
    lines.append("GPU: " + ("; ".join(f"{k}: {v}" for k, v in gpu.items()) if gpu else "none found (no nvidia-smi)"))
    cpu = info["cpu"]
    lines.append(f"CPU: {cpu['processor']}, {cpu['logical']} logical / {cpu['physical_cores']} physical cores "
                 f"usable, {cpu['threads']} onnxruntime threads (EDGEMASK_THREADS overrides)")
    lines.append(f"  features: {cpu['features']}")
    lines.append(f"precision opened by default: {info['precision']['reason']} "
                 f"(order: {', '.join(info['precision']['order'])})")
    lines.append(f"PyTorch installed: {'yes' if info['torch_installed'] else 'no'} (not needed to annotate)")
    lines.append(f"models in {info['models_dir']}:")
    if not info["models"]:
        lines.append("  none (edgemask models get efficientvit-sam-l0 downloads and converts one, no PyTorch needed)")
    for m in info["models"]:
        label = f"{m.get('model', '?')} {m.get('precision', '')}".strip()
        lines.append(f"  {Path(m['path']).name}: {label}, {_mb(m['bytes'])}, {m['status']}")
    emb, trt = info["embeddings_cache"], info["tensorrt_cache"]
    lines.append(f"embedding cache: {emb['path']} ({emb['files']} files, {_mb(emb['bytes'])})")
    lines.append(f"TensorRT engine cache: {trt['path']} ({trt['files']} files, {_mb(trt['bytes'])})")
    return "\n".join(lines)
