"""int8 accuracy on CPUs with and without VNNI: edgemask's int8 before (8-bit weights on every MatMul)
and now (7-bit weights on the MatMuls over image tokens).

    python benchmarks/int8_cpus.py FP32_FOLDER [FP32_FOLDER ...] [--no-emulation] [--encoder-emulated]

For each fp32 model folder, quantises its decoder (and encoder, where it has MatMul weights) both
ways (before: onnxruntime's quantize_dynamic as edgemask called it until 2026-11-27; now:
edgemask.export.precision.to_int8), runs them on this CPU and on an emulated CPU without VNNI (QEMU `-cpu Haswell`, the kernels
of an AVX2 laptop; needs Debian's qemu-user), and compares the low-res logits with the fp32
folder's: max |error| / max |fp32 logit|, max |error| / std, worst mask IoU over 6 prompts x 4
masks. Also times the decoder on this CPU (fp32 vs both int8 schemes, median of 30 runs).
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from emulated_cpu import EMULATED_ISA, qemu, run_onnx  # noqa: E402
from reference_pipeline import decoder_feeds  # noqa: E402

from edgemask.export.precision import INT8_OPS, _has_weights_to_quantize, _interpolation_matmuls, to_int8  # noqa: E402
from edgemask.runtime.bench import synthetic_photo  # noqa: E402
from edgemask.runtime.cpu_features import detect  # noqa: E402
from edgemask.runtime.model_folder import load_model_folder  # noqa: E402
from edgemask.runtime.transforms import apply_coords, encoder_input  # noqa: E402


def prompt_feeds(embedding, frame: int, h: int, w: int) -> list:
    pts = [(0.3, 0.4), (0.5, 0.5), (0.7, 0.6), (0.2, 0.8)]
    out = []
    for fx, fy in pts:
        coords = apply_coords(np.array([[fx * w, fy * h]]), (h, w), frame)
        out.append(decoder_feeds(embedding, coords, np.array([1]), None, None))
    coords = apply_coords(np.array([[0.4 * w, 0.5 * h], [0.8 * w, 0.2 * h]]), (h, w), frame)
    out.append(decoder_feeds(embedding, coords, np.array([1, 0]), None, None))
    box = apply_coords(np.array([[0.2 * w, 0.25 * h], [0.7 * w, 0.8 * h]]), (h, w), frame)
    out.append(decoder_feeds(embedding, None, None, box.reshape(-1), None))
    return out


def run_prompts(decoder: Path, embedding, feeds: list, emulated: bool) -> np.ndarray:
    """Low-res logits [prompts, 4, 256, 256] of `decoder` for each prompt (one process for all)."""
    feeds = [dict(f, image_embeddings=embedding.astype(np.float32)) for f in feeds]
    return np.stack([outputs[1][0] for outputs in run_onnx(decoder, feeds, emulated)])


def metrics(ours: np.ndarray, ref: np.ndarray) -> dict:
    err = np.abs(ours - ref)
    ious = []
    for a, b in zip((ours > 0).reshape(-1, *ours.shape[-2:]), (ref > 0).reshape(-1, *ref.shape[-2:])):
        union = np.logical_or(a, b).sum()
        ious.append(1.0 if union == 0 else np.logical_and(a, b).sum() / union)
    return {"rel_max": float(err.max() / np.abs(ref).max()), "rel_std": float(err.max() / ref.std()),
            "min_iou": float(min(ious))}


def time_decoders(paths: dict, feeds: dict, runs: int = 30) -> dict:
    """Median ms per decoder run on this CPU, the decoders taking turns (fair on a noisy machine)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sessions = {k: ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]) for k, p in paths.items()}
    times = {k: [] for k in paths}
    for i in range(runs + 3):
        for k, s in sessions.items():
            t = time.perf_counter()
            s.run(None, feeds)
            if i >= 3:
                times[k].append(time.perf_counter() - t)
    return {k: float(np.median(v) * 1000) for k, v in times.items()}


