"""`edgemask serve` and `edgemask dataset export|import|import-video`."""

import argparse
import os
import socket
import sqlite3
from pathlib import Path

SERVE_HELP = """\
Opens the click-to-mask annotator in your browser on a folder of images
(jpg, jpeg, png, bmp, tif, webp; sub-folders included). Without IMAGES_DIR it
opens a demo on a few generated sample images.

Annotations are saved as you work into IMAGES_DIR/.edgemask.sqlite (or --db).
The AI wand needs a model folder: --model DIR, else the first folder with a
model.json in the edgemask models cache. Get one (no PyTorch needed) with
  edgemask models get efficientvit-sam-l0
or click the AI wand in the page. Without a model the classic tools (polygon,
brush, colour wand) still work.
"""

DEFAULT_PORT = 8765
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(subparsers) -> None:
    serve = subparsers.add_parser(
        "serve", help="open the web annotator on a folder of images",
        description=SERVE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("images_dir", nargs="?", metavar="IMAGES_DIR",
                       help="folder of images to annotate (default: a demo with sample images)")
    serve.add_argument("--model", metavar="DIR",
                       help="model folder from `edgemask export`, or the name of one in the models cache "
                            "(default: the first one found there)")
    serve.add_argument("--cache-dir", metavar="DIR",
                       help="embedding cache folder to read and add to (default: edgemask's own); e.g. one "
                            "filled by `edgemask precompute --cache-dir DIR`, shared or copied")
    serve.add_argument("--no-model", action="store_true", help="start without the AI wand")
    serve.add_argument("--labels", metavar="FILE|suim",
                       help="label list to add: a text file (one `name #rrggbb` a line) or the preset "
                            "`suim`; a new database gets the SUIM labels when this is not given")
    serve.add_argument("--db", metavar="PATH", help="annotation database (default: IMAGES_DIR/.edgemask.sqlite)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this computer only); any other "
                            "address (0.0.0.0: every network) needs an access token, taken from "
                            "$EDGEMASK_TOKEN or generated and printed in the link to open")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT,
                       help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)")
    serve.add_argument("--device", default="auto",
                       help="where the model runs: auto, tensorrt, cuda, coreml, directml or cpu (default auto)")
    serve.add_argument("--threads", type=int, default=8, help="request threads of the web server (default 8)")
    serve.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    serve.set_defaults(func=run_serve)

    from edgemask.webui import formats  # the format lists come from its registry

    data = subparsers.add_parser("dataset", help="export or import the annotations of an images folder")
    sub = data.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    export = sub.add_parser(
        "export", help="write the annotations as a dataset",
        description="Writes the annotations, with a copy of the image files, as a dataset. An image "
                    "is written when it has objects, or when it is marked done with none (all background); "
                    "the others are listed with the reason they were left out. Images whose EXIF "
                    "orientation turns them are written upright, like their masks. Formats: "
                    + formats.listed([f"{name} ({module.TITLE})" for name, module in formats.REGISTRY.items()]) + ".")
    export.add_argument("images_dir", metavar="IMAGES_DIR")
    export.add_argument("--format", required=True, dest="fmt", metavar="FORMAT",
                        help=formats.listed())
    export.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    export.add_argument("--db", metavar="PATH", help="annotation database (default: IMAGES_DIR/.edgemask.sqlite)")
    export.add_argument("--no-images", action="store_true", help="write the annotations only, no image copies")
    export.set_defaults(func=run_export)

    imp = sub.add_parser(
        "import", help="add the annotations of a dataset (COCO, CVAT, mask PNGs)",
        description="Adds the objects of a dataset to the database of IMAGES_DIR: a COCO instances "
                    "JSON (coco), a CVAT for images 1.1 XML (cvat-xml), a CVAT Segmentation mask 1.1 "
                    "folder (cvat-mask), or a folder of class-index or label-colour PNGs as edgemask "
                    "exports them (index-png, color-png). Labels it does not know are added; images "
                    "are matched by their path in the folder, their file name, or their name without "
                    "extension; a name that is not in the folder stops the import with nothing "
                    "stored. Objects paint in the file's order (z_order where the file gives one). "
                    "Shapes that paint no area (polylines, points, tags, ...) are counted, not "
                    "imported.")
    imp.add_argument("images_dir", metavar="IMAGES_DIR")
    imp.add_argument("--format", required=True, dest="fmt", metavar="FORMAT",
                     help=formats.listed())
    source = imp.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", metavar="PATH", help=f"the JSON or XML file ({', '.join(formats.FILE_FORMATS)})")
    source.add_argument("--dir", metavar="DIR",
                        help="the dataset folder (any format; for coco and cvat-xml the folder that "
                             "holds annotations/instances_default.json or annotations.xml)")
    imp.add_argument("--db", metavar="PATH", help="annotation database (default: IMAGES_DIR/.edgemask.sqlite)")
    imp.add_argument("--replace", action="store_true",
                     help="replace the objects of the imported images instead of adding to them")
    imp.set_defaults(func=run_import)

    video = sub.add_parser(
        "import-video", help="write a video's frames as images (a sequence to annotate)",
        description="Writes every N-th frame of a video (read with OpenCV) as JPEG images named "
                    "<video name>_<frame number, 6 digits>.jpg, so that the images folder's name order "
                    "is the video's frame order. Existing frames are never overwritten.")
    video.add_argument("file", metavar="FILE", help="the video file")
    video.add_argument("--every", type=int, default=1, metavar="N", help="keep every N-th frame (default 1: all)")
    video.add_argument("--out", metavar="DIR", help="output folder (default: FILE's name + _frames, beside it)")
    video.set_defaults(func=run_import_video)


