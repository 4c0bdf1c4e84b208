import json

import numpy as np
import pytest
from PIL import Image

from edgemask.cli import main
from synthetic import synthetic_image


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(synthetic_image(60, 80)).save(path)
    return path


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))


def test_segment_writes_mask_and_polygons(tiny_model, image_file, tmp_path, capsys):
    out, polys = tmp_path / "out" / "mask.png", tmp_path / "mask.json"
    code = main(["segment", str(image_file), "--model", str(tiny_model), "--point", "40,30",
                 "--point", "5,5,0", "--box", "10,10,70,50", "--out", str(out), "--polygons", str(polys)])
    assert code == 0
    mask = np.asarray(Image.open(out))
    assert mask.shape == (60, 80) and set(np.unique(mask)) <= {0, 255}
    data = json.loads(polys.read_text())
    assert data["width"] == 80 and data["height"] == 60
    if mask.any():
        assert data["polygons"] and len(data["polygons"][0]["exterior"]) >= 3
    assert "wrote" in capsys.readouterr().out


def test_segment_multimask_keeps_the_best_mask(tiny_model, image_file, tmp_path):
    from edgemask.runtime import Predictor

    out = tmp_path / "mask.png"
    assert main(["segment", str(image_file), "--model", str(tiny_model), "--point", "40,30", "--multimask",
                 "--out", str(out)]) == 0
    p = Predictor(tiny_model, device="cpu", cache=False)
    p.set_image(synthetic_image(60, 80))
    masks, scores, _ = p.predict(np.array([[40, 30]]), np.array([1]))
    np.testing.assert_array_equal(np.asarray(Image.open(out)) > 0, masks[int(np.argmax(scores))])


@pytest.mark.parametrize("args,message", [
    (["--point", "400,30"], "outside the 80x60 image"),
    ([], "at least one --point"),
    (["--point", "4,3,7"], "label must be 1"),
])
def test_segment_errors_are_one_line(tiny_model, image_file, tmp_path, capsys, args, message):
    code = main(["segment", str(image_file), "--model", str(tiny_model), "--out", str(tmp_path / "m.png")] + args)
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_segment_missing_image_and_model(tiny_model, image_file, tmp_path, capsys):
    assert main(["segment", str(tmp_path / "nope.png"), "--model", str(tiny_model), "--point", "1,1",
                 "--out", str(tmp_path / "m.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["segment", str(image_file), "--model", str(tmp_path / "nomodel"), "--point", "1,1",
                 "--out", str(tmp_path / "m.png")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_malformed_point_is_an_argparse_error(tiny_model, image_file, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["segment", str(image_file), "--model", str(tiny_model), "--point", "1", "--out", "m.png"])
    assert exc.value.code == 2


def test_bench_prints_table_and_json(tiny_model, tmp_path, capsys):
    report = tmp_path / "bench.json"
    image = tmp_path / "small.png"
    Image.fromarray(synthetic_image(120, 200)).save(image)
    assert main(["bench", "--model", str(tiny_model), "--image", str(image), "--encoder-runs", "2",
                 "--click-runs", "3", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    for row in ("encoder", "decoder, 1 point", "decoder, 5 points", "decoder, box", "click end to end", "peak RSS"):
        assert row in out
    data = json.loads(report.read_text())
    assert data["image"] == [200, 120] and data["encoder"]["runs"] == 2
    for key in ("encoder", "decoder 1 point", "decoder 5 points", "decoder box", "click end-to-end"):
        assert 0 < data[key]["median_ms"] <= data[key]["p90_ms"]
    assert data["peak_rss_mb"] > 0


def test_doctor_lists_providers_models_and_cache(tiny_model, tmp_path, capsys):
    import shutil

    shutil.copytree(tiny_model, tmp_path / "home" / "models" / "tiny-fp32")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "CPUExecutionProvider" in out and "tiny-fp32" in out and "embedding cache" in out
    assert main(["doctor", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["models"][0]["status"] == "ok" and info["cpu"]["threads"] >= 1


def test_doctor_without_a_model_suggests_models_get(tmp_path, capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "none (edgemask models get efficientvit-sam-l0" in out and "models download" not in out


@pytest.mark.slow
def test_bench_side_by_side_with_pytorch(exported_model, random_checkpoint, tmp_path, capsys):
    pytest.importorskip("torch")
    report = tmp_path / "bench.json"
    assert main(["bench", "--model", str(exported_model("efficientvit-sam-l0")), "--checkpoint",
                 str(random_checkpoint("efficientvit-sam-l0")), "--encoder-runs", "1", "--click-runs", "2",
                 "--json", str(report)]) == 0
    assert "speed-up" in capsys.readouterr().out
    torch_part = json.loads(report.read_text())["torch"]
    for key in ("encoder", "predict 1 point", "click end-to-end"):
        assert torch_part[key]["median_ms"] > 0 and torch_part[key]["ours_median_ms"] > 0


def test_model_can_be_named_from_the_models_cache(tiny_model, image_file, tmp_path):
    import shutil

    shutil.copytree(tiny_model, tmp_path / "home" / "models" / "tiny-fp32")
    out = tmp_path / "mask.png"
    assert main(["segment", str(image_file), "--model", "tiny-fp32", "--point", "40,30", "--out", str(out)]) == 0
    assert out.is_file()
