"""ONNX graphs of SAM's mask decoder for many single-point prompts on one image (edgemask.runtime.grid_decoder).

The decoder's image-side tensor (4096 tokens x 256 channels) changes per prompt only by attention
outputs of rank 8 heads x N tokens and by per-token LayerNorm scales, so it is carried as a shared
part (computed once per image) plus a low-rank per-prompt part: LayerNorm statistics and every linear
map of it then cost O(tokens x rank) instead of O(tokens x channels) per prompt. The arithmetic is
the official decoder's, rearranged (same results to float rounding).

`tokens_graph` runs the two-way transformer and the IoU / hypernetwork heads; `masks_graph` the
output upscaling and the low-res logits, for the prompts whose masks are wanted.
"""

import math
from typing import Dict

import numpy as np

OPSET = 17
HEADS = 8
SHARED_INPUTS = ("K0", "V0", "Q0", "SWo0", "mS", "nS", "Sbo0", "S1kvq", "PE1kvq", "S1Wo0", "S1Wo1",
                 "mS1", "nS1", "S1c", "S2kv", "PEfkv")
MD = "mask_decoder."
TR = MD + "transformer."


class _Graph:
    """A minimal ONNX graph builder: op() adds a node and returns its output's name."""

    def __init__(self) -> None:
        self.nodes, self.inits, self.inputs, self.outputs = [], [], [], []
        self._n = 0

    def _name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, value, hint: str = "c") -> str:
        from onnx import numpy_helper

        name = self._name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def ints(self, values) -> str:
        return self.const(np.asarray(values, np.int64), "i")

    def op(self, op_type: str, *inputs: str, domain: str = "", **attrs) -> str:
        from onnx import helper

        out = self._name(op_type)
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], domain=domain, **attrs))
        return out

    def input(self, name: str, shape) -> str:
        from onnx import TensorProto, helper

        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        return name

    def output(self, value: str, name: str) -> None:
        from onnx import TensorProto, helper

        self.nodes.append(helper.make_node("Identity", [value], [name]))
        self.outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))

    def model(self) -> bytes:
        from onnx import helper

        graph = helper.make_graph(self.nodes, "grid_decoder", self.inputs, self.outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                        helper.make_opsetid("com.microsoft", 1)])
        model.ir_version = 8
        return model.SerializeToString()


