"""Post-export precision conversions: fp16 for GPUs, int8 (dynamic quantisation) for CPUs."""

from pathlib import Path

# Which ops dynamic int8 quantisation rewrites, per network. MatMul/Gemm carry the attention and
# MLP work of both halves; convolutions stay fp32 (ConvInteger is slower than fp32 Conv in
# onnxruntime's CPU kernels).
INT8_OPS = {"encoder": ["MatMul", "Gemm"], "decoder": ["MatMul", "Gemm"]}


def to_fp16(src: Path, dst: Path) -> None:
    """Convert weights and compute to float16, keeping float32 inputs/outputs."""
    import onnx
    from onnxconverter_common import float16

    model = onnx.load(str(src))
    model16 = float16.convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
    _save(model16, dst)


def to_int8(src: Path, dst: Path, part: str) -> None:
    """Dynamic int8 quantisation of the weights of `part` ("encoder" or "decoder")."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=INT8_OPS[part],
        use_external_data_format=src.stat().st_size > 1_800_000_000,
    )


def _save(model, dst: Path) -> None:
    import onnx

    large = model.ByteSize() > 1_800_000_000
    onnx.save_model(model, str(dst), save_as_external_data=large, location=dst.name + ".data" if large else None)
