"""Sequences of frames: a folder of images in name order, and a video written out as such a folder.

Frame order is the images folder's own order (ImageFolder.names(): plain sort of the names, sub-folder
path included), so the page's next image is the sequence's next frame. import_video names its frames
with a zero-padded number, so that this order is the video's.
"""

from pathlib import Path
from typing import Callable, List, Optional

import cv2

from edgemask.images import ImageFolder

FRAME_DIGITS = 6
FRAME_SUFFIX = ".jpg"
JPEG_QUALITY = 95


class VideoError(ValueError):
    """A video that cannot be written out as frames; the message says why."""


def sequence_names(folder) -> List[str]:
    """The image names of `folder` in frame order."""
    return ImageFolder(folder).names()


def frame_name(stem: str, index: int) -> str:
    """The file name of the video frame number `index` (counted from 0)."""
    return f"{stem}_{index:0{FRAME_DIGITS}d}{FRAME_SUFFIX}"


def default_out(video: Path) -> Path:
    """Where import_video writes without an --out: a folder named after the video, beside it."""
    return video.with_name(video.stem + "_frames")


def import_video(video, every: int = 1, out=None, progress: Optional[Callable[[int, int], None]] = None) -> dict:
    """Write every `every`-th frame of `video` (0, N, 2N, ...) into `out` as JPEG images named
    <stem>_<frame number>.jpg; returns {"out", "written", "frames"}. Nothing is overwritten: a folder that
    already holds frames of this video is refused. progress(frames read, frames expected or 0)."""
    video = Path(video)
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise VideoError(f"--every must be a whole number of at least 1 (got {every})")
    if not video.is_file():
        raise VideoError(f"{video} is not a file")
    out = Path(out) if out is not None else default_out(video)
    stem = video.stem
    if out.exists() and not out.is_dir():
        raise VideoError(f"{out} exists and is not a folder")
    taken = sorted(out.glob(f"{stem}_*{FRAME_SUFFIX}")) if out.is_dir() else []
    if taken:
        shown = ", ".join(t.name for t in taken[:3]) + (", ..." if len(taken) > 3 else "")
        raise VideoError(f"{out} already holds frames of {video.name} ({shown}); "
                         "nothing is overwritten: remove them or choose another --out")
    capture = cv2.VideoCapture(str(video))
    try:
        ok, frame = capture.read() if capture.isOpened() else (False, None)
        if not ok:
            raise VideoError(f"{video} is not a video OpenCV can read (or it has no frames)")
        expected = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        out.mkdir(parents=True, exist_ok=True)
        index, written = 0, 0
        while ok:
            if index % every == 0:
                path = out / frame_name(stem, index)
                if not cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                    raise VideoError(f"cannot write {path}")
                written += 1
            index += 1
            if progress:
                progress(index, expected)
            ok, frame = capture.read()
    finally:
        capture.release()
    return {"out": out, "written": written, "frames": index}
