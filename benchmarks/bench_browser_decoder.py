"""The decoder in the browser, in headless Chromium: decodes per second and cursor-to-drawn latency.

    python benchmarks/bench_browser_decoder.py --model DIR [--model DIR ...] [--size 4000x3000]

For each model folder: serves a synthetic photo of --size with the real app (waitress on 127.0.0.1),
encodes it once on the server, opens the page, and then
- in the page's worker (webui/static/decoder/): N hover decodes (one include point, the mask sampled
  at the view's step, what the hover preview draws) and N click decodes (the full-resolution box-runs
  mask a click previews), one after another; prints decodes/s and the median / p90 ms;
- in the page with the AI wand: pointer moves every 16 ms (60 Hz) for --seconds, and for each drawn
  hover preview the time from the move it shows to the end of its drawing; prints the median and p90
  of that cursor-to-drawn latency and how many previews were drawn per second.
Then the same click decode on the server (edgemask.runtime.Predictor.predict_mask) for comparison.
The CPU model, the browser's threads and whether the page was cross-origin isolated are printed.
"""

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "webui")]

WORKER_RUNS = """
const [n, step, done] = arguments;
(async () => {
  const { openBrowserDecoder } = await import('/static/decoder/client.js');
  const t0 = performance.now();
  const { decoder, reason } = await openBrowserDecoder();
  if (!decoder) return done({ error: reason });
  const t1 = performance.now();
  await decoder.setImage('photo.jpg');
  const t2 = performance.now();
  const [h, w] = [__H__, __W__];
  const hover = [], click = [], run = [];
  for (let i = 0; i < n; i++) {
    const p = [[(0.2 + 0.6 * i / n) * w, (0.3 + 0.4 * ((i * 7) % n) / n) * h, 1]];
    let s = performance.now();
    const r = await decoder.decode('photo.jpg', { points: p, step, previewOnly: true });
    hover.push(performance.now() - s);
    run.push(r.decodeMs);
  }
  for (let i = 0; i < Math.max(3, n >> 2); i++) {
    const p = [[(0.3 + 0.4 * i / n) * w, 0.5 * h, 1]];
    const s = performance.now();
    await decoder.decode('photo.jpg', { points: p });
    click.push(performance.now() - s);
  }
  decoder.close();
  done({ open: t1 - t0, image: t2 - t1, hover, click, run, runtime: decoder.runtime, isolated: self.crossOriginIsolated });
})().catch((e) => done({ error: String(e) }));
"""

