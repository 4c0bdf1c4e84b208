"""Predictor behaviour on the tiny contract model: API shapes, caches, prefetch, threads, bad input."""

import threading

import numpy as np
import pytest

from edgemask.runtime import Predictor
from edgemask.runtime.cache import image_key
from synthetic import synthetic_image

POINT = (np.array([[30.0, 20.0]]), np.array([1]))


@pytest.fixture
def predictor(tiny_model, cache_dir):
    p = Predictor(tiny_model, device="cpu", cache_dir=cache_dir)
    yield p
    p.close()


@pytest.mark.parametrize("h,w", [(48, 80), (90, 37)])
def test_predict_shapes_match_sam_predictor(predictor, h, w):
    predictor.set_image(synthetic_image(h, w))
    assert predictor.original_size == (h, w)
    assert max(predictor.input_size) == 1024
    masks, iou, low = predictor.predict(*POINT)
    assert masks.shape == (3, h, w) and masks.dtype == bool
    assert iou.shape == (3,) and low.shape == (3, 256, 256) and low.dtype == np.float32
    masks, iou, low = predictor.predict(*POINT, multimask_output=False)
    assert masks.shape == (1, h, w) and iou.shape == (1,) and low.shape == (1, 256, 256)
    logits, _, _ = predictor.predict(*POINT, return_logits=True)
    assert logits.dtype == np.float32
    np.testing.assert_array_equal(logits > 0, predictor.predict(*POINT)[0])
    assert predictor.get_image_embedding().shape == (1, 256, 64, 64)


def test_multimask_picks_outputs_1_to_3_and_single_picks_0(predictor):
    predictor.set_image(synthetic_image(40, 40))
    _, iou_multi, low_multi = predictor.predict(*POINT)
    _, iou_single, low_single = predictor.predict(*POINT, multimask_output=False)
    # the tiny decoder offsets its four outputs by 0.5, -1, 0.25, 1
    np.testing.assert_allclose(low_multi - low_single, np.broadcast_to(np.array([-1.5, -0.25, 0.5])[:, None, None], low_multi.shape), atol=1e-5)


def test_predict_mask_returns_the_best_of_three(predictor):
    predictor.set_image(synthetic_image(50, 60))
    masks, iou, low = predictor.predict(*POINT)
    mask, score, low1 = predictor.predict_mask(*POINT)
    best = int(np.argmax(iou))
    assert score == pytest.approx(float(iou[best]))
    np.testing.assert_array_equal(mask, masks[best])
    np.testing.assert_array_equal(low1, low[best:best + 1])


def test_prompts_reach_the_decoder(predictor):
    predictor.set_image(synthetic_image(50, 60))
    base = predictor.predict(*POINT)[2]
    assert not np.allclose(base, predictor.predict(np.array([[59.0, 20.0]]), np.array([1]))[2])
    assert not np.allclose(base, predictor.predict(*POINT, box=np.array([1, 2, 30, 40]))[2])
    refined = predictor.predict(*POINT, mask_input=base[:1])[2]
    np.testing.assert_allclose(refined - base, np.broadcast_to(base[:1], base.shape), atol=1e-4)
    box_only = predictor.predict(box=np.array([1, 2, 30, 40]))[0]
    assert box_only.shape == (3, 50, 60)


def test_bgr_input_equals_rgb(predictor):
    image = synthetic_image(30, 40)
    predictor.set_image(image)
    rgb = predictor.get_image_embedding()
    predictor.set_image(np.ascontiguousarray(image[..., ::-1]), image_format="BGR")
    np.testing.assert_array_equal(predictor.get_image_embedding(), rgb)


