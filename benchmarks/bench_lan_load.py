"""LAN load: 8 simulated annotators on one `edgemask serve --host 0.0.0.0`, with and without the browser decoder.

    python benchmarks/bench_lan_load.py --model ~/.cache/edgemask/models/efficientvit-sam-l0-fp32
    python benchmarks/bench_lan_load.py --model DIR --seconds 60 --annotators 8 --think 1.0
    python benchmarks/bench_lan_load.py --model DIR --modes browser --paces flat --seconds 20

Starts the real server in LAN mode (bound to 0.0.0.0, with its access token; this script connects
to 127.0.0.1 only) on a folder of generated photos (--sizes, --per-size of each), encodes every
photo once (the warm-up, timed), then runs each mode at each pace for --seconds:

  server   each click is a POST predict to the server (what the page does without the browser
           decoder, and its fallback), answered in the page's compact LEB128 form;
  browser  each annotator fetches /api/decoder and its decoder .onnx files once (before the timed
           window, as a page does when the AI wand starts), and each image's embedding.bin when it
           opens the image, with If-None-Match on a revisit (a 304 carries no body: the browser's
           cache answers); clicks are decoded locally with onnxruntime on the inflated fp16
           embedding, as webui/static/decoder/worker.js does (a split decoder's per-image half once
           per image), with the prompt, the mask choice and the upscale of edgemask.runtime.

Paces: "think" clicks after a human-like pause (--think seconds, uniformly 0.5x to 1.5x), "flat"
clicks as fast as answers come. Each annotator works through the photos in turn (annotator i starts
at photo i), --objects objects per image, each a click and then --refines refinements (one more
point, the previous low-res logits as mask input). Opening an image is a POST /embedding in both
modes (the page asks the server to encode it) and is timed apart from the clicks.

Annotators are separate processes (a browser each). Printed per run: clicks/s, click latency as the
annotator sees it (p50/p95), image opens, encode requests (and how many really encoded), embedding
200s / 304s, the server's requests/s, its CPU seconds per click (/proc/PID/stat of the server
process), the latency of every answer of the server (p50/p95) and predict's own "ms", the
annotators' CPU per click, and the load average; then the bytes on the wire per image opened in each
mode (bodies only, headers left out) and the decoder bytes per annotator.

Loopback, one machine: the annotators' local decodes run on the same cores as the server, so in
browser mode they compete with it for the CPU; on a real LAN each annotator's decode runs on its own
computer's CPU, and the server's figures (CPU per click, requests/s, answer latency) carry over.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def process_cpu_s(pid) -> float:
    """User + system CPU seconds of a process, all its threads (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


# -- the server -------------------------------------------------------------------------------------
class LanServer:
    """`edgemask serve IMAGES --model DIR --host 0.0.0.0 --port 0` in a subprocess, with a known token."""

    def __init__(self, images: Path, model: str, home: Path, threads: int):
        self.token = secrets.token_urlsafe(24)
        env = dict(os.environ, EDGEMASK_HOME=str(home), EDGEMASK_TOKEN=self.token)
        cmd = [sys.executable, "-m", "edgemask", "serve", str(images), "--model", model, "--host", "0.0.0.0",
               "--port", "0", "--no-browser", "--db", str(home / "lan.sqlite"), "--threads", str(threads)]
        home.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        lines, deadline = [], time.time() + 180
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "token in it is required" in line:
                break
        text = "".join(lines)
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", text)
        if found is None or "token in it is required" not in text:
            self.close()
            raise SystemExit("edgemask serve did not start in LAN mode:\n" + text)
        self.port = int(found.group(1))
        threading.Thread(target=self._drain, daemon=True).start()  # its later output must not fill the pipe

    def _drain(self):
        for _ in self.proc.stdout:
            pass

    def cpu_s(self) -> float:
        return process_cpu_s(self.proc.pid)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Http:
    """One keep-alive connection to 127.0.0.1 (a browser's) with the bearer token; times every answer."""

    def __init__(self, port, token):
        self.port, self.headers = port, {"Authorization": f"Bearer {token}"}
        self.conn = None
        self.latencies = []
        self.requests = 0

    def request(self, method, path, body=None, headers=None):
        """-> (status, headers with lower-case names, body bytes, bytes sent)."""
        if method == "POST" and body is None:
            body = {}   # the API takes POSTs as JSON only
        data = json.dumps(body).encode() if body is not None else None
        all_headers = dict(self.headers, **({"Content-Type": "application/json"} if data else {}), **(headers or {}))
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            t = time.perf_counter()
            try:
                self.conn.request(method, path, body=data, headers=all_headers)
                resp = self.conn.getresponse()
                payload = resp.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            self.latencies.append((time.perf_counter() - t) * 1000)
            self.requests += 1
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload, len(data or b"")

    def json(self, method, path, body=None):
        status, _, payload, _ = self.request(method, path, body)
        if status != 200:
            raise RuntimeError(f"{method} {path}: {status} {payload[:300]!r}")
        return json.loads(payload)


def image_path(name):
    return "/api/images/" + quote(name)


# -- the page's decoder, in Python ------------------------------------------------------------------
class PageModel:
    """What the page knows of the model (/api/decoder's answer) under ModelFolder's names, for
    edgemask.runtime.families."""

    def __init__(self, info):
        self.name, self.family = info["model"], info["family"]
        self.prompt_frame, self.low_res_size = info["prompt_frame"], info["low_res_size"]
        self.single_mask_index = info["single_mask_index"]
        self.multimask_indices = tuple(info["multimask_indices"])
        self.mask_threshold = info["mask_threshold"]
        self.config = {"decoder": {"single_mask_fallback": info.get("single_mask_fallback"),
                                   "low_res_clamp": info.get("low_res_clamp") or 0},
                       "encoder": {"embedding_parts": info.get("embedding_parts")}}


class PageDecoder:
    """webui/static/decoder/worker.js in Python: decoder sessions from the fetched bytes, the inflated
    fp16 embedding, a split decoder's per-image half once per image, then per click the prompt, the
    decoder, the mask choice, the upscale to the image and the threshold."""

    def __init__(self, info, files: dict, threads: int):
        import onnxruntime as ort

        from edgemask.runtime.families import family_of

        self.info, self.model = info, PageModel(info)
        self.family = family_of(self.model)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.sessions = {part: ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
                         for part, data in files.items()}
        self.split = "click" in self.sessions

    def set_image(self, packed: bytes, size):
        from edgemask.webui.ai.browser_decoder import unpack_embedding

        self.embedding = unpack_embedding(packed).reshape(self.info["embedding_shape"])
        self.size = size
        self.upscaler = self.family.upscaler(size)
        self.per_image = None
        if self.split:
            names = list(self.info["split_tensors"])
            self.per_image = dict(zip(names, self.sessions["image"].run(names, {"image_embeddings": self.embedding})))

    def decode(self, points, mask_input=None):
        """points [[x, y, label]] in image pixels -> (HxW bool mask, score, 1x256x256 logits for a refine)."""
        import numpy as np

        from edgemask.runtime.engine import DECODER_OUTPUTS

        pts = np.array([p[:2] for p in points], np.float64)
        labels = np.array([p[2] for p in points], np.float64)
        coords, lbl = self.family.prompt(pts, labels, None, self.size)
        if mask_input is None and self.split:
            feeds = dict(self.per_image, point_coords=coords, point_labels=lbl)
            iou, low = self.sessions["click"].run(list(DECODER_OUTPUTS), feeds)
        else:
            n = self.model.low_res_size
            mask = np.zeros((1, 1, n, n), np.float32) if mask_input is None else mask_input.reshape(1, 1, n, n)
            iou, low = self.sessions["full"].run(list(DECODER_OUTPUTS), {
                "image_embeddings": self.embedding, "point_coords": coords, "point_labels": lbl, "mask_input": mask,
                "has_mask_input": np.array([0 if mask_input is None else 1], np.float32)})
        multimask = len(points) == 1 and mask_input is None   # as the Assistant and client.js
        low, iou = self.family.select(iou[0], low[0], multimask)
        best = int(np.argmax(iou))
        mask = self.upscaler.mask(low[best], self.model.mask_threshold)
        return mask, float(iou[best]), self.family.clamp_low_res(low[best:best + 1])


# -- one annotator ----------------------------------------------------------------------------------
def annotate(index, cfg, start_at, go, results):
    """An annotator (a process): opens images in turn and clicks on each until the deadline."""
    try:
        _annotate(index, cfg, start_at, go, results)
    except Exception as exc:  # noqa: BLE001 - the main process reports it
        results.put(("error", f"annotator {index}: {exc}"))


def _annotate(index, cfg, start_at, go, results):
    rng = random.Random(index)
    conn = Http(cfg["port"], cfg["token"])
    images = cfg["images"]
    out = {"clicks": [], "opens": [], "server_ms": [], "encode_requests": 0, "encoded": 0, "emb_200": 0,
           "emb_304": 0, "bytes": {}, "decoder_bytes": 0, "images": 0}

    def count(kind, n):
        out["bytes"][kind] = out["bytes"].get(kind, 0) + n

    decoder, cache = None, {}   # cache: image name -> (ETag, packed bytes), the browser's HTTP cache
    if cfg["mode"] == "browser":
        info = conn.json("GET", "/api/decoder")
        if not info.get("available"):
            raise RuntimeError(f"the page cannot run this model's decoder: {info.get('reason')}")
        urls = info.get("urls") or {"full": info["decoder_url"]}
        files = {}
        for part, url in urls.items():
            status, _, data, _ = conn.request("GET", url)
            if status != 200:
                raise RuntimeError(f"GET {url}: {status}")
            files[part] = data
            out["decoder_bytes"] += len(data)
        decoder = PageDecoder(info, files, cfg["client_threads"])
    results.put(("ready", index))
    go.wait()
    deadline = start_at.value + cfg["seconds"]
    cpu0 = sum(os.times()[:2])
    conn.latencies.clear()
    conn.requests = 0
    k = index
    while time.time() < deadline:
        entry = images[k % len(images)]
        k += 1
        name, w, h = entry["name"], entry["width"], entry["height"]
        t = time.perf_counter()
        answer = conn.json("POST", image_path(name) + "/embedding")   # the page asks for the encoding
        out["encode_requests"] += 1
        out["encoded"] += not answer["cached"]
        if decoder is not None:
            etag, packed = cache.get(name, (None, None))
            status, headers, data, _ = conn.request("GET", image_path(name) + "/embedding.bin",
                                                    headers={"If-None-Match": etag} if etag else None)
            if status == 200:
                out["emb_200"] += 1
                count("embedding", len(data))
                packed = data
                cache[name] = (headers.get("etag"), data)
            elif status == 304 and packed is not None:
                out["emb_304"] += 1
            else:
                raise RuntimeError(f"embedding.bin of {name}: {status} {data[:200]!r}")
            decoder.set_image(packed, (h, w))
        if time.time() < deadline:
            out["opens"].append((time.perf_counter() - t) * 1000)
            out["images"] += 1
        for _ in range(cfg["objects"]):
            points, low = [], None
            for step in range(1 + cfg["refines"]):
                if cfg["think"]:
                    time.sleep(cfg["think"] * rng.uniform(0.5, 1.5))
                if time.time() >= deadline:
                    break
                points.append([rng.uniform(0, w - 1), rng.uniform(0, h - 1), 1 if step % 2 == 0 else 0])
                t = time.perf_counter()
                if decoder is None:
                    body = {"points": points, "box": None, "refine": step > 0, "session": f"annotator{index}",
                            "mask_format": "leb128"}
                    status, _, data, sent = conn.request("POST", image_path(name) + "/predict", body)
                    if status != 200:
                        raise RuntimeError(f"predict: {status} {data[:200]!r}")
                    out["server_ms"].append(json.loads(data)["ms"])
                    count("predict", len(data) + sent)
                else:
                    _, _, low = decoder.decode(points, low)
                if time.time() <= deadline:
                    out["clicks"].append((time.perf_counter() - t) * 1000)
            if time.time() >= deadline:
                break
    out["cpu_s"] = sum(os.times()[:2]) - cpu0
    out["answers_ms"] = conn.latencies
    out["requests"] = conn.requests
    results.put(("done", out))


def _collect(results, procs, timeout):
    """The next message of the annotators; an error or a dead annotator ends the benchmark."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            kind, value = results.get(timeout=2)
        except Exception:  # noqa: BLE001 - queue.Empty
            if not any(p.is_alive() for p in procs):
                raise SystemExit("error: the annotators ended without an answer") from None
            continue
        if kind == "error":
            raise SystemExit(f"error: {value}")
        return value
    raise SystemExit("error: the annotators did not answer in time")


def run_load(server, images, mode, pace, args):
    """One timed run: the annotators' results merged, and the server's CPU seconds in the window."""
    ctx = multiprocessing.get_context("spawn")
    start_at, go, results = ctx.Value("d", 0.0), ctx.Event(), ctx.Queue()
    cfg = {"port": server.port, "token": server.token, "images": images, "mode": mode, "seconds": args.seconds,
           "think": args.think if pace == "think" else 0.0, "objects": args.objects, "refines": args.refines,
           "client_threads": args.client_threads}
    procs = [ctx.Process(target=annotate, args=(i, cfg, start_at, go, results), daemon=True)
             for i in range(args.annotators)]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            _collect(results, procs, 300)
        load_before = os.getloadavg()
        cpu0 = server.cpu_s()
        start_at.value = time.time()
        go.set()
        time.sleep(args.seconds)
        cpu1 = server.cpu_s()
        merged = [_collect(results, procs, 300) for _ in procs]
        load_after = os.getloadavg()
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
    keys = ("encode_requests", "encoded", "emb_200", "emb_304", "requests", "cpu_s", "decoder_bytes", "images")
    total = {key: sum(o[key] for o in merged) for key in keys}
    for key in ("clicks", "opens", "server_ms", "answers_ms"):
        total[key] = [v for o in merged for v in o[key]]
    total["bytes"] = {}
    for o in merged:
        for kind, n in o["bytes"].items():
            total["bytes"][kind] = total["bytes"].get(kind, 0) + n
    total["server_cpu_s"] = cpu1 - cpu0
    total["load"] = (load_before[0], load_after[0])
    return total


def report(mode, pace, r, seconds):
    clicks = len(r["clicks"])
    per = max(clicks, 1)
    own = (f"; predict's own ms p50 {percentile(r['server_ms'], .5):.0f}, p95 {percentile(r['server_ms'], .95):.0f}"
           if r["server_ms"] else "")
    print(f"{mode:7s} {pace:5s}: {clicks / seconds:6.1f} clicks/s ({clicks} clicks, {r['images']} image opens); "
          f"click p50 {percentile(r['clicks'], .5):.0f} ms, p95 {percentile(r['clicks'], .95):.0f} ms; "
          f"open p50 {percentile(r['opens'], .5):.0f} ms, p95 {percentile(r['opens'], .95):.0f} ms")
    print(f"{'':15s}server: {r['requests'] / seconds:.1f} requests/s, {r['server_cpu_s']:.1f} CPU s "
          f"= {r['server_cpu_s'] / per * 1000:.0f} CPU ms per click; its answers p50 "
          f"{percentile(r['answers_ms'], .5):.0f} ms, p95 {percentile(r['answers_ms'], .95):.0f} ms{own}")
    emb = f"; embedding.bin {r['emb_200']} x 200, {r['emb_304']} x 304" if mode == "browser" else ""
    print(f"{'':15s}encode requests {r['encode_requests']} (encoded {r['encoded']}){emb}; annotators "
          f"{r['cpu_s']:.1f} CPU s = {r['cpu_s'] / per * 1000:.0f} CPU ms per click; "
          f"load average {r['load'][0]:.2f} -> {r['load'][1]:.2f}")


def wire(mode, pace, r, annotators):
    opened = max(r["images"], 1)
    if mode == "server":
        return (f"wire, server  {pace:5s}: {r['bytes'].get('predict', 0) / opened / 1e3:.1f} kB per image opened "
                f"(predict requests + LEB128 answers, {len(r['clicks']) / opened:.1f} clicks each)")
    return (f"wire, browser {pace:5s}: {r['bytes'].get('embedding', 0) / opened / 1e3:.1f} kB per image opened "
            f"(embedding.bin; {r['emb_304']} of {r['emb_200'] + r['emb_304']} fetches answered 304, no body); "
            f"decoder files {r['decoder_bytes'] / max(annotators, 1) / 1e6:.1f} MB per annotator, once "
            "(before the timed window; the browser keeps them by ETag)")


def make_photos(folder: Path, sizes: str, per_size: int) -> None:
    import cv2

    from bench_page_click import photo

    folder.mkdir(parents=True)
    for s, size in enumerate(sizes.split(",")):
        w, h = map(int, size.lower().split("x"))
        for i in range(per_size):
            cv2.imwrite(str(folder / f"photo_{w}x{h}_{i}.jpg"), photo(w, h, 100 * s + i),
                        [cv2.IMWRITE_JPEG_QUALITY, 90])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model folder (edgemask export output) the server loads")
    parser.add_argument("--annotators", type=int, default=8, help="simulated annotators (default 8)")
    parser.add_argument("--seconds", type=float, default=40, help="timed seconds per mode and pace (default 40)")
    parser.add_argument("--modes", default="server,browser",
                        help="comma list of server (predict on the server) and browser (decoder in the page)")
    parser.add_argument("--paces", default="think,flat", help="comma list of think and flat (default both)")
    parser.add_argument("--think", type=float, default=1.0,
                        help="mean seconds between a person's clicks at the think pace (default 1.0)")
    parser.add_argument("--objects", type=int, default=3, help="objects clicked per image (default 3)")
    parser.add_argument("--refines", type=int, default=2, help="refinement clicks per object (default 2)")
    parser.add_argument("--sizes", default="1920x1080,4000x3000", help="photo sizes WxH (default 1920x1080,4000x3000)")
    parser.add_argument("--per-size", type=int, default=4, help="photos of each size (default 4)")
    parser.add_argument("--client-threads", type=int, default=1,
                        help="onnxruntime threads of each annotator's decoder (default 1)")
    parser.add_argument("--server-threads", type=int, default=8, help="the web server's request threads (default 8)")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    paces = [p for p in args.paces.split(",") if p]
    if set(modes) - {"server", "browser"} or set(paces) - {"think", "flat"}:
        parser.error("--modes takes server and browser, --paces think and flat")

    from bench_browser_decoder import cpu_model

    tmp = Path(tempfile.mkdtemp(prefix="edgemask-lan-"))
    make_photos(tmp / "images", args.sizes, args.per_size)
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; load average {os.getloadavg()[0]:.2f} at the start")
    t = time.perf_counter()
    server = LanServer(tmp / "images", args.model, tmp / "home", args.server_threads)
    try:
        conn = Http(server.port, server.token)
        model = conn.json("GET", "/api/model")
        images = conn.json("GET", "/api/images")["images"]
        print(f"server: edgemask serve --host 0.0.0.0 (token required), reached at 127.0.0.1:{server.port}, up in "
              f"{time.perf_counter() - t:.1f} s; model {model.get('name', '?')}; {len(images)} photos ({args.sizes})")
        info = conn.json("GET", "/api/decoder")
        cpu0, t = server.cpu_s(), time.perf_counter()
        packed = []
        for entry in images:   # the warm-up: every photo encoded once, as the first annotator to open it would
            conn.json("POST", image_path(entry["name"]) + "/embedding")
            if info.get("available"):
                status, _, data, _ = conn.request("GET", image_path(entry["name"]) + "/embedding.bin")
                if status == 200:
                    packed.append(len(data))
        print(f"warm-up: {len(images)} photos encoded in {time.perf_counter() - t:.1f} s "
              f"({server.cpu_s() - cpu0:.1f} server CPU s)")
        if not info.get("available"):
            print(f"the browser decoder is not available: {info.get('reason')}")
            modes = [m for m in modes if m != "browser"]
        elif packed:
            values = 1
            for d in info["embedding_shape"]:
                values *= d
            print(f"embedding.bin: {min(packed) / 1e6:.2f} to {max(packed) / 1e6:.2f} MB per image "
                  f"({info['embedding_format']}; raw float32 {4 * values / 1e6:.2f} MB)")
        print(f"{args.annotators} annotators, {args.seconds:.0f} s per run; think pace {args.think:.1f} s "
              f"(0.5x to 1.5x) between clicks; {args.objects} objects per image, 1 click + {args.refines} "
              f"refinements each; annotators' decoder on {args.client_threads} onnxruntime thread(s)")
        lines = []
        for mode in modes:
            for pace in paces:
                time.sleep(3)   # the previous run's processes gone
                r = run_load(server, images, mode, pace, args)
                report(mode, pace, r, args.seconds)
                lines.append(wire(mode, pace, r, args.annotators))
        print("\n".join(lines))
        print(f"loopback on one machine: in browser mode the annotators' local decodes run on the same "
              f"{os.cpu_count()} CPUs as the server and compete with it; on a real LAN each annotator decodes on "
              "its own computer, and the server's figures (CPU ms per click, requests/s, answer latency) carry over.")
    finally:
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
