"""Fuse the scaled dot-product attentions that torch.onnx decomposes (q * s @ (k^T * s) -> Softmax ->
@ v, s = 1/sqrt(sqrt(head size))) into onnxruntime's com.microsoft.MultiHeadAttention, which never
holds the whole score matrix: SAM 2.1's memory attention (4096 queries over up to 7 x 4096 memory
tokens, one head) runs ~1.6x faster on a CPU. Done when a session is made (the exported graphs stay
what tracing makes); torch-free (onnx only); the same outputs to ~1e-6."""

from pathlib import Path

import onnx
from onnx import helper


def _sdpa_blocks(graph):
    """(first MatMul, Softmax, second MatMul, q, k, v) of each decomposed attention."""
    producer = {o: n for n in graph.node for o in n.output}
    consumers = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    blocks = []
    for softmax in (n for n in graph.node if n.op_type == "Softmax"):
        scores = producer.get(softmax.input[0])
        after = consumers.get(softmax.output[0], [])
        if scores is None or scores.op_type != "MatMul" or len(after) != 1 or after[0].op_type != "MatMul":
            continue
        mul_q, mul_k = producer.get(scores.input[0]), producer.get(scores.input[1])
        if not (mul_q and mul_k and mul_q.op_type == mul_k.op_type == "Mul"):
            continue
        roots = [producer.get(m.input[1]) for m in (mul_q, mul_k)]  # both scaled by sqrt of one scale
        if not all(r is not None and r.op_type == "Sqrt" for r in roots) or roots[0].input[0] != roots[1].input[0]:
            continue
        transpose = producer.get(mul_k.input[0])
        perm = [a.ints for a in transpose.attribute if a.name == "perm"] if transpose is not None else []
        if transpose is None or transpose.op_type != "Transpose" or list(perm[0]) != [0, 1, 3, 2]:
            continue
        blocks.append((scores, softmax, after[0], mul_q.input[0], transpose.input[0], after[0].input[1]))
    return blocks


def fused_attention(path) -> bytes:
    """The ONNX model at `path` with its one-head attentions fused, serialized (for InferenceSession);
    the file's bytes when it has none."""
    path = Path(path)
    model = onnx.load(str(path))
    graph = model.graph
    blocks = _sdpa_blocks(graph)
    if not blocks:
        return path.read_bytes()
    removed, new = set(), []
    for i, (scores, softmax, out, q, k, v) in enumerate(blocks):
        axes = f"fused_attention_{i}_axes"
        new.append(helper.make_node("Constant", [], [axes], value=helper.make_tensor(axes, onnx.TensorProto.INT64, [1], [1])))
        # [B, 1, S, D] -> MultiHeadAttention's [B, S, D]: one head, as every SAM 2.1 memory attention
        # has (a Squeeze of another head count fails loudly); its default scale is SDPA's, 1/sqrt(D)
        squeezed = [f"fused_attention_{i}_{x}" for x in "qkv"]
        new += [helper.make_node("Squeeze", [x, axes], [s]) for x, s in zip((q, k, v), squeezed)]
        new.append(helper.make_node("MultiHeadAttention", squeezed, [f"fused_attention_{i}"], domain="com.microsoft",
                                    num_heads=1))
        new.append(helper.make_node("Unsqueeze", [f"fused_attention_{i}", axes], [out.output[0]]))
        removed |= {id(scores), id(softmax), id(out)}
    nodes, ready = [], {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = [n for n in graph.node if id(n) not in removed] + new
    while pending:  # topological order
        rest = []
        for n in pending:
            if all(i in ready for i in n.input):
                nodes.append(n)
                ready.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise ValueError(f"{path.name}: fusing the attention left a node without its inputs")
        pending = rest
    del graph.node[:]
    graph.node.extend(nodes)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model.SerializeToString()
