"""Times the annotator on a camera-size photo in headless Chromium: what a user waits for.

    python benchmarks/bench_big_photo.py --model ~/.cache/edgemask/models/efficientvit-sam-l0-int8

Makes two 4000x3000 JPEGs in a temporary folder, stores 20 mask objects on the first (through
`PUT .../annotations` with full-size PNG masks, which every version of the API accepts), serves
the real app with waitress on 127.0.0.1 and drives the page with Selenium. Prints:

- GET .../annotations: median ms over 5 requests and the answer's size;
- opening the image in the page (annotations + image file loaded, objects decoded, the first
  frame with the pixels and every object drawn): median over 3 opens;
- saving one edited object (a brush stroke extends one mask; then `autosave.flush()`), and the
  bytes the page sent for it: first save after opening, and a second one;
- AI wand: single click -> mask preview drawn, median over 5 clicks, next to the server's own
  predictor time for the same clicks;
- switching to an image whose embedding is cached (POST .../embedding round trip), also after a
  restart of the server (disk cache);
- the brush and polygon tools: the longest pointer-move handler and the longest redraw while
  painting (a frame is at least their sum), and Long Tasks (> 50 ms) seen during the stroke.

The figures depend on the machine (printed first) and on what else runs on it. The benchmark
uses only page hooks that every version of the page has (window.edgemask.state/app/view/tools/
autosave), so it can time older versions too.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "webui"))

W, H = 4000, 3000
N_OBJECTS = 20


def machine() -> str:
    cpu = "?"
    flags = ""
    try:
        info = Path("/proc/cpuinfo").read_text()
        cpu = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
        flags = next(line for line in info.splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        pass
    simd = [f for f in ("avx2", "avx512f", "avx512_vnni") if f" {f}" in flags]
    return f"{cpu}, {os.cpu_count()} cores, {'/'.join(simd) or 'no AVX2'}; {platform.python_version()}"


def make_photo(path: Path, seed: int) -> None:
    """A photo-like 4000x3000 JPEG: smooth shading, texture and a few solid shapes."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    img = cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    img += rng.integers(-12, 12, (H, W, 1), dtype=np.int16)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(12):
        color = [int(c) for c in rng.integers(0, 256, 3)]
        cv2.circle(img, (int(rng.integers(0, W)), int(rng.integers(0, H))), int(rng.integers(80, 500)), color, -1)
    cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 90])