# -- serve ---------------------------------------------------------------------------------
def run_serve(args) -> int:
    from edgemask.cli import UserError

    images_dir = _images_dir(args.images_dir) if args.images_dir else None
    if images_dir is None:
        from edgemask.webui.samples import ensure_samples

        images_dir = ensure_samples()
        print(f"edgemask: no IMAGES_DIR given, opening the demo images in {images_dir}")
    model_dir = None if args.no_model else _model_dir(args.model)
    if args.labels and args.labels.lower() != "suim" and not Path(args.labels).is_file():
        raise UserError(f"the label file {args.labels} does not exist (or use --labels suim)")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port} is not a port number (0..65535)")

    from edgemask.webui import access
    from edgemask.webui.app import create_app
    from edgemask.webui.store import CorruptStore

    local = args.host in LOOPBACK
    token = None
    if not local:
        token = os.environ.get("EDGEMASK_TOKEN") or access.new_token()
        if len(token) < 16:
            raise UserError("EDGEMASK_TOKEN must have at least 16 characters")
    if model_dir is not None:
        print(f"edgemask: loading the model in {model_dir} ...", flush=True)
    try:
        app = create_app({"IMAGES_DIR": str(images_dir), "DB_PATH": args.db, "LABELS": args.labels,
                          "MODEL_DIR": str(model_dir) if model_dir else None, "DEVICE": args.device,
                          "CACHE_DIR": str(Path(args.cache_dir).expanduser()) if args.cache_dir else None,
                          "LOCAL_ONLY": local, "ACCESS_TOKEN": token})
    except ValueError as exc:  # a bad label file
        raise UserError(str(exc)) from None
    except CorruptStore as exc:
        raise UserError(str(exc)) from None
    except sqlite3.Error as exc:
        raise UserError(f"cannot open the annotation database ({exc}); choose another place with --db") from None
    ctx = app.extensions["edgemask"]
    print(f"edgemask: {ctx.assistant.message}")

    import waitress

    try:
        server = waitress.create_server(app, host=args.host, port=args.port, threads=args.threads)
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); "
                        "is another edgemask running? Pick another port with --port") from None
    wildcard = args.host in ("0.0.0.0", "::", "")
    port = server.effective_port
    query = f"?token={token}" if token else ""
    url = f"http://{_url_host('127.0.0.1' if wildcard else args.host)}:{port}/{query}"
    n_images = len(ctx.folder.names())
    print(f"edgemask: annotating {n_images} images in {ctx.folder.root}")
    print(f"edgemask: open {url}  (Ctrl+C to stop)", flush=True)
    if token:
        others = f"http://{_url_host(socket.gethostname() if wildcard else args.host)}:{port}/{query}"
        print(f"edgemask: listening beyond this computer: annotators on the network open {others} "
              "(the token in it is required; set EDGEMASK_TOKEN to keep one across restarts)", flush=True)
    if not args.no_browser:
        import threading
        import webbrowser

        threading.Timer(0.5, webbrowser.open, [url]).start()
    try:
        server.run()
    finally:
        ctx.store.close()
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _images_dir(value) -> Path:
    from edgemask.cli import UserError

    path = Path(value).expanduser()
    if not path.is_dir():
        raise UserError(f"{value} is not a folder of images")
    return path


