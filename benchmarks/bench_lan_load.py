"""A team on one annotator server (LAN mode's load), on loopback: clicks served per second and p95 click
latency, with the server's predict and with the decoder in the browser.

    python benchmarks/bench_lan_load.py --model DIR [--annotators 8] [--images 2] [--clicks 12]

Starts the real `edgemask serve IMAGES --model DIR` (a subprocess, 127.0.0.1, a fresh embedding cache).
Each simulated annotator opens its own images in turn (POST /embedding, as the page does) and clicks
on each: a first point, then refinements with one more point.
- server: every click is POST /predict (the server's decoder, under its one lock);
- browser: per image one GET /embedding.bin (fp16, deflated) and the clicks decoded by the annotator
  itself: decoder.onnx with onnxruntime on the unpacked embedding, the work the page's worker does.
  Here the "annotators' computers" share this machine's cores with the server, so these latencies
  are pessimistic; on a LAN each annotator decodes on their own CPU and the server only encodes.
Prints clicks/s over the whole run, and median / p95 of the click latency each annotator saw.
"""

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "webui")]


def http(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=600) as resp:
        return resp.read(), resp.headers


class LocalDecoder:
    """What the page's worker does with a packed embedding, in onnxruntime on this machine."""

    def __init__(self, model_dir: Path):
        import onnxruntime as ort

        from edgemask.runtime.families import family_of
        from edgemask.runtime.model_folder import load_model_folder

        self.model = load_model_folder(model_dir)
        self.family = family_of(self.model)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.model.decoder_path), options, providers=["CPUExecutionProvider"])

    def click(self, embedding, size, points, mask_input):
        import numpy as np

        pts = np.asarray([p[:2] for p in points], np.float64)
        labels = np.asarray([p[2] for p in points], np.float64)
        coords, lbl = self.family.prompt(pts, labels, None, size)
        n = self.model.low_res_size
        feeds = {"image_embeddings": embedding, "point_coords": coords, "point_labels": lbl,
                 "mask_input": mask_input if mask_input is not None else np.zeros((1, 1, n, n), np.float32),
                 "has_mask_input": np.array([0.0 if mask_input is None else 1.0], np.float32)}
        iou, low = self.session.run(["iou_predictions", "low_res_masks"], feeds)
        multimask = len(points) == 1 and mask_input is None
        low, iou = self.family.select(iou[0], low[0], multimask)
        best = int(np.argmax(iou))
        self.family.upscaler(size).mask(low[best], self.model.mask_threshold)
        return low[best:best + 1].reshape(1, 1, n, n)


def annotator(base, names, clicks, decoder, seed, latencies, errors):
    import random

    import numpy as np

    from edgemask.webui.ai.browser_decoder import unpack_embedding

    rng = random.Random(seed)
    try:
        for name in names:
            http(base, "POST", f"/api/images/{name}/embedding", {})
            if decoder is not None:
                data, headers = http(base, "GET", f"/api/images/{name}/embedding.bin")
                h, w = (int(v) for v in headers["X-Edgemask-Image-Size"].split())
                embedding = unpack_embedding(data).reshape(decoder.model.embedding_shape)
            else:
                w, h = 1280, 960
            points, low = [], None
            for i in range(clicks):
                points.append([rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h, 1 if i % 3 != 2 else 0])
                t = time.perf_counter()
                if decoder is None:
                    http(base, "POST", f"/api/images/{name}/predict",
                         {"points": points, "refine": i > 0, "session": f"a{seed}"})
                else:
                    low = decoder.click(embedding, (h, w), points, None if i == 0 else np.asarray(low, np.float32))
                latencies.append((time.perf_counter() - t) * 1000)
    except Exception as exc:  # noqa: BLE001 - reported with the figures
        errors.append(f"annotator {seed}: {exc}")


def run(base, images, annotators, clicks, decoder):
    latencies, errors, threads = [], [], []
    per = len(images) // annotators
    start = time.perf_counter()
    for a in range(annotators):
        names = images[a * per:(a + 1) * per]
        threads.append(threading.Thread(target=annotator, args=(base, names, clicks, decoder, a, latencies, errors)))
        threads[-1].start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies, errors


def p95(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--annotators", type=int, default=8)
    parser.add_argument("--images", type=int, default=2, help="images per annotator")
    parser.add_argument("--clicks", type=int, default=12, help="clicks per image")
    args = parser.parse_args(argv)

    import cv2

    from bench_browser_decoder import cpu_model
    from synthetic import synthetic_image
    from webui_util import start_serve

    print(f"CPU: {cpu_model()}; {args.annotators} annotators x {args.images} images x {args.clicks} clicks, "
          f"1280x960 photos, {args.model.name}")
    decoder = LocalDecoder(args.model)
    for mode in ("server", "browser"):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            root = tmp / "images"
            root.mkdir()
            names = []
            for i in range(args.annotators * args.images):
                names.append(f"photo{i:02d}.jpg")
                cv2.imwrite(str(root / names[-1]), cv2.cvtColor(synthetic_image(960, 1280, seed=i), cv2.COLOR_RGB2BGR))
            proc, port, _ = start_serve([root, "--model", args.model, "--device", "cpu"], tmp)
            try:
                wall, latencies, errors = run(f"http://127.0.0.1:{port}", names, args.annotators, args.clicks,
                                              decoder if mode == "browser" else None)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        for e in errors:
            print("  error:", e)
        if latencies:
            print(f"  {mode:7s} decoder: {len(latencies) / wall:5.1f} clicks/s over {wall:.1f} s (encoding included); "
                  f"click latency median {statistics.median(latencies):.0f} ms, p95 {p95(latencies):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
