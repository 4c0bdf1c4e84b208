"""Frames: a folder of images in name order is a sequence; `edgemask dataset import-video` writes a
video's frames (a tiny MJPG video made here) so that name order is frame order."""

import cv2
import numpy as np
import pytest

from edgemask.cli import main
from edgemask.frames import sequence_names

SIZE = (48, 32)  # width, height


def write_video(path, n):
    """n frames; frame i is filled with grey level 20 * i, so a frame's number can be read back."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, SIZE)
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((SIZE[1], SIZE[0], 3), 20 * i, np.uint8))
    writer.release()
    return path


def grey_level(path):
    return float(cv2.imread(str(path)).mean())


def test_every_nth_frame_is_written_in_name_order(tmp_path, capsys):
    video = write_video(tmp_path / "dive.avi", 12)
    out = tmp_path / "frames"
    assert main(["dataset", "import-video", str(video), "--every", "5", "--out", str(out)]) == 0
    names = sequence_names(out)
    assert names == ["dive_000000.jpg", "dive_000005.jpg", "dive_000010.jpg"]
    levels = [grey_level(out / name) for name in names]
    assert levels == pytest.approx([0, 100, 200], abs=4)
    assert "wrote 3 of 12 frames" in capsys.readouterr().out


def test_name_order_is_frame_order_past_ten_frames(tmp_path):
    video = write_video(tmp_path / "b.avi", 12)
    assert main(["dataset", "import-video", str(video)]) == 0
    out = tmp_path / "b_frames"
    levels = [grey_level(out / name) for name in sequence_names(out)]
    assert len(levels) == 12 and levels == sorted(levels)


def test_existing_frames_are_not_overwritten(tmp_path, capsys):
    video = write_video(tmp_path / "dive.avi", 3)
    out = tmp_path / "frames"
    out.mkdir()
    (out / "dive_000000.jpg").write_bytes(b"mine")
    assert main(["dataset", "import-video", str(video), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "nothing is overwritten" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert (out / "dive_000000.jpg").read_bytes() == b"mine" and len(list(out.iterdir())) == 1


@pytest.mark.parametrize("case", ["every 0", "not a video", "missing"])
def test_bad_input_is_one_sentence(tmp_path, capsys, case):
    video = write_video(tmp_path / "v.avi", 2)
    if case == "not a video":
        video = tmp_path / "notes.avi"
        video.write_bytes(b"not a video at all")
    if case == "missing":
        video = tmp_path / "gone.avi"
    every = "0" if case == "every 0" else "1"
    assert main(["dataset", "import-video", str(video), "--every", every, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert {"every 0": "--every", "not a video": "not a video", "missing": "not a file"}[case] in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
