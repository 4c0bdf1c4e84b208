"""The page's own decoder (webui/static/decoder/): whether the model's decoder runs in the browser and
its geometry (`/api/decoder`), the decoder file, and each image's packed embedding (binary, float16,
deflated; edgemask.webui.ai.browser_decoder), all with ETags so that the browser keeps them."""

from flask import Response, jsonify, request, send_file

from edgemask.webui.ai import browser_decoder
from edgemask.webui.ai.assistant import ImageError
from edgemask.webui.routes import bp
from edgemask.webui.routes.errors import ApiError, sentence
from edgemask.webui.routes.requests import _ctx, _image

_packed = browser_decoder.PackedEmbeddings()


def _runnable_predictor():
    """The predictor whose decoder the page can run, else a 409 saying why not."""
    assistant = _ctx().assistant
    if not assistant.loaded:
        raise ApiError(409, assistant.message)
    reason = browser_decoder.unavailable_reason(assistant.predictor)
    if reason:
        raise ApiError(409, f"The page cannot run this model's decoder: {reason}")
    return assistant.predictor


@bp.get("/decoder")
def decoder_info():
    assistant = _ctx().assistant
    reason = browser_decoder.unavailable_reason(assistant.predictor) if assistant.loaded else assistant.message
    if reason:
        return jsonify({"available": False, "reason": reason})
    model = assistant.predictor.model
    urls = {part: f"/api/decoder/{part}.onnx?v={model.identity[:16]}" for part in browser_decoder.decoder_files(model)}
    return jsonify({"available": True, "name": assistant.name, "urls": urls} | browser_decoder.decoder_config(model))


@bp.get("/decoder/<part>.onnx")
def decoder_file(part):
    model = _runnable_predictor().model
    path = browser_decoder.decoder_files(model).get(part)
    if path is None:
        raise ApiError(404, f"This model's decoder has no part {part!r}.")
    resp = send_file(path, mimetype="application/octet-stream", max_age=0,
                     etag=f"{model.identity[:32]}-{part}", conditional=True)
    resp.headers["Cache-Control"] = "private, no-cache"
    return resp


@bp.get("/images/<path:name>/embedding.bin")
def packed_embedding(name):
    name, _, _ = _image(name)
    predictor = _runnable_predictor()
    try:
        embedding, key, (height, width) = _ctx().assistant.decoder_embedding(_ctx().folder, name)
    except (OSError, ValueError, ImageError) as exc:
        raise ApiError(415, f"The image {name!r} cannot be read: {sentence(exc)}") from None
    etag = f"{predictor.model.identity[:32]}-{key[:40]}-{browser_decoder.FORMAT}"
    headers = {"ETag": f'"{etag}"', "Cache-Control": "private, no-cache",
               "X-Edgemask-Embedding": browser_decoder.FORMAT,
               "X-Edgemask-Image-Size": f"{height} {width}",
               "X-Edgemask-Values": str(embedding.size)}
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)
    data = _packed.get(etag, lambda: browser_decoder.pack_embedding(embedding))
    return Response(data, mimetype="application/octet-stream", headers=headers)
