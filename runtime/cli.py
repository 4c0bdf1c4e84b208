"""`edgemask segment`, `edgemask bench` and `edgemask doctor`."""

import argparse
import json
import time
from pathlib import Path

from edgemask.cli import UserError

DEVICES = ("auto", "tensorrt", "cuda", "coreml", "directml", "cpu")

PRECOMPUTE_HELP = """\
Computes the embedding of every image in IMAGES_DIR (sub-folders included: the
images `edgemask serve` lists) into the embedding cache, so that opening any of
them in the annotator runs no encoder. Images already cached are skipped: run it
again after an interruption and it computes only the rest. Ends with a summary:
computed, already cached, unreadable (and why).

Engine: with Ray installed (pip install 'edgemask[ray]'), Ray Data reads and
resizes the images in parallel tasks and feeds them in batches to a pool of
encoder actors, one per GPU, else CPU actors. A local Ray is started for the run
unless --ray names a cluster. Without Ray (or with --ray off) this process
encodes with one encoder.
"""


def _numbers(text: str, count, what: str):
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in count:
        raise argparse.ArgumentTypeError(f"{what} must be {' or '.join(str(c) for c in count)} comma-separated "
                                         f"numbers, got {text!r}")
    return values


def _point(text):
    return _numbers(text, (2, 3), "--point X,Y[,LABEL]")


def _box(text):
    return _numbers(text, (4,), "--box X0,Y0,X1,Y1")


