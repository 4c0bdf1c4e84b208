"""The server side of the page's tools: the colour wand and mask -> polygons."""

from flask import jsonify

from edgemask.images import MAX_IMAGE_PIXELS
from edgemask.runtime import shapes
from edgemask.webui.budget import PixelBudget
from edgemask.webui.imaging.color_wand import flood_fill
from edgemask.webui.routes import bp, payloads
from edgemask.webui.routes.errors import ApiError, sentence
from edgemask.webui.routes.requests import _body, _image, _mask_json, _rgb
from edgemask.webui.store import check_box_runs


@bp.post("/images/<path:name>/wand")
def wand(name):
    name, width, height = _image(name)
    body = _body()
    x, y, tol = body.get("x"), body.get("y"), body.get("tolerance", 32)
    if not all(payloads._is_number(v) for v in (x, y, tol)):
        raise ApiError(400, "The wand needs numbers \"x\", \"y\" and \"tolerance\".")
    if not (0 <= x < width and 0 <= y < height):
        raise ApiError(400, f"The point ({x:g}, {y:g}) is outside the {width}x{height} image.")
    if not 0 <= tol <= 255:
        raise ApiError(400, "\"tolerance\" must be between 0 and 255.")
    rgb = _rgb(name)
    if rgb.shape[:2] != (height, width):
        raise ApiError(415, f"The image {name!r} decodes to a size other than its header says.")
    mask = flood_fill(rgb, int(x), int(y), int(round(tol)))
    return jsonify(_mask_json(mask))


@bp.post("/polygonize")
def polygonize():
    body = _body()
    tolerance = body.get("tolerance", 1.0)
    if not payloads._is_number(tolerance) or not 0 <= tolerance <= 100:
        raise ApiError(400, "\"tolerance\" must be a number of pixels between 0 and 100.")
    most = body.get("max_polygons")
    if most is not None and (type(most) is not int or not 1 <= most <= MAX_POLYGONS):
        raise ApiError(400, f"\"max_polygons\" must be a whole number from 1 to {MAX_POLYGONS}.")
    raw = body.get("mask")
    from edgemask.webui.imaging.polygonize import polygonize as trace

    if isinstance(raw, dict):  # box-runs: only the box's own pixels are traced
        height, width = _polygonize_bounds(body.get("image"), raw.get("box"))
        try:
            check_box_runs(raw, height, width)  # Python integers: no int64 wrap-around
        except ValueError as exc:
            raise ApiError(400, f"The mask cannot be decoded: {sentence(exc)}") from None
        x0, y0, x1, y1 = raw["box"]
        with DECODE_BUDGET.take((x1 - x0) * (y1 - y0)):
            try:
                (x0, y0, _, _), crop = shapes.box_runs_to_crop(raw, height, width)
            except (ValueError, TypeError) as exc:
                raise ApiError(400, f"The mask cannot be decoded: {sentence(exc)}") from None
            answer = trace(crop, float(tolerance), most)
            del crop
        answer["polygons"] = [[[x + x0, y + y0] for x, y in ring] for ring in answer["polygons"]]
        return jsonify(answer)
    if not isinstance(raw, str) or not raw.startswith("data:image/png;base64,"):
        raise ApiError(400, "\"mask\" must be {\"box\", \"runs\"} or a data:image/png;base64 URL.")
    try:
        mask = shapes.png_data_url_to_mask(raw, max_pixels=MAX_IMAGE_PIXELS)
    except shapes.MaskSizeError as exc:
        raise ApiError(413, f"The mask is too large: {sentence(exc)}") from None
    except ValueError as exc:
        raise ApiError(400, f"The mask cannot be decoded: {sentence(exc)}") from None
    return jsonify(trace(mask, float(tolerance), most))


MAX_MASK_PIXELS = MAX_IMAGE_PIXELS  # a mask without an image is bounded as an image is
MAX_POLYGONS = 100_000  # the most "max_polygons" may ask for
DECODE_BUDGET = PixelBudget(MAX_IMAGE_PIXELS)  # pixels all polygonize requests decode at once


def _polygonize_bounds(image, box) -> tuple:
    """(height, width) a box-runs mask may fill: its image's when "image" names one, else its box's
    own ends, bounded by MAX_MASK_PIXELS."""
    if image is not None:
        if not isinstance(image, str):
            raise ApiError(400, "\"image\" must be the name of the image the mask belongs to.")
        _, width, height = _image(image)
        return height, width
    if not isinstance(box, list) or len(box) != 4 or not all(type(v) is int for v in box):
        raise ApiError(400, "The mask cannot be decoded: a mask's box must be 4 integers [x0, y0, x1, y1].")
    y1, x1 = max(box[3], 0), max(box[2], 0)
    if max(x1, 1) * max(y1, 1) > MAX_MASK_PIXELS:  # each side too: an empty box may not name 2**62 rows
        raise ApiError(400, f"The mask is too large: its box must end within {MAX_MASK_PIXELS} pixels of "
                            "the image's corner (send \"image\" to check it against its image).")
    return y1, x1
