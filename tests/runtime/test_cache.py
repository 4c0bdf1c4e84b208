import os
import time

import numpy as np
import pytest

from edgemask.runtime.cache import EmbeddingCache, image_key

EMB_BYTES = 256 * 64 * 64 * 4


def emb(seed):
    return np.random.default_rng(seed).standard_normal((1, 256, 64, 64)).astype(np.float32)


def test_image_key_depends_on_pixels_and_shape():
    a = np.zeros((4, 6, 3), np.uint8)
    b = a.copy()
    b[1, 1, 1] = 1
    assert image_key(a) == image_key(a.copy()) != image_key(b)
    assert image_key(a) != image_key(np.zeros((6, 4, 3), np.uint8))


def test_memory_lru_is_bounded_by_bytes():
    cache = EmbeddingCache("m", None, memory_bytes=2 * EMB_BYTES)
    cache.put("a", emb(0))
    cache.put("b", emb(1))
    assert cache.get("a") is not None  # a is now most recent
    cache.put("c", emb(2))
    assert cache.memory_used <= 2 * EMB_BYTES
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None


def test_disk_entry_survives_a_restart(tmp_path):
    EmbeddingCache("model-1", tmp_path).put("k", emb(3))
    fresh = EmbeddingCache("model-1", tmp_path)
    np.testing.assert_array_equal(fresh.get("k"), emb(3))
    assert fresh.hits_disk == 1
    assert EmbeddingCache("model-2", tmp_path).get("k") is None  # another model: another entry
    assert not list(tmp_path.rglob("*.tmp"))  # written atomically, nothing left behind


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_corrupt_disk_entry_reads_as_missing_and_is_removed(tmp_path, damage):
    EmbeddingCache("m", tmp_path).put("k", emb(4))
    (path,) = tmp_path.rglob("k.emb")
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[-100] ^= 0xFF
    elif damage == "garbage":
        data = bytearray(b"\x00" * len(data))
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    assert EmbeddingCache("m", tmp_path).get("k") is None
    assert not path.exists()


def test_disk_is_bounded_and_evicts_least_recently_used(tmp_path):
    cache = EmbeddingCache("m", tmp_path, memory_bytes=0, disk_bytes=int(2.5 * EMB_BYTES))
    for i, key in enumerate("abc"):
        cache.put(key, emb(i))
        os.utime(next(tmp_path.rglob(f"{key}.emb")), (time.time() + i, time.time() + i))
    files = sorted(p.stem for p in tmp_path.rglob("*.emb"))
    assert files == ["b", "c"]
    assert cache.disk_used() <= 2.5 * EMB_BYTES


def test_read_only_cache_dir_does_not_stop_puts(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache = EmbeddingCache("m", blocker)
    cache.put("k", emb(5))  # cannot write under a file: warns, keeps the memory entry
    assert cache.get("k") is not None
    assert "could not write" in caplog.text


@pytest.mark.parametrize("value", [np.nan, np.inf, 0.0])
def test_entry_with_valid_crc_but_nan_inf_or_zeros_is_refused_and_recomputed(tmp_path, tiny_model, value):
    from edgemask.runtime import Predictor
    from edgemask.runtime.cache import _encode
    from synthetic import synthetic_image

    predictor = Predictor(tiny_model, device="cpu", cache_dir=tmp_path)
    image = synthetic_image(40, 50)
    predictor.set_image(image)
    good = predictor.get_image_embedding().copy()
    key = predictor.image_key
    (path,) = tmp_path.rglob(f"{key}.emb")
    bad = good.copy()
    bad[...] = 0.0 if value == 0.0 else good
    if value != 0.0:
        bad[0, 3, 5, 7] = value
    path.write_bytes(_encode(bad, predictor.model.identity))  # a shared cache written by a broken encoder
    predictor.close()
    fresh = Predictor(tiny_model, device="cpu", cache_dir=tmp_path)
    assert fresh.cache.get(key) is None and not path.exists()  # refused and removed
    fresh.set_image(image)
    np.testing.assert_array_equal(fresh.get_image_embedding(), good)  # encoded again
    assert fresh.cache.get(key) is not None
    fresh.close()


def test_non_finite_encoder_output_is_not_cached(tmp_path):
    cache = EmbeddingCache("m", tmp_path)
    broken = emb(5)
    broken[0, 0, 0, 0] = np.nan
    cache.put("k", broken)
    assert cache.get("k") is None and not list(tmp_path.rglob("*.emb"))


def test_image_replaced_with_same_size_and_mtime_is_not_mistaken_for_the_old_one(tmp_path, tiny_model):
    from PIL import Image

    from edgemask.runtime import Predictor
    from synthetic import synthetic_image

    path, other = tmp_path / "photo.bmp", tmp_path / "other.bmp"  # BMP: the same size for the same shape
    Image.fromarray(synthetic_image(40, 50, seed=1)).save(path)
    Image.fromarray(synthetic_image(40, 50, seed=2)).save(other)
    cache_dir = tmp_path / "cache"
    first = Predictor(tiny_model, device="cpu", cache_dir=cache_dir)
    first.set_image_path(path)
    old_key = first.image_key
    first.close()
    st = path.stat()
    path.write_bytes(other.read_bytes())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # as `cp -p` leaves it
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    second = Predictor(tiny_model, device="cpu", cache_dir=cache_dir)
    second.set_image_path(path)
    assert second.image_key != old_key
    assert second.image_key == image_key(np.asarray(Image.open(path).convert("RGB")))
    second.close()