def register(sub) -> None:
    s = sub.add_parser(
        "segment", help="segment one image from point/box prompts into a mask PNG",
        description="Run an exported model on IMAGE with point and/or box prompts (image pixels) and "
        "write the mask as a PNG (0/255), optionally its polygons as JSON. No PyTorch needed.",
        epilog="example: edgemask segment photo.jpg --model ~/.cache/edgemask/models/efficientvit-sam-l0-fp32 "
        "--point 320,240 --point 100,80,0 --out mask.png --polygons mask.json")
    s.add_argument("image", metavar="IMAGE", type=Path)
    s.add_argument("--model", required=True, metavar="DIR", type=Path, help="model folder (edgemask export), or the name of one in the models cache")
    s.add_argument("--point", type=_point, action="append", default=[], metavar="X,Y[,LABEL]",
                   help="a prompt point in image pixels; LABEL 1 (default) includes, 0 excludes; repeatable")
    s.add_argument("--box", type=_box, metavar="X0,Y0,X1,Y1", help="a box prompt in image pixels")
    s.add_argument("--multimask", action="store_true",
                   help="predict three masks and keep the one with the best predicted IoU")
    s.add_argument("--out", required=True, type=Path, metavar="MASK.png", help="where to write the mask PNG")
    s.add_argument("--polygons", type=Path, metavar="OUT.json", help="also write the mask's polygons as JSON")
    s.add_argument("--device", choices=DEVICES, default="auto")
    s.set_defaults(func=_segment)

    b = sub.add_parser(
        "bench", help="measure encoder and per-click latency of a model folder",
        description="Warm up, then time the encoder (median, p90), the decoder per click (1 point, 5 points, "
        "box) and a click end to end on a 1920x1080 image (decoder + upscaling + threshold + polygons), and "
        "report peak RSS. With PyTorch installed and --checkpoint, the official predictor runs side by side.")
    b.add_argument("--model", required=True, metavar="DIR", type=Path)
    b.add_argument("--device", choices=DEVICES, default="auto")
    b.add_argument("--image", type=Path, help="image to use (default: a synthetic 1920x1080 picture)")
    b.add_argument("--checkpoint", type=Path, help="the model's PyTorch checkpoint, to compare with PyTorch")
    b.add_argument("--encoder-runs", type=int, default=5, metavar="N")
    b.add_argument("--click-runs", type=int, default=30, metavar="N")
    b.add_argument("--threads", type=int, help="onnxruntime (and torch) threads (default: physical cores)")
    b.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    b.set_defaults(func=_bench, compare_torch=None)

    p = sub.add_parser(
        "precompute", help="encode every image of a folder ahead, into the cache the annotator reads",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=PRECOMPUTE_HELP,
        epilog="examples:\n"
        "  edgemask precompute photos/ --model efficientvit-sam-l0-int8\n"
        "  edgemask precompute photos/ --model sam-vit-b-int8 --cache-dir /mnt/team/embeddings --ray auto\n"
        "  edgemask serve photos/ --model sam-vit-b-int8 --cache-dir /mnt/team/embeddings")
    p.add_argument("images_dir", metavar="IMAGES_DIR", type=Path, help="folder of images (searched recursively)")
    p.add_argument("--model", required=True, metavar="DIR|NAME", type=Path,
                   help="model folder (edgemask export), or the name of one in the models cache")
    p.add_argument("--cache-dir", type=Path, metavar="DIR",
                   help="embedding cache folder (default: edgemask's own, which `edgemask serve` reads); may be "
                        "shared: a network folder, or copied to the annotators' machines for "
                        "`edgemask serve --cache-dir DIR`")
    p.add_argument("--workers", type=int, metavar="N",
                   help="encoder actors (Ray; default: one per GPU, else one per node)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="join a running Ray cluster: `auto` (the one on this machine, or $RAY_ADDRESS) or "
                        "HOST:PORT; `off` encodes in this process (default: start a local Ray for the run "
                        "when Ray is installed)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="where the encoders run (default auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_precompute)

    pl = sub.add_parser(
        "prelabel", help="compute mask proposals ('segment everything') for every image of a folder",
        description="Runs the automatic mask generator (a grid of point prompts on each image's cached "
        "embedding, SamAutomaticMaskGenerator's filters) on every image of IMAGES_DIR and stores the proposals "
        "next to the embedding cache (docs/proposals-format.md), where the annotator finds them. Images already "
        "done with the same parameters are skipped, so an interrupted run resumes.",
        epilog="example: edgemask prelabel photos/ --model efficientvit-sam-l0-fp32")
    pl.add_argument("images_dir", metavar="IMAGES_DIR", type=Path, help="folder of images (searched recursively)")
    pl.add_argument("--model", required=True, metavar="DIR|NAME", type=Path,
                    help="model folder (edgemask export), or the name of one in the models cache")
    pl.add_argument("--cache-dir", type=Path, metavar="DIR", help="embedding cache folder (default: edgemask's own)")
    pl.add_argument("--points-per-side", type=int, default=32, metavar="N", help="grid of N x N points (default 32)")
    pl.add_argument("--pred-iou-thresh", type=float, metavar="T", help="default 0.88 (SAM 2.1: 0.8)")
    pl.add_argument("--stability-score-thresh", type=float, default=0.95, metavar="T")
    pl.add_argument("--box-nms-thresh", type=float, default=0.7, metavar="T")
    pl.add_argument("--crop-n-layers", type=int, default=0, metavar="N")
    pl.add_argument("--min-mask-region-area", type=int, default=0, metavar="PIXELS")
    pl.add_argument("--device", choices=DEVICES, default="auto")
    pl.add_argument("--ray", metavar="ADDRESS", nargs="?", const="local",
                    help="run on Ray (the precompute engine): no ADDRESS or `local` starts a local Ray for the "
                         "run, `auto` or HOST:PORT joins a cluster (default: in this process)")
    pl.add_argument("--workers", type=int, metavar="N",
                    help="generator actors with --ray (default: one per GPU, else one per node)")
    pl.add_argument("--no-progress", action="store_true", help="no progress bar")
    pl.set_defaults(func=_prelabel)

    d = sub.add_parser("doctor", help="check onnxruntime, GPUs, models and caches",
                       description="Report the onnxruntime build and its execution providers, the GPU, CPU "
                       "threads, the models found in the models folder and the caches' location and size.")
    d.add_argument("--json", action="store_true", help="print JSON")
    d.set_defaults(func=_doctor)


def _load_image(path: Path):
    from edgemask.runtime.transforms import load_image

    if not path.is_file():
        raise UserError(f"image {path} does not exist")
    try:
        return load_image(path)
    except Exception as exc:  # noqa: BLE001 - Pillow raises several kinds
        raise UserError(f"cannot read {path} as an image ({exc})") from None


def _model_dir(model: Path) -> Path:
    """A model folder path, or the name of a folder in the models cache (edgemask.paths.models_dir())."""
    from edgemask import paths

    if not model.exists() and len(model.parts) == 1 and (paths.models_dir() / model).is_dir():
        return paths.models_dir() / model
    return model


def _predictor(model: Path, device: str, **kw):
    from edgemask.runtime.predictor import Predictor

    model = _model_dir(model)
    try:
        return Predictor(model, device=device, **kw)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None


def _segment(args) -> int:
    import numpy as np
    from PIL import Image

    if not args.point and args.box is None:
        raise UserError("give at least one --point X,Y[,LABEL] or a --box X0,Y0,X1,Y1")
    for p in args.point:
        if len(p) == 3 and p[2] not in (0, 1):
            raise UserError(f"point label must be 1 (include) or 0 (exclude), got {p[2]:g}")
    image = _load_image(args.image)
    predictor = _predictor(args.model, args.device, cache="memory")
    predictor.set_image(image)
    coords = np.array([p[:2] for p in args.point], np.float32) if args.point else None
    labels = np.array([p[2] if len(p) == 3 else 1 for p in args.point], np.float32) if args.point else None
    try:
        mask, score, _ = predictor.predict_mask(coords, labels, np.array(args.box) if args.box else None,
                                                multimask_output=args.multimask)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(args.out)
    area = int(mask.sum())
    print(f"wrote {args.out}: {area} pixels ({100 * area / mask.size:.1f}%), predicted IoU {score:.3f}")
    if args.polygons:
        from edgemask.runtime.shapes import mask_to_polygons

        polys = [{"exterior": p["exterior"].tolist(), "holes": [h.tolist() for h in p["holes"]]}
                 for p in mask_to_polygons(mask)]
        args.polygons.parent.mkdir(parents=True, exist_ok=True)
        args.polygons.write_text(json.dumps({"image": str(args.image), "width": mask.shape[1],
                                             "height": mask.shape[0], "score": score, "polygons": polys}))
        print(f"wrote {args.polygons}: {len(polys)} polygon(s)")
    return 0


def _bench(args) -> int:
    from edgemask.runtime import bench

    if args.encoder_runs < 1 or args.click_runs < 1:
        raise UserError("--encoder-runs and --click-runs must be at least 1")
    image = _load_image(args.image) if args.image else None
    _predictor(args.model, "cpu", cache=False).close()  # clear errors for a bad folder, before timing
    args.model = _model_dir(args.model)
    results = bench.bench_runtime(args.model, args.device, image, args.encoder_runs, args.click_runs, args.threads)
    if args.checkpoint:
        import importlib.util

        if importlib.util.find_spec("torch") is None or args.compare_torch is None:
            print("PyTorch is not installed: skipping the side-by-side run (pip install 'edgemask[export]').")
        elif not args.checkpoint.is_file():
            raise UserError(f"checkpoint {args.checkpoint} does not exist")
        else:
            img = image if image is not None else bench.synthetic_photo()
            # the official predictor's side comes from edgemask.export (see its cli.extend)
            results["torch"] = args.compare_torch(args.model, args.checkpoint, img, args.device,
                                                  max(1, min(args.encoder_runs, 3)), max(1, min(args.click_runs, 10)),
                                                  args.threads)
    print(bench.format_table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return 0


def _overdue(summary, start: float) -> str:
    """The summary of a run that Ctrl+C is ending (edgemask.runtime.interrupt's report)."""
    summary.interrupted = True
    summary.seconds = summary.seconds or time.perf_counter() - start
    return summary.format()


def _precompute(args) -> int:
    from edgemask.runtime.interrupt import ctrl_c_ends_within
    from edgemask.runtime.precompute import precompute
    from edgemask.runtime.precompute_summary import Summary

    if not args.images_dir.is_dir():
        raise UserError(f"{args.images_dir} is not a folder of images")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    model = _model_dir(args.model)
    if not (model / "model.json").is_file():
        raise UserError(f"{args.model} is not a model folder (it has no model.json); make one with "
                        "`edgemask export MODEL`")
    summary, start = Summary(total=0), time.perf_counter()
    try:
        with ctrl_c_ends_within(lambda: _overdue(summary, start)):
            precompute(args.images_dir, model, args.cache_dir, ray=args.ray, workers=args.workers,
                       device=args.device, progress=not args.no_progress, summary=summary)
    except (RuntimeError, ValueError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from None
    except ConnectionError as exc:
        raise UserError(f"cannot reach the Ray cluster at {args.ray} ({exc})") from None
    print(summary.format())
    if summary.interrupted:
        return 130
    return 1 if any(status == "failed" for _, status, _ in summary.problems) else 0


def _prelabel(args) -> int:
    from edgemask.runtime.interrupt import ctrl_c_ends_within
    from edgemask.runtime.prelabel import PrelabelSummary, prelabel

    if not args.images_dir.is_dir():
        raise UserError(f"{args.images_dir} is not a folder of images")
    model = _model_dir(args.model)
    if not (model / "model.json").is_file():
        raise UserError(f"{args.model} is not a model folder (it has no model.json); make one with "
                        "`edgemask export MODEL`")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    if args.ray is not None:
        from edgemask.runtime.precompute import RAY_HINT, ray_installed

        if not ray_installed():
            raise UserError(f"--ray needs Ray: {RAY_HINT}")
    summary, start = PrelabelSummary(total=0), time.perf_counter()
    try:
        with ctrl_c_ends_within(lambda: _overdue(summary, start)):
            prelabel(args.images_dir, model, args.cache_dir, device=args.device,
                     progress=not args.no_progress, ray=args.ray, workers=args.workers, summary=summary,
                     points_per_side=args.points_per_side,
                     pred_iou_thresh=args.pred_iou_thresh, stability_score_thresh=args.stability_score_thresh,
                     box_nms_thresh=args.box_nms_thresh, crop_n_layers=args.crop_n_layers,
                     min_mask_region_area=args.min_mask_region_area)
    except (RuntimeError, ValueError, FileNotFoundError) as exc:
        raise UserError(str(exc).rstrip(".")) from None
    except ConnectionError as exc:
        raise UserError(f"cannot reach the Ray cluster at {args.ray} ({exc})") from None
    print(summary.format())
    if summary.interrupted:
        return 130
    return 1 if summary.problems else 0


def _doctor(args) -> int:
    from edgemask.runtime import doctor

    info = doctor.collect()
    print(json.dumps(info, indent=2) if args.json else doctor.format_report(info))
    return 0
