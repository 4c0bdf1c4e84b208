"""`edgemask precompute`: every image of a folder encoded into the embedding cache the annotator reads.

The images are those the annotator lists (edgemask.images.ImageFolder), decoded the same way,
so their cache keys are the ones `edgemask serve` looks up. Images already in the cache are skipped,
so a run resumes where an interrupted one stopped. Two engines do the encoding:
Ray Data (`edgemask[ray]`, edgemask.runtime.precompute_ray: parallel reads, a pool of encoder actors)
or, without Ray, this process with one encoder.
"""

import importlib.util
import time
from pathlib import Path
from typing import Optional

from edgemask.runtime.precompute_summary import CACHED, COMPUTED, FAILED, UNREADABLE, Summary, peak_rss, reason

RAY_HINT = "install 'edgemask[ray]' for parallel workers, on this machine or a Ray cluster"


def ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


def precompute(images_dir, model_dir, cache_dir=None, ray: Optional[str] = None, workers: Optional[int] = None,
               device: str = "auto", progress: bool = True, log=print, summary: Optional[Summary] = None) -> Summary:
    """Encodes every image of `images_dir` into the embedding cache (`cache_dir`, default
    edgemask.paths.embeddings_dir()) that the annotator reads for this model.

    ray: None starts a local Ray for the run (in this process instead when Ray is not
    installed), "off" encodes in this process, "auto" or an address joins a running cluster;
    with Ray already initialised in this process its session is used.
    workers: encoder actors (default: one per GPU, else one per node).
    A KeyboardInterrupt stops the run; the returned summary then has interrupted=True.
    summary: filled in as the run goes (a caller can report it while the run is under way).
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
    summary = summary if summary is not None else Summary(total=0)
    summary.total = len(names)
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
