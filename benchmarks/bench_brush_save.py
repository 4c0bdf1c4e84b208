"""Bytes and milliseconds per brush / eraser stroke save on a 4000x3000 photo, in headless Chromium.

    python benchmarks/bench_brush_save.py [--size 4000x3000] [--strokes 8]

Serves a generated photo (waitress on 127.0.0.1) with one stored mask object of ragged blobs
(about 1.2 MB of box-runs JSON, like a speckled AI-wand mask), opens the page, selects that
object and paints strokes with the brush and the eraser through the page's own tools. After each
stroke it times the save (autosave's flush: encoding the change, the PATCH, the server applying
and storing it) and records the request's bytes, twice: whole-mask saves (the page before
"paint", autosave.setPaintSaves(false)) and stroke-box saves. Prints medians per stroke and
checks that both ways store the same mask as the page shows.
"""

import argparse
import shutil
import json
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "webui"))

from browser_util import LiveServer, Page, quit_chromium, start_chromium  # noqa: E402

# Paints one stroke with the page's brush or eraser tool (mouse down, moves, up), then saves at
# once; answers [stroke ms, save ms, bytes sent, save status, ms until the answer's headers].
STROKE = """
const [tool, pts, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
(async () => {
  const em = window.edgemask, t = em.tools[tool];
  window._bytes = 0; window._requestMs = 0;
  const ev = { button: 0, clientX: 0, clientY: 0, altKey: false, shiftKey: false, preventDefault() {} };
  const t0 = performance.now();
  t.down(ev, pts[0]);
  for (const p of pts.slice(1)) t.move(ev, p);
  t.up(ev, pts[pts.length - 1]);
  const t1 = performance.now();
  await em.autosave.flush();
  const t2 = performance.now();
  done([t1 - t0, t2 - t1, window._bytes, em.state.save.status, window._requestMs]);
})();
"""

COUNT_BYTES = """
if (!window._counting) {
  window._counting = true;
  const f = window.fetch;
  window.fetch = (url, init) => {
    if (!init || !init.body) return f(url, init);
    window._bytes += init.body.length;
    const t = performance.now();
    return f(url, init).then((r) => { window._requestMs += performance.now() - t; return r; });
  };
}
"""


def http(method, url, body=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def ragged_mask(w, h, features=200, seed=0):
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    field = cv2.resize(rng.random((features * h // w, features)).astype(np.float32), (w, h),
                       interpolation=cv2.INTER_CUBIC)
    mask = field > 0.5
    mask[: h // 10] = False  # room above for strokes that grow it
    return mask


def strokes(w, h, n, seed=1):
    """n strokes of a few hundred pixels each, as a person paints at fit zoom."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x, y = rng.uniform(0.1 * w, 0.8 * w), rng.uniform(0.05 * h, 0.8 * h)
        dx, dy = rng.uniform(150, 400), rng.uniform(-150, 150)
        out.append([[x + dx * k / 12, y + dy * k / 12 + 20 * np.sin(k)] for k in range(13)])
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="4000x3000", help="photo size WxH (default 4000x3000)")
    parser.add_argument("--strokes", type=int, default=8, help="strokes per tool and way (default 8)")
    parser.add_argument("--brush", type=int, default=40, help="brush size in image px (default 40)")
    args = parser.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))

    import cv2
    import numpy as np

    from edgemask.runtime.shapes import box_runs_to_mask, mask_to_box_runs
    from edgemask.webui import create_app

    tmp = Path(tempfile.mkdtemp(prefix="edgemask-bench-brush-"))
    (tmp / "images").mkdir()
    rng = np.random.default_rng(0)
    photo = cv2.resize(rng.integers(0, 255, (h // 16, w // 16, 3), dtype=np.uint8), (w, h))
    cv2.imwrite(str(tmp / "images" / "photo.jpg"), photo)
    start = ragged_mask(w, h)
    value = mask_to_box_runs(start)
    server = LiveServer(create_app({"IMAGES_DIR": str(tmp / "images"), "DB_PATH": str(tmp / "a.sqlite")}))
    base = server.url
    url = base + "api/images/photo.jpg/annotations"
    label = http("GET", base + "api/labels")["labels"][0]["id"]
    print(f"photo {w}x{h}; stored mask: {len(value['runs'])} runs, "
          f"{len(json.dumps(value)) / 1e6:.2f} MB as JSON; brush {args.brush} px; {args.strokes} strokes per tool")
    driver = start_chromium(1400, 900)
    results = {}
    try:
        for way, paint in (("whole mask", False), ("stroke box", True)):
            http("PUT", url, {"version": http("GET", url)["version"], "objects": [
                {"id": "m", "label_id": label, "kind": "mask", "mask": value}]})
            page = Page(driver, base).open()
            page.js(COUNT_BYTES + f"edgemask.autosave.setPaintSaves({str(paint).lower()});"
                    f"edgemask.app.setLabel({label}); edgemask.app.select('m'); edgemask.state.brushSize = {args.brush};")
            for tool in ("brush", "eraser"):
                page.js("edgemask.app.setTool(arguments[0]); edgemask.app.select('m');", tool)
                rows = []
                for pts in strokes(w, h, args.strokes, seed=2 if tool == "eraser" else 1):
                    stroke_ms, save_ms, sent, status, request_ms = page.driver.execute_async_script(STROKE, tool, pts)
                    if status != "saved":
                        raise SystemExit(f"the save did not succeed: {status}")
                    rows.append((stroke_ms, save_ms, sent, request_ms))
                results[way, tool] = rows
            shown = page.js("return edgemask.maskToDataURL(edgemask.state.objects[0].canvas);")
            stored = box_runs_to_mask(http("GET", url)["objects"][0]["mask"], h, w)
            import base64

            png = cv2.imdecode(np.frombuffer(base64.b64decode(shown.split(",", 1)[1]), np.uint8),
                               cv2.IMREAD_UNCHANGED)
            if not np.array_equal(png[..., 3] > 0, stored):
                raise SystemExit(f"{way}: the stored mask differs from the page's")
    finally:
        quit_chromium(driver)
        server.close()
        server.app.extensions["edgemask"].store.close()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{'save':12s} {'tool':7s} {'bytes/stroke':>14s} {'save ms':>9s} {'p90 ms':>8s} {'request ms':>11s} {'stroke ms':>10s}")
    for (way, tool), rows in results.items():
        saves = sorted(r[1] for r in rows)
        print(f"{way:12s} {tool:7s} {statistics.median(r[2] for r in rows):14,.0f} "
              f"{statistics.median(saves):9.1f} {saves[int(0.9 * (len(saves) - 1))]:8.1f} "
              f"{statistics.median(r[3] for r in rows):11.1f} "
              f"{statistics.median(r[0] for r in rows):10.1f}")
    print("stored masks equal the page's after both ways")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
