"""/api/export/<fmt> (a zip of the annotations in a dataset format) and /api/export-plan."""

import tempfile
import zipfile
from pathlib import Path

from flask import jsonify, send_file

from edgemask.webui.routes import bp
from edgemask.webui.routes.errors import ApiError, sentence
from edgemask.webui.routes.requests import _ctx


@bp.get("/export/<fmt>")
def export(fmt):
    """A zip of the annotations in a dataset format (without the image files, which the user
    has already; `edgemask dataset export` copies them too)."""
    from edgemask.webui import formats as dataset
    from edgemask.webui import dataset_io as transfer

    if fmt not in dataset.FORMATS:
        raise ApiError(404, f"Unknown export format {fmt!r}; use one of: {', '.join(dataset.FORMATS)}.")
    ctx = _ctx()
    archive = tempfile.TemporaryFile(suffix=".zip")  # deleted when Flask closes it
    try:
        with tempfile.TemporaryDirectory(prefix="edgemask-export-") as tmp:
            out, plan, _ = transfer.export_store(ctx.store, ctx.folder, fmt, Path(tmp) / fmt, copy_images=False)
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
                for path in sorted(out.rglob("*")):
                    if path.is_file():
                        zf.write(path, path.relative_to(out).as_posix())
                # left-out.txt (the images left out and why) is one of out's files: export_store writes it
    except ValueError as exc:
        archive.close()
        raise ApiError(409, f"The annotations cannot be exported: {sentence(exc)}") from None
    except BaseException:
        archive.close()
        raise
    archive.seek(0)
    stem = ctx.folder.root.name or "dataset"
    resp = send_file(archive, mimetype="application/zip", as_attachment=True,
                     download_name=f"{stem}-{fmt}.zip")
    resp.headers["X-Edgemask-Exported"] = str(len(plan.exported))
    resp.headers["X-Edgemask-Left-Out"] = str(len(plan.left_out))
    return resp


@bp.get("/export-plan")
def export_plan():
    """Which images an export writes, and which it leaves out and why."""
    from edgemask.webui import dataset_io as transfer

    ctx = _ctx()
    return jsonify(transfer.export_plan(ctx.store, ctx.folder).as_dict())
