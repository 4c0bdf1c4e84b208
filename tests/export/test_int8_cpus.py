"""int8 exports on CPUs without VNNI: onnxruntime's U8S8 kernels there (AVX2, AVX-512 before VNNI) add
pairs of uint8 x int8 products in saturating 16-bit integers, so full 8-bit weights gave wrong masks on
such laptops. The exports keep weights within 7 bits; these tests check that on the files themselves
(any CPU) and by running the int8 decoder on an emulated AVX2 CPU (QEMU) against the official predictor.
"""

import json
import os
import platform

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from emulated_cpu import EMULATED_ISA, qemu, run_onnx, saturation_probe
from edgemask.runtime.cpu_features import detect
from reference_pipeline import contract_input, decoder_feeds
from synthetic import synthetic_image

NATIVE_ISA = detect().summary()
X86 = platform.machine().lower() in ("x86_64", "amd64")
needs_qemu = pytest.mark.skipif(
    not X86 or (not qemu() and not os.environ.get("EDGEMASK_REQUIRE_QEMU")),  # CI installs QEMU: missing fails
    reason="an x86-64 machine with qemu-x86_64 (Debian's qemu-user) emulates a CPU without VNNI",
)
# Bounds as tests/export/test_precision.py's int8 row (set from both CPUs, see README "Precision").
# The emulated and native runs differ a little without saturation too: their fp32 kernels (AVX2 vs
# AVX-512) round differently, which moves a dynamically quantised activation by one step here and
# there (measured 1.1e-2 of the logit range); saturated 8-bit weights differed by 0.42.
MAX_REL, MIN_IOU, MAX_NATIVE_VS_EMULATED = 0.05, 0.85, 0.03


def quantised_weights(folder):
    """(node name, int8 weight array) for every MatMul the int8 export quantised."""
    out = []
    for part in ("encoder.onnx", "decoder.onnx"):
        model = onnx.load(str(folder / part))
        inits = {i.name: i for i in model.graph.initializer}
        for node in model.graph.node:
            if node.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") and node.input[1] in inits:
                out.append((node.name, numpy_helper.to_array(inits[node.input[1]])))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["efficientvit-sam-l0", "sam-vit-b"])
def test_int8_weights_cannot_saturate_16_bit_pair_sums(name, exported_model):
    folder = exported_model(name, "int8")
    assert json.loads((folder / "model.json").read_text())["quantization"]["weight_range"] == [-64, 64]
    weights = quantised_weights(folder)
    assert weights, "the int8 export quantised nothing"
    for node, w in weights:
        assert w.dtype == np.int8
        # 2 x 255 x 64 = 32640 fits a signed 16-bit sum; 2 x 255 x 65 = 33150 would not
        assert -64 <= int(w.min()) and int(w.max()) <= 64, f"{node}: weights {w.min()}..{w.max()} can saturate"


@needs_qemu
def test_emulated_cpu_runs_the_saturating_kernel(tmp_path):
    feeds, exact, saturated = saturation_probe(tmp_path / "probe.onnx")
    emulated = run_onnx(tmp_path / "probe.onnx", [feeds], emulated=True)[0][0]
    assert int(emulated[0, 0]) == saturated, f"{EMULATED_ISA} did not saturate: the emulation is not testing AVX2"
    native = int(run_onnx(tmp_path / "probe.onnx", [feeds], emulated=False)[0][0][0, 0])
    # this CPU: exact with VNNI, saturated without; cpu_features must say the same as onnxruntime's kernels
    print(f"native CPU ({NATIVE_ISA}): probe {'exact' if native == exact else 'saturated'}")
    assert (native == exact) == bool(detect().int8_dot), f"{NATIVE_ISA} but the probe gave {native}"


def mask_iou(a, b):
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else np.logical_and(a, b).sum() / union


@pytest.mark.slow
@needs_qemu
def test_int8_decoder_is_right_on_a_cpu_without_vnni(exported_model, official_predictor):
    name = "efficientvit-sam-l0"  # its encoder stays fp32: only the decoder's MatMuls are int8
    folder = exported_model(name, "int8")
    predictor = official_predictor(name)
    image = synthetic_image(400, 600, seed=5)
    predictor.set_image(image)
    import onnxruntime as ort

    enc = ort.InferenceSession(str(folder / "encoder.onnx"), providers=["CPUExecutionProvider"])
    emb = enc.run(None, {"image": contract_input(image, 512, (123.675, 116.28, 103.53))})[0]
    # one prompt runs every quantised MatMul of the decoder; each emulated decode takes ~60-80 s
    prompts = [(np.array([[300, 200], [100, 100]]), np.array([1, 0]))]
    refs, feeds = [], []
    for coords, labels in prompts:
        refs.append(predictor.predict(point_coords=coords, point_labels=labels, multimask_output=True)[2])
        tc = predictor.transform.apply_coords(coords, image.shape[:2])
        feeds.append(decoder_feeds(emb, tc, labels, None, None))
    emulated = run_onnx(folder / "decoder.onnx", feeds, emulated=True)
    native = run_onnx(folder / "decoder.onnx", feeds, emulated=False)
    for ref, (_, low), (_, low_native) in zip(refs, emulated, native):
        scale = np.abs(ref).max()
        rel = np.abs(low[0, 1:] - ref).max() / scale
        iou = min(mask_iou(low[0, i + 1] > 0, ref[i] > 0) for i in range(3))
        agree = np.abs(low - low_native).max() / scale
        print(f"{EMULATED_ISA}: rel err {rel:.4f}, min IoU {iou:.4f}; vs native ({NATIVE_ISA}) {agree:.2e}")
        assert rel <= MAX_REL and iou >= MIN_IOU
        assert agree <= MAX_NATIVE_VS_EMULATED
