"""Outlier-channel migration before int8: LayerNorm gamma/beta -> the next MatMul's weights, in fp32.

Trained ViTs have a few LayerNorm output channels tens of times larger than the rest, set by large
gamma/beta there. Dynamic int8 quantises a MatMul's input with one scale per tensor, so those channels
set the scale and the other channels keep a few levels: masks break. For each LayerNorm whose output
reaches a weight MatMul through ops that keep the channel axis in place (the window partition's Pad /
Reshape / Transpose; shape reads), channel c of gamma and beta is divided by s_c and row c of the
MatMul's weight multiplied by s_c. That is exact in fp32 (LN(x)_c / s_c * s_c W_c) and needs no
calibration data: s_c = a_c^ALPHA / w_c^(1 - ALPHA) (SmoothQuant's rule), with a_c = |gamma_c| +
|beta_c| as the bound on the LayerNorm's channel c and w_c = max |W[c, :]|, so activations and weights
share the spread (Outlier Suppression's gamma migration, SmoothQuant's balance).
"""

from collections import defaultdict

import numpy as np

ALPHA = 0.5
# ops between a LayerNorm and its MatMul that move data without mixing channels (checked per node)
_PASS_THROUGH = ("Pad", "Reshape", "Transpose")


def migrate_layernorm_outliers(model) -> list:
    """Rescale, in place, every LayerNorm -> weight MatMul pair of `model` (an onnx ModelProto);
    returns the names of the MatMuls whose weights changed."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    consumers = defaultdict(list)
    for node in model.graph.node:
        for name in node.input:
            consumers[name].append(node)
    last_dims = None
    changed = []
    for ln in [n for n in model.graph.node if n.op_type == "LayerNormalization"]:
        if len(ln.input) < 3 or not all(n in inits and len(consumers[n]) == 1 for n in ln.input[1:3]):
            continue
        gamma = numpy_helper.to_array(inits[ln.input[1]])
        if gamma.ndim != 1 or _attr(ln, "axis", -1) != -1:
            continue
        if last_dims is None:
            last_dims = _last_dims(model)
        matmul = _next_matmul(ln.output[0], consumers, inits, gamma.size, last_dims)
        if matmul is None:
            continue
        beta = numpy_helper.to_array(inits[ln.input[2]])
        weight = numpy_helper.to_array(inits[matmul.input[1]])
        a = np.abs(gamma) + np.abs(beta)
        w = np.abs(weight).max(axis=1)
        s = np.power(np.maximum(a, 1e-6), ALPHA) / np.power(np.maximum(w, 1e-6), 1 - ALPHA)
        s = (s / np.median(s)).astype(np.float32)
        for name, value in ((ln.input[1], gamma / s), (ln.input[2], beta / s), (matmul.input[1], weight * s[:, None])):
            inits[name].CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))
        changed.append(matmul.name)
    return changed


def _next_matmul(name, consumers, inits, channels, last_dims):
    """The one weight MatMul that LayerNorm output `name` reaches with its channel axis in place, else None."""
    while True:
        users = [n for n in consumers[name] if n.op_type != "Shape"]
        if len(users) != 1:
            return None
        node = users[0]
        if node.op_type == "MatMul":
            ok = node.input[0] == name and node.input[1] in inits and _dims(inits[node.input[1]])[0] == channels
            return node if ok and len(consumers[node.input[1]]) == 1 else None
        if node.op_type not in _PASS_THROUGH or node.input[0] != name:
            return None
        if node.op_type == "Pad" and (_attr(node, "mode", b"constant") != b"constant" or _pad_value(node, inits) != 0.0):
            return None
        if node.op_type == "Transpose":
            perm = _attr(node, "perm", None)
            if perm is None or perm[-1] != len(perm) - 1:
                return None
        if node.op_type in ("Pad", "Reshape") and last_dims.get(node.output[0]) != channels:
            if node.op_type == "Reshape" or not _pads_keep_last_axis(node, consumers, last_dims, channels):
                return None
        name = node.output[0]


def _pads_keep_last_axis(pad, consumers, last_dims, channels) -> bool:
    """A Pad whose output shape is unknown keeps the channel axis when what reads it has `channels` last."""
    users = [n for n in consumers[pad.output[0]] if n.op_type != "Shape"]
    return len(users) == 1 and users[0].op_type == "Reshape" and last_dims.get(users[0].output[0]) == channels


def _pad_value(node, inits) -> float:
    if len(node.input) < 3 or not node.input[2]:
        return 0.0
    if node.input[2] not in inits:
        return float("nan")
    from onnx import numpy_helper

    return float(numpy_helper.to_array(inits[node.input[2]]).reshape(-1)[0])


def _last_dims(model) -> dict:
    """Static last dimension of every tensor shape inference can tell."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    out = {}
    for v in inferred.graph.value_info:
        dims = v.type.tensor_type.shape.dim
        if dims and dims[-1].HasField("dim_value"):
            out[v.name] = dims[-1].dim_value
    return out


def _dims(tensor) -> list:
    return list(tensor.dims)


def _attr(node, name, default):
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default