def to_int8_before(src: Path, dst: Path, part: str) -> None:
    """The int8 scheme edgemask used before: full 8-bit per-channel weights on every MatMul/Gemm."""
    import shutil

    from onnxruntime.quantization import QuantType, quantize_dynamic

    excluded = _interpolation_matmuls(src)
    if not _has_weights_to_quantize(src, INT8_OPS[part], excluded):
        shutil.copyfile(src, dst)  # a convolutional encoder: the fp32 graph, as before
        return
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=INT8_OPS[part], nodes_to_exclude=excluded)


def check_folder(folder: Path, emulate: bool, encoder_emulated: bool) -> dict:
    import onnxruntime as ort

    model = load_model_folder(folder)
    image = synthetic_photo(480, 640, seed=3)
    h, w = image.shape[:2]
    x = encoder_input(image, model.encoder_size, model.pixel_mean, model.interpolation)
    enc = ort.InferenceSession(str(model.encoder_path), providers=["CPUExecutionProvider"])
    ref_emb = enc.run(None, {model.encoder_input: x})[0]
    del enc
    feeds = prompt_feeds(ref_emb, model.prompt_frame, h, w)
    ref = run_prompts(model.decoder_path, ref_emb, feeds, emulated=False)
    result = {"model": model.name, "native_cpu": detect().summary(), "schemes": {}}
    cpus = [("native", False)] + ([("emulated", True)] if emulate else [])
    with tempfile.TemporaryDirectory() as tmp:
        for scheme, quantise in SCHEMES.items():
            dec = Path(tmp) / f"decoder-{scheme[:3]}.onnx"
            encq = Path(tmp) / f"encoder-{scheme[:3]}.onnx"
            quantise(model.decoder_path, dec, "decoder")
            quantise(model.encoder_path, encq, "encoder")
            quantised_encoder = encq.stat().st_size != model.encoder_path.stat().st_size
            row = {}
            for cpu, emulated in cpus:
                t = time.perf_counter()
                emb = ref_emb
                if quantised_encoder and (encoder_emulated or not emulated):
                    emb = run_onnx(encq, [{model.encoder_input: x}], emulated, timeout=3600)[0][0]
                logits = run_prompts(dec, emb, feeds, emulated)
                row[cpu] = dict(metrics(logits, ref), encoder="int8" if emb is not ref_emb else "fp32 (same)",
                                seconds=round(time.perf_counter() - t, 1))
            result["schemes"][scheme] = row
        decoders = {"fp32": model.decoder_path, **{s: Path(tmp) / f"decoder-{s[:3]}.onnx" for s in SCHEMES}}
        result["decoder_ms"] = time_decoders(decoders, dict(feeds[0], image_embeddings=ref_emb))
    return result


SCHEMES = {"before: 8-bit weights, every MatMul": to_int8_before,
           "now: 7-bit weights, image-token MatMuls": to_int8}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path, help="fp32 model folders (edgemask export --precision fp32)")
    ap.add_argument("--no-emulation", action="store_true", help="only this CPU")
    ap.add_argument("--encoder-emulated", action="store_true",
                    help="also run quantised encoders (ViT-B/L/H) on the emulated CPU (slow: minutes)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    emulate = not args.no_emulation and bool(qemu())
    print(f"this CPU: {detect().summary()}; emulated: {EMULATED_ISA if emulate else 'none (no qemu-x86_64)'}")
    results = []
    for folder in args.folders:
        r = check_folder(folder, emulate, args.encoder_emulated)
        results.append(r)
        print(f"\n{r['model']}: decoder median on this CPU, taking turns: "
              + ", ".join(f"{k} {v:.1f} ms" for k, v in r["decoder_ms"].items()))
        for scheme, row in r["schemes"].items():
            print(f"  {scheme}:")
            for cpu in ("native", "emulated"):
                if cpu in row:
                    m = row[cpu]
                    print(f"    {cpu:8s} (encoder {m['encoder']}): max|err|/max|ref| {m['rel_max']:.4f}, "
                          f"max|err|/std {m['rel_std']:.3f}, worst mask IoU {m['min_iou']:.4f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
