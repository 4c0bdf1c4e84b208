"""AI-wand click to preview drawn, in headless Chromium, against the server's own time.

    python benchmarks/bench_page_click.py --model ~/.cache/edgemask/models/efficientvit-sam-l0-fp32
    python benchmarks/bench_page_click.py --model DIR --sizes 4000x3000,1920x1080 --clicks 12
    python benchmarks/bench_page_click.py --model DIR --answer runs   # answers as a JSON list (before)
    python benchmarks/bench_page_click.py --model DIR --decoder-spinning on   # the decoder's threads spin

Serves generated photos of each size (waitress on 127.0.0.1) with the model, opens each in the
page, waits for its embedding, then clicks with the AI wand (real mouse events) at random points
(the server predicting: the page's own decoder is told it is unavailable),
Esc between clicks, and times in the page, per click:

  click -> drawn   the pointerup to the end of the frame that drew the preview
  server           the predictor's time as the answer reports it ("ms")
  request          the fetch until the answer's headers (server: predict, encoding, sending)
  body             reading the answer's body; parse: JSON.parse of it
  after            the answer parsed to the preview drawn: decode (the answer's runs to the
                   preview), the wait for the next frame, draw (the frame's drawing)
  flush            then the canvas drawing Chromium had only recorded, done (a one-pixel read):
                   not part of click -> drawn, shown so that no work hides there

and prints medians, the answer's size and the gap click->drawn minus server. A random-weight
model answers with speckled masks (many runs): a hard case for the answer's size.
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "webui"))

from browser_util import LiveServer, Page, quit_chromium, start_chromium  # noqa: E402

# Marks, per click, the times of the events between a click and its preview on the canvas.
INSTRUMENT = """
if (!window._marks) {
  const em = window.edgemask;
  window._marks = {};
  const M = window._marks;
  window.addEventListener('pointerup', (e) => { for (const k in M) delete M[k]; M.click = performance.now(); }, true);
  const f = window.fetch;
  window.fetch = (url, init) => {
    if (String(url).endsWith('/api/decoder'))  // the server predicts: its answers are what is timed
      return Promise.resolve(new Response(JSON.stringify({ available: false, reason: 'the benchmark times the server' })));
    if (!String(url).endsWith('/predict')) return f(url, init);
    if (window._format) init = { ...init, body: JSON.stringify({ ...JSON.parse(init.body), mask_format: window._format }) };
    M.fetch = performance.now();
    return f(url, init).then((r) => {
      M.headers = performance.now();
      const text = r.text.bind(r);
      r.text = () => text().then((t) => { M.body = performance.now(); M.bytes = t.length; return t; });
      return r;
    });
  };
  const parse = JSON.parse;
  JSON.parse = (s, ...rest) => {
    const t = performance.now();
    const v = parse(s, ...rest);
    if (M.body && !M.parsed && v && v.ms !== undefined) { M.parsed = performance.now(); M.parse = M.parsed - t; M.server = v.ms; }
    return v;
  };
  const render = em.view.render.bind(em.view);
  em.view.render = () => {
    const p = em.state.preview;
    if (p && p.source === 'ai' && M.parsed && !M.render) M.render = performance.now();
    render();
  };
  const draw = em.view.draw.bind(em.view);
  em.view.draw = () => {
    const t = performance.now();
    draw();
    const p = em.state.preview;
    if (p && p.source === 'ai' && M.click && !M.drawn) {
      M.drawn = performance.now(); M.draw = M.drawn - t;
      em.view.ctx.getImageData(0, 0, 1, 1);  // the drawing Chromium deferred, done now (not in click->drawn)
      M.flush = performance.now() - M.drawn;
      if (window._onDrawn) window._onDrawn(M);
    }
  };
}
"""


def photo(w, h, seed):
    """A reef-like photo: smooth colour fields with some texture."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    low = rng.integers(0, 255, (max(2, h // 150), max(2, w // 150), 3), dtype=np.uint8)
    img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    img += rng.integers(-12, 12, (h, w, 3), dtype=np.int16)
    for _ in range(30):
        cx, cy = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        axes = (int(rng.uniform(0.02, 0.12) * w), int(rng.uniform(0.02, 0.12) * h))
        cv2.ellipse(img, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360,
                    tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model folder (edgemask export output)")
    parser.add_argument("--sizes", default="4000x3000,1920x1080", help="photo sizes WxH, comma separated")
    parser.add_argument("--clicks", type=int, default=12, help="timed clicks per size (default 12)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed clicks first (default 2)")
    parser.add_argument("--answer", choices=("leb128", "runs"), default="leb128",
                        help="the predict answer's mask form: leb128 (the page's) or runs (a JSON list, "
                        "the page before the compact form)")
    parser.add_argument("--window", default="1400x900", help="browser window WxH (default 1400x900)")
    parser.add_argument("--decoder-spinning", choices=("served", "on", "off"), default="served",
                        help="onnxruntime's decoder threads between runs: as edgemask serve loads the "
                        "model (served: they sleep), spinning (on) or sleeping (off)")
    args = parser.parse_args(argv)
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]

    import cv2
    import numpy as np

    from edgemask.webui import create_app

    tmp = Path(tempfile.mkdtemp(prefix="edgemask-bench-click-"))
    (tmp / "images").mkdir()
    names = []
    for i, (w, h) in enumerate(sizes):
        names.append(f"{i}_{w}x{h}.jpg")
        cv2.imwrite(str(tmp / "images" / names[-1]), photo(w, h, i), [cv2.IMWRITE_JPEG_QUALITY, 90])
    import os

    os.environ["EDGEMASK_HOME"] = str(tmp / "home")
    config = {"IMAGES_DIR": str(tmp / "images"), "MODEL_DIR": args.model, "DB_PATH": str(tmp / "a.sqlite")}
    if args.decoder_spinning != "served":
        from edgemask.runtime import Predictor

        spinning = args.decoder_spinning == "on"
        config |= {"PREDICTOR": Predictor(args.model, device="cpu", cache_dir=tmp / "cache", spinning=spinning),
                   "MODEL_NAME": f"{Path(args.model).name}, decoder spinning {args.decoder_spinning}"}
    server = LiveServer(create_app(config))
    ctx = server.app.extensions["edgemask"]
    if not ctx.assistant.loaded:
        print(f"error: {ctx.assistant.message}", file=sys.stderr)
        return 2
    ww, wh = (int(v) for v in args.window.split("x"))
    driver = start_chromium(ww, wh)
    rows = {}
    try:
        page = Page(driver, server.url)
        for name, (w, h) in zip(names, sizes):
            page.open("#" + name)
            page.wait(f"edgemask.state.imageName === '{name}'")
            driver.set_script_timeout(600)
            driver.execute_async_script("edgemask.app.embeddingReady().then(arguments[0], arguments[0]);")
            predictor = ctx.assistant.predictor
            if hasattr(predictor, "wait_prefetch"):
                predictor.wait_prefetch(timeout=600)  # no encoder run of another image during the clicks
            page.js(INSTRUMENT + f"window._format = {args.answer!r};")
            page.js("edgemask.app.setTool('aiwand');")
            rng = np.random.default_rng(7)
            marks = []
            for k in range(args.warmup + args.clicks):
                page.keys("\ue00c")  # Esc: the next click starts a new mask
                page.wait("!edgemask.state.preview")
                x, y = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
                page.click(x, y)
                # one call that answers when the preview is drawn: polling the page meanwhile would
                # run scripts in it, and Python in this process (the server's), during the click
                m = driver.execute_async_script(
                    "const done = arguments[0], M = window._marks;"
                    "if (M.click && M.drawn) done(M);"
                    "else window._onDrawn = (marks) => { window._onDrawn = null; done(marks); };")
                if k >= args.warmup:
                    marks.append(m)
                time.sleep(0.15)  # as a person clicks
            scale = page.js("return edgemask.view.scale")
            rows[name] = (w, h, scale, marks)
    finally:
        quit_chromium(driver)
        server.close()
        if hasattr(ctx.assistant.predictor, "close"):
            ctx.assistant.predictor.close()
        ctx.store.close()
        shutil.rmtree(tmp, ignore_errors=True)

    med = statistics.median
    print(f"model {ctx.assistant.name}; window {args.window}; answers as {args.answer}; "
          f"{args.clicks} clicks per photo (medians, ms)")
    print(f"{'photo':>10s} {'zoom':>5s} {'answer kB':>9s} {'click->drawn':>12s} {'server':>7s} {'gap':>6s} "
          f"{'request':>8s} {'body':>6s} {'parse':>6s} {'after':>6s} {'decode':>6s} {'draw':>6s} {'flush':>6s}")
    for name, (w, h, scale, marks) in rows.items():
        drawn = [m["drawn"] - m["click"] for m in marks]
        server_ms = [m["server"] for m in marks]
        gaps = [d - s for d, s in zip(drawn, server_ms)]
        print(f"{w:>5d}x{h:<4d} {scale:5.2f} {med(m['bytes'] for m in marks) / 1000:9.0f} {med(drawn):12.1f} "
              f"{med(server_ms):7.1f} {med(gaps):6.1f} {med(m['headers'] - m['fetch'] for m in marks):8.1f} "
              f"{med(m['body'] - m['headers'] for m in marks):6.1f} {med(m.get('parse', 0) for m in marks):6.1f} "
              f"{med(m['drawn'] - m['body'] for m in marks):6.1f} {med(m['render'] - m['parsed'] for m in marks):6.1f} "
              f"{med(m['draw'] for m in marks):6.1f} {med(m['flush'] for m in marks):6.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
