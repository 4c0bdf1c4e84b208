"""Times AI-wand clicks through the web API: what a user waits for between click and mask.

    python benchmarks/bench_webui_click.py --model ~/.cache/edgemask/models/efficientvit-sam-l0-fp32
    python benchmarks/bench_webui_click.py --model DIR --images photos/ --http --n 100

Starts the app (Flask's in-process test client, or with --http waitress on 127.0.0.1 and real
HTTP requests), sets one image (/embedding, cold, then warm), then sends N predict requests:
single clicks (multimask, best mask) and refinements (two points + the previous logits). Prints
median and p90 in ms of the whole request as the client sees it (JSON, PNG encoding included)
and of the server's own "ms" (the predictor call). The embedding cache lives in a temporary
EDGEMASK_HOME so the first /embedding is a real encoder run.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path


def percentile(values, q):
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class InProcess:
    def __init__(self, app):
        self.client = app.test_client()

    def post(self, path, body=None):
        resp = self.client.post(path, json=body if body is not None else {})
        if resp.status_code != 200:
            raise SystemExit(f"{path}: {resp.status_code} {resp.get_data(as_text=True)}")
        return resp.get_json()

    def get(self, path):
        return self.client.get(path).get_json()

    def close(self):
        pass


class OverHttp:
    def __init__(self, app):
        import waitress

        self.server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
        self.base = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def post(self, path, body=None):
        req = urllib.request.Request(self.base + path, data=json.dumps(body or {}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=600) as resp:
            return json.loads(resp.read())

    def get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=60) as resp:
            return json.loads(resp.read())

    def close(self):
        pass  # the server thread is a daemon and ends with the script (closing it mid-loop races)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model folder (edgemask export output)")
    parser.add_argument("--images", help="folder of images (default: the generated demo images)")
    parser.add_argument("--image", help="image name in the folder to click on (default: the first)")
    parser.add_argument("--n", type=int, default=50, help="predict requests per kind (default 50)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests first (default 3)")
    parser.add_argument("--device", default="auto", help="runtime device (default auto)")
    parser.add_argument("--http", action="store_true", help="real HTTP through waitress instead of the test client")
    parser.add_argument("--pause", type=float, default=0.15,
                        help="seconds between requests, as a person clicks (default 0.15; 0 = back to back, "
                        "where onnxruntime threads still spinning from the previous request slow the next)")
    args = parser.parse_args(argv)

    home = tempfile.mkdtemp(prefix="edgemask-bench-")
    os.environ["EDGEMASK_HOME"] = home
    from edgemask.webui import create_app
    from edgemask.webui.samples import ensure_samples

    images = Path(args.images) if args.images else ensure_samples()
    db = Path(home) / "bench.sqlite"
    t0 = time.perf_counter()
    app = create_app({"IMAGES_DIR": str(images), "MODEL_DIR": args.model, "DEVICE": args.device,
                      "DB_PATH": str(db)})
    load_s = time.perf_counter() - t0
    assistant = app.extensions["edgemask"].assistant
    if not assistant.loaded:
        print(f"error: {assistant.message}", file=sys.stderr)
        return 2
    client = OverHttp(app) if args.http else InProcess(app)
    try:
        listing = client.get("/api/images")["images"]
        entry = next((i for i in listing if i["name"] == args.image), None) if args.image else listing[0]
        if entry is None:
            print(f"error: no image {args.image!r} in {images}", file=sys.stderr)
            return 2
        name, w, h = entry["name"], entry["width"], entry["height"]
        predictor = assistant.predictor
        print(f"model {assistant.name} on {getattr(predictor, 'device', '?')}, loaded in {load_s:.1f} s; "
              f"image {name} {w}x{h}; {'HTTP (waitress)' if args.http else 'in-process test client'}")

        t = time.perf_counter()
        cold = client.post(f"/api/images/{name}/embedding")
        cold_ms = (time.perf_counter() - t) * 1000
        if hasattr(predictor, "wait_prefetch"):
            predictor.wait_prefetch(timeout=600)  # prefetch of the next images must not overlap the clicks
        t = time.perf_counter()
        warm = client.post(f"/api/images/{name}/embedding")
        warm_ms = (time.perf_counter() - t) * 1000
        print(f"embedding: cold {cold_ms:.1f} ms (server {cold['ms']:.1f}, cached={cold['cached']}), "
              f"warm {warm_ms:.1f} ms (cached={warm['cached']})")

        import numpy as np

        rng = np.random.default_rng(0)

        def click_body(i, refine):
            x, y = float(rng.uniform(0, w - 1)), float(rng.uniform(0, h - 1))
            points = [[x, y, 1]]
            if refine:
                points.append([float(rng.uniform(0, w - 1)), float(rng.uniform(0, h - 1)), 0])
            return {"points": points, "box": None, "refine": refine, "session": "bench"}

        for kind, refine in (("click", False), ("refine", True)):
            for i in range(args.warmup):
                client.post(f"/api/images/{name}/predict", click_body(i, refine))
            wall, server = [], []
            for i in range(args.n):
                if refine:  # the refinement follows a click in the same session
                    time.sleep(args.pause)
                    client.post(f"/api/images/{name}/predict", click_body(i, False))
                body = click_body(i, refine)
                time.sleep(args.pause)
                t = time.perf_counter()
                answer = client.post(f"/api/images/{name}/predict", body)
                wall.append((time.perf_counter() - t) * 1000)
                server.append(answer["ms"])
            print(f"predict {kind:6s} n={args.n}: request median {statistics.median(wall):.1f} ms, "
                  f"p90 {percentile(wall, 0.9):.1f} ms; predictor median {statistics.median(server):.1f} ms, "
                  f"p90 {percentile(server, 0.9):.1f} ms")
    finally:
        client.close()
        if hasattr(assistant.predictor, "close"):
            assistant.predictor.close()
        app.extensions["edgemask"].store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
