"""The page's own decoder: /api/decoder, the decoder file and the packed embedding per image."""

import numpy as np
import pytest

from webui_util import page_client


@pytest.fixture
def model_client(images_dir, tiny_model_dir, tmp_path):
    from edgemask.webui import create_app

    app = create_app({"IMAGES_DIR": str(images_dir), "MODEL_DIR": str(tiny_model_dir),
                      "CACHE_DIR": str(tmp_path / "emb"), "DEVICE": "cpu", "TESTING": True})
    yield page_client(app)
    app.extensions["edgemask"].store.close()


def test_decoder_info_and_file(model_client, tiny_model_dir):
    info = model_client.get("/api/decoder").get_json()
    assert info["available"] is True and info["family"] == "sam" and not info["square"]
    assert info["embedding_shape"] == [1, 256, 64, 64] and info["low_res_size"] == 256
    assert set(info["urls"]) == {"full"}  # the tiny model has no split decoder
    resp = model_client.get(info["urls"]["full"])
    assert resp.status_code == 200 and resp.data == (tiny_model_dir / "decoder.onnx").read_bytes()
    again = model_client.get(info["urls"]["full"], headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304


def test_packed_embedding_is_the_fp16_embedding(model_client, tiny_model_dir):
    from edgemask.runtime import Predictor
    from edgemask.webui.ai.browser_decoder import unpack_embedding

    resp = model_client.get("/api/images/square.png/embedding.bin")
    assert resp.status_code == 200 and resp.mimetype == "application/octet-stream"
    assert resp.headers["X-Edgemask-Image-Size"] == "48 64"
    values = unpack_embedding(resp.data)
    predictor = Predictor(tiny_model_dir, device="cpu", cache=False)
    predictor.set_image_file(model_client.application.extensions["edgemask"].folder.path("square.png"))
    expected = predictor.get_decoder_embedding().reshape(-1)
    assert values.shape == expected.shape
    np.testing.assert_array_equal(values, expected.astype(np.float16).astype(np.float32))
    assert len(resp.data) < expected.size * 2  # smaller than the raw float16 values
    cached = model_client.get("/api/images/square.png/embedding.bin", headers={"If-None-Match": resp.headers["ETag"]})
    assert cached.status_code == 304 and not cached.data
    other = model_client.get("/api/images/sub/portrait.jpg/embedding.bin")
    assert other.headers["ETag"] != resp.headers["ETag"]


def test_embedding_of_an_image_that_does_not_exist(model_client):
    resp = model_client.get("/api/images/nope.png/embedding.bin")
    assert resp.status_code == 404
    message = resp.get_json()["error"]
    assert "nope.png" in message and "\n" not in message


def test_model_without_a_browser_decoder(client):
    """An injected predictor (no model folder): the page is told why in one sentence and predicts on the server."""
    info = client.get("/api/decoder").get_json()
    assert info["available"] is False
    assert info["reason"].endswith(".") and info["reason"].count(". ") == 0
    resp = client.get("/api/images/square.png/embedding.bin")
    assert resp.status_code == 409 and "server" in resp.get_json()["error"]
    assert client.get("/api/decoder/full.onnx").status_code == 409


def test_pages_are_cross_origin_isolated(client):
    resp = client.get("/")
    assert resp.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert resp.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    wasm = client.get("/static/vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm")
    assert wasm.status_code == 200 and wasm.mimetype == "application/wasm"


def test_vendored_files_match_their_pins():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[3] / "scripts" / "fetch_onnxruntime_web.py"
    spec = importlib.util.spec_from_file_location("fetch_onnxruntime_web", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.check() == []
