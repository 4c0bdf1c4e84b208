"""`edgemask prelabel`: proposals stored per image content, resumable, readable back as masks; bad input."""

import json

import numpy as np
import pytest
from PIL import Image

from edgemask.cli import main
from synthetic import synthetic_image

FAST = ["--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0",
        "--box-nms-thresh", "1.0", "--device", "cpu", "--no-progress"]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(synthetic_image(60, 80, seed=1)).save(folder / "a.png")
    Image.fromarray(synthetic_image(50, 40, seed=2)).save(folder / "sub" / "b.png")
    return folder


def stored(cache):
    return sorted((cache / "proposals").glob("*/*.json"))


def test_prelabel_stores_the_generators_masks_and_resumes(tiny_model, photos, tmp_path, capsys):
    from edgemask.runtime import Predictor
    from edgemask.runtime.cache import image_key
    from edgemask.runtime.mask_generator import MaskGenerator
    from edgemask.runtime.shapes import box_runs_to_mask

    cache = tmp_path / "cache"
    assert main(["prelabel", str(photos), "--model", str(tiny_model), "--cache-dir", str(cache)] + FAST) == 0
    assert "2 computed" in capsys.readouterr().out
    files = stored(cache)
    assert len(files) == 2
    image = synthetic_image(60, 80, seed=1)
    doc = json.loads((files[0].parent / f"{image_key(image)}.json").read_text())
    assert doc["format"] == "edgemask-proposals/1" and (doc["width"], doc["height"]) == (80, 60)
    expected = MaskGenerator(Predictor(tiny_model, device="cpu", cache=False), points_per_side=4,
                             pred_iou_thresh=0, stability_score_thresh=0, box_nms_thresh=1.0).generate(image)
    assert len(doc["proposals"]) == len(expected) > 0
    for got, want in zip(doc["proposals"], expected):
        assert np.array_equal(box_runs_to_mask(got, 60, 80), want["segmentation"])
        assert got["area"] == want["area"] and got["point"] == pytest.approx(want["point_coords"][0])

    # a second run computes nothing; a new image is the only one computed; new parameters redo all
    before = [f.stat().st_mtime_ns for f in files]
    assert main(["prelabel", str(photos), "--model", str(tiny_model), "--cache-dir", str(cache)] + FAST) == 0
    out = capsys.readouterr().out
    assert "0 computed" in out and "2 already done" in out
    assert [f.stat().st_mtime_ns for f in files] == before
    Image.fromarray(synthetic_image(30, 30, seed=3)).save(photos / "c.png")
    assert main(["prelabel", str(photos), "--model", str(tiny_model), "--cache-dir", str(cache)] + FAST) == 0
    out = capsys.readouterr().out
    assert "1 computed" in out and "2 already done" in out and len(stored(cache)) == 3
    assert main(["prelabel", str(photos), "--model", str(tiny_model), "--cache-dir", str(cache)]
                + FAST[:1] + ["3"] + FAST[2:]) == 0
    assert "3 computed" in capsys.readouterr().out


def test_prelabel_reports_an_unreadable_image_and_goes_on(tiny_model, photos, tmp_path, capsys):
    (photos / "broken.png").write_bytes(b"not a png")
    code = main(["prelabel", str(photos), "--model", str(tiny_model), "--cache-dir", str(tmp_path / "c")] + FAST)
    out = capsys.readouterr().out
    assert code == 1 and "2 computed" in out and "broken.png" in out and len(stored(tmp_path / "c")) == 2


@pytest.mark.parametrize("args,message", [
    (["--points-per-side", "0"], "points_per_side must be a whole number from 1 to 128"),
    (["--points-per-side", "5000"], "at most 16,384 points"),
    (["--crop-n-layers", "7"], "crop_n_layers must be"),
])
def test_prelabel_bad_parameters_are_one_line(tiny_model, photos, tmp_path, capsys, args, message):
    code = main(["prelabel", str(photos), "--model", str(tiny_model), "--cache-dir", str(tmp_path / "c"),
                 "--no-progress"] + args)
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "c" / "proposals").exists()


def test_prelabel_without_a_model_or_folder(photos, tmp_path, capsys):
    assert main(["prelabel", str(photos), "--model", str(tmp_path / "nothing"), "--no-progress"]) == 2
    assert "is not a model folder" in capsys.readouterr().err
    assert main(["prelabel", str(tmp_path / "missing"), "--model", str(tmp_path), "--no-progress"]) == 2
    assert "is not a folder of images" in capsys.readouterr().err


def test_prelabel_on_a_local_ray_stores_what_the_in_process_run_stores(tiny_model, photos, tmp_path, capsys,
                                                                        monkeypatch):
    pytest.importorskip("ray", reason="the [ray] extra is not installed")
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only
    here, there = tmp_path / "here", tmp_path / "there"
    assert main(["prelabel", str(photos), "--model", str(tiny_model), "--cache-dir", str(here)] + FAST) == 0
    assert main(["prelabel", str(photos), "--model", str(tiny_model), "--cache-dir", str(there),
                 "--ray", "--workers", "1"] + FAST) == 0
    assert "2 computed" in capsys.readouterr().out.splitlines()[-1]
    ours, theirs = stored(here), stored(there)
    assert [f.name for f in ours] == [f.name for f in theirs] and len(ours) == 2
    for a, b in zip(ours, theirs):
        a, b = json.loads(a.read_text()), json.loads(b.read_text())
        assert a["proposals"] == b["proposals"] and a["params"] == b["params"] and a["proposals"]
