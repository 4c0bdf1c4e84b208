"""Fill the shipped weightless graphs from a checkpoint: official checkpoint -> fp32 ONNX, no PyTorch.

`edgemask/export/weightless/` holds, per model, the encoder and decoder graphs that
`edgemask.export.make_weightless` traced from the official code with the exporter, minus their
weights, and MODEL.json: each emptied initializer's recipe (a numpy function of state-dict tensors,
recorded and checked at trace time), the state dict's keys and shapes, and what traced them.
Initializers that are no weights (interpolation matrices, pixel mean/std) stay in the graphs.
"""

import json
from pathlib import Path

import numpy as np

SHIPPED = Path(__file__).resolve().parent / "weightless"
LARGE = 1_800_000_000  # bytes: above this a graph's weights go to an external PART.onnx.data file


class NoShippedGraph(LookupError):
    """No weightless graph ships for this model and opset."""


def shipped_meta(name: str) -> dict:
    """MODEL.json of a shipped model; NoShippedGraph when none ships."""
    path = SHIPPED / f"{name}.json"
    if not path.is_file():
        raise NoShippedGraph(f"no weightless graph ships for {name}")
    return json.loads(path.read_text())


def shipped_opsets(name: str) -> list:
    try:
        return [shipped_meta(name)["opset"]]
    except NoShippedGraph:
        return []


# -- recipes: how an initializer follows from the state dict -------------------------------------------

def _same(sd, keys, **_):
    return sd[keys[0]]


def _transpose(sd, keys, **_):
    return sd[keys[0]].T


def _concat(sd, keys, **_):
    return np.concatenate([sd[k] for k in keys], axis=0)


def _bn_scale(sd, bn, eps):
    var = sd[bn + ".running_var"].astype(np.float32)
    return sd[bn + ".weight"].astype(np.float32) / np.sqrt(var + np.float32(eps))


def _conv_bn_weight(sd, keys, bn, eps, **_):
    """Conv weight with the following eval-mode BatchNorm folded in (torch.onnx's eval peephole)."""
    w = sd[keys[0]].astype(np.float32)
    return w * _bn_scale(sd, bn, eps).reshape((-1,) + (1,) * (w.ndim - 1))


def _conv_bn_bias(sd, keys, bn, eps, **_):
    bias = sd[keys[0]].astype(np.float32) if keys else np.float32(0)
    return (bias - sd[bn + ".running_mean"]) * _bn_scale(sd, bn, eps) + sd[bn + ".bias"]


RECIPES = {
    "same": _same, "transpose": _transpose, "concat": _concat,
    "conv_bn_weight": _conv_bn_weight, "conv_bn_bias": _conv_bn_bias,
}


def compute(recipe: dict, state_dict: dict, shape, dtype) -> np.ndarray:
    """The initializer `recipe` describes, from `state_dict` (numpy arrays), as `dtype` of `shape`."""
    args = {k: v for k, v in recipe.items() if k != "fn"}
    value = np.asarray(RECIPES[recipe["fn"]](state_dict, **args))
    return np.ascontiguousarray(value.astype(dtype, copy=False).reshape(shape))


def parts(meta: dict) -> list:
    """The graphs a shipped model has: encoder, decoder, then any others (SAM 2.1's video graphs)."""
    return ["encoder", "decoder"] + sorted(set(meta["recipes"]) - {"encoder", "decoder"})


# -- filling -----------------------------------------------------------------------------------------

def fill_graph(weightless_model, recipes: dict, state_dict: dict):
    """`weightless_model` (onnx.ModelProto) with each initializer in `recipes` set from `state_dict`, in place."""
    from onnx import helper

    for init in weightless_model.graph.initializer:
        recipe = recipes.get(init.name)
        if recipe is None:
            continue
        dtype = helper.tensor_dtype_to_np_dtype(init.data_type)
        init.raw_data = compute(recipe, state_dict, tuple(init.dims), dtype).tobytes()
    return weightless_model


def fill(name: str, state_dict: dict, out_dir, progress=print) -> None:
    """Write out_dir/encoder.onnx and out_dir/decoder.onnx (fp32, as the exporter traces them), and the
    other graphs the model ships (SAM 2.1's video graphs), for model `name` from `state_dict` (numpy
    arrays, checked against the model's keys and shapes first)."""
    import onnx

    from edgemask.export.checkpoint import check_state_dict
    from edgemask.export.registry import get_spec

    meta = shipped_meta(name)
    check_state_dict(get_spec(name), state_dict, meta["state_dict"])
    out_dir = Path(out_dir)
    for part in parts(meta):
        progress(f"filling the {part} graph with the checkpoint's weights")
        model = onnx.load(str(SHIPPED / f"{name}.{part}.onnx"))
        fill_graph(model, meta["recipes"][part], state_dict)
        path = out_dir / f"{part}.onnx"
        large = sum(len(i.raw_data) for i in model.graph.initializer) > LARGE
        onnx.save_model(model, str(path), save_as_external_data=large, all_tensors_to_one_file=True,
                        location=path.name + ".data" if large else None)
        del model
