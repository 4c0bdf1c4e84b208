"""The Ray Data engine of `edgemask precompute` (needs `edgemask[ray]`).

A stream of image names goes through parallel read tasks (decode, cache key, cache check, resize
for the encoder) into a pool of encoder actors, each holding one Predictor: one GPU actor per GPU
where the cluster has GPUs, CPU actors otherwise (Ray Data spreads actors over the nodes). Actors take the images in batches and put their
embeddings into the shared disk cache through edgemask.runtime.encode_ahead. Images flow as a
stream (Ray Data's backpressure), never all in memory at once.
"""

import logging
import os
import time
from typing import Optional

import numpy as np

from edgemask.runtime.precompute_summary import CACHED, COMPUTED, FAILED, UNREADABLE, Summary, peak_rss, reason

READ_CPUS = 0.25  # a read task decodes and resizes one small block of images
IMAGES_PER_READ_TASK = 4
CPU_BATCH, GPU_BATCH = 4, 16
LOCAL_OBJECT_STORE_BYTES = 2**30
SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray uses 127.0.0.1 as the node address
# A folder: while it holds a file named like an image, the read task of that image waits. Tests set it on
# their Ray cluster to interrupt a run at a known point (it is unset in normal use).
HOLD_READS_ENV = "EDGEMASK_HOLD_READS"