def test_reopening_an_image_runs_no_encoder_also_after_restart(tiny_model, cache_dir):
    a, b = synthetic_image(40, 50, seed=1), synthetic_image(40, 50, seed=2)
    with Predictor(tiny_model, device="cpu", cache_dir=cache_dir) as p:
        p.set_image(a)
        p.set_image(b)
        p.set_image(a)
        assert p.encoder_runs == 2 and p.embedding_cached
        expected = p.predict(*POINT)[2]
    with Predictor(tiny_model, device="cpu", cache_dir=cache_dir) as restarted:
        restarted.set_image(a)
        assert restarted.encoder_runs == 0 and restarted.embedding_cached
        np.testing.assert_array_equal(restarted.predict(*POINT)[2], expected)


def test_corrupt_cache_entry_is_recomputed_silently(tiny_model, cache_dir):
    image = synthetic_image(40, 50)
    with Predictor(tiny_model, device="cpu", cache_dir=cache_dir) as p:
        p.set_image(image)
        expected = p.get_image_embedding()
    for path in cache_dir.rglob("*.emb"):
        path.write_bytes(path.read_bytes()[:1000])
    with Predictor(tiny_model, device="cpu", cache_dir=cache_dir) as p:
        p.set_image(image)
        assert p.encoder_runs == 1 and not p.embedding_cached
        np.testing.assert_array_equal(p.get_image_embedding(), expected)


def test_no_cache_always_encodes(tiny_model):
    with Predictor(tiny_model, device="cpu", cache=False) as p:
        image = synthetic_image(20, 20)
        p.set_image(image)
        p.set_image(image)
        assert p.encoder_runs == 2


def test_prefetch_warms_the_cache_from_paths_and_arrays(predictor, tmp_path):
    from PIL import Image

    images = [synthetic_image(30, 40, seed=s) for s in range(3)]
    Image.fromarray(images[0]).save(tmp_path / "a.png")
    predictor.prefetch([tmp_path / "a.png", str(tmp_path / "missing.png"), images[1], images[2]])
    assert predictor.wait_prefetch(timeout=30)
    assert predictor.encoder_runs == 3
    for image in images:
        predictor.set_image(image)
        assert predictor.embedding_cached
    assert predictor.encoder_runs == 3


def test_concurrent_set_image_and_prefetch_encode_each_image_once(tiny_model, cache_dir):
    images = [synthetic_image(64, 48, seed=s) for s in range(6)]
    with Predictor(tiny_model, device="cpu", cache_dir=cache_dir) as reference:
        expected = []
        for image in images:
            reference.set_image(image)
            expected.append(reference.get_image_embedding())
    with Predictor(tiny_model, device="cpu", cache="memory") as p:
        errors = []

        def worker(order):
            try:
                for i in order:
                    p.set_image(images[i])
                    np.testing.assert_array_equal(p.cache.get(image_key(images[i])), expected[i])
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        p.prefetch(images[::-1])
        threads = [threading.Thread(target=worker, args=(order,)) for order in ([0, 1, 2, 3, 4, 5], [5, 3, 1, 0, 2, 4])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert p.wait_prefetch(timeout=30)
        assert not errors
        assert p.encoder_runs == len(images)


def test_predict_before_set_image(predictor):
    with pytest.raises(RuntimeError, match="set_image"):
        predictor.predict(*POINT)
    with pytest.raises(RuntimeError, match="set_image"):
        predictor.get_image_embedding()


@pytest.mark.parametrize("kwargs,match", [
    (dict(), "no prompt"),
    (dict(point_coords=np.array([[1.0, 2.0]])), "point_labels must be supplied"),
    (dict(point_coords=np.array([1.0, 2.0]), point_labels=np.array([1])), "Nx2"),
    (dict(point_coords=np.array([[1.0, 2.0]]), point_labels=np.array([1, 0])), "to match"),
    (dict(point_coords=np.array([[61.0, 2.0]]), point_labels=np.array([1])), "outside the 60x50 image"),
    (dict(point_coords=np.array([[-1.0, 2.0]]), point_labels=np.array([1])), "outside"),
    (dict(point_coords=np.array([[np.nan, 2.0]]), point_labels=np.array([1])), "NaN"),
    (dict(point_coords=np.array([[1.0, 2.0]]), point_labels=np.array([7])), "point_labels must be 1"),
    (dict(box=np.array([1, 2, 3])), "4 numbers"),
    (dict(box=np.array([30, 2, 3, 40])), "x0 <= x1"),
    (dict(box=np.array([0, 0, 61, 10])), "not inside"),
    (dict(point_coords=np.array([[1.0, 2.0]]), point_labels=np.array([1]), mask_input=np.zeros((64, 64))),
     "mask_input must be 1x256x256"),
])
def test_bad_prompts_raise_one_clear_value_error(predictor, kwargs, match):
    predictor.set_image(synthetic_image(50, 60))
    with pytest.raises(ValueError, match=match):
        predictor.predict(**kwargs)


def test_bad_images_raise_value_error(predictor):
    for bad in (np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float64), "image.png"):
        with pytest.raises(ValueError):
            predictor.set_image(bad)
    assert not predictor.is_image_set


