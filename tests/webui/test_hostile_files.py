"""Decompression bombs: small files that declare huge sizes are refused before decoding.

Each bomb runs in a subprocess (with a 4 GB address-space cap, so a regression fails instead of
swapping the machine) that reports its own peak memory; every bomb must be refused with a
clear message in < 20 s and < 1 GB peak.
"""

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

PEAK_LIMIT_MB = 1024
TIME_LIMIT_S = 20
BIG = 100_000  # a 100000 x 100000 image: 10^10 pixels


def coco_rle_string(counts) -> str:
    """COCO's compressed RLE string of uncompressed runs (as pycocotools' rleToString)."""
    out = []
    for i, c in enumerate(counts):
        x = c - counts[i - 2] if i > 2 else c
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = not ((x == 0 and not ch & 0x10) or (x == -1 and ch & 0x10))
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def png_bomb(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A 1-bit grey PNG of width x height black pixels, written row by row (about 110 kB)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


CHILD = r"""
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
job = json.loads(sys.stdin.read())
results = []

def timed(name, fn):
    start = time.perf_counter()
    try:
        outcome = fn()
    except Exception as exc:
        outcome = {"error": type(exc).__name__, "message": str(exc)}
    results.append({"name": name, "seconds": time.perf_counter() - start, "outcome": outcome})

def cli(*args):
    import contextlib, io
    from edgemask.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(list(args))
    return {"code": code, "stderr": err.getvalue()}

def app_client():
    from edgemask.webui import create_app
    class Predictor:
        def set_image(self, rgb):
            self.shape = rgb.shape
    app = create_app({"IMAGES_DIR": job["images"], "PREDICTOR": Predictor(), "DB_PATH": job["db"]})
    client = app.test_client()
    client.environ_base["HTTP_X_EDGEMASK"] = "1"
    return client

def http(client, method, url, body=None):
    resp = client.open(url, method=method, json=body)
    return {"status": resp.status_code, "body": resp.get_json()}

for name, kind, args in job["steps"]:
    if kind == "cli":
        timed(name, lambda: cli(*args))
    elif kind == "import_dataset":
        from edgemask.webui import formats as dataset
        timed(name, lambda: (dataset.import_dataset(*args), "imported")[1])
    elif kind == "http":
        client = app_client()
        timed(name, lambda: http(client, *args))
def peak_mb():
    # VmHWM is this process image's own peak; ru_maxrss also counts the RSS of the parent at fork
    # (pytest, holding models: GBs), which Linux carries over exec
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"results": results, "peak_mb": peak_mb()}))
"""


def run_child(tmp_path, images_dir, steps) -> tuple:
    job = {"images": str(images_dir), "db": str(tmp_path / "bomb.sqlite"), "steps": steps}
    proc = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(job), capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["peak_mb"] < PEAK_LIMIT_MB, report
    for result in report["results"]:
        assert result["seconds"] < TIME_LIMIT_S, result
    return {r["name"]: r["outcome"] for r in report["results"]}, report["peak_mb"]


def _assert_one_line_refusal(outcome, *words):
    assert outcome["code"] == 2, outcome
    line = outcome["stderr"].strip()
    assert "\n" not in line, line
    for word in words:
        assert word in line, line


def test_coco_bombs(images_dir, tmp_path):
    big = {"images": [{"id": 1, "file_name": "square.png", "width": BIG, "height": BIG}],
           "categories": [{"id": 1, "name": "x"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                            "segmentation": {"size": [BIG, BIG], "counts": "0" + "P" * 100}}]}
    bomb = tmp_path / "bomb.json"
    bomb.write_text(json.dumps(big))
    assert bomb.stat().st_size < 400
    # the declared size is right, the RLE's is not
    wrong_rle = json.loads(json.dumps(big))
    wrong_rle["images"][0].update(width=64, height=48)
    (tmp_path / "wrong_rle.json").write_text(json.dumps(wrong_rle))
    # all sizes right, but the runs cover 4e9 pixels of a 64x48 box
    long_runs = json.loads(json.dumps(wrong_rle))
    long_runs["annotations"][0]["segmentation"] = {"size": [48, 64], "counts": coco_rle_string([0, 4_000_000_000])}
    (tmp_path / "long_runs.json").write_text(json.dumps(long_runs))
    outcomes, peak = run_child(tmp_path, images_dir, [
        ("cli", "cli", ["dataset", "import", str(images_dir), "--format", "coco", "--file", str(bomb)]),
        ("direct", "import_dataset", ["coco", str(bomb)]),
        ("wrong_rle", "cli", ["dataset", "import", str(images_dir), "--format", "coco",
                              "--file", str(tmp_path / "wrong_rle.json")]),
        ("long_runs", "cli", ["dataset", "import", str(images_dir), "--format", "coco",
                              "--file", str(tmp_path / "long_runs.json")]),
    ])
    _assert_one_line_refusal(outcomes["cli"], "100000x100000")
    assert outcomes["direct"]["error"] == "ValueError" and "megapixels" in outcomes["direct"]["message"]
    _assert_one_line_refusal(outcomes["wrong_rle"], "RLE size [100000, 100000] differs")
    _assert_one_line_refusal(outcomes["long_runs"], "cover 4000000000 pixels")
    print(f"coco bombs: peak {peak:.0f} MB")


def test_cvat_bombs(images_dir, tmp_path):
    runs = ", ".join(["0"] + ["2500000000"] * 4)
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(f'<annotations><image id="0" name="square.png" width="{BIG}" height="{BIG}">'
                    f'<mask label="x" left="0" top="0" width="{BIG}" height="{BIG}" rle="{runs}"/>'
                    "</image></annotations>")
    assert bomb.stat().st_size < 300
    long_runs = tmp_path / "long_runs.xml"
    long_runs.write_text('<annotations><image id="0" name="square.png" width="64" height="48">'
                         f'<mask label="x" left="0" top="0" width="64" height="48" rle="{runs}"/>'
                         "</image></annotations>")
    outcomes, peak = run_child(tmp_path, images_dir, [
        ("cli", "cli", ["dataset", "import", str(images_dir), "--format", "cvat-xml", "--file", str(bomb)]),
        ("direct", "import_dataset", ["cvat-xml", str(bomb)]),
        ("long_runs", "cli", ["dataset", "import", str(images_dir), "--format", "cvat-xml",
                              "--file", str(long_runs)]),
    ])
    _assert_one_line_refusal(outcomes["cli"], "100000x100000")
    assert outcomes["direct"]["error"] == "ValueError" and "megapixels" in outcomes["direct"]["message"]
    _assert_one_line_refusal(outcomes["long_runs"], "covers 10000000000 pixels, its box has 3072")
    print(f"cvat bombs: peak {peak:.0f} MB")


def test_png_bombs(images_dir, tmp_path):
    import base64

    bomb = png_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 200_000
    url = "data:image/png;base64," + base64.b64encode(bomb.read_bytes()).decode()
    # the same bomb as an image of the folder, and as an index-png mask
    png_bomb(images_dir / "huge.png")
    masks = tmp_path / "index" / "masks"
    masks.mkdir(parents=True)
    (tmp_path / "index" / "labels.txt").write_text("background\nfish\n")
    png_bomb(masks / "square.png")
    outcomes, peak = run_child(tmp_path, images_dir, [
        ("put", "http", ["PUT", "/api/images/square.png/annotations",
                         {"version": 0, "objects": [{"id": "a", "label_id": 1, "kind": "mask", "mask": url}]}]),
        ("polygonize", "http", ["POST", "/api/polygonize", {"mask": url}]),
        ("list", "http", ["GET", "/api/images"]),
        ("embedding", "http", ["POST", "/api/images/huge.png/embedding"]),
        ("wand", "http", ["POST", "/api/images/huge.png/wand", {"x": 1, "y": 1}]),
        ("index_png", "import_dataset", ["index-png", str(tmp_path / "index")]),
    ])
    assert outcomes["put"]["status"] == 400 and "30000x30000" in outcomes["put"]["body"]["error"]
    assert outcomes["polygonize"]["status"] == 413
    listed = outcomes["list"]["body"]
    assert "huge.png" not in [i["name"] for i in listed["images"]]
    assert [u["name"] for u in listed["unreadable"]] == ["huge.png"]
    assert "too large" in listed["unreadable"][0]["error"] and "megapixels" in listed["unreadable"][0]["error"]
    for step in ("embedding", "wand"):
        assert outcomes[step]["status"] == 415 and "too large" in outcomes[step]["body"]["error"], outcomes[step]
    assert outcomes["index_png"]["error"] == "ValueError" and "30000x30000" in outcomes["index_png"]["message"]
    print(f"png bombs: peak {peak:.0f} MB")


def test_import_checks_names_and_sizes_before_any_mask(images_dir, tmp_path, monkeypatch):
    """A file naming an image that is not in the folder is refused before a mask is decoded."""
    from edgemask.runtime import shapes
    from edgemask.images import ImageFolder
    from edgemask.webui.store import Store
    from edgemask.webui.dataset_io import import_file

    doc = {"images": [{"id": 1, "file_name": "square.png", "width": 64, "height": 48},
                      {"id": 2, "file_name": "missing.png", "width": 64, "height": 48}],
           "categories": [{"id": 1, "name": "x"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                            "segmentation": shapes.mask_to_rle(__import__("numpy").ones((48, 64), bool))}]}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    from edgemask.webui.formats import coco

    decoded = []
    monkeypatch.setattr(coco, "rle_to_mask", lambda rle: decoded.append(rle))
    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(ValueError, match="missing.png"):
            import_file(store, ImageFolder(images_dir), "coco", path)
        assert store.image_names() == []
    assert decoded == []