def run(folder, names, model, cache_dir, device: str, workers: Optional[int], address: Optional[str],
        summary: Summary, advance) -> None:
    """Encodes `names` of `folder` into the cache with Ray Data; fills `summary`, calls
    advance(status) per image. address: None for a local Ray started (and stopped) here, "auto"
    or host:port to join a cluster; a Ray already initialised in this process is used as it is."""
    started = connect(address)
    import ray

    try:
        resources = ray.cluster_resources()
        gpus = 0 if device == "cpu" else int(resources.get("GPU", 0))
        cpus = float(resources.get("CPU", 1))
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        if workers is None:
            workers = gpus or max(1, nodes)
        if workers < 1:
            raise ValueError(f"--workers must be at least 1, got {workers}")
        if gpus:
            workers = min(workers, gpus)
            actor_resources = {"num_gpus": 1, "num_cpus": 1}
            batch, threads = GPU_BATCH, None
        else:
            # a logical share that leaves CPUs for the read tasks, also of other runs on the same
            # cluster (a run whose actors held every CPU would wait for read tasks that never start);
            # the onnxruntime threads share the cores whatever the share
            actor_resources = {"num_cpus": min(1.0, max(0.25, cpus / (4 * workers)))}
            batch, threads = CPU_BATCH, max(1, int(cpus // workers))
        summary.engine = f"Ray Data, {'GPU' if gpus else 'CPU'} actors on {nodes} node{'s' if nodes != 1 else ''}"
        summary.workers = workers
        if not names:
            return

        quiet_ray_data()

        cache = dict(cache_dir=str(cache_dir), identity=model.identity, model_name=model.name)
        ds = ray.data.from_items([{"name": n} for n in names],
                                 override_num_blocks=max(1, -(-len(names) // IMAGES_PER_READ_TASK)))
        ds = ds.map(read_for_encoder, num_cpus=READ_CPUS,
                    fn_kwargs=dict(root=str(folder.root), size=model.encoder_size,
                                   interpolation=model.interpolation, **cache))
        ds = ds.map_batches(EncoderActor, batch_size=batch, batch_format="numpy",
                            compute=ray.data.ActorPoolStrategy(size=workers),
                            fn_constructor_kwargs=dict(model_dir=str(model.path), cache_dir=str(cache_dir),
                                                       device=device, threads=threads),
                            **actor_resources)
        for row in ds.iter_rows():
            summary.add(row["name"], row["status"], row["reason"], float(row["done_at"]))
            summary.peak_worker_rss = max(summary.peak_worker_rss, int(row["rss"]))
            advance(row["status"])
    finally:
        if started:
            ray.shutdown()


def quiet_ray_data() -> None:
    """No Ray Data progress bars or start lines: our bar counts images."""
    import ray

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "bars disabled": ours shows


def connect(address: Optional[str]) -> bool:
    """Joins or starts Ray; True if this call started a local Ray (to be shut down after the run)."""
    if address in (None, "local"):
        # a one-machine Ray: its processes talk over loopback, not the machine's network address
        os.environ.setdefault(SINGLE_MACHINE_ENV, "0")
    import ray

    if ray.is_initialized():
        return False
    quiet = dict(log_to_driver=False, logging_level=logging.WARNING, include_dashboard=False)
    try:
        if address is None or address == "local":
            ray.init(address="local", num_cpus=os.cpu_count(), object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                     _node_ip_address="127.0.0.1", **quiet)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = "start a local Ray" if address in (None, "local") else f"join the Ray cluster at {address}"
        raise RuntimeError(f"could not {where} ({reason(exc)}); --ray off encodes in this process") from None
    return True


def _hold(name: str) -> None:
    folder = os.environ.get(HOLD_READS_ENV)
    while folder and os.path.exists(os.path.join(folder, name)):
        time.sleep(0.05)


def read_for_encoder(row: dict, root: str, size: int, interpolation: str, cache_dir: str, identity: str,
                     model_name: str) -> dict:
    """A Ray Data read task, for one image: decodes it as the annotator does (unless the cache's file
    index knows the file and its entry exists), keys it, records it in the file index, checks the
    cache and resizes it for the encoder (the actor pads it). Cached and unreadable images carry
    no pixels."""
    from edgemask.runtime.cache import EmbeddingCache, file_identity, image_key
    from edgemask.runtime.transforms import resize_for_encoder
    from edgemask.images import ImageFolder, read_rgb

    _hold(row["name"])
    out = dict(name=row["name"], status="todo", reason="", key="", pixels=b"", height=0, width=0)
    cache = EmbeddingCache(identity, cache_dir, memory_bytes=0, model_name=model_name)
    try:
        path = ImageFolder(root).path(row["name"])
        if path is None:
            raise FileNotFoundError(f"{row['name']} is no longer in the folder")
        file = file_identity(path)
        known = cache.files.get(file)  # a file read before: no decode needed to find its entry
        if known is not None and cache.get(known[0]) is not None:
            out.update(status=CACHED)
            return out
        image = read_rgb(path)
    except Exception as exc:  # noqa: BLE001 - Pillow and OpenCV raise many kinds
        out.update(status=UNREADABLE, reason=reason(exc))
        return out
    finally:
        if out["status"] != "todo":
            cache.files.close()
    key = image_key(image)
    cache.files.put(file, key, *image.shape[:2])  # the annotator here then opens it without decoding
    cache.files.close()
    if cache.get(key) is not None:
        out.update(status=CACHED)
        return out
    try:
        resized = np.ascontiguousarray(resize_for_encoder(image, size, interpolation))
    except ValueError as exc:  # e.g. an image too thin for the model
        out.update(status=FAILED, reason=reason(exc))
        return out
    out.update(key=key, pixels=resized.tobytes(), height=resized.shape[0], width=resized.shape[1])
    return out


class EncoderActor:
    """A Ray Data actor holding one Predictor; encodes the batches it is given into the disk cache."""

    def __init__(self, model_dir: str, cache_dir: str, device: str = "auto", threads: Optional[int] = None):
        from edgemask.runtime.predictor import Predictor

        if threads is not None:
            threads = max(1, min(threads, os.cpu_count() or 1))
        self.predictor = Predictor(model_dir, device=device, cache_dir=cache_dir, memory_cache_bytes=0,
                                   threads=threads)

    def __call__(self, batch: dict) -> dict:
        from edgemask.runtime.transforms import pad_for_encoder

        model = self.predictor.model
        statuses, reasons, done_at = [], [], []
        for i, status in enumerate(batch["status"]):
            status, why = str(status), str(batch["reason"][i])
            if status == "todo":
                h, w = int(batch["height"][i]), int(batch["width"][i])
                resized = np.frombuffer(batch["pixels"][i], np.uint8).reshape(h, w, 3)
                try:
                    _, cached = self.predictor.encode_ahead.embedding(
                        str(batch["key"][i]), lambda: pad_for_encoder(resized, model.encoder_size, model.pixel_mean),
                        foreground=False)
                    status = CACHED if cached else COMPUTED  # cached: another writer was first
                except Exception as exc:  # noqa: BLE001 - one bad image must not stop the run
                    status, why = FAILED, reason(exc)
            statuses.append(status)
            reasons.append(why)
            done_at.append(time.time())
        n = len(statuses)
        return {"name": np.asarray(batch["name"]), "status": np.array(statuses), "reason": np.array(reasons),
                "rss": np.full(n, peak_rss(), np.int64), "done_at": np.array(done_at, np.float64)}
