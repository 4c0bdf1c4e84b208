"""Checkpoints are read without PyTorch (edgemask.export.torch_file): the same tensors torch.load gives,
and a file whose pickle would run code is refused in one line without running it."""

import pickle
import zipfile

import numpy as np
import torch

from bad_checkpoints import EVIL_MARKER, write_bad_checkpoints
from edgemask.cli import main
from edgemask.export.checkpoint import CheckpointError, load_state_dict


def test_same_tensors_as_torch_load(tmp_path, random_checkpoint):
    path = random_checkpoint("efficientvit-sam-l0")
    ours = load_state_dict(path)
    ref = torch.load(path, map_location="cpu", weights_only=True)
    assert list(ours) == list(ref)
    for key, value in ref.items():
        assert ours[key].dtype == value.numpy().dtype and ours[key].shape == tuple(value.shape), key
        assert np.array_equal(ours[key], value.numpy()), key


def test_views_dtypes_and_wrappers(tmp_path):
    t = torch.arange(24.0).reshape(4, 6)
    tensors = {"plain": t, "transposed": t.T, "slice": t[1:3, 2:], "half": t.half(), "int": torch.tensor(3),
               "bool": t > 5, "parameter": torch.nn.Parameter(t.clone())}
    for wrapper in ("state_dict", "model", None):
        path = tmp_path / f"{wrapper}.pt"
        torch.save({wrapper: tensors, "epoch": 7} if wrapper else tensors, path)
        ours = load_state_dict(path)
        for key, value in tensors.items():
            assert np.array_equal(ours[key], value.detach().numpy()), (wrapper, key)
    torch.save({"w": t.bfloat16()}, tmp_path / "bf16.pt")
    assert np.array_equal(load_state_dict(tmp_path / "bf16.pt")["w"], t.numpy())  # exact in bfloat16


def test_a_pickle_that_would_run_a_command_is_refused(tmp_path, capsys, random_checkpoint):
    marker = tmp_path / EVIL_MARKER
    evil = write_bad_checkpoints(tmp_path, random_checkpoint("efficientvit-sam-l0"))["evil.pth"]
    with zipfile.ZipFile(evil) as zf:  # really there: plain unpickling would run it
        assert b"system" in zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl")))

    code = main(["export", "efficientvit-sam-l0", "--checkpoint", str(evil), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "system" in err and "refused without running it" in err
    assert not marker.exists() and not (tmp_path / "out").exists()

    # the control: the same file through plain pickle does run the command
    with zipfile.ZipFile(evil) as zf:
        name = next(n for n in zf.namelist() if n.endswith("data.pkl"))

        class Plain(pickle.Unpickler):
            def persistent_load(self, pid):
                return None

        with zf.open(name) as f:
            try:
                Plain(f).load()
            except Exception:
                pass
    assert marker.exists()


def test_refuses_every_other_global(tmp_path):
    path = tmp_path / "builtins.pth"
    torch.save({"w": torch.zeros(1), "x": print}, path)  # any global beyond a tensor dict's needs
    try:
        load_state_dict(path)
    except CheckpointError as exc:
        assert "print" in str(exc) and "refused" in str(exc)
    else:
        raise AssertionError("a checkpoint naming builtins.print was accepted")
