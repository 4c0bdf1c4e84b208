"""Times the image list's thumbnails on camera-size photos: what `GET /api/images/<name>/thumbnail`
costs the first time (decode at reduced scale, fit, JPEG-encode) and once cached, against a full
decode of the same file.

    python benchmarks/bench_thumbnails.py                 # generated 4000x3000 JPEGs
    python benchmarks/bench_thumbnails.py --images photos/ --n 20

Prints median and p90 in ms per image and the thumbnail's size in bytes.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


def percentile(values, q):
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def make_photos(folder: Path, n: int, width: int, height: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(n):
        base = np.stack([(xx * (i + 1)) % 256, (yy * 3) % 256, (xx + yy) % 256], axis=2).astype(np.uint8)
        noise = rng.integers(0, 40, (height, width, 3), dtype=np.uint8)
        Image.fromarray(base + noise).save(folder / f"photo_{i:03d}.jpg", quality=90)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, help="folder of photos (default: generated JPEGs)")
    parser.add_argument("--n", type=int, default=8, help="photos to generate (default 8)")
    parser.add_argument("--size", type=int, default=96, help="thumbnail size (default 96)")
    args = parser.parse_args()

    from edgemask.webui import create_app
    from edgemask.images import read_rgb

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.images
        if folder is None:
            folder = Path(tmp) / "photos"
            folder.mkdir()
            make_photos(folder, args.n, 4000, 3000)
        app = create_app({"IMAGES_DIR": str(folder), "DB_PATH": str(Path(tmp) / "db.sqlite")})
        client = app.test_client()
        names = [i["name"] for i in client.get("/api/images").get_json()["images"]]
        if not names:
            print("no images", file=sys.stderr)
            return 2
        first, again, full, sizes = [], [], [], []
        for name in names:
            t0 = time.perf_counter()
            resp = client.get(f"/api/images/{name}/thumbnail?size={args.size}")
            first.append((time.perf_counter() - t0) * 1000)
            assert resp.status_code == 200
            sizes.append(len(resp.data))
            t0 = time.perf_counter()
            client.get(f"/api/images/{name}/thumbnail?size={args.size}")
            again.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            read_rgb(app.extensions["edgemask"].folder.path(name))
            full.append((time.perf_counter() - t0) * 1000)
        app.extensions["edgemask"].store.close()
        w, h = app.extensions["edgemask"].folder.size(names[0])
        print(f"{len(names)} images, first {w}x{h}, thumbnail {args.size} px, median {statistics.median(sizes):.0f} bytes")
        for title, values in (("thumbnail, first request", first), ("thumbnail, cached", again),
                              ("full decode (for comparison)", full)):
            print(f"{title:32s} median {statistics.median(values):7.1f} ms   p90 {percentile(values, 0.9):7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
