"""`edgemask models get`: download from a local HTTP server on 127.0.0.1 and export into the cache in one
command; a second run with the folder current does nothing and says so; offline, one sentence."""

import hashlib
import json
import os

import pytest

from edgemask.cli import main
from file_server import FileServer

pytestmark = pytest.mark.slow


@pytest.fixture
def served_l0(tmp_path, random_checkpoint):
    root = tmp_path / "www"
    root.mkdir()
    os.symlink(random_checkpoint("efficientvit-sam-l0"), root / "efficientvit_sam_l0.pt")
    with FileServer(root) as server:
        yield server


def _sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_a_file_that_is_not_the_official_one_is_refused(served_l0, tmp_path, monkeypatch, capsys, random_checkpoint):
    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))
    url = served_l0.url("efficientvit_sam_l0.pt")
    assert main(["models", "get", "efficientvit-sam-l0", "--precision", "fp32", "--url", url]) == 2
    err = capsys.readouterr().err
    message = err.strip().splitlines()[-1]  # after the download's progress bar
    assert message.startswith("edgemask models: error: ") and "Traceback" not in err
    from edgemask.export.registry import get_spec

    assert get_spec("efficientvit-sam-l0").sha256 in message  # the expected and the actual hash, in full
    assert _sha256(random_checkpoint("efficientvit-sam-l0")) in message
    assert not list((tmp_path / "home" / "checkpoints").iterdir())
    assert not (tmp_path / "home" / "models").exists()


def test_get_then_current(served_l0, tmp_path, monkeypatch, capsys, random_checkpoint):
    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))
    # the random checkpoint stands for a mirror's file: --sha256 names its hash instead of the official one
    url = served_l0.url("efficientvit_sam_l0.pt")
    mirror = ["--url", url, "--sha256", _sha256(random_checkpoint("efficientvit-sam-l0"))]
    assert main(["models", "get", "efficientvit-sam-l0", "--precision", "fp32", *mirror]) == 0
    out = capsys.readouterr()
    folder = tmp_path / "home" / "models" / "efficientvit-sam-l0-fp32"
    assert f"ready: {folder}" in out.out
    assert "filling the encoder graph" in out.out  # progress of the conversion, torch-free path
    meta = json.loads((folder / "model.json").read_text())
    assert meta["model"] == "efficientvit-sam-l0" and meta["precision"] == "fp32"
    assert meta["checkpoint"]["file"] == "efficientvit_sam_l0.pt"
    assert (tmp_path / "home" / "checkpoints" / "efficientvit_sam_l0.pt").is_file()
    assert len(served_l0.requests) == 1

    assert main(["models", "get", "efficientvit-sam-l0", "--precision", "fp32", *mirror]) == 0
    assert "is current already; nothing to do" in capsys.readouterr().out
    assert len(served_l0.requests) == 1  # nothing fetched again

    (folder / "decoder_click.onnx").unlink()  # no longer current: exported again, not downloaded again
    assert main(["models", "get", "efficientvit-sam-l0", "--precision", "fp32", *mirror]) == 0
    assert "ready:" in capsys.readouterr().out and (folder / "decoder_click.onnx").is_file()
    assert len(served_l0.requests) == 1


def test_offline_says_what_to_fetch_and_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))
    code = main(["models", "get", "sam-vit-b", "--url", "http://127.0.0.1:9/sam_vit_b_01ec64.pth"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "offline" in err
    assert "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth" in err
    from edgemask.export.get import preferred_precision  # this machine's: int8 with VNNI, else fp32 / fp16

    assert f"edgemask export sam-vit-b --checkpoint sam_vit_b_01ec64.pth --precision {preferred_precision()}" in err
