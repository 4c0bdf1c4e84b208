"""`edgemask precompute` without Ray (in this process), its CLI errors, and the cache under several writers."""

import sys

import numpy as np
import pytest

from edgemask.cli import main
from edgemask.runtime import cache as cache_module
from edgemask.runtime.cache import EmbeddingCache, image_key
from edgemask.runtime.precompute import precompute
from edgemask.images import ImageFolder, read_rgb
from photo_folder import make_photo_folder


@pytest.fixture
def no_ray(monkeypatch):
    """As if the [ray] extra were not installed: `import ray` fails."""
    monkeypatch.setitem(sys.modules, "ray", None)


def test_without_ray_runs_in_process_says_so_and_resumes(exported_model, tmp_path, capsys, no_ray):
    model = exported_model("efficientvit-sam-l0")
    images = make_photo_folder(tmp_path / "photos", 5)
    cache_dir = tmp_path / "cache"
    assert main(["precompute", str(images), "--model", str(model), "--cache-dir", str(cache_dir),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "edgemask[ray]" in out and "one encoder" in out
    assert "done: 5 computed, 0 already cached, 1 unreadable of 6 images" in out
    assert "unreadable: broken.jpg: broken.jpg is not an image this program can read" in out

    # the entries are the annotator's: keyed by the pixels it decodes, equal to a fresh encoder run
    from edgemask.runtime import Predictor

    folder = ImageFolder(images)
    reference = Predictor(model, device="cpu", cache=False)
    cache = EmbeddingCache(reference.model.identity, cache_dir, model_name=reference.model.name)
    for name in folder.names():
        if name == "broken.jpg":
            continue
        image = read_rgb(folder.path(name))
        reference.set_image(image)
        np.testing.assert_allclose(cache.get(image_key(image)), reference.get_image_embedding(), atol=1e-5)

    # a second run finds everything cached, without decoding a file (the file index knows them)
    import edgemask.images as images_module

    def no_decode(path):
        raise AssertionError(f"{path} was decoded again")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(images_module, "read_rgb", no_decode)
        summary = precompute(images, model, cache_dir, progress=False, log=lambda *_: None)
    assert (summary.computed, summary.cached, len(summary.problems)) == (0, 5, 1)
    assert "was decoded again" in summary.problems[0][2]  # only broken.jpg, which is not in the index


def test_ray_off_encodes_here_and_only_what_is_missing(exported_model, tmp_path):
    model = exported_model("efficientvit-sam-l0")
    images = make_photo_folder(tmp_path / "photos", 4, broken=False)
    cache_dir = tmp_path / "cache"
    first = precompute(images, model, cache_dir, ray="off", progress=False)
    assert (first.computed, first.cached, first.engine) == (4, 0, "in-process, cpu")
    victim = sorted((cache_dir).glob("*/*.emb"))[0]
    victim.write_bytes(victim.read_bytes()[:100])  # a truncated entry counts as missing
    again = precompute(images, model, cache_dir, ray="off", progress=False)
    assert (again.computed, again.cached) == (1, 3)


@pytest.mark.parametrize("args,message", [
    (["--ray", "auto"], "needs Ray: install 'edgemask[ray]'"),
    (["--workers", "2"], "more than one worker needs Ray"),
    (["--workers", "0"], "--workers must be at least 1"),
])
def test_cli_errors_without_ray(exported_model, tmp_path, capsys, no_ray, args, message):
    model = exported_model("efficientvit-sam-l0")
    images = make_photo_folder(tmp_path / "photos", 1)
    assert main(["precompute", str(images), "--model", str(model), "--cache-dir", str(tmp_path / "c")] + args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_rejects_a_missing_folder_and_a_non_model(tmp_path, capsys):
    assert main(["precompute", str(tmp_path / "nope"), "--model", str(tmp_path)]) == 2
    assert "is not a folder of images" in capsys.readouterr().err
    assert main(["precompute", str(tmp_path), "--model", str(tmp_path)]) == 2
    assert "is not a model folder" in capsys.readouterr().err


def test_several_writers_keep_the_size_bound_together(tmp_path, monkeypatch):
    """Two processes' caches on one folder: each counts what the other wrote when it measures again."""
    monkeypatch.setattr(cache_module, "RESCAN_WRITES", 4)
    entry = np.ones((1, 16, 8, 8), np.float32)  # 4 KiB + header
    size = len(cache_module._encode(entry, "m"))
    bound = 10 * size
    a, b = (EmbeddingCache("m", tmp_path, memory_bytes=0, disk_bytes=bound) for _ in range(2))
    a.put("a" * 64, entry)
    b.put("b" * 64, entry)  # b measures the folder: two entries
    for i in range(7):  # a comes near the bound by its own count
        a.put(f"a{i:063x}", entry)
    for i in range(7):  # b too, unaware of a's writes until it measures again
        b.put(f"b{i:063x}", entry)
    on_disk = sum(p.stat().st_size for p in tmp_path.glob("*/*.emb"))
    # a writer misses at most the other's writes since it last measured (< RESCAN_WRITES of its own)
    assert on_disk <= bound + 4 * size
    assert not list(tmp_path.glob("*/*.tmp"))


def test_serve_reads_a_precomputed_cache_dir(exported_model, tmp_path):
    """`edgemask serve --cache-dir DIR` (the real command, on loopback) opens precomputed images cached."""
    import json
    import socket
    import subprocess
    import time
    import urllib.request

    model = exported_model("efficientvit-sam-l0")
    images = make_photo_folder(tmp_path / "photos", 2, broken=False)
    cache_dir = tmp_path / "shared-cache"
    assert precompute(images, model, cache_dir, ray="off", progress=False).computed == 2
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"EDGEMASK_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-m", "edgemask", "serve", str(images), "--model", str(model),
                             "--cache-dir", str(cache_dir), "--device", "cpu", "--port", str(port), "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline, lines = time.time() + 90, []
        while time.time() < deadline and not any(f"127.0.0.1:{port}/" in line for line in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        assert any(f"127.0.0.1:{port}/" in line for line in lines), "".join(lines)
        for name in ImageFolder(images).names():
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/images/{name}/embedding", data=b"{}",
                                             method="POST", headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as resp:
                assert json.loads(resp.read())["cached"] is True, name
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not (tmp_path / "home" / "embeddings").exists()  # nothing went to the default cache


def test_a_scan_deletes_what_a_killed_writer_left(tmp_path):
    import os

    cache = EmbeddingCache("m", tmp_path, memory_bytes=0)
    cache.put("a" * 64, np.ones((1, 4, 2, 2), np.float32))
    old = cache.dir / f".{'b' * 64}.emb.x1y2.tmp"
    fresh = cache.dir / f".{'c' * 64}.emb.x3y4.tmp"  # perhaps another writer's, still writing
    old.write_bytes(b"half")
    fresh.write_bytes(b"half")
    os.utime(old, (0, 0))
    assert EmbeddingCache("m", tmp_path).disk_used() > 0  # a new writer measures the folder
    assert not old.exists() and fresh.exists()
