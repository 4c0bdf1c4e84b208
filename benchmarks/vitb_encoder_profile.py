"""sam-vit-b's encoder: edgemask's fp32 and int8 graphs vs samexporter's, taking turns, with ratios,
and onnxruntime's profile of each (op-type totals).

    python benchmarks/vitb_encoder_profile.py [--rounds 6] [--profile] [--cache DIR]

samexporter's graphs are built here as its export_encoder.py builds them (vietanhdev/samexporter:
ImageEncoderOnnxModel without preprocessing, torch.onnx at its default opset 18; --quantize-out:
quantize_dynamic, per-tensor QUInt8 weights) and run as its sam_onnx.py runs them (a default
InferenceSession). edgemask's run as `Predictor` runs them (runtime.engine.Engine: its session
options, intra-op threads = physical cores, as onnxruntime's default for samexporter's). Both get
the same random-weight checkpoint of the official architecture and the same 1920x1080 picture,
already resized and padded: the timed call is the encoder run alone (samexporter's normalisation,
done in numpy before its run, is not timed; edgemask's is inside its graph and is). Needs the export
extra (torch, segment-anything).
"""

import argparse
import collections
import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from turns import machine_line, ratio_lines, take_turns  # noqa: E402

MEAN, STD = np.array([123.675, 116.28, 103.53], np.float32), np.array([58.395, 57.12, 57.375], np.float32)


def random_checkpoint(path: Path) -> Path:
    if not path.exists():
        import torch
        from segment_anything import sam_model_registry

        torch.manual_seed(0)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(sam_model_registry["vit_b"]().state_dict(), path)
    return path


def samexporter_graphs(checkpoint: Path, cache: Path) -> dict:
    """fp32 and int8 encoder graphs made the way samexporter makes them."""
    fp32, int8 = cache / "samexporter-vitb.onnx", cache / "samexporter-vitb.int8.onnx"
    if not fp32.exists():
        import torch
        from segment_anything import sam_model_registry

        encoder = sam_model_registry["vit_b"](checkpoint=str(checkpoint)).image_encoder.eval()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(encoder, (torch.randn(1, 3, 1024, 1024),), str(fp32), dynamo=False, opset_version=18,
                              do_constant_folding=True, input_names=["input_image"], output_names=["image_embeddings"])
    if not int8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(int8), per_channel=False, reduce_range=False, weight_type=QuantType.QUInt8)
    return {"fp32": fp32, "int8": int8}


def edgemask_folders(checkpoint: Path, cache: Path) -> dict:
    from edgemask.export.exporter import export_model

    out = {}
    for precision in ("fp32", "int8"):
        folder = cache / f"edgemask-vitb-{precision}"
        if not (folder / "model.json").exists():
            # traced, not filled: the graph this exporter's code makes, even before the weightless graphs
            # shipped for sam-vit-b are re-made from it
            export_model("sam-vit-b", checkpoint, folder, precision=precision, progress=lambda *_: None, method="trace")
        out[precision] = folder
    return out


def op_totals(session_options, path: Path, feed: dict) -> collections.Counter:
    """Milliseconds per op type in the second of two profiled runs."""
    import onnxruntime as ort

    session_options.enable_profiling = True
    session = ort.InferenceSession(str(path), session_options, providers=["CPUExecutionProvider"])
    for _ in range(2):
        session.run(None, feed)
    profile = Path(session.end_profiling())
    events = json.loads(profile.read_text())
    profile.unlink()
    last = [e for e in events if e.get("name") == "model_run"][-1]
    totals = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and last["ts"] <= e["ts"] <= last["ts"] + last["dur"]:
            totals[e["args"].get("op_name")] += e["dur"] / 1000
    return totals


def main(argv=None) -> int:
    import onnxruntime as ort

    from edgemask.runtime import providers as prov
    from edgemask.runtime.bench import synthetic_photo
    from edgemask.runtime.engine import Engine, encoder_optimization
    from edgemask.runtime.model_folder import load_model_folder
    from edgemask.runtime.transforms import encoder_input

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--precisions", nargs="+", default=["fp32", "int8"])
    ap.add_argument("--profile", action="store_true", help="also print onnxruntime's op-type totals per graph")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/edgemask-bench-vitb"))
    ap.add_argument("--checkpoint", type=Path, help="a sam-vit-b checkpoint (default: a random one in --cache)")
    args = ap.parse_args(argv)
    checkpoint = random_checkpoint(args.checkpoint or args.cache / "sam-vit-b-random.pth")
    peer, ours = samexporter_graphs(checkpoint, args.cache), edgemask_folders(checkpoint, args.cache)
    image = synthetic_photo(1080, 1920, seed=1)
    x = encoder_input(image, 1024, tuple(MEAN), "bilinear")  # [1024, 1024, 3], padded with the mean
    x_peer = np.ascontiguousarray(((x - MEAN) / STD).transpose(2, 0, 1)[None])
    print(machine_line())
    print(f"onnxruntime {ort.__version__}; intra-op threads: edgemask {prov.physical_cores()} (physical cores), "
          f"samexporter onnxruntime's default (physical cores)")
    for precision in args.precisions:
        model = load_model_folder(ours[precision])
        engine = Engine(model, device="cpu")
        session = ort.InferenceSession(str(peer[precision]), providers=["CPUExecutionProvider"])
        cpu = {}
        times = take_turns({"samexporter": lambda: session.run(None, {"input_image": x_peer}),
                            "edgemask": lambda: engine.encode(x)}, args.rounds, cpu=cpu)
        print(f"sam-vit-b encoder {precision}, {args.rounds} rounds taking turns ({ours[precision].name}, "
              f"onnxruntime level {encoder_optimization(model)!r} for edgemask):")
        print("\n".join(ratio_lines(times, "samexporter")))
        print("  process CPU time per call (both threads):")
        print("\n".join(ratio_lines(cpu, "samexporter")))
        if args.profile:
            del session
            so = prov.session_options("cpu", mem_pattern=False, spinning=False, optimization=encoder_optimization(model))
            for name, path, feed in (("edgemask", model.encoder_path, {"image": x}),
                                     ("samexporter", peer[precision], {"input_image": x_peer})):
                totals = op_totals(so if name == "edgemask" else ort.SessionOptions(), path, feed)
                print(f"  profile {name} {precision}: {sum(totals.values()):.0f} ms in kernels; "
                      + ", ".join(f"{op} {ms:.0f}" for op, ms in totals.most_common(10)))
        del engine
        print(f"  {machine_line().split('; ')[-1]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