class _Ops:
    """The decoder's pieces on a _Graph, for N tokens per prompt."""

    def __init__(self, g: _Graph, w: Dict[str, np.ndarray], n_tokens: int) -> None:
        self.g, self.w, self.N = g, w, n_tokens
        internal = w[TR + "layers.0.cross_attn_token_to_image.q_proj.weight"].shape[0]
        self.D = internal // HEADS  # per-head width of the cross attentions
        head_of = np.arange(internal) // self.D
        # [c, h*N + j] = 1 where channel c belongs to head h: turns (P,N,128) into block-diagonal (P,128,8N)
        self.block = g.const((head_of[:, None] == np.repeat(np.arange(HEADS), n_tokens)[None]).astype(np.float32))
        self.head_mask = g.const((np.arange(HEADS)[:, None, None] == head_of[None, None]).astype(np.float32))

    def add(self, a, b):
        return self.g.op("Add", a, b)

    def mul(self, a, b):
        return self.g.op("Mul", a, b)

    def mm(self, a, b):
        return self.g.op("MatMul", a, b)

    def scalar(self, v):
        return self.g.const(np.float32(v))

    def lin(self, x, name):
        w = self.w
        return self.add(self.mm(x, self.g.const(np.ascontiguousarray(w[name + ".weight"].T))),
                        self.g.const(w[name + ".bias"]))

    def ln(self, x, name, eps=1e-5):
        return self.g.op("LayerNormalization", x, self.g.const(self.w[name + ".weight"]),
                         self.g.const(self.w[name + ".bias"]), axis=-1, epsilon=eps)

    def mlp(self, x, name, layers):
        for i in range(layers):
            x = self.lin(x, f"{name}.layers.{i}")
            if i < layers - 1:
                x = self.g.op("Relu", x)
        return x

    def blockdiag(self, x):
        """(P,N,128) -> (P,128,8N): column h*N+j holds token j's channels of head h, zeros elsewhere."""
        t = self.g.op("Transpose", x, perm=[0, 2, 1])
        return self.mul(self.g.op("Tile", t, self.g.ints([1, 1, HEADS])), self.block)

    def self_attn(self, q, k, v, name):
        g, heads = self.g, HEADS
        dim = self.w[name + ".q_proj.weight"].shape[0]
        split = g.ints([0, self.N, heads, dim // heads])
        qh = g.op("Transpose", g.op("Reshape", self.lin(q, name + ".q_proj"), split), perm=[0, 2, 1, 3])
        kh = g.op("Transpose", g.op("Reshape", self.lin(k, name + ".k_proj"), split), perm=[0, 2, 3, 1])
        vh = g.op("Transpose", g.op("Reshape", self.lin(v, name + ".v_proj"), split), perm=[0, 2, 1, 3])
        a = g.op("Softmax", self.mul(self.mm(qh, kh), self.scalar(1 / math.sqrt(dim // heads))), axis=-1)
        o = g.op("Reshape", g.op("Transpose", self.mm(a, vh), perm=[0, 2, 1, 3]), g.ints([0, self.N, dim]))
        return self.lin(o, name + ".out_proj")

    # A "form" is a per-prompt image-side tensor (P,T,k) left unmaterialised: the sum of its terms
    # scale (P,T,1) or None  x  M (T,m) or (P,T,m)  @  R (P,m,k) or None.
    def form_mm(self, form, X):
        """form @ X, X (P,k,n)."""
        out = None
        for scale, M, R in form:
            y = self.mm(M, X if R is None else self.mm(R, X))
            y = y if scale is None else self.mul(scale, y)
            out = y if out is None else self.add(out, y)
        return out

    def tmm_form(self, A, form):
        """A^T @ form, A (P,T,n)."""
        out = None
        for scale, M, R in form:
            a = A if scale is None else self.mul(A, scale)
            y = self.mm(self.g.op("Transpose", a, perm=[0, 2, 1]), M)
            y = y if R is None else self.mm(y, R)
            out = y if out is None else self.add(out, y)
        return out

    def token_to_image(self, q, K, V, name):
        """Tokens attend to the image: q (P,N,C); K, V image keys / values as forms."""
        g = self.g
        bq = self.mul(self.blockdiag(self.lin(q, name + ".q_proj")), self.scalar(1 / math.sqrt(self.D)))
        a = g.op("Softmax", self.form_mm(K, bq), axis=1)  # (P,T,8N), over the image tokens
        r = self.tmm_form(a, V)  # (P,8N,128)
        r = self.mul(g.op("Reshape", r, g.ints([0, HEADS, self.N, -1])), self.head_mask)
        return self.lin(g.op("ReduceSum", r, g.ints([1]), keepdims=0), name + ".out_proj")

    def image_to_token(self, Q, k, v, name):
        """The image attends to the tokens: Q as a form. Returns the attention weights
        A (P,T,8N), the basis (P,8N,C) of the output (= A @ basis + out_proj bias) and the
        block-diagonal values (P,128,8N)."""
        g = self.g
        bk = self.mul(self.blockdiag(self.lin(k, name + ".k_proj")), self.scalar(1 / math.sqrt(self.D)))
        s = g.op("Reshape", self.form_mm(Q, bk), g.ints([0, 0, HEADS, self.N]))
        a = g.op("Reshape", g.op("Softmax", s, axis=-1), g.ints([0, 0, HEADS * self.N]))
        bv = self.blockdiag(self.lin(v, name + ".v_proj"))
        wo_t = g.const(np.ascontiguousarray(self.w[name + ".out_proj.weight"].T))  # (128, C)
        basis = self.mm(g.op("Transpose", bv, perm=[0, 2, 1]), wo_t)
        return a, basis, bv


def _ones_like_rows(g: _Graph, x: str) -> str:
    """(P,T,1) ones shaped like the rows of x (P,T,K)."""
    return g.op("ConstantOfShape", g.op("Concat", g.op("Slice", g.op("Shape", x), g.ints([0]), g.ints([2])),
                                        g.ints([1]), axis=0),
                value=_float_tensor(1.0))


def _float_tensor(v: float):
    from onnx import helper, TensorProto

    return helper.make_tensor("value", TensorProto.FLOAT, [1], [v])


def _rows(g: _Graph, like: str, rows: np.ndarray) -> str:
    """Constant rows (k,C) repeated for each prompt of `like` (P,...) -> (P,k,C)."""
    reps = g.op("Concat", g.op("Slice", g.op("Shape", like), g.ints([0]), g.ints([1])), g.ints([1, 1]), axis=0)
    return g.op("Tile", g.const(rows[None].astype(np.float32)), reps)


def _inv_std(o: _Ops, sq, mu, C: int):
    """1 / sqrt(E[x^2] - mean^2 + eps) from sum of squares sq and mean mu (P,T,1)."""
    var = o.g.op("Sub", o.mul(sq, o.scalar(1.0 / C)), o.mul(mu, mu))
    return o.g.op("Reciprocal", o.g.op("Sqrt", o.add(var, o.scalar(1e-5))))


def tokens_graph(w: Dict[str, np.ndarray], n_tokens: int) -> bytes:
    """Inputs: prompt tokens (P,N,C) and the image's shared tensors (SHARED_INPUTS, from
    grid_decoder.shared_tensors). Outputs: iou (P,4), hyper (P,4,32) and the image-side tensor after
    the transformer, as a2 (P,T,1), c2 (P,T,K), E2 (P,K,C): keys[t] = a2[t] * S2[t] + c2[t] @ E2."""
    g = _Graph()
    o = _Ops(g, w, n_tokens)
    C = w[MD + "iou_token.weight"].shape[1]
    L0, L1 = TR + "layers.0.", TR + "layers.1."
    tok = g.input("tokens", ["P", n_tokens, C])
    sh = {n: g.input(n, None) for n in SHARED_INPUTS}
    # layer 0 (no positional encoding in its self-attention, no residual)
    q = o.ln(o.self_attn(tok, tok, tok, L0 + "self_attn"), L0 + "norm1")
    q = o.ln(o.add(q, o.token_to_image(o.add(q, tok), [(None, sh["K0"], None)], [(None, sh["V0"], None)],
                                     L0 + "cross_attn_token_to_image")),
             L0 + "norm2")
    q = o.ln(o.add(q, o.lin(g.op("Relu", o.lin(q, L0 + "mlp.lin1")), L0 + "mlp.lin2")), L0 + "norm3")
    A0, B0, Bv0 = o.image_to_token([(None, sh["Q0"], None)], o.add(q, tok), q, L0 + "cross_attn_image_to_token")
    bo0 = w[L0 + "cross_attn_image_to_token.out_proj.bias"]
    g4, b4 = w[L0 + "norm4.weight"], w[L0 + "norm4.bias"]
    # norm4 of Y0 = S + A0 @ B0 + bo0, from its mean and sum of squares per token
    mu0 = o.add(o.add(sh["mS"], o.mm(A0, g.op("ReduceMean", B0, axes=[-1], keepdims=1))), o.scalar(bo0.mean()))
    X0 = o.mm(sh["SWo0"], Bv0)  # S . basis
    Bbo = g.op("Transpose", o.mm(B0, g.const(bo0[:, None])), perm=[0, 2, 1])  # (P,1,8N)
    inner = o.add(o.add(X0, Bbo), o.mul(o.mm(A0, o.mm(B0, g.op("Transpose", B0, perm=[0, 2, 1]))), o.scalar(0.5)))
    sq0 = o.add(o.add(sh["nS"], o.mul(g.op("ReduceSum", o.mul(A0, inner), g.ints([-1]), keepdims=1), o.scalar(2.0))),
                o.add(o.mul(sh["Sbo0"], o.scalar(2.0)), o.scalar(float(bo0 @ bo0))))
    s0 = _inv_std(o, sq0, mu0, C)
    ones = _ones_like_rows(g, A0)
    neg_mu_s0 = o.mul(o.mul(mu0, s0), o.scalar(-1.0))
    # keys1 = s0 * S1 + c1 @ E1 (S1 = g4 * S)
    c1 = g.op("Concat", o.mul(A0, s0), s0, neg_mu_s0, ones, axis=-1)
    E1 = g.op("Concat", o.mul(B0, g.const(g4)), _rows(g, B0, np.stack([g4 * bo0, g4, b4])), axis=1)
    # layer 1
    q2 = o.add(q, tok)
    q = o.ln(o.add(q, o.self_attn(q2, q2, q, L1 + "self_attn")), L1 + "norm1")
    w1 = np.concatenate([w[L1 + p + ".weight"].T for p in ("cross_attn_token_to_image.k_proj",
                                                           "cross_attn_token_to_image.v_proj",
                                                           "cross_attn_image_to_token.q_proj")], 1)
    inner_dim = w1.shape[1] // 3

    def cols(x, i):
        return g.op("Slice", x, g.ints([i * inner_dim]), g.ints([(i + 1) * inner_dim]), g.ints([-1]))

    ew1 = o.mm(E1, g.const(np.ascontiguousarray(w1)))  # (P,K1,384)
    part = [[(s0, cols(sh["S1kvq"], i), None), (None, c1, cols(ew1, i)), (None, cols(sh["PE1kvq"], i), None)]
            for i in range(3)]  # keys1 + pe through k_proj, keys1 through v_proj, keys1 + pe through q_proj
    q = o.ln(o.add(q, o.token_to_image(o.add(q, tok), part[0], part[1], L1 + "cross_attn_token_to_image")),
             L1 + "norm2")
    q = o.ln(o.add(q, o.lin(g.op("Relu", o.lin(q, L1 + "mlp.lin1")), L1 + "mlp.lin2")), L1 + "norm3")
    A1, B1, Bv1 = o.image_to_token(part[2], o.add(q, tok), q, L1 + "cross_attn_image_to_token")
    bo1 = w[L1 + "cross_attn_image_to_token.out_proj.bias"]
    # norm4 of Y1 = keys1 + A1 @ B1 + bo1 = s0 * S1 + c @ E
    c = g.op("Concat", c1, A1, ones, axis=-1)
    E = g.op("Concat", E1, B1, _rows(g, B0, bo1[None]), axis=1)
    s1c = sh["S1c"]  # S1 against g4*bo0, g4, b4, bo1
    expand3 = g.op("Concat", g.op("Slice", g.op("Shape", A0), g.ints([0]), g.ints([2])), g.ints([3]), axis=0)
    expand1 = g.op("Concat", g.op("Slice", g.op("Shape", A0), g.ints([0]), g.ints([2])), g.ints([1]), axis=0)
    X1 = g.op("Concat", o.mm(sh["S1Wo0"], Bv0),
              g.op("Expand", g.op("Slice", s1c, g.ints([0]), g.ints([3]), g.ints([-1])), expand3),
              o.mm(sh["S1Wo1"], Bv1),
              g.op("Expand", g.op("Slice", s1c, g.ints([3]), g.ints([4]), g.ints([-1])), expand1), axis=-1)
    mu1 = o.add(o.mul(s0, sh["mS1"]), o.mm(c, g.op("ReduceMean", E, axes=[-1], keepdims=1)))
    gram = o.mm(E, g.op("Transpose", E, perm=[0, 2, 1]))
    inner = o.add(o.mul(o.mul(s0, X1), o.scalar(2.0)), o.mm(c, gram))
    sq1 = o.add(o.mul(o.mul(s0, s0), sh["nS1"]), g.op("ReduceSum", o.mul(c, inner), g.ints([-1]), keepdims=1))
    s1 = _inv_std(o, sq1, mu1, C)
    g5, b5 = w[L1 + "norm4.weight"], w[L1 + "norm4.bias"]
    a2 = o.mul(s0, s1)
    c2 = g.op("Concat", o.mul(c, s1), o.mul(o.mul(mu1, s1), o.scalar(-1.0)), ones, axis=-1)
    E2 = g.op("Concat", o.mul(E, g.const(g5)), _rows(g, B0, np.stack([g5, b5])), axis=1)
    # final attention of the tokens to the image
    F = TR + "final_attn_token_to_image"
    wf = np.concatenate([w[F + ".k_proj.weight"].T, w[F + ".v_proj.weight"].T], 1)
    half = wf.shape[1] // 2
    ewf = o.mm(E2, g.const(np.ascontiguousarray(wf)))

    def half_of(x, i):
        return g.op("Slice", x, g.ints([i * half]), g.ints([(i + 1) * half]), g.ints([-1]))

    kf, vf = ([(a2, half_of(sh["S2kv"], i), None), (None, c2, half_of(ewf, i)), (None, half_of(sh["PEfkv"], i), None)]
              for i in range(2))
    q = o.ln(o.add(q, o.token_to_image(o.add(q, tok), kf, vf, F)), TR + "norm_final_attn")
    first = g.op("Gather", q, g.ints(0), axis=1)
    g.output(o.mlp(first, MD + "iou_prediction_head", 3), "iou")
    hyper = [g.op("Unsqueeze", o.mlp(g.op("Gather", q, g.ints(1 + i), axis=1),
                                     f"{MD}output_hypernetworks_mlps.{i}", 3), g.ints([1])) for i in range(4)]
    g.output(g.op("Concat", *hyper, axis=1), "hyper")
    g.output(a2, "a2")
    g.output(c2, "c2")
    g.output(E2, "E2")
    return g.model()


def upscaling_weight(w: Dict[str, np.ndarray]) -> np.ndarray:
    """output_upscaling.0 (ConvTranspose 2x2, stride 2) as a per-token matrix (C, 2*2*64), columns (dy, dx, o)."""
    W = w[MD + "output_upscaling.0.weight"]
    return np.ascontiguousarray(W.transpose(0, 2, 3, 1).reshape(W.shape[0], -1))


def masks_graph(w: Dict[str, np.ndarray], hw, n_masks: int) -> bytes:
    """Inputs S2up (T,4*64) (S2 @ upscaling_weight), a2, c2, E2 of tokens_graph and hyper (P,M,32) of the
    masks wanted -> low-res logits (P,M,4H,4W): ConvTranspose, LayerNorm2d, GELU, ConvTranspose, GELU,
    and the hypernetwork product, as the official decoder."""
    g = _Graph()
    o = _Ops(g, w, 1)
    H, W = hw
    T = H * W
    S2up, a2, c2, E2 = (g.input(n, None) for n in ("S2up", "a2", "c2", "E2"))
    hyper = g.input("hyper", ["P", n_masks, None])
    W1 = upscaling_weight(w)
    c_out = w[MD + "output_upscaling.0.bias"].shape[0]
    up = o.add(o.mul(a2, S2up), o.mm(c2, o.mm(E2, g.const(W1))))
    up = o.add(g.op("Reshape", up, g.ints([0, T, 4, c_out])), g.const(w[MD + "output_upscaling.0.bias"]))
    up = g.op("Gelu", o.ln(up, MD + "output_upscaling.1", eps=1e-6), domain="com.microsoft")
    W2 = w[MD + "output_upscaling.3.weight"]  # (64, 32, 2, 2)
    ch = W2.shape[1]
    W2 = np.ascontiguousarray(W2.transpose(0, 2, 3, 1).reshape(W2.shape[0], -1))  # columns (dy2, dx2, ch)
    up = o.add(o.mm(up, g.const(W2)), g.const(np.tile(w[MD + "output_upscaling.3.bias"], 4)))
    up = g.op("Reshape", g.op("Gelu", up, domain="com.microsoft"), g.ints([0, T * 16, ch]))
    m = o.mm(up, g.op("Transpose", hyper, perm=[0, 2, 1]))  # (P, T*16, M)
    m = g.op("Reshape", m, g.ints([-1, H, W, 2, 2, 2, 2, n_masks]))
    m = g.op("Transpose", m, perm=[0, 7, 1, 3, 5, 2, 4, 6])  # (P, M, y, dy, dy2, x, dx, dx2)
    g.output(g.op("Reshape", m, g.ints([-1, n_masks, 4 * H, 4 * W])), "low")
    return g.model()
