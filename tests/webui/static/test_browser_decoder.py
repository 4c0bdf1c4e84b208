"""The decoder in the browser (webui/static/decoder/) against the server's, in headless Chromium: for the
same embedding and prompts, its low-res logits and final masks equal edgemask.runtime.Predictor's within
what rounding the embedding to float16 changes; and the AI wand falls back to the server's predict."""

import time
from pathlib import Path

import numpy as np
import pytest

from browser_util import LiveServer, Page, browser_missing_reason, quit_chromium, start_chromium
from synthetic import synthetic_image

pytestmark = [pytest.mark.browser, pytest.mark.skipif(browser_missing_reason() is not None,
                                                      reason=str(browser_missing_reason()))]

WIDTH, HEIGHT = 150, 100  # not square: the prompt frame and the crop of SAM's padding are exercised
PROMPTS = [  # (points, box, refine: mask_input is the previous answer's low-res logits)
    ([[70.5, 40.25, 1]], None, False),
    ([], [30, 20, 120, 90], False),
    ([[60, 50, 1]], [30, 20, 120, 90], False),
    ([[70.5, 40.25, 1], [110, 30, 1], [20, 80, 0]], None, True),
]


@pytest.fixture(scope="module")
def driver():
    drv = start_chromium(800, 600)
    yield drv
    quit_chromium(drv)


def serve_model(tmp_path, predictor):
    import cv2

    from edgemask.webui import create_app

    images = tmp_path / "images"
    images.mkdir()
    rgb = synthetic_image(HEIGHT, WIDTH, seed=5)
    cv2.imwrite(str(images / "scene.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    app = create_app({"IMAGES_DIR": str(images), "PREDICTOR": predictor, "MODEL_NAME": "random weights",
                      "TESTING": True})
    return LiveServer(app), rgb


BROWSER_DECODE = """
const [prompts, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const { openBrowserDecoder } = await import('/static/decoder/client.js');
  const { decoder, reason } = await openBrowserDecoder();
  if (!decoder) return done({ error: reason });
  const out = [];
  for (const p of prompts) {
    const r = await decoder.decode('scene.png', { points: p.points, box: p.box, maskInput: p.maskInput });
    out.push({ low: Array.from(r.lowRes), score: r.score, mask: r.mask });
  }
  decoder.close();
  done({ out, runtime: decoder.runtime, isolated: self.crossOriginIsolated });
})().catch((e) => done({ error: String(e) }));
"""


def decoder_only_model(exported: Path, out: Path) -> Path:
    """The exported model folder with its encoder swapped for a graph that answers every image with one
    seeded random embedding: the decoders compared are the exported ones, and the encoder (tens of
    seconds to load and run per model on a loaded 2-core machine) is not what this test is about."""
    import hashlib
    import json
    import os

    import onnx
    from onnx import TensorProto, helper, numpy_helper

    config = json.loads((exported / "model.json").read_text())
    enc = config["encoder"]
    size, shape = enc["input_size"], enc["embedding_shape"]
    embedding = (np.random.default_rng(7).standard_normal(shape) * 0.5).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["image"], ["total"], keepdims=0),
         helper.make_node("Mul", ["total", "zero"], ["nothing"]),
         helper.make_node("Add", ["embedding", "nothing"], [enc["output"]])],
        "given_embedding",
        [helper.make_tensor_value_info(enc["input"], TensorProto.FLOAT, [size, size, 3])],
        [helper.make_tensor_value_info(enc["output"], TensorProto.FLOAT, list(shape))],
        [numpy_helper.from_array(embedding, "embedding"), numpy_helper.from_array(np.array(0, np.float32), "zero")])
    out.mkdir()
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(out / enc["file"]))
    for name in config["files"]:
        if name != enc["file"]:
            os.link(exported / name, out / name)
    data = (out / enc["file"]).read_bytes()
    config["files"][enc["file"]] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (out / "model.json").write_text(json.dumps(config))
    return out


