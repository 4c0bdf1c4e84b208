"""`edgemask precompute`: every image of a folder encoded into the embedding cache the annotator reads.

The images are those the annotator lists (edgemask.images.ImageFolder), decoded the same way,
so their cache keys are the ones `edgemask serve` looks up. Images already in the cache are skipped,
so a run resumes where an interrupted one stopped. Two engines do the encoding:
Ray Data (`edgemask[ray]`, edgemask.runtime.precompute_ray: parallel reads, a pool of encoder actors)
or, without Ray, this process with one encoder.
"""

import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

# statuses of one image
COMPUTED, CACHED, UNREADABLE, FAILED = "computed", "cached", "unreadable", "failed"
RAY_HINT = "install 'edgemask[ray]' for parallel workers, on this machine or a Ray cluster"


@dataclass
class Summary:
    """What a precompute run did."""

    total: int
    engine: str = "in-process"
    workers: int = 1
    computed: int = 0
    cached: int = 0
    problems: list = field(default_factory=list)  # (name, status, reason) of unreadable / failed images
    seconds: float = 0.0
    peak_worker_rss: int = 0  # bytes, the largest resident set of an encoder process
    interrupted: bool = False
    done_times: list = field(default_factory=list)  # time.time() when each computed image was done

    def add(self, name: str, status: str, reason: str = "", done_at: float = 0.0) -> None:
        if status == COMPUTED:
            self.computed += 1
            self.done_times.append(done_at or time.time())
        elif status == CACHED:
            self.cached += 1
        else:
            self.problems.append((name, status, reason))

    @property
    def done(self) -> int:
        return self.computed + self.cached + len(self.problems)

    @property
    def steady_rate(self) -> float:
        """Computed images per second between the first and the last one (start-up left out)."""
        span = max(self.done_times, default=0) - min(self.done_times, default=0)
        return (self.computed - 1) / span if self.computed > 1 and span > 0 else 0.0

    def format(self) -> str:
        rate = f", {self.computed / self.seconds:.2f} images/s" if self.seconds > 0 and self.computed else ""
        if self.steady_rate:
            rate += f" ({self.steady_rate:.2f} after the start)"
        head = "interrupted after" if self.interrupted else "done:"
        lines = [f"{head} {self.computed} computed, {self.cached} already cached, "
                 f"{sum(1 for p in self.problems if p[1] == UNREADABLE)} unreadable"
                 + (f", {sum(1 for p in self.problems if p[1] == FAILED)} failed"
                    if any(p[1] == FAILED for p in self.problems) else "")
                 + f" of {self.total} images in {self.seconds:.1f} s{rate} "
                 f"({self.engine}, {self.workers} worker{'s' if self.workers != 1 else ''}"
                 + (f", peak {self.peak_worker_rss / 2**20:.0f} MiB per worker" if self.peak_worker_rss else "")
                 + ")"]
        lines += [f"  {status}: {name}: {reason}" for name, status, reason in self.problems]
        if self.interrupted:
            lines.append("run the same command again to compute the rest")
        return "\n".join(lines)


def ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


def peak_rss() -> int:
    """This process's peak resident set size, bytes."""
    from edgemask.runtime.bench import peak_rss_mb

    return int(peak_rss_mb() * 2**20)


def reason(exc: BaseException) -> str:
    """One line for an image that could not be read."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def precompute(images_dir, model_dir, cache_dir=None, ray: Optional[str] = None, workers: Optional[int] = None,
               device: str = "auto", progress: bool = True, log=print) -> Summary:
    """Encodes every image of `images_dir` into the embedding cache (`cache_dir`, default
    edgemask.paths.embeddings_dir()) that the annotator reads for this model.

    ray: None starts a local Ray for the run (in this process instead when Ray is not
    installed), "off" encodes in this process, "auto" or an address joins a running cluster;
    with Ray already initialised in this process its session is used.
    workers: encoder actors (default: one per GPU, else one per node).
    A KeyboardInterrupt stops the run; the returned summary then has interrupted=True.
    """
    from edgemask import paths
    from edgemask.runtime.model_folder import load_model_folder
    from edgemask.images import ImageFolder

    folder = ImageFolder(images_dir)
    model = load_model_folder(model_dir)  # a bad folder fails here, before any worker starts
    cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else paths.embeddings_dir()
    names = folder.names()
    use_ray = ray != "off" and (ray is not None or ray_installed())
    if ray not in (None, "off") and not ray_installed():
        raise RuntimeError(f"--ray {ray} needs Ray: {RAY_HINT}")
    if not use_ray and workers not in (None, 1):
        raise RuntimeError(f"more than one worker needs Ray: {RAY_HINT}" if not ray_installed()
                           else "more than one worker needs Ray: leave out --ray off")
    summary = Summary(total=len(names))
    if ray is None and not use_ray:
        log(f"edgemask: encoding in this process with one encoder; {RAY_HINT}")
    bar = _Bar(len(names), progress)
    start = time.perf_counter()
    try:
        if use_ray:
            from edgemask.runtime import precompute_ray

            precompute_ray.run(folder, names, model, cache_dir, device, workers, ray, summary, bar.advance)
        else:
            _run_here(folder, names, model.path, cache_dir, device, summary, bar.advance)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        summary.seconds = time.perf_counter() - start
        bar.close()
    return summary


def _run_here(folder, names, model_dir, cache_dir, device, summary: Summary, advance) -> None:
    """The engine without Ray: this process reads and encodes one image after the other."""
    from edgemask.runtime.predictor import Predictor

    predictor = Predictor(model_dir, device=device, cache_dir=cache_dir, memory_cache_bytes=0)
    summary.engine, summary.workers = f"in-process, {predictor.device}", 1
    # a file the cache's file index knows (path, size, mtime) is not decoded again; every file read is
    # recorded there, so that the annotator on this machine opens it without decoding it either
    try:
        for name in names:
            try:
                cached = predictor.encode_ahead.ensure_file(folder.path(name), read=_read)
                status, why = (CACHED if cached else COMPUTED), ""
            except (_Unreadable, OSError) as exc:
                status, why = UNREADABLE, reason(exc)
            except Exception as exc:  # noqa: BLE001 - e.g. an image too large for the device
                status, why = FAILED, reason(exc)
            summary.add(name, status, why)
            summary.peak_worker_rss = peak_rss()
            advance(status)
    finally:
        predictor.close()


class _Unreadable(Exception):
    """An image file that Pillow and OpenCV cannot decode."""


def _read(path):
    from edgemask.images import read_rgb

    try:
        return read_rgb(path)
    except Exception as exc:  # noqa: BLE001 - Pillow and OpenCV raise many kinds
        raise _Unreadable(reason(exc)) from None


class _Bar:
    """The progress bar (tqdm: images/s and time left) with the counts so far."""

    def __init__(self, total: int, enabled: bool):
        self.bar = None
        self.counts = {COMPUTED: 0, CACHED: 0, UNREADABLE: 0, FAILED: 0}
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="img", desc="precompute", dynamic_ncols=True)

    def advance(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        if self.bar is not None:
            self.bar.set_postfix_str(f"computed {self.counts[COMPUTED]}, cached {self.counts[CACHED]}"
                                     + (f", unreadable {self.counts[UNREADABLE]}" if self.counts[UNREADABLE] else ""),
                                     refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