def test_bad_model_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        Predictor(tmp_path / "missing")


def test_a_cached_image_file_is_found_without_decoding_it(tiny_model, cache_dir, tmp_path):
    """set_image_path keys the cache lookup by the file's path, size and mtime: a file whose
    embedding is cached is not read again (also after a restart); a changed file is."""
    import os

    from PIL import Image

    from edgemask.runtime.transforms import load_image

    path = tmp_path / "photo.png"
    Image.fromarray(synthetic_image(40, 50, seed=4)).save(path)
    reads = []

    def read(p):
        reads.append(p)
        return load_image(p)

    with Predictor(tiny_model, device="cpu", cache_dir=cache_dir) as p:
        p.set_image_path(path, read=read)
        assert (len(reads), p.encoder_runs, p.embedding_cached) == (1, 1, False)
        expected = p.predict(*POINT)[2]
        p.set_image(synthetic_image(40, 50, seed=5))
        p.set_image_path(path, read=read)
        assert (len(reads), p.encoder_runs, p.embedding_cached) == (1, 2, True)
        assert p.original_size == (40, 50)  # (h, w) from the index, as the decoded image had it
        np.testing.assert_array_equal(p.predict(*POINT)[2], expected)
    with Predictor(tiny_model, device="cpu", cache_dir=cache_dir) as restarted:
        restarted.set_image_path(path, read=read)
        assert (len(reads), restarted.encoder_runs, restarted.embedding_cached) == (1, 0, True)
        np.testing.assert_array_equal(restarted.predict(*POINT)[2], expected)
        # another picture under the same name: read, encoded, not mistaken for the cached one
        Image.fromarray(synthetic_image(40, 50, seed=6)).save(path)
        os.utime(path, ns=(1, 1))
        restarted.set_image_path(path, read=read)
        assert (len(reads), restarted.encoder_runs, restarted.embedding_cached) == (2, 1, False)


def test_prefetch_of_a_known_cached_file_decodes_nothing(tiny_model, cache_dir, tmp_path, monkeypatch):
    from PIL import Image

    from edgemask.runtime import predictor as predictor_module

    path = tmp_path / "a.png"
    Image.fromarray(synthetic_image(30, 40, seed=1)).save(path)
    with Predictor(tiny_model, device="cpu", cache_dir=cache_dir) as p:
        p.prefetch([path])
        assert p.wait_prefetch(timeout=30) and p.encoder_runs == 1
        calls = []
        monkeypatch.setattr(predictor_module, "load_image", lambda *a: calls.append(a) or 1 / 0)
        p.prefetch([path])
        assert p.wait_prefetch(timeout=30)
        assert calls == [] and p.encoder_runs == 1
        p.set_image_path(path)  # found through the index the prefetch filled: no decode either
        assert p.embedding_cached and calls == []
