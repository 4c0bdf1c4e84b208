"""How fast `edgemask precompute` fills the embedding cache, against a plain loop over Predictor.set_image.

    python benchmarks/bench_precompute.py --model DIR [--images 24] [--workers 1 2] [--size 960x1280]
    python benchmarks/bench_precompute.py --cost-only --model DIR1 --model DIR2 ...   # the projection table

For the first --model it prints images/s of: a plain loop (read the file, set_image) in one process;
precompute without Ray; precompute on a local Ray with each --workers count (wall time including
Ray's start, and the steady rate between the first and the last image), the engine's overhead
against the plain loop, the peak memory of an encoder actor; and then how long the annotator takes
to open each image from the filled cache (Flask test client). For every --model it measures the
per-image encoder cost and projects 10,000 images on N workers like this machine.
"""

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image


def make_images(root: Path, count: int, h: int, w: int) -> Path:
    from edgemask.runtime.bench import synthetic_photo

    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(synthetic_photo(h, w, seed=i)).save(root / f"photo{i:03d}.jpg", quality=90)
    return root


def tree_cpu_seconds(root_pid: int) -> float:
    """CPU seconds (user + system, reaped children included) of a process and all its live descendants:
    on a machine shared with other work, the engine's cost that wall time cannot show."""
    procs = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        procs[int(entry)] = (int(fields[1]), sum(int(v) for v in fields[11:15]))
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += procs.get(pid, (0, 0))[1]
        todo += [child for child, (parent, _) in procs.items() if parent == pid]
    return total / os.sysconf("SC_CLK_TCK")


def plain_loop(model_dir, folder) -> tuple:
    """(images/s, CPU seconds per image with the model load, CPU seconds per image after the first
    image) of read + Predictor.set_image, one process, no cache."""
    from edgemask.runtime import Predictor
    from edgemask.images import read_rgb

    cpu = time.process_time()  # CPU per image counted as for the engines: model load included
    predictor = Predictor(model_dir, device="cpu", cache=False)
    names = folder.names()
    predictor.set_image(read_rgb(folder.path(names[0])))
    start, steady_cpu = time.perf_counter(), time.process_time()
    for name in names[1:]:  # measured as precompute's steady rate: from the first image done to the last
        predictor.set_image(read_rgb(folder.path(name)))
    end = time.process_time()
    return ((len(names) - 1) / (time.perf_counter() - start), (end - cpu) / len(names),
            (end - steady_cpu) / (len(names) - 1))


def ray_run(model_dir, folder, cache_dir, workers):
    """(wall images/s including Ray's start, steady images/s, peak actor RSS bytes, CPU seconds per
    image of all Ray processes from after Ray's start to the end (actors' start included), and the
    same from the first batch out to the end)."""
    from edgemask.runtime import precompute_ray
    from edgemask.runtime.model_folder import load_model_folder
    from edgemask.runtime.precompute_summary import Summary

    names = folder.names()
    summary = Summary(total=len(names))
    start = time.perf_counter()
    precompute_ray._connect(None)  # the local Ray that run() would start, kept open to read its CPU time
    import ray

    mark = {}

    def advance(status):
        if not mark:  # the first batch is out: the actors have started
            mark.update(time=time.time(), cpu=tree_cpu_seconds(os.getpid()))

    try:
        cpu = tree_cpu_seconds(os.getpid())
        precompute_ray.run(folder, names, load_model_folder(model_dir), cache_dir, "cpu", workers, None, summary,
                           advance)
        end = tree_cpu_seconds(os.getpid())
    finally:
        ray.shutdown()
    wall = time.perf_counter() - start
    assert summary.computed == len(names), summary.format()
    after = sum(1 for t in summary.done_times if t > mark["time"])  # images done after the first batch came out
    steady_cpu = (end - mark["cpu"]) / after if after else float("nan")
    return len(names) / wall, summary.steady_rate, summary.peak_worker_rss, (end - cpu) / len(names), steady_cpu


def in_process_run(model_dir, folder, cache_dir) -> tuple:
    """(steady images/s, CPU seconds per image, model load included)."""
    from edgemask.runtime.precompute import precompute

    cpu = time.process_time()
    summary = precompute(folder.root, model_dir, cache_dir, ray="off", device="cpu", progress=False)
    assert summary.computed == summary.total, summary.format()
    return summary.steady_rate, (time.process_time() - cpu) / summary.computed


def open_times(model_dir, folder, cache_dir) -> list:
    """(wall ms, CPU ms) of POST /api/images/NAME/embedding for every image, after precompute (Flask test client)."""
    from edgemask.webui.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"IMAGES_DIR": str(folder.root), "MODEL_DIR": str(model_dir), "CACHE_DIR": str(cache_dir),
                          "DEVICE": "cpu", "DB_PATH": str(Path(tmp) / "db.sqlite")})
        client = app.test_client()
        predictor = app.extensions["edgemask"].assistant.predictor
        times, cpu = [], []
        for name in folder.names():
            start, start_cpu = time.perf_counter(), time.process_time()
            answer = client.post(f"/api/images/{name}/embedding", json={}).get_json()
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
            assert answer["cached"], (name, answer)
            predictor.wait_prefetch(timeout=60)  # the following images' cache reads, outside the timing
        assert predictor.encoder_runs == 0
        predictor.close()
        app.extensions["edgemask"].store.close()
    return times, cpu


