"""`edgemask precompute` (in this process) on a SAM 2.1 model folder: its packed embeddings (16 MiB each)
land in the cache and the annotator's Predictor then opens the images without running the encoder."""

import numpy as np

from edgemask.cli import main
from edgemask.images import ImageFolder, read_rgb
from edgemask.runtime import Predictor
from photo_folder import make_photo_folder

PACKED_FLOATS = 256 * 64 * 64 + 32 * 256 * 256 + 64 * 128 * 128  # image_embed + both high-res feature maps


def test_precompute_sam2_tiny_then_set_image_runs_no_encoder(exported_model, tmp_path, capsys):
    model = exported_model("sam2.1-hiera-tiny")
    images = make_photo_folder(tmp_path / "photos", 2, broken=False)
    cache_dir = tmp_path / "cache"
    assert main(["precompute", str(images), "--model", str(model), "--cache-dir", str(cache_dir),
                 "--ray", "off", "--no-progress"]) == 0
    assert "done: 2 computed, 0 already cached" in capsys.readouterr().out
    entries = sorted(cache_dir.glob("*/*.emb"))
    assert len(entries) == 2 and all(4 * PACKED_FLOATS < e.stat().st_size < 4 * PACKED_FLOATS + 4096 for e in entries)

    folder = ImageFolder(images)
    photos = [read_rgb(folder.path(name)) for name in folder.names()]
    cached = Predictor(model, device="cpu", cache_dir=cache_dir)
    fresh = Predictor(model, device="cpu", cache=False)
    for i, image in enumerate(photos):
        cached.set_image(image)
        assert cached.embedding_cached and cached.encoder_runs == 0
        if i:
            continue  # one fresh encoder run is enough to compare the clicks with
        fresh.set_image(image)
        np.testing.assert_allclose(cached.get_image_embedding(), fresh.get_image_embedding(), atol=1e-5)
        h, w = image.shape[:2]
        click = dict(point_coords=np.array([[w / 3, h / 2]]), point_labels=np.array([1]))
        got, want = cached.predict(**click), fresh.predict(**click)
        np.testing.assert_allclose(got[2], want[2], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-4, atol=1e-5)
    assert cached.encoder_runs == 0 and fresh.encoder_runs == 1
