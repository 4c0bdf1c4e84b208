"""Time and peak memory of refusing small "bomb" files, and the cost of checking model files.

    python benchmarks/bench_hostile_input.py [--model DIR]

Bombs (made here, as in tests/webui/test_hostile_files.py): a COCO file of a few hundred bytes
declaring a 100000x100000 image and RLE, a CVAT XML declaring the same, and a 1-bit PNG of about
110 kB declaring 30000x30000 pixels, sent as an object mask, to /api/polygonize, and put in the
images folder. Each runs in a fresh subprocess that reports its own peak RSS (ru_maxrss), which
includes the interpreter and imported libraries (~65 MB here).

With --model, also the time to load a model folder with its files checked against model.json's
sha256: the first load hashes them, later loads find the result by (path, size, mtime).
"""

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "webui")]

from test_hostile_files import BIG, CHILD, png_bomb  # noqa: E402


def _child(job) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(job), capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0:
        return {"results": [{"name": s[0], "seconds": float("nan"), "outcome": f"exit {proc.returncode}"}
                            for s in job["steps"]], "peak_mb": float("nan")}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bombs(tmp: Path) -> list:
    import base64

    import cv2
    import numpy as np

    images = tmp / "images"
    images.mkdir()
    cv2.imwrite(str(images / "square.png"), np.zeros((48, 64, 3), np.uint8))
    coco = tmp / "bomb.json"
    coco.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "square.png", "width": BIG, "height": BIG}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                         "segmentation": {"size": [BIG, BIG], "counts": "0" + "P" * 100}}]}))
    cvat = tmp / "bomb.xml"
    cvat.write_text(f'<annotations><image id="0" name="square.png" width="{BIG}" height="{BIG}">'
                    f'<mask label="x" left="0" top="0" width="{BIG}" height="{BIG}" '
                    f'rle="0, 2500000000, 2500000000, 2500000000, 2500000000"/></image></annotations>')
    png = png_bomb(tmp / "bomb.png")
    url = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    png_bomb(images / "huge.png")
    cases = [
        (f"COCO import ({coco.stat().st_size} B)", "cli",
         ["dataset", "import", str(images), "--format", "coco", "--file", str(coco)]),
        (f"CVAT XML import ({cvat.stat().st_size} B)", "cli",
         ["dataset", "import", str(images), "--format", "cvat-xml", "--file", str(cvat)]),
        (f"PNG mask in PUT annotations ({png.stat().st_size // 1000} kB)", "http",
         ["PUT", "/api/images/square.png/annotations",
          {"version": 0, "objects": [{"id": "a", "label_id": 1, "kind": "mask", "mask": url}]}]),
        ("PNG mask to /api/polygonize", "http", ["POST", "/api/polygonize", {"mask": url}]),
        ("PNG in the images folder, wand on it", "http", ["POST", "/api/images/huge.png/wand", {"x": 1, "y": 1}]),
    ]
    rows = []
    for number, (name, kind, args) in enumerate(cases):
        report = _child({"images": str(images), "db": str(tmp / f"db{number}.sqlite"),
                         "steps": [[name, kind, args]]})
        result = report["results"][0]
        outcome = result["outcome"]
        summary = (f"exit {outcome['code']}" if isinstance(outcome, dict) and "code" in outcome
                   else f"HTTP {outcome['status']}" if isinstance(outcome, dict) and "status" in outcome
                   else str(outcome)[:40])
        rows.append((name, result["seconds"], report["peak_mb"], summary))
    return rows


LOAD = r"""
import sys, time
from edgemask.runtime.model_folder import load_model_folder
start = time.perf_counter()
load_model_folder(sys.argv[1])
print(time.perf_counter() - start)
"""


def model_check(model: Path, tmp: Path) -> list:
    import os

    env = {**os.environ, "EDGEMASK_HOME": str(tmp / "home")}
    size = sum(f.stat().st_size for f in model.iterdir() if f.suffix == ".onnx" or ".onnx" in f.name)
    out = []
    for label in ("first load (hashes the files)", "second load (cached by path, size, mtime)"):
        proc = subprocess.run([sys.executable, "-c", LOAD, str(model)], capture_output=True, text=True,
                              env=env, check=True)
        out.append((label, float(proc.stdout.strip()), size))
    return out


def concurrent_masks(tmp: Path, side: int, count: int = 8) -> tuple:
    """RSS growth (VmHWM - VmRSS at start, MB) of a real `edgemask serve` while `count` polygonize
    requests for a side x side all-ones box-runs mask run at once, and their status codes."""
    import threading
    import urllib.error
    import urllib.request

    import importlib.util

    import cv2
    import numpy as np

    spec = importlib.util.spec_from_file_location("webui_conftest", ROOT / "tests" / "webui" / "conftest.py")
    webui_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(webui_conftest)
    start_serve = webui_conftest.start_serve
    images = tmp / f"images-{side}"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.zeros((8, 8, 3), np.uint8))
    proc, port, _ = start_serve([images, "--db", tmp / f"s-{side}.sqlite", "--no-model"], tmp)

    def status(key):
        return int(next(line.split()[1] for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                        if line.startswith(key))) / 1024

    before = status("VmRSS:")
    body = json.dumps({"mask": {"box": [0, 0, side, side], "runs": [0, side * side]}}).encode()
    codes = []

    def one():
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/polygonize", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=600) as resp:
                codes.append(resp.status)
        except urllib.error.HTTPError as exc:
            codes.append(exc.code)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    grown = status("VmHWM:") - before
    proc.terminate()
    proc.wait(timeout=30)
    return grown, sorted(codes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a model folder to time the sha256 check on")
    args = parser.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine()) if Path("/proc/cpuinfo").exists() else platform.machine()
    print(f"machine: {cpu}, python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="edgemask-bench-hostile-") as tmp:
        print("\n| bomb | refused in | peak RSS | answer |\n|---|---|---|---|")
        for name, seconds, peak, summary in bombs(Path(tmp)):
            print(f"| {name} | {seconds * 1000:.0f} ms | {peak:.0f} MB | {summary} |")
        print("\n| 8 concurrent polygonize requests (all-ones box-runs mask) | serve's RSS growth | answers |\n|---|---|---|")
        for side in (11585, 4000, 10000):
            grown, codes = concurrent_masks(Path(tmp), side)
            print(f"| {side}x{side} ({len(json.dumps([0, side * side])) + 40} bytes each) | {grown:.0f} MB | {codes} |")
        if args.model:
            print(f"\n| {args.model.name} | time |\n|---|---|")
            for label, seconds, size in model_check(args.model, Path(tmp)):
                print(f"| {label}, {size / 2**20:.0f} MB of ONNX | {seconds * 1000:.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
