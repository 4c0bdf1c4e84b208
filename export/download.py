"""Download official checkpoints (torch-free): resumable, with a progress bar and hash checks."""

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from edgemask import paths
from edgemask.export.registry import get_spec

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download that cannot complete; the message is one sentence for the user."""


class OfflineError(DownloadError):
    """The server cannot be reached at all (no network, DNS failure, refused); `where` says which."""

    where = ""


def download_checkpoint(name: str, dest_dir: Optional[Path] = None, url: Optional[str] = None,
                        sha256: Optional[str] = None, show_progress: bool = True, timeout: float = 30,
                        on_progress=None) -> Path:
    """Fetch model `name`'s official checkpoint into `dest_dir` (default: the checkpoint cache).

    Resumes a partial `.part` file with an HTTP Range request. Verifies the file's sha256 against
    `sha256` when given (a mirror of another file), else against the official file's sha256 and byte
    size in the registry. Returns the path of the verified file; a file already there and verified is
    not fetched again. `on_progress(bytes_done, bytes_total_or_None)` is called as the data comes in.
    """
    spec = get_spec(name)
    url = url or spec.url
    if sha256 is not None and not is_sha256(sha256):
        raise DownloadError(f"--sha256 must be the 64 hex digits of a sha256, not {sha256!r}")
    expected = (sha256 or spec.sha256 or "").lower() or None
    size = spec.size_bytes if sha256 is None else None
    dest_dir = Path(dest_dir) if dest_dir else paths.checkpoints_dir()
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / spec.filename
    if target.exists():
        if expected is None or file_sha256(target) == expected:
            return target
        target.unlink()
    part = target.with_name(target.name + ".part")
    _fetch(url, part, timeout, show_progress, on_progress, size)
    if size is not None and part.stat().st_size != size:
        got = part.stat().st_size
        part.unlink()
        raise DownloadError(f"{url} gave {got} bytes, expected {size}; the partial file was removed, try again")
    if expected is not None:
        digest = file_sha256(part)
        if digest != expected:
            part.unlink()
            raise DownloadError(f"{url} gave a file whose sha256 is {digest}, expected {expected}; "
                                "the file was removed")
    os.replace(part, target)
    return target


def is_sha256(text: str) -> bool:
    """True for the 64 hex digits of a sha256 (either case)."""
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)


def _fetch(url: str, part: Path, timeout: float, show_progress: bool, on_progress=None,
           size: Optional[int] = None) -> None:
    from tqdm import tqdm

    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "edgemask"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # already complete
            return
        raise DownloadError(f"{url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        error = OfflineError(
            f"cannot reach {urllib.request.urlparse(url).netloc} ({reason}): you seem to be offline; download "
            f"{url} elsewhere and pass the file to `edgemask export --checkpoint`"
        )
        error.where = f"cannot reach {urllib.request.urlparse(url).netloc} ({reason})"
        raise error from None
    with response:
        resumed = response.status == 206
        if not resumed:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        if size is not None and total is not None and total != size:  # refused before, not after, gigabytes
            raise DownloadError(f"{url} offers {total} bytes, but the official file has {size}; nothing was "
                                "downloaded (a wrong address or an updated file?)")
        with open(part, "ab" if resumed else "wb") as out, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
            desc=part.name.removesuffix(".part"), disable=not show_progress,
        ) as bar:
            try:
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
                    if on_progress is not None:
                        on_progress(bar.n, total)
            except (OSError, urllib.error.URLError) as exc:
                raise DownloadError(f"the download of {url} broke off ({exc}); run the same command again to resume") from None
    if total is not None and part.stat().st_size < total:
        raise DownloadError(f"the download of {url} stopped at {part.stat().st_size} of {total} bytes; "
                            "run the same command again to resume")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()
