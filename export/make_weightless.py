"""Make the weightless graphs that `edgemask export` fills without PyTorch (needs the export extra).

    python -m edgemask.export.make_weightless [MODEL ...]     # default: all; writes export/weightless/

Each model is built from the official code with distinct random values in every state-dict tensor
(BatchNorm statistics included), traced by the exporter exactly as `export_model` traces a
checkpoint, and every initializer of the two graphs is matched to a recipe (weightless.RECIPES) that
reproduces it from those tensors; matching distinct random values leaves no ambiguity. Initializers
no recipe explains are kept as constants if small, else this fails. The filled graph is then checked
against the traced one. tests/export/test_weightless.py re-traces and compares, so shipped graphs
never go stale.
"""

import argparse
import hashlib
import json
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

from edgemask.export import weightless

CONSTANT_LIMIT = 1 << 16  # elements: larger unexplained initializers mean a missing recipe
# what the traced graphs depend on in this package, and which official package made them, per family
# (per model name where it differs from its family's: EdgeTAM's code is edgetam-dimos, edgemask.export.edgetam)
SOURCES = {"sam2.1": ("trace.py", "graphs.py", "sam2_graphs.py", "sam2_video_graphs.py", "video_weights.py"),
           "edgetam": ("trace.py", "graphs.py", "sam2_graphs.py", "edgetam.py")}
DEFAULT_SOURCES = ("trace.py", "graphs.py")
LIBRARIES = {"sam2.1": ("sam2",)}


class UnexplainedInitializer(RuntimeError):
    pass


def distinct_state_dict(name: str) -> dict:
    """The official model's state dict with distinct random values (variances positive), numpy."""
    from edgemask.export.registry import get_spec

    spec = get_spec(name)
    shapes = _official_shapes(spec)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    out = {}
    for key, (shape, dtype) in shapes.items():
        if np.issubdtype(dtype, np.floating):
            if key.endswith("running_var"):
                value = rng.uniform(0.5, 2.0, shape)
            else:
                value = rng.normal(0.0, 0.05, shape)
            out[key] = value.astype(dtype)
        else:
            out[key] = np.zeros(shape, dtype)
    return out


def _official_shapes(spec) -> dict:
    import torch

    from edgemask.export.checkpoint import official_model

    with torch.device("meta"):
        model = official_model(spec)
    return {k: (tuple(v.shape), np.dtype(str(v.dtype).removeprefix("torch."))) for k, v in model.state_dict().items()}


def trace(name: str, opset: int, workdir: Path, state_dict: dict) -> tuple:
    """({part: onnx.ModelProto}, model.json's "video" section or None) traced by the exporter from `state_dict`."""
    import onnx

    from edgemask.export.checkpoint import build_model
    from edgemask.export.exporter import trace_graphs
    from edgemask.export.registry import get_spec

    spec = get_spec(name)
    video = trace_graphs(build_model(spec, state_dict), spec, workdir, opset)
    names = ["encoder", "decoder"] + sorted(p.stem for p in workdir.glob("memory_*.onnx"))
    return {part: onnx.load(str(workdir / f"{part}.onnx")) for part in names}, video


def _derived_candidates(state_dict: dict, norm_eps: dict) -> list:
    """(recipe, array) pairs for initializers that torch.onnx computes from several tensors."""
    out = []
    for key in state_dict:
        if key.endswith(".running_var"):
            bn = key[: -len(".running_var")]
            parent = bn.rsplit(".", 1)[0]
            # the convolution next to its BatchNorm: EfficientViT's ".conv", timm's ConvNorm ".c" (EdgeTAM's RepViT)
            convs = [parent + s for s in (".conv", ".c") if parent + s + ".weight" in state_dict]
            if not convs or bn not in norm_eps:
                continue
            conv = convs[0]
            eps = norm_eps[bn]
            bias = [conv + ".bias"] if conv + ".bias" in state_dict else []
            for recipe in ({"fn": "conv_bn_weight", "keys": [conv + ".weight"], "bn": bn, "eps": eps},
                           {"fn": "conv_bn_bias", "keys": bias, "bn": bn, "eps": eps}):
                out.append((recipe, None))
    for tokens in (["mask_decoder.iou_token.weight", "mask_decoder.mask_tokens.weight"],
                   # SAM 2.1: the object-score token leads
                   ["sam_mask_decoder.obj_score_token.weight", "sam_mask_decoder.iou_token.weight",
                    "sam_mask_decoder.mask_tokens.weight"]):
        if all(k in state_dict for k in tokens):
            out.append(({"fn": "concat", "keys": tokens}, None))
    return [(r, weightless.compute(r, state_dict, (-1,), np.float32)) for r, _ in out]


