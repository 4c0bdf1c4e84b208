"""Post-export precision conversions: fp16 for GPUs, int8 (dynamic quantisation) for CPUs."""

import shutil
from pathlib import Path

import numpy as np

# Which ops dynamic int8 quantisation rewrites, per network. MatMul/Gemm carry the attention and
# MLP work of both halves; convolutions stay fp32 (ConvInteger is slower than fp32 Conv in
# onnxruntime's CPU kernels).
INT8_OPS = {"encoder": ["MatMul", "Gemm"], "decoder": ["MatMul", "Gemm"]}


def to_fp16(src: Path, dst: Path) -> None:
    """Convert weights and compute to float16, keeping float32 inputs/outputs."""
    import onnx
    from onnxconverter_common import float16

    model = onnx.load(str(src))
    model16 = float16.convert_float_to_float16(model, keep_io_types=True)
    _retarget_float_casts(model16)
    _save(model16, dst)


def _retarget_float_casts(model) -> None:
    """Make the model's own Cast-to-float32 nodes cast to float16.

    The converter moves every tensor to float16 but leaves `Cast(to=FLOAT)` nodes (EfficientViT's
    attention and the prompt encoder's label masks have them), so their outputs no longer match the
    declared float16 types and the model does not load. The casts the converter itself inserts (around
    the graph's inputs/outputs and the ops it keeps in float32, like Resize) keep their targets.
    """
    import onnx

    io_names = {v.name for v in model.graph.input} | {v.name for v in model.graph.output}
    for node in model.graph.node:
        if node.op_type != "Cast" or "_input_cast" in node.name or "_output_cast" in node.name:
            continue
        if io_names & (set(node.input) | set(node.output)):
            continue
        for attr in node.attribute:
            if attr.name == "to" and attr.i == onnx.TensorProto.FLOAT:
                attr.i = onnx.TensorProto.FLOAT16


# Weights are quantised to 7 bits ([-64, 64], onnxruntime's reduce_range). onnxruntime multiplies
# uint8 activations by int8 weights (U8S8); on x86 CPUs without VNNI (AVX2, AVX-512 before VNNI) its
# kernels use VPMADDUBSW, which adds two u8*s8 products into a saturating int16. With 8-bit weights
# two products reach 2*255*127 = 64770 and are clamped to 32767: masks came out wrong on such
# laptops (onnxruntime's quantization docs name this and suggest reduce_range or U8U8). With 7-bit
# weights a pair is at most 2*255*64 = 32640, so no CPU saturates; VNNI and ARM kernels, which
# accumulate in 32 bits, give the same results. U8U8 was also exact but 40 % slower.
INT8_WEIGHT_RANGE = (-64, 64)


def to_int8(src: Path, dst: Path, part: str) -> None:
    """Dynamic int8 quantisation of the weights of `part` ("encoder" or "decoder"): the MatMuls over
    image tokens, with 7-bit weights."""
    excluded = _interpolation_matmuls(src)
    if part == "decoder":
        excluded += _prompt_token_matmuls(src)
    if not _has_weights_to_quantize(src, INT8_OPS[part], excluded):
        # EfficientViT's encoders are convolutional: nothing to quantise, keep the fp32 graph as is
        shutil.copyfile(src, dst)
        return
    if part == "encoder":
        # outlier LayerNorm channels of trained ViTs would set the per-tensor activation scales: move
        # them into the next MatMuls' weights first, exactly, in fp32 (export/smoothing.py)
        src = _with_outliers_migrated(src, dst)
    try:
        _quantize(src, dst, part, excluded)
    finally:
        if src.name.endswith(".migrated.onnx"):
            for f in src.parent.glob(src.name + "*"):
                f.unlink()


def _with_outliers_migrated(src: Path, dst: Path) -> Path:
    import onnx

    from edgemask.export.smoothing import migrate_layernorm_outliers

    model = onnx.load(str(src))
    if not migrate_layernorm_outliers(model):
        return src
    out = dst.with_name(dst.stem + ".migrated.onnx")
    _save(model, out)
    return out


def _quantize(src: Path, dst: Path, part: str, excluded: list) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=True,  # 7-bit weights: see INT8_WEIGHT_RANGE
        op_types_to_quantize=INT8_OPS[part],
        nodes_to_exclude=excluded,
        use_external_data_format=src.stat().st_size > 1_800_000_000,
    )


# A decoder MatMul whose input has fewer rows than this works on the prompt tokens (a handful of
# rows), and one with fewer columns projects 2-D coordinates (positional encodings): int8 saves no
# time there and only adds error. The ones over the 4096 image tokens are quantised.
MIN_QUANTISED_ROWS, MIN_QUANTISED_DEPTH = 1024, 16


def _prompt_token_matmuls(src: Path) -> list:
    """Names of weight MatMul/Gemm nodes of a decoder whose input has < MIN_QUANTISED_ROWS rows or
    < MIN_QUANTISED_DEPTH columns, found by running the fp32 decoder once on a 2-point prompt with those inputs as outputs."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(src))
    weights = {i.name for i in model.graph.initializer}
    nodes = [n for n in model.graph.node if n.op_type in INT8_OPS["decoder"] and n.input[1] in weights]
    seen = {o.name for o in model.graph.output}
    for name in dict.fromkeys(n.input[0] for n in nodes):
        if name not in seen:
            model.graph.output.append(onnx.ValueInfoProto(name=name))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feeds = {}
    for i in session.get_inputs():
        shape = [d if isinstance(d, int) else 2 for d in i.shape]
        feeds[i.name] = np.zeros(shape, np.float32)
    names = [o.name for o in session.get_outputs()]
    shapes = {n: v.shape for n, v in zip(names, session.run(names, feeds))}
    return [n.name for n in nodes
            if int(np.prod(shapes[n.input[0]][:-1])) < MIN_QUANTISED_ROWS or shapes[n.input[0]][-1] < MIN_QUANTISED_DEPTH]


def _has_weights_to_quantize(src: Path, op_types, excluded) -> bool:
    import onnx

    model = onnx.load(str(src), load_external_data=False)
    weights = {i.name for i in model.graph.initializer}
    return any(n.op_type in op_types and n.name not in excluded and weights & set(n.input) for n in model.graph.node)


def _interpolation_matmuls(src: Path) -> list:
    """MatMul nodes that apply graphs.MatrixResize's interpolation matrices: they are resizes, not
    learned weights, and quantising them only adds error."""
    import onnx

    model = onnx.load(str(src), load_external_data=False)
    matrices = {i.name for i in model.graph.initializer if i.name.endswith((".rows", ".cols_t"))}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and matrices & set(n.input)]


def _save(model, dst: Path) -> None:
    import onnx

    large = model.ByteSize() > 1_800_000_000
    onnx.save_model(model, str(dst), save_as_external_data=large, location=dst.name + ".data" if large else None)
