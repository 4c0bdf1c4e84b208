"""`edgemask precompute` on a real local Ray (2 CPUs, one session for the module) with a
random-weight efficientvit-sam-l0: the annotator then opens every image from the cache, an
interrupted run resumes with the rest, and two runs at once leave only intact entries."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

# every Ray process of this module (and the CLI runs it starts) talks over loopback only
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")

from edgemask.runtime.cache import EmbeddingCache, _decode  # noqa: E402
from edgemask.runtime.model_folder import load_model_folder  # noqa: E402
from edgemask.runtime.precompute import precompute  # noqa: E402
from edgemask.images import ImageFolder  # noqa: E402
from photo_folder import make_photo_folder  # noqa: E402
from sigint import default_sigint  # noqa: E402


@pytest.fixture(scope="module")
def hold_reads(tmp_path_factory):
    """A folder that the module's Ray workers watch: a file named like an image holds its read task
    (edgemask.runtime.precompute_ray.HOLD_READS_ENV), so a run can be interrupted at a known point."""
    return tmp_path_factory.mktemp("hold-reads")


@pytest.fixture(scope="module")
def ray_address(hold_reads):
    """A local Ray with 2 CPUs on loopback, shared by the tests of this module; its GCS address."""
    from edgemask.runtime.precompute_ray import HOLD_READS_ENV

    os.environ[HOLD_READS_ENV] = str(hold_reads)  # the workers ray.init starts inherit it
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             object_store_memory=256 * 2**20, log_to_driver=False)
    try:
        address = ray.get_runtime_context().gcs_address
        assert address.startswith("127.0.0.1:"), address
        yield address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def l0(exported_model):
    return exported_model("efficientvit-sam-l0")


def _cli(*args) -> list:
    return [sys.executable, "-m", "edgemask", "precompute", *map(str, args), "--no-progress"]


def _entries(cache_dir):
    return sorted(cache_dir.glob("*/*.emb"))


def _intact(cache_dir, model_dir) -> int:
    identity = load_model_folder(model_dir).identity
    entries = _entries(cache_dir)
    for path in entries:
        assert _decode(path.read_bytes(), identity) is not None, f"corrupt cache entry {path.name}"
    assert not list(cache_dir.glob("*/*.tmp")), "a temporary file was left behind"
    return len(entries)


def test_precompute_then_every_image_opens_cached_in_the_annotator(ray_address, l0, tmp_path):
    images = make_photo_folder(tmp_path / "photos", 6, thin=True)
    cache_dir = tmp_path / "cache"
    summary = precompute(images, l0, cache_dir, progress=False)
    assert summary.engine.startswith("Ray Data, CPU actors") and summary.workers == 1
    assert (summary.computed, summary.cached) == (6, 0)
    assert sorted(summary.problems) == [
        ("broken.jpg", "unreadable", "broken.jpg is not an image this program can read"),
        ("thin.png", "failed", "the 2000x1 image is too thin for the model: scaled to 512 pixels on its long "
                               "side it would be 512x0")]
    assert 0 < summary.peak_worker_rss < 2 * 2**30
    assert _intact(cache_dir, l0) == 6
    # every file read is in the cache's file index: the annotator finds its entry without decoding it
    from edgemask.runtime.cache import file_identity

    model = load_model_folder(l0)
    index = EmbeddingCache(model.identity, cache_dir, model_name=model.name).files
    folder = ImageFolder(images)
    assert all(index.get(file_identity(folder.path(n))) is not None for n in folder.names() if n != "broken.jpg")
    # (thin.png too: it was read, only the encoder could not take it)
    index.close()

    from edgemask.webui.app import create_app

    app = create_app({"IMAGES_DIR": str(images), "MODEL_DIR": str(l0), "CACHE_DIR": str(cache_dir),
                      "DEVICE": "cpu", "DB_PATH": str(tmp_path / "db.sqlite")})
    predictor = app.extensions["edgemask"].assistant.predictor
    client = app.test_client()
    names = [n for n in ImageFolder(images).names() if n not in ("broken.jpg", "thin.png")]
    assert len(names) == 6
    for name in names:
        answer = client.post(f"/api/images/{name}/embedding", json={}).get_json()
        assert answer["ready"] and answer["cached"], (name, answer)
    assert predictor.wait_prefetch(timeout=60)
    assert predictor.encoder_runs == 0  # nothing was encoded: every embedding came from the cache
    # and a click works on a cached embedding
    answer = client.post(f"/api/images/{names[0]}/predict", json={"points": [[10, 10, 1]]})
    assert answer.status_code == 200
    predictor.close()
    app.extensions["edgemask"].store.close()


def _interrupt_while_held(address, images, cache_dir, l0, hold_reads, held, wait_for):
    """Runs precompute with the reads of `held` images waiting, sends SIGINT once `wait_for` entries
    are in the cache, and returns the run's output (its exit status must be 130)."""
    for name in held:
        (hold_reads / name).write_text("")
    try:
        run = subprocess.Popen(_cli(images, "--model", l0, "--cache-dir", cache_dir, "--ray", address),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=default_sigint)  # Ctrl+C as from a terminal
        deadline = time.monotonic() + 180
        while len(_entries(cache_dir)) < wait_for and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert run.poll() is None, "the run ended although some of its reads were held: " + run.communicate()[0]
        assert len(_entries(cache_dir)) >= wait_for, "the run did not get as far as expected in 180 s"
        run.send_signal(signal.SIGINT)
        out, _ = run.communicate(timeout=60)
    finally:
        for name in held:
            (hold_reads / name).unlink()
    assert run.returncode == 130, out
    assert "interrupted after" in out and "run the same command again" in out
    time.sleep(1)  # the job's actor is stopped asynchronously after its driver leaves
    return out