def _model_dir(value):
    """The model folder to load, or None (no model)."""
    from edgemask import paths
    from edgemask.cli import UserError
    from edgemask.webui.ai.assistant import find_default_model

    if value is None:
        return find_default_model()
    path = Path(value).expanduser()
    if not path.is_dir() and (paths.models_dir() / value).is_dir():
        path = paths.models_dir() / value
    if not (path / "model.json").is_file():
        raise UserError(f"{value} is not a model folder (it has no model.json); "
                        "make one with `edgemask export MODEL`")
    return path


# -- dataset -------------------------------------------------------------------------------
def _open(args):
    from edgemask.images import ImageFolder
    from edgemask.webui.store import DB_NAME, CorruptStore, Store

    from edgemask.cli import UserError

    folder = ImageFolder(_images_dir(args.images_dir))
    db = Path(args.db) if args.db else folder.root / DB_NAME
    try:
        return folder, Store(db)
    except CorruptStore as exc:
        raise UserError(str(exc)) from None
    except sqlite3.Error as exc:
        raise UserError(f"cannot open the annotation database {db} ({exc})") from None


def run_export(args) -> int:
    from edgemask.cli import UserError
    from edgemask.webui.dataset_io import export_store

    folder, store = _open(args)
    try:
        out, plan, turned = export_store(store, folder, args.fmt, Path(args.out), progress=True,
                                         copy_images=not args.no_images)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    finally:
        store.close()
    print(f"edgemask: wrote {len(plan.exported)} annotated images as {args.fmt} to {out}")
    for line in plan.summary().splitlines():
        print(f"edgemask: {line}")
    if turned:
        shown = ", ".join(turned[:10]) + (f" and {len(turned) - 10} more" if len(turned) > 10 else "")
        print(f"edgemask: wrote {len(turned)} images upright, as their EXIF orientation shows them and "
              f"as their masks are drawn (re-encoded, JPEG quality 95): {shown}")
    return 0


def run_import(args) -> int:
    from edgemask.cli import UserError
    from edgemask.webui.formats import FORMATS
    from edgemask.webui.dataset_io import FILE_FORMATS, import_file

    if args.fmt not in FORMATS:
        raise UserError(f"unknown format {args.fmt!r}; choose one of: {', '.join(FORMATS)}")
    path = Path(args.file or args.dir)
    if args.file and args.fmt not in FILE_FORMATS:
        raise UserError(f"{args.fmt} is a folder of files: give it with --dir, not --file")
    if not path.exists():
        raise UserError(f"{path} does not exist")
    if args.file and not path.is_file():
        raise UserError(f"{path} is not a file")
    if args.dir and not path.is_dir():
        raise UserError(f"{path} is not a folder")
    folder, store = _open(args)
    try:
        summary = import_file(store, folder, args.fmt, path, replace=args.replace, progress=True)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    finally:
        store.close()
    print(import_summary(summary))
    return 0


def run_import_video(args) -> int:
    from tqdm import tqdm

    from edgemask.cli import UserError
    from edgemask.frames import VideoError, import_video

    bars = []  # made at the first frame read, so that a refused video prints its one sentence only

    def progress(done, expected):
        if not bars:
            bars.append(tqdm(total=expected or None, unit="frame", desc="frames", leave=False))
        bars[0].update(done - bars[0].n)

    try:
        result = import_video(args.file, args.every, args.out, progress=progress)
    except VideoError as exc:
        raise UserError(str(exc)) from None
    finally:
        for bar in bars:
            bar.close()
    print(f"edgemask: wrote {result['written']} of {result['frames']} frames to {result['out']}")
    return 0


def import_summary(summary: dict) -> str:
    """The import's result in words: what was stored, what was not and why, new labels."""
    kinds = summary["kinds"]
    parts = [f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in kinds.items() if n]
    text = (f"edgemask: imported {summary['objects']} objects on {summary['images']} images"
            + (f" ({', '.join(parts)})" if parts else ""))
    skipped = summary["skipped"]
    if skipped:
        listed = ", ".join(f"{shape}: {n}" for shape, n in sorted(skipped.items()))
        text += f"\nedgemask: not imported, as they paint no area: {listed}"
    if summary["labels_added"]:
        text += f"\nedgemask: new labels: {', '.join(summary['labels_added'])}"
    return text