def encoder_cost(model_dir, image, runs: int) -> tuple:
    """(median wall seconds, median CPU seconds per image of set_image without cache, peak RSS MiB)."""
    import subprocess

    code = (
        "import sys, time, statistics, numpy as np\n"
        "from edgemask.runtime import Predictor\n"
        "from edgemask.runtime.bench import peak_rss_mb\n"
        "p = Predictor(sys.argv[1], device='cpu', cache=False)\n"
        "img = np.load(sys.argv[2]); p.set_image(img); t = []\n"
        "for _ in range(int(sys.argv[3])):\n"
        "    s, c = time.perf_counter(), time.process_time(); p.set_image(img)\n"
        "    t.append((time.perf_counter() - s, time.process_time() - c))\n"
        "print(statistics.median(w for w, _ in t), statistics.median(c for _, c in t), peak_rss_mb())\n")
    with tempfile.TemporaryDirectory() as tmp:  # a fresh process per model: its own peak memory
        import numpy as np

        np.save(Path(tmp) / "img.npy", image)
        out = subprocess.run([sys.executable, "-c", code, str(model_dir), str(Path(tmp) / "img.npy"), str(runs)],
                             check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1]), float(out[2])


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                flags = open("/proc/cpuinfo").read()
                isa = "AVX-512" + (" VNNI" if "avx512_vnni" in flags else "") if "avx512f" in flags else (
                    "AVX2" if "avx2" in flags else "no AVX2")
                return f"{name}, {os.cpu_count()} CPUs, {isa}"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, type=Path)
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--size", default="960x1280", help="HxW of the generated photos")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--cost-runs", type=int, default=3)
    ap.add_argument("--cost-only", action="store_true", help="only the per-model cost and projection table")
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    from edgemask.runtime.bench import synthetic_photo
    from edgemask.images import ImageFolder

    print(f"machine: {cpu_name()}, Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    tmp = Path(tempfile.mkdtemp(prefix="edgemask-bench-precompute-"))
    try:
        if not args.cost_only:
            model = args.model[0]
            folder = ImageFolder(make_images(tmp / "photos", args.images, h, w))
            print(f"{args.images} JPEG photos {w}x{h}, model {model.name}")
            plain, plain_cpu, plain_steady = plain_loop(model, folder)
            print(f"plain loop (read + Predictor.set_image): {plain:.2f} images/s; CPU-s/image {plain_cpu:.2f} "
                  f"with the model load, {plain_steady:.2f} after the first image")
            here, here_cpu = in_process_run(model, folder, tmp / "cache-here")
            print(f"precompute --ray off (in-process): {here:.2f} images/s steady; CPU-s/image {here_cpu:.2f} with "
                  f"the model load ({100 * (here_cpu / plain_cpu - 1):+.1f}% vs plain)")
            for workers in args.workers:
                wall, steady, rss, cpu, cpu_steady = ray_run(model, folder, tmp / f"cache-ray{workers}", workers)
                print(f"precompute on a local Ray, {workers} worker(s): {wall:.2f} images/s wall (Ray start included), "
                      f"{steady:.2f} steady; CPU-s/image of all Ray processes {cpu:.2f} with Ray's and the actors' "
                      f"start ({100 * (cpu / plain_cpu - 1):+.1f}% vs plain), {cpu_steady:.2f} after the first batch "
                      f"({100 * (cpu_steady / plain_steady - 1):+.1f}% vs plain); peak actor RSS {rss / 2**20:.0f} MiB")
            again, again_cpu, again_steady = plain_loop(model, folder)
            print(f"plain loop again (the machine's load changes): {again:.2f} images/s; CPU-s/image {again_cpu:.2f}, "
                  f"{again_steady:.2f} after the first image")
            times = open_times(model, folder, tmp / "cache-ray1" if 1 in args.workers else tmp / "cache-here")
            times, cpu = times
            print(f"opening each image in the annotator after precompute (cached): median {statistics.median(times):.1f} "
                  f"ms, max {max(times):.1f} ms wall; CPU median {statistics.median(cpu):.1f} ms, max {max(cpu):.1f} ms "
                  f"(n={len(times)})")
        image = synthetic_photo(h, w)
        print(f"\nper-image encoder cost on this CPU ({w}x{h} photo, median of {args.cost_runs}) and 10,000 images on "
              "N workers of 2 cores like this one, projected from the CPU time (wall time here is inflated by "
              "other work on the machine): hours = 10,000 x CPU-s / (2 cores x N)")
        ns = (1, 2, 8, 32)
        print("| model | wall s/image (load here) | CPU-s/image | peak RSS, one process | peak RSS, Ray actor | "
              + " | ".join(f"{n} worker{'s' if n > 1 else ''}" for n in ns) + " |")
        print("|---|---|---|---|---|" + "---|" * len(ns))
        two = ImageFolder(make_images(tmp / "two", 2, h, w))
        for model in args.model:
            wall, cpu, rss = encoder_cost(model, image, args.cost_runs)
            actor_rss = ray_run(model, two, tmp / f"cache-{model.name}", 1)[2]  # the actor's memory, for real
            cells = [_duration(10_000 * cpu / (2 * n)) for n in ns]
            print(f"| {model.name} | {wall:.2f} | {cpu:.2f} | {rss:.0f} MiB | {actor_rss / 2**20:.0f} MiB | "
                  + " | ".join(cells) + " |", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


if __name__ == "__main__":
    raise SystemExit(main())
