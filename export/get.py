"""Download and export in one step, into the model cache (torch-free): `edgemask models get`, the page's "get".

Events go to `on_event(phase, done, total, message)`: phase "download" counts bytes, "convert" counts
steps; both end with done == total.
"""

import json
from pathlib import Path
from typing import Callable, Optional

from edgemask import paths
from edgemask.export.registry import get_spec

PRECISIONS = ("fp32", "fp16", "int8")

# What the page's chooser offers, first the default: (model, what it suits). Sizes come from the registry.
CHOICES = (
    ("efficientvit-sam-l0", "CPU laptop: fastest, good masks"),
    ("efficientvit-sam-l1", "CPU laptop or Jetson: a little sharper than l0"),
    ("sam2.1-hiera-tiny", "CPU laptop: SAM 2.1, better masks per click than SAM ViT-B at a fraction of its cost"),
    ("sam2.1-hiera-small", "CPU or Jetson Orin: SAM 2.1, a little more accurate than tiny"),
    ("efficientvit-sam-xl0", "GPU or Jetson Orin: finer edges, 1024 px input"),
    ("sam2.1-hiera-base-plus", "GPU: SAM 2.1, finer masks than small, slow on a CPU"),
    ("sam2.1-hiera-large", "GPU with 8 GB or more: SAM 2.1, most accurate, too slow for a CPU"),
    ("sam-vit-b", "GPU: the original SAM, smallest"),
    ("sam-vit-h", "GPU with 8 GB or more: the original SAM, most accurate, slow on a CPU"),
)


def choices() -> list:
    """The chooser's entries: model, what it suits, its checkpoint URL and about how many bytes it is
    (its float32 weights, from the shipped graph's state-dict shapes)."""
    import math

    from edgemask.export import weightless

    out = []
    for name, suits in CHOICES:
        try:
            shapes = weightless.shipped_meta(name)["state_dict"].values()
            size = 4 * sum(math.prod(s) for s in shapes)
        except (weightless.NoShippedGraph, KeyError):
            size = None
        out.append({"model": name, "suits": suits, "url": get_spec(name).url, "download_bytes": size})
    return out


def preferred_precision() -> str:
    """The precision the annotator opens first on this machine (edgemask.runtime.cpu_features):
    fp16 with a CUDA / TensorRT provider, int8 on a CPU with VNNI or ARM dot product, else fp32."""
    from edgemask.runtime import cpu_features

    try:
        from edgemask.runtime.providers import available_providers

        gpu = any(p in available_providers() for p in ("CUDAExecutionProvider", "TensorrtExecutionProvider"))
    except ImportError:
        gpu = False
    return cpu_features.precision_order(gpu, cpu_features.detect())[0]


def model_folder(name: str, precision: str) -> Path:
    """Where `models get` / `export` put model `name` at `precision` by default."""
    return paths.models_dir() / f"{name}-{precision}"


def is_current(folder: Path, name: str, precision: str, sha256: Optional[str] = None) -> bool:
    """True when `folder` holds a complete export of `name` at `precision` from its official checkpoint file
    (its name, and the official sha256 or `sha256`)."""
    try:
        meta = json.loads((Path(folder) / "model.json").read_text())
    except (OSError, ValueError):
        return False
    if meta.get("model") != name or meta.get("precision") != precision:
        return False
    spec = get_spec(name)
    checkpoint = meta.get("checkpoint", {})
    expected = (sha256 or spec.sha256 or "").lower()
    if checkpoint.get("file") != spec.filename or (expected and checkpoint.get("sha256") != expected):
        return False  # another file, or a fine-tuned one under the official name
    if "video" not in meta and _video_graphs(name):
        return False  # made before exports carried SAM 2.1's video graphs
    for file, info in meta.get("files", {}).items():
        f = Path(folder) / file
        if not f.is_file() or f.stat().st_size != info.get("bytes"):
            return False
    return True


def offline_hint(name: str, precision: str) -> str:
    """One sentence: what to fetch by hand and what to run on it."""
    spec = get_spec(name)
    return (f"Download {spec.url} on a machine with internet access, copy it here and run "
            f"`edgemask export {name} --checkpoint {spec.filename} --precision {precision}`.")


def get_model(name: str, precision: Optional[str] = None, url: Optional[str] = None,
              on_event: Optional[Callable] = None, show_progress: bool = True, sha256: Optional[str] = None) -> tuple:
    """(folder, fetched): model `name` at `precision` (default: preferred_precision()) in the cache,
    downloaded and exported unless the folder is current already (then fetched is False, nothing done).
    The download is verified against the official sha256, or `sha256` (a mirror's file) when given."""
    from edgemask.export.download import download_checkpoint
    from edgemask.export.exporter import export_model

    spec = get_spec(name)
    precision = precision or preferred_precision()
    folder = model_folder(spec.name, precision)
    if is_current(folder, spec.name, precision, sha256):
        return folder, False
    event = on_event or (lambda *a: None)
    checkpoint = download_checkpoint(
        spec.name, url=url, sha256=sha256, show_progress=show_progress,
        on_progress=lambda done, total: event("download", done, total, f"downloading {spec.filename}"),
    )
    steps = _convert_steps(precision) + _video_graphs(spec.name)  # one "filling" message each
    done = [0]

    def progress(message):
        if show_progress:
            print(message, flush=True)
        done[0] = min(done[0] + 1, steps - 1)
        event("convert", done[0], steps, message)

    event("convert", 0, steps, "converting")
    export_model(spec.name, checkpoint, folder, precision=precision, progress=progress)
    event("convert", steps, steps, f"wrote {folder}")
    return folder, True


def _video_graphs(name: str) -> int:
    """How many video graphs (SAM 2.1's) the shipped weightless graphs of `name` have."""
    from edgemask.export import weightless

    try:
        return len(weightless.shipped_meta(name).get("video", {}).get("graphs", {}))
    except weightless.NoShippedGraph:
        return 0


def _convert_steps(precision: str) -> int:
    """How many progress messages export_model prints for a fill export (for a progress bar)."""
    # read, fill encoder, fill decoder, [2 conversions], split, wrote
    return 5 + (0 if precision == "fp32" else 2)