HOVER_RUN = """
const [seconds, done] = arguments;
const canvas = document.querySelector('#stage canvas') || document.querySelector('canvas');
const r = canvas.getBoundingClientRect();
const seen = [];
let last = null;
const watch = setInterval(() => {
  const d = edgemask.state.hoverDrawn;
  if (d && d !== last) { last = d; seen.push(d.drawnAt - d.movedAt); }
}, 2);
const t0 = performance.now();
let i = 0;
const mover = setInterval(() => {
  const f = (performance.now() - t0) / (seconds * 1000);
  const x = r.left + r.width * (0.25 + 0.5 * f), y = r.top + r.height * (0.4 + 0.2 * Math.sin(i++ / 9));
  canvas.dispatchEvent(new PointerEvent('pointermove', { clientX: x, clientY: y, bubbles: true, buttons: 0 }));
  if (f >= 1) {
    clearInterval(mover);
    setTimeout(() => { clearInterval(watch); done({ seen, moves: i }); }, 3000);
  }
}, 16);
"""


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        name = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "")
        flags = next((line for line in out.splitlines() if line.startswith("Flags")), "")
        extra = [f for f in ("avx2", "avx512f", "avx512_vnni") if f" {f}" in flags]
        return f"{name} ({', '.join(extra) or 'no AVX2'})"
    except OSError:
        return platform.processor()


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench(model_dir: Path, size, n: int, seconds: float, driver, tmp: Path) -> None:
    import cv2
    import numpy as np

    from browser_util import LiveServer, Page
    from edgemask.webui import create_app
    from synthetic import synthetic_image

    w, h = size
    images = tmp / f"images-{model_dir.name}"
    images.mkdir()
    rgb = synthetic_image(h, w, seed=3)
    cv2.imwrite(str(images / "photo.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    app = create_app({"IMAGES_DIR": str(images), "MODEL_DIR": str(model_dir), "DEVICE": "cpu",
                      "CACHE_DIR": str(tmp / "emb"), "LOCAL_ONLY": True})
    server = LiveServer(app)
    try:
        client = app.test_client()
        t = time.perf_counter()
        client.post("/api/images/photo.jpg/embedding", json={})
        encode_s = time.perf_counter() - t
        packed = client.get("/api/images/photo.jpg/embedding.bin")
        print(f"\n{model_dir.name} at {w}x{h}: encoded on the server in {encode_s:.1f} s; embedding on the wire "
              f"{len(packed.data) / 1e6:.2f} MB (fp16, shuffled, deflated)")
        page = Page(driver, server.url)
        driver.get(server.url + "static/vendor/onnxruntime-web/README.md")
        driver.set_script_timeout(600)
        view_step = max(1, int(1 / min(1400 / w, 900 / h)))
        res = driver.execute_async_script(WORKER_RUNS.replace("__H__", str(h)).replace("__W__", str(w)), n, view_step)
        if "error" in res:
            raise SystemExit(res["error"])
        hover, click = res["hover"], res["click"]
        print(f"  browser: {res['runtime']['threads']} wasm threads, cross-origin isolated {res['isolated']}; "
              f"decoder start {res['open']:.0f} ms, embedding fetch + per-image decoder part {res['image']:.0f} ms")
        print(f"  hover decodes (mask sampled every {view_step} px): {1000 / statistics.mean(hover):.1f} decodes/s, "
              f"median {statistics.median(hover):.0f} ms, p90 {pct(hover, 0.9):.0f} ms (n={len(hover)}; of which "
              f"onnxruntime-web's run median {statistics.median(res['run']):.0f} ms)")
        print(f"  click decodes (full {w}x{h} mask): median {statistics.median(click):.0f} ms, "
              f"p90 {pct(click, 0.9):.0f} ms (n={len(click)})")

        page.open()
        page.wait("edgemask.state.embedding === 'ready'", timeout=600, what="the embedding")
        page.keys("s")
        got = driver.execute_async_script(HOVER_RUN, seconds)
        seen = got["seen"]
        if seen:
            print(f"  hover preview in the page: {len(seen) / seconds:.1f} previews drawn/s for {got['moves']} moves "
                  f"at 60 Hz; cursor-to-drawn median {statistics.median(seen):.0f} ms, p90 {pct(seen, 0.9):.0f} ms")
        else:
            print("  hover preview in the page: nothing drawn")

        predictor = app.extensions["edgemask"].assistant.predictor
        predictor.set_image(rgb)
        times = []
        for i in range(max(3, n >> 2)):
            t = time.perf_counter()
            predictor.predict_mask(np.array([[(0.3 + 0.4 * i / n) * w, 0.5 * h]], np.float32),
                                   np.array([1], np.float32), multimask_output=True)
            times.append((time.perf_counter() - t) * 1000)
        print(f"  server predict_mask (native onnxruntime, full mask): median {statistics.median(times):.0f} ms")
    finally:
        server.close()
        app.extensions["edgemask"].store.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, type=Path, help="model folder (repeatable)")
    parser.add_argument("--size", default="4000x3000", help="photo size WxH")
    parser.add_argument("--n", type=int, default=40, help="hover decodes per model")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of pointer moves")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))

    from browser_util import quit_chromium, start_chromium

    print(f"CPU: {cpu_model()}")
    driver = start_chromium(1400, 900)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for model in args.model:
                bench(model, size, args.n, args.seconds, driver, Path(tmp))
    finally:
        quit_chromium(driver)
    return 0


if __name__ == "__main__":
    sys.exit(main())