def explain(array: np.ndarray, state_dict: dict, by_size: dict, derived: list):
    """The recipe that reproduces `array` from `state_dict`, or None."""
    flat = array.reshape(-1)
    for key in by_size.get(array.size, []):
        value = state_dict[key]
        if np.array_equal(value.reshape(-1), flat):
            return {"fn": "same", "keys": [key]}
        if value.ndim == 2 and array.ndim == 2 and np.array_equal(value.T.reshape(-1), flat):
            return {"fn": "transpose", "keys": [key]}
    scale = np.abs(flat).max() if flat.size else 0
    for recipe, value in derived:
        if value.size == flat.size and np.allclose(value, flat, rtol=1e-5, atol=1e-6 * scale):
            return recipe
    return None


def make(name: str, opset: int, out_dir: Path, progress=print) -> dict:
    """Trace `name` and write out_dir/NAME.PART.onnx (weightless: encoder, decoder, SAM 2.1's video graphs)
    and NAME.json; returns the meta."""
    import onnx
    from onnx import numpy_helper

    from edgemask.export.checkpoint import official_norm_eps
    from edgemask.export.registry import get_spec

    state_dict = distinct_state_dict(name)
    progress(f"{name}: tracing with distinct random weights")
    with tempfile.TemporaryDirectory() as tmp:
        graphs, video = trace(name, opset, Path(tmp), state_dict)
    by_size = {}
    for key, value in state_dict.items():
        if np.issubdtype(value.dtype, np.floating):
            by_size.setdefault(value.size, []).append(key)
    derived = _derived_candidates(state_dict, official_norm_eps(get_spec(name)))
    recipes = {}
    for part, model in graphs.items():
        recipes[part] = {}
        for init in model.graph.initializer:
            array = numpy_helper.to_array(init)
            recipe = explain(array, state_dict, by_size, derived) if array.dtype == np.float32 else None
            if recipe is None:
                if array.size > CONSTANT_LIMIT:
                    raise UnexplainedInitializer(f"{name} {part}: initializer {init.name} {array.shape} "
                                                 "follows from no recipe")
                continue
            check = weightless.compute(recipe, state_dict, array.shape, array.dtype)
            err = np.abs(check - array).max() / max(np.abs(array).max(), 1e-12)
            if err > 1e-6:
                raise UnexplainedInitializer(f"{name} {part}: {init.name} recipe {recipe} is off by {err:.1e}")
            recipes[part][init.name] = recipe
            init.ClearField("raw_data")
            init.ClearField("float_data")
    meta = {
        "model": name,
        "opset": opset,
        "state_dict": {k: list(v.shape) for k, v in state_dict.items()},
        "recipes": recipes,
        "traced_with": traced_with(name),
        **({"video": video} if video else {}),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for part, model in graphs.items():
        onnx.save_model(model, str(out_dir / f"{name}.{part}.onnx"))
    (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return meta


def traced_with(name: str) -> dict:
    """Versions and exporter sources model `name`'s graphs depend on; a change means: re-make them."""
    from importlib.metadata import version

    from edgemask.export.registry import get_spec

    family = get_spec(name).family
    here = Path(__file__).resolve().parent
    files = SOURCES.get(name, SOURCES.get(family, DEFAULT_SOURCES))
    sources = hashlib.sha256(b"".join((here / f).read_bytes() for f in files)).hexdigest()
    libraries = {lib: version(lib) for lib in LIBRARIES.get(family, ())}
    if name == "edgetam":
        from edgemask.export.edgetam import library_versions

        libraries = library_versions()
    return {"torch": version("torch"), "onnx": version("onnx"), "segment-anything": version("segment-anything"),
            "efficientsam": version("efficientsam"), **libraries, "exporter_sources_sha256": sources}


def main(argv=None) -> int:
    from edgemask.export.exporter import DEFAULT_OPSET
    from edgemask.export.registry import MODELS

    parser = argparse.ArgumentParser(prog="python -m edgemask.export.make_weightless", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", metavar="MODEL", help="default: all")
    parser.add_argument("--out", type=Path, default=weightless.SHIPPED)
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    args = parser.parse_args(argv)
    for name in args.models or list(MODELS):
        make(name, args.opset, args.out)
        size = sum(f.stat().st_size for f in args.out.glob(f"{name}.*"))
        print(f"{name}: {size / 1e6:.2f} MB in {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
