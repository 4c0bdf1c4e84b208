"""edgemask.runtime.fuse_attention: torch.onnx's decomposed scaled dot-product attention (one head, as
SAM 2.1's memory attention has) becomes onnxruntime's MultiHeadAttention with the same outputs; a
graph without that pattern is left as it is. The memory attention itself is checked against the
official video predictor through the fused graph (test_sequence_parity.py)."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")


class Attention(torch.nn.Module):
    def forward(self, q, k, v):
        return torch.nn.functional.scaled_dot_product_attention(q * 1.5, k, v) + 1.0


def export(tmp_path, module, name):
    path = tmp_path / name
    args = (torch.randn(1, 1, 64, 32), torch.randn(1, 1, 80, 32), torch.randn(1, 1, 80, 32))
    torch.onnx.export(module, args, str(path), input_names=["q", "k", "v"], output_names=["out"], opset_version=20,
                      dynamic_axes={"k": {2: "kv"}, "v": {2: "kv"}}, dynamo=False)
    return path


def test_decomposed_attention_becomes_multi_head_attention_with_the_same_outputs(tmp_path):
    from edgemask.runtime.fuse_attention import fused_attention

    path = export(tmp_path, Attention().eval(), "attention.onnx")
    fused = onnx.load_from_string(fused_attention(path))
    ops = [n.op_type for n in fused.graph.node]
    assert "MultiHeadAttention" in ops and "Softmax" not in ops
    rng = np.random.default_rng(0)
    a, b = (ort.InferenceSession(m, providers=["CPUExecutionProvider"]) for m in (str(path), fused.SerializeToString()))
    for kv in (80, 300):  # the memory's length varies
        feeds = {"q": rng.normal(size=(1, 1, 64, 32)).astype(np.float32),
                 "k": rng.normal(size=(1, 1, kv, 32)).astype(np.float32),
                 "v": rng.normal(size=(1, 1, kv, 32)).astype(np.float32)}
        ref, got = a.run(None, feeds)[0], b.run(None, feeds)[0]
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_a_graph_without_attention_is_left_as_it_is(tmp_path):
    from edgemask.runtime.fuse_attention import fused_attention

    class Plain(torch.nn.Module):
        def forward(self, q, k, v):
            return torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v  # no scaling: not SDPA's pattern

    path = export(tmp_path, Plain().eval(), "plain.onnx")
    assert fused_attention(path) == path.read_bytes()