def decode_on_server(predictor, points, box, mask_input):
    coords = np.asarray([p[:2] for p in points], np.float32).reshape(-1, 2) if points else None
    labels = np.asarray([p[2] for p in points], np.float32) if points else None
    multimask = len(points) == 1 and box is None and mask_input is None
    return predictor.predict_mask(coords, labels, None if box is None else np.asarray(box, np.float32),
                                  mask_input, multimask)


def fp16_effect(predictor, points, box, mask_input):
    """How far rounding the embedding to float16 moves this prompt's low-res logits (onnxruntime on the host)."""
    import onnxruntime as ort

    from edgemask.runtime.engine import DECODER_OUTPUTS

    session = _host_session(str(predictor.model.decoder_path))
    coords, labels = predictor._prompt(
        np.asarray([p[:2] for p in points], np.float32).reshape(-1, 2) if points else None,
        np.asarray([p[2] for p in points], np.float32) if points else None,
        None if box is None else np.asarray(box, np.float32), predictor.original_size)
    size = predictor.model.low_res_size
    feeds = {"point_coords": coords, "point_labels": labels,
             "mask_input": np.zeros((1, 1, size, size), np.float32) if mask_input is None
             else mask_input.reshape(1, 1, size, size).astype(np.float32),
             "has_mask_input": np.array([0.0 if mask_input is None else 1.0], np.float32)}
    host = predictor.get_decoder_embedding()
    lows = [session.run(list(DECODER_OUTPUTS), dict(feeds, image_embeddings=e))[1][0]
            for e in (host, host.astype(np.float16).astype(np.float32))]
    return float(np.abs(lows[0] - lows[1]).max())


_sessions = {}


def _host_session(path):
    import onnxruntime as ort

    if path not in _sessions:
        _sessions[path] = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return _sessions[path]


def box_runs_mask(m, width, height):
    out = np.zeros(height * width, bool)
    x0, y0, x1, y1 = m["box"]
    if x1 > x0:
        crop = np.zeros((y1 - y0) * (x1 - x0), bool)
        pos = 0
        for k, n in enumerate(m["runs"]):
            if k % 2:
                crop[pos:pos + n] = True
            pos += n
        out = out.reshape(height, width)
        out[y0:y1, x0:x1] = crop.reshape(y1 - y0, x1 - x0)
    return out.reshape(height, width)


@pytest.mark.parametrize("name", ["efficientvit-sam-l0", "sam-vit-b", "sam2.1-hiera-tiny"])
def test_browser_decoder_matches_the_server(name, exported_model, driver, tmp_path):
    from edgemask.runtime import Predictor

    predictor = Predictor(decoder_only_model(exported_model(name), tmp_path / "model"), device="cpu", cache=False)
    server, rgb = serve_model(tmp_path, predictor)
    try:
        predictor.set_image(rgb)  # what the page's embedding request gives (the same encoder, once more)
        expected, browser_prompts, previous = [], [], None
        for points, box, refine in PROMPTS:
            mask_input = previous if refine else None
            mask, score, low = decode_on_server(predictor, points, box, mask_input)
            tol = 4 * fp16_effect(predictor, points, box, mask_input) + 1e-3
            expected.append((mask, score, low[0], tol))
            browser_prompts.append({"points": points, "box": box,
                                    "maskInput": None if mask_input is None else mask_input.reshape(-1).tolist()})
            previous = low
        page = Page(driver, server.url)
        driver.get(server.url + "static/vendor/onnxruntime-web/README.md")  # same origin, no page scripts
        driver.set_script_timeout(120)
        result = driver.execute_async_script(BROWSER_DECODE, browser_prompts)
        assert "error" not in result, result.get("error")
        assert result["isolated"] is True and result["runtime"]["threads"] >= 1
        upscaler = predictor.family.upscaler(rgb.shape[:2])
        for (mask, score, low, tol), got, prompt in zip(expected, result["out"], PROMPTS):
            got_low = np.asarray(got["low"], np.float32).reshape(low.shape)
            assert np.abs(got_low - low).max() <= tol, (prompt, np.abs(got_low - low).max(), tol)
            assert abs(got["score"] - score) <= tol
            got_mask = box_runs_mask(got["mask"], WIDTH, HEIGHT)
            near = np.abs(upscaler.logits(low) - predictor.model.mask_threshold) <= tol
            assert not np.any((got_mask != mask) & ~near), prompt
        page.raise_js_errors(expected=("favicon.ico",))
    finally:
        server.close()


