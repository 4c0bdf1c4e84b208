"""What the file index's content check costs: hashing a 4000x3000 JPEG's bytes (file_identity) against
decoding it (what a cache hit saves). Prints milliseconds; `python benchmarks/bench_file_index_hash.py`."""

import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from edgemask.runtime.cache import file_identity


def best_ms(fn, repeat=7):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def main():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:3000, 0:4000]
    image = np.stack([(x // 7) % 256, (y // 5) % 256, (x + y) % 256], -1).astype(np.uint8)
    image = np.clip(image.astype(np.int16) + rng.integers(-20, 20, image.shape), 0, 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"
        Image.fromarray(image).save(path, quality=92)
        size = path.stat().st_size
        hash_ms = best_ms(lambda: file_identity(path))
        decode_ms = best_ms(lambda: np.asarray(Image.open(path).convert("RGB")))
    print(f"4000x3000 JPEG, {size / 2**20:.1f} MiB: sha256 of the bytes {hash_ms:.1f} ms, "
          f"decode to RGB {decode_ms:.1f} ms ({decode_ms / hash_ms:.0f}x)")


if __name__ == "__main__":
    main()