def make_masks(seed: int = 1) -> list:
    """20 blob masks of 60..700 px radius (some with a hole), as full-size bool arrays."""
    rng = np.random.default_rng(seed)
    masks = []
    for i in range(N_OBJECTS):
        m = np.zeros((H, W), np.uint8)
        cx, cy = int(rng.integers(300, W - 300)), int(rng.integers(300, H - 300))
        ax, ay = int(rng.integers(60, 700)), int(rng.integers(60, 600))
        cv2.ellipse(m, (cx, cy), (ax, ay), float(rng.uniform(0, 180)), 0, 360, 1, -1)
        pts = rng.normal(0, 1, (9, 2)) * [ax * 0.6, ay * 0.6] + [cx, cy]
        cv2.fillPoly(m, [pts.astype(np.int32)], 1)
        if i % 3 == 0:
            cv2.circle(m, (cx, cy), max(5, min(ax, ay) // 4), 0, -1)
        masks.append(m.astype(bool))
    return masks


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=600) as resp:
        return resp.read()


def seed_objects(base: str, name: str) -> None:
    from edgemask.runtime.shapes import mask_to_png_data_url

    labels = json.loads(http("GET", base + "api/labels"))["labels"]
    objects = [{"id": f"obj-{i:02d}", "label_id": labels[i % len(labels)]["id"], "kind": "mask", "z": i,
                "mask": mask_to_png_data_url(m)} for i, m in enumerate(make_masks())]
    version = json.loads(http("GET", base + f"api/images/{name}/annotations"))["version"]
    http("PUT", base + f"api/images/{name}/annotations", {"version": version, "objects": objects})


# --- page instrumentation (hooks every version of the page has) --------------------------
INSTRUMENT = """
const e = window.edgemask;
if (!e._bench) {
  const b = e._bench = {sent: [], draws: [], moves: [], longtasks: [], predictMs: []};
  const draw = e.view.draw.bind(e.view);
  e.view.draw = () => { const t = performance.now(); draw(); b.draws.push([t, performance.now() - t]); };
  const fetch0 = window.fetch;
  window.fetch = async (url, init) => {
    if (init && init.body && init.method !== 'GET') b.sent.push([init.method, String(url), init.body.length]);
    const r = await fetch0(url, init);
    if (String(url).endsWith('/predict')) r.clone().json().then((j) => b.predictMs.push(j.ms)).catch(() => {});
    return r;
  };
  for (const name of ['brush', 'polygon']) {
    const tool = e.tools[name], move = tool.move.bind(tool);
    tool.move = (ev, p) => { const t = performance.now(); move(ev, p); b.moves.push([name, performance.now() - t]); };
  }
  new PerformanceObserver((l) => { for (const x of l.getEntries()) b.longtasks.push([x.startTime, x.duration]); })
    .observe({entryTypes: ['longtask']});
}
"""

OPEN = """
const [name, done] = [arguments[0], arguments[arguments.length - 1]];
const e = window.edgemask;
const t0 = performance.now();
e.app.openImage(name).then(() => requestAnimationFrame(() => {
  // this frame's callbacks include the redraw queued by the open; the next one runs after it
  requestAnimationFrame(() => done([performance.now() - t0, e.state.objects.length, e.state.imageName]));
}), (err) => done(['error', String(err)]));
"""


def median(values):
    return statistics.median(values) if values else float("nan")


def run(args) -> dict:
    from browser_util import LiveServer, Page, quit_chromium, start_chromium
    from edgemask.webui import create_app

    work = Path(tempfile.mkdtemp(prefix="edgemask-bigphoto-"))
    os.environ["EDGEMASK_HOME"] = str(work / "home")
    images = work / "images"
    images.mkdir()
    make_photo(images / "big.jpg", 1)
    make_photo(images / "big2.jpg", 2)
    config = {"IMAGES_DIR": str(images), "MODEL_DIR": args.model, "DB_PATH": str(work / "db.sqlite")}
    app = create_app(config)
    assistant = app.extensions["edgemask"].assistant
    if not assistant.loaded:
        raise SystemExit(f"error: {assistant.message}")
    server = LiveServer(app)
    base = server.url
    out = {"machine": machine(), "model": assistant.name, "load": os.getloadavg()[0]}
    print(f"machine: {out['machine']}; load average {out['load']:.1f}\nmodel: {assistant.name}")
    driver = None
    try:
        seed_objects(base, "big.jpg")
        # both embeddings in the cache first: opening an image then costs no encoder run
        for name in ("big.jpg", "big2.jpg", "big.jpg"):
            http("POST", base + f"api/images/{name}/embedding")
            assistant.predictor.wait_prefetch(timeout=600)

        # -- GET annotations -----------------------------------------------------------------
        times, size = [], 0
        for _ in range(5):
            t = time.perf_counter()
            size = len(http("GET", base + "api/images/big.jpg/annotations"))
            times.append((time.perf_counter() - t) * 1000)
        out["annotations_ms"], out["annotations_bytes"] = median(times), size
        print(f"GET annotations: {median(times):.0f} ms (median of 5), {size / 1e6:.2f} MB")

        # -- cached embedding, image switch --------------------------------------------------
        times = []
        for name in ("big2.jpg", "big.jpg") * 3:
            t = time.perf_counter()
            answer = json.loads(http("POST", base + f"api/images/{name}/embedding"))
            times.append((time.perf_counter() - t) * 1000)
            assert answer["cached"], answer
            assistant.predictor.wait_prefetch(timeout=600)
        out["cached_embedding_ms"] = median(times)
        print(f"cached embedding ready (image switch): {median(times):.0f} ms (median of 6 round trips)")

        # -- the page ------------------------------------------------------------------------
        driver = start_chromium(1400, 900)
        page = Page(driver, base)
        driver.get(base + "#big2.jpg")
        page.wait("window.edgemask && window.edgemask.ready && edgemask.state.imageName === 'big2.jpg'", 120)
        driver.set_script_timeout(300)
        page.js(INSTRUMENT)
        opens = []
        for _ in range(3):
            r = driver.execute_async_script(OPEN, "big2.jpg")
            r = driver.execute_async_script(OPEN, "big.jpg")
            if r[0] == "error" or r[1] != N_OBJECTS:
                raise SystemExit(f"opening big.jpg failed: {r}")
            opens.append(r[0])
        out["open_ms"] = median(opens)
        print(f"open image in the page (pixels + {N_OBJECTS} objects drawn): {median(opens):.0f} ms "
              f"(median of 3: {', '.join(f'{v:.0f}' for v in opens)})")
        page.wait("edgemask.state.embedding === 'ready'", 120)

        # -- save one edited object ------------------------------------------------------------
        page.keys("b")
        page.js("const o = [...edgemask.state.objects].sort((a, b) => a.z - b.z)[19];"
                "edgemask.app.setLabel(o.label_id); edgemask.app.select(o.id);")
        saves = []
        for k in range(2):
            page.js("edgemask._bench.sent = [];")
            x0, y0 = 1800 + 200 * k, 1400
            page.drag([(x0, y0), (x0 + 150, y0 + 80)], steps=3)
            page.wait(f"edgemask.history.past.length === {k + 2}", 60)
            ms = driver.execute_async_script(
                "const done = arguments[0], t = performance.now();"
                "edgemask.autosave.flush().then(() => done(performance.now() - t));")
            page.wait_saved()
            sent = page.js("return edgemask._bench.sent;")
            saves.append((ms, sum(s[2] for s in sent)))
        out["save_first_ms"], out["save_first_bytes"] = saves[0]
        out["save_next_ms"], out["save_next_bytes"] = saves[1]
        print(f"save after one object edited: first {saves[0][0]:.0f} ms ({saves[0][1] / 1e6:.2f} MB sent), "
              f"next {saves[1][0]:.0f} ms ({saves[1][1] / 1e6:.2f} MB sent)")

        # -- AI wand ---------------------------------------------------------------------------
        page.keys("s")
        clicks = []
        page.js("edgemask._bench.predictMs = [];")
        for k in range(6):
            page.js("edgemask._bench.clickAt = null; edgemask._bench.previewAt = null;"
                    "edgemask.view.canvas.addEventListener('pointerup', () => {"
                    "  edgemask._bench.clickAt = performance.now(); }, {once: true, capture: true});")
            page.js("const b = edgemask._bench, draw = edgemask.view.draw;"
                    "edgemask.view.draw = () => { draw(); if (edgemask.state.preview && !b.previewAt)"
                    " { b.previewAt = performance.now(); edgemask.view.draw = draw; } };")
            page.click(600 + 450 * k, 900 + 250 * k)
            page.wait("edgemask._bench.previewAt", 60)
            clicks.append(page.js("return edgemask._bench.previewAt - edgemask._bench.clickAt;"))
            page.keys("\ue00c")  # Escape: a new single click next
            page.wait("!edgemask.state.preview")
        clicks = clicks[1:]  # the first click also pays for one-off work
        server_ms = page.js("return edgemask._bench.predictMs;")[1:]
        out["click_ms"], out["predictor_ms"] = median(clicks), median(server_ms)
        print(f"AI wand click -> mask drawn: {median(clicks):.0f} ms (median of 5); the server's "
              f"predictor: {median(server_ms):.0f} ms; ratio {median(clicks) / median(server_ms):.1f}x")

        # -- brush and polygon smoothness ------------------------------------------------------
        for tool_key, tool in (("b", "brush"), ("p", "polygon")):
            page.keys("\ue00c", tool_key)
            page.js("const b = edgemask._bench; b.draws = []; b.moves = []; b.longtasks = [];"
                    "b.t0 = performance.now(); b.upAt = Infinity;"
                    "if (arguments[0] === 'brush') edgemask.view.canvas.addEventListener('pointerup',"
                    " () => { b.upAt = performance.now(); }, {once: true, capture: true});", tool)
            if tool == "brush":
                pts = [(500 + 140 * i, 600 + (i % 2) * 300) for i in range(20)]
                page.drag(pts, steps=3)
                page.wait("edgemask.state.save.status !== 'saving'", 60)
            else:
                for i in range(12):
                    page.hover(700 + 120 * i, 2000 - (i % 2) * 200)
                    page.click(700 + 120 * i + 30, 2000 - (i % 2) * 200)
                page.keys("\ue00c")
            time.sleep(1.0)  # long tasks are reported a little later
            stats = page.js("const b = edgemask._bench; return [b.moves.filter((m) => m[0] === arguments[0])"
                            ".map((m) => m[1]), b.draws.filter((d) => d[0] > b.t0 && d[0] < b.upAt).map((d) => d[1]),"
                            " b.longtasks.filter((l) => l[0] > b.t0 && l[0] < b.upAt).map((l) => l[1]),"
                            " b.longtasks.filter((l) => l[0] >= b.upAt).map((l) => l[1])];", tool)
            moves, draws, longs, after = stats
            out[f"{tool}_move_max_ms"], out[f"{tool}_draw_max_ms"] = max(moves), max(draws)
            out[f"{tool}_longtasks"] = len(longs)
            print(f"{tool}: longest move handler {max(moves):.1f} ms, longest redraw {max(draws):.1f} ms "
                  f"(median {median(draws):.1f}, {len(draws)} redraws); long tasks > 50 ms while painting: "
                  f"{len(longs)}" + (f" (longest {max(longs):.0f} ms)" if longs else "")
                  + (f"; at the stroke's end (commit, save): {', '.join(f'{v:.0f} ms' for v in after) or 'none'}"
                     if tool == "brush" else ""))
        page.raise_js_errors()
    finally:
        if driver is not None:
            quit_chromium(driver)
        server.close()
        assistant.predictor.close()
        app.extensions["edgemask"].store.close()

    # -- cached embedding after a restart (disk cache) ----------------------------------------
    app = create_app(config)
    assistant = app.extensions["edgemask"].assistant
    try:
        client = app.test_client()
        t = time.perf_counter()
        answer = client.post("/api/images/big.jpg/embedding").get_json()
        out["restart_cached_embedding_ms"] = (time.perf_counter() - t) * 1000
        assert answer["cached"], answer
        print(f"cached embedding ready after a restart: {out['restart_cached_embedding_ms']:.0f} ms")
    finally:
        assistant.predictor.close()
        app.extensions["edgemask"].store.close()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model folder (edgemask export output)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    out = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # onnxruntime's threads may abort a normal interpreter exit (figures are out)
