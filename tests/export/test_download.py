"""`edgemask models download` against a local HTTP server on 127.0.0.1 serving files under the official
names: the registry's full sha256 and size checks, resume, clear offline errors."""

import dataclasses
import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edgemask.cli import main
from edgemask.export.download import DownloadError, download_checkpoint
from edgemask.export.registry import MODELS

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    drop_after = None  # bytes to send before cutting the connection (once)
    requests = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        start = 0
        rng = self.headers.get("Range")
        type(self).requests.append(rng)
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = type(self).drop_after
        if cut is not None:
            type(self).drop_after = None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """Serves PAYLOAD under any path; yields the URL root (http://127.0.0.1:PORT/)."""
    _Handler.drop_after = None
    _Handler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def official_payload(monkeypatch):
    """Makes PAYLOAD the official file of every model for the test: the registry's sha256 and size."""
    for name, spec in MODELS.items():
        monkeypatch.setitem(MODELS, name, dataclasses.replace(spec, sha256=DIGEST, size_bytes=len(PAYLOAD)))


def test_registry_has_the_full_sha256_of_every_official_file():
    # EdgeTAM's checkpoint sits in its GitHub repository with no published sha256 (README, "EdgeTAM")
    assert MODELS["edgetam"].sha256 is None and MODELS["edgetam"].size_bytes is None
    digests = [spec.sha256 for spec in MODELS.values() if spec.name != "edgetam"]
    assert all(isinstance(d, str) and re.fullmatch("[0-9a-f]{64}", d) for d in digests), digests
    assert len(set(digests)) == len(digests)
    # Meta's file names carry the start of the file's md5, not of its sha256
    for spec in MODELS.values():
        tag = re.search(r"_([0-9a-f]{6})\.pth$", spec.filename)
        assert tag is None or not spec.sha256.startswith(tag.group(1)), spec.name
    assert MODELS["sam-vit-b"].size_bytes == 375042383 and MODELS["sam-vit-h"].size_bytes == 2564550879


@pytest.mark.parametrize("name", ["sam-vit-l", "efficientvit-sam-l0", "efficientvit-sam-xl1"])
def test_a_wrong_payload_is_refused_naming_both_hashes(server, tmp_path, name):
    spec = MODELS[name]
    with pytest.raises(DownloadError) as caught:
        download_checkpoint(name, tmp_path, url=server + spec.filename, show_progress=False)
    message = str(caught.value)
    assert spec.sha256 in message and DIGEST in message and "removed" in message
    assert not list(tmp_path.iterdir())


def test_a_payload_of_the_wrong_size_is_refused_before_it_is_downloaded(server, tmp_path):
    spec = MODELS["sam-vit-b"]  # its published size is known: 375042383 bytes, not this 1 MiB
    with pytest.raises(DownloadError, match="offers 1048576 bytes, but the official file has 375042383"):
        download_checkpoint("sam-vit-b", tmp_path, url=server + spec.filename, show_progress=False)
    assert not list(tmp_path.iterdir())


def test_the_official_payload_passes(server, tmp_path, official_payload):
    for name in ("sam-vit-b", "efficientvit-sam-l0"):
        path = download_checkpoint(name, tmp_path, url=server + MODELS[name].filename, show_progress=False)
        assert path.read_bytes() == PAYLOAD and path.name == MODELS[name].filename
    assert not list(tmp_path.glob("*.part"))
    # a file already there and verified is not fetched again; a damaged one is
    count = len(_Handler.requests)
    download_checkpoint("sam-vit-b", tmp_path, url=server + "sam_vit_b_01ec64.pth", show_progress=False)
    assert len(_Handler.requests) == count
    (tmp_path / "sam_vit_b_01ec64.pth").write_bytes(b"x" * len(PAYLOAD))
    download_checkpoint("sam-vit-b", tmp_path, url=server + "sam_vit_b_01ec64.pth", show_progress=False)
    assert len(_Handler.requests) == count + 1 and (tmp_path / "sam_vit_b_01ec64.pth").read_bytes() == PAYLOAD


def test_interrupted_download_resumes(server, tmp_path, official_payload):
    _Handler.drop_after = 300_000
    url = server + "sam_vit_b_01ec64.pth"
    with pytest.raises(DownloadError, match="resume"):
        download_checkpoint("sam-vit-b", tmp_path, url=url, show_progress=False)
    part = tmp_path / "sam_vit_b_01ec64.pth.part"
    assert part.stat().st_size == 300_000
    path = download_checkpoint("sam-vit-b", tmp_path, url=url, show_progress=False)
    assert path.read_bytes() == PAYLOAD
    assert _Handler.requests[-1] == "bytes=300000-"


def test_a_resumed_download_with_a_damaged_start_is_refused(server, tmp_path, official_payload):
    part = tmp_path / "sam_vit_b_01ec64.pth.part"
    part.write_bytes(b"\0" * 300_000)  # the right length, the wrong bytes: only the hash can tell
    with pytest.raises(DownloadError, match=f"sha256 is [0-9a-f]{{64}}, expected {DIGEST}"):
        download_checkpoint("sam-vit-b", tmp_path, url=server + "sam_vit_b_01ec64.pth", show_progress=False)
    assert not list(tmp_path.iterdir())


def test_cli_download_and_offline_error(server, tmp_path, capsys):
    url = server + "sam_vit_b_01ec64.pth"
    # --sha256 verifies a mirror's file that is not the official one
    assert main(["models", "download", "sam-vit-b", "--url", url, "--sha256", DIGEST, "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().endswith("sam_vit_b_01ec64.pth")
    # a prefix is no sha256 (the hex digits in Meta's file names are the start of the md5)
    assert main(["models", "download", "sam-vit-b", "--url", url, "--sha256", DIGEST[:6], "--dir",
                 str(tmp_path / "b")]) == 2
    assert "64 hex digits" in capsys.readouterr().err
    # a port nothing listens on stands for "offline": one clear sentence, exit status 2, no traceback
    assert main(["models", "download", "efficientvit-sam-l0", "--url", "http://127.0.0.1:9/x.pt",
                 "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "offline" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