def open_page(driver, server):
    page = Page(driver, server.url).open()
    page.wait("edgemask.state.embedding === 'ready'", timeout=60, what="the embedding")
    page.one_to_one()
    page.keys("s")
    return page


def test_ai_wand_falls_back_to_the_server(driver, tmp_path, fake_predictor):
    """A predictor that is not an exported model folder: the clicks go to the server's predict, and the
    AI-wand line says why once; nothing is previewed under the cursor."""
    server, _ = serve_model(tmp_path, fake_predictor)
    try:
        page = open_page(driver, server)
        page.hover(40, 30)
        page.click(70, 40)
        page.wait("edgemask.state.preview && edgemask.state.preview.source === 'ai'", what="the server's mask")
        assert len(fake_predictor.predict_calls) == 1
        info = page.js("return document.getElementById('stage-info').textContent")
        assert "on the server" in info and "not an exported model folder" in info
        page.click(20, 80, modifier="\ue00a")  # a negative point: the server refines
        end = time.time() + 10
        while len(fake_predictor.predict_calls) < 2 and time.time() < end:
            time.sleep(0.05)
        assert fake_predictor.predict_calls[-1]["mask_input"] is not None
        page.wait("document.getElementById('stage-info').textContent.startsWith('score')"
                  " && !document.getElementById('stage-info').textContent.includes('not an exported')",
                  what="the refined mask, the reason said only once")
        page.raise_js_errors(expected=("favicon.ico",))
    finally:
        server.close()


def test_hover_preview_and_click_in_the_browser(driver, tmp_path, exported_model):
    """efficientvit-sam-l0's decoder in the page: moving the cursor previews the mask under it, a click
    gives the server's mask for that point (decoded in the browser), Enter accepts it."""
    from edgemask.runtime import Predictor

    predictor = Predictor(decoder_only_model(exported_model("efficientvit-sam-l0"), tmp_path / "model"),
                          device="cpu", cache=False)
    server, rgb = serve_model(tmp_path, predictor)
    try:
        page = open_page(driver, server)
        page.hover(70, 40)
        page.wait("edgemask.state.preview && edgemask.state.preview.source === 'ai-hover'", timeout=60,
                  what="the hover preview")
        page.click(70, 40)
        page.wait("edgemask.state.preview && edgemask.state.preview.source === 'ai'", timeout=30,
                  what="the clicked mask")
        assert "in the browser" in page.js("return document.getElementById('stage-info').textContent")
        predictor.set_image(rgb)
        mask, _, low = decode_on_server(predictor, [[70, 40, 1]], None, None)
        page.keys("\ue007")  # Enter
        page.wait("edgemask.state.objects.length === 1")
        import base64

        import cv2

        png = base64.b64decode(page.objects()[0]["mask"].split(",", 1)[1])
        accepted = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
        accepted = (accepted > 0).any(axis=2) if accepted.ndim == 3 else accepted > 0
        assert accepted.shape == mask.shape
        near = np.abs(predictor.family.upscaler(rgb.shape[:2]).logits(low[0])) <= 1e-2
        assert not np.any((accepted != mask) & ~near)
        page.raise_js_errors(expected=("favicon.ico",))
    finally:
        server.close()