def test_an_interrupted_run_resumes_with_the_rest(ray_address, l0, tmp_path, hold_reads):
    images = make_photo_folder(tmp_path / "photos", 12, broken=False)
    cache_dir = tmp_path / "cache"
    # four images outside sub/ (one read task: photo07..photo11) cannot be read until the run is interrupted
    held = [n for n in ImageFolder(images).names() if not n.startswith("sub/")][-4:]
    _interrupt_while_held(ray_address, images, cache_dir, l0, hold_reads, held, wait_for=2)
    before = _intact(cache_dir, l0)
    assert 2 <= before <= 12 - len(held)

    summary = precompute(images, l0, cache_dir, progress=False)
    assert summary.cached >= before and summary.computed == 12 - summary.cached and summary.computed >= len(held)
    assert _intact(cache_dir, l0) == 12


def test_ctrl_c_during_the_last_batch_exits_130(ray_address, l0, tmp_path, hold_reads):
    images = make_photo_folder(tmp_path / "photos", 8, broken=False)
    cache_dir = tmp_path / "cache"
    names = ImageFolder(images).names()
    last = [n for n in names if not n.startswith("sub/")][-1]
    # every image but the last read task's is encoded; the run then waits in its last batch
    _interrupt_while_held(ray_address, images, cache_dir, l0, hold_reads, [last], wait_for=4)
    assert 4 <= _intact(cache_dir, l0) < 8
    summary = precompute(images, l0, cache_dir, progress=False)
    assert summary.computed >= 1 and _intact(cache_dir, l0) == 8


def test_two_runs_at_once_into_one_cache_leave_intact_entries(ray_address, l0, tmp_path):
    images = make_photo_folder(tmp_path / "photos", 8, broken=False)
    cache_dir = tmp_path / "cache"
    runs = [subprocess.Popen(_cli(images, "--model", l0, "--cache-dir", cache_dir, "--ray", ray_address),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [r.communicate(timeout=180)[0] for r in runs]
    for run, out in zip(runs, outs):
        assert run.returncode == 0, out
        assert " of 8 images" in out and "0 unreadable" in out
    computed = [int(out.split("done: ")[1].split(" computed")[0]) for out in outs]
    assert sum(computed) >= 8  # every image was computed by one run or both
    assert _intact(cache_dir, l0) == 8

    identity = load_model_folder(l0).identity
    cache = EmbeddingCache(identity, cache_dir, memory_bytes=0, model_name=load_model_folder(l0).name)
    assert all(cache.get(p.stem) is not None for p in _entries(cache_dir))
    assert np.isfinite(cache.get(_entries(cache_dir)[0].stem)).all()
