"""A bad checkpoint (wrong model, truncated, not a checkpoint) gives one clear line, not a traceback."""

import pytest
import torch

from edgemask.cli import main


def export_error(capsys, checkpoint, model="efficientvit-sam-l0", tmp_path=None):
    code = main(["export", model, "--checkpoint", str(checkpoint), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
    return err


def test_not_a_checkpoint(tmp_path, capsys):
    bogus = tmp_path / "notes.pth"
    bogus.write_text("these are not weights\n")
    assert "not a PyTorch checkpoint" in export_error(capsys, bogus, tmp_path=tmp_path)


def test_truncated_checkpoint(tmp_path, capsys, random_checkpoint):
    data = random_checkpoint("efficientvit-sam-l0").read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 3])
    assert "truncated" in export_error(capsys, cut, tmp_path=tmp_path)


def test_wrong_model(tmp_path, capsys, random_checkpoint):
    err = export_error(capsys, random_checkpoint("efficientvit-sam-l0"), model="sam-vit-b", tmp_path=tmp_path)
    assert "does not match sam-vit-b" in err and "EfficientViT-SAM" in err


def test_wrong_variant_shapes(tmp_path, capsys, random_checkpoint):
    sd = torch.load(random_checkpoint("efficientvit-sam-l0"), weights_only=True)
    key = next(k for k, v in sd.items() if v.ndim == 4)
    sd[key] = torch.zeros(1, 1, 1, 1)
    bad = tmp_path / "bad.pt"
    torch.save({"state_dict": sd}, bad)  # wrapped as MIT Han Lab's files are
    assert "other shapes" in export_error(capsys, bad, tmp_path=tmp_path)


def test_missing_checkpoint(tmp_path, capsys):
    err = export_error(capsys, tmp_path / "nope.pth", tmp_path=tmp_path)
    assert "nope.pth" in err


def test_unknown_model_and_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["export", "--help"])
    assert info.value.code == 0
    assert "--precision" in capsys.readouterr().out
    assert main(["export", "sam-vit-z", "--checkpoint", "x"]) == 2
    assert "unknown model" in capsys.readouterr().err
