"""`edgemask models download` against a local HTTP server on 127.0.0.1: progress, resume, hash checks,
clear offline errors."""

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edgemask.cli import main
from edgemask.export.download import DownloadError, download_checkpoint

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


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
    _Handler.drop_after = None
    _Handler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/sam_vit_b_01ec64.pth"
    httpd.shutdown()


def test_download_verifies_hash(server, tmp_path):
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    path = download_checkpoint("sam-vit-b", tmp_path, url=server, sha256=digest[:10], show_progress=False)
    assert path.read_bytes() == PAYLOAD
    assert path.name == "sam_vit_b_01ec64.pth"
    assert not list(tmp_path.glob("*.part"))


def test_wrong_hash_removes_file(server, tmp_path):
    # without --sha256 the official prefix (01ec64) from Meta's file name applies, and this payload fails it
    with pytest.raises(DownloadError, match="does not match"):
        download_checkpoint("sam-vit-b", tmp_path, url=server, show_progress=False)
    assert not list(tmp_path.iterdir())


def test_interrupted_download_resumes(server, tmp_path):
    _Handler.drop_after = 300_000
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    with pytest.raises(DownloadError, match="resume"):
        download_checkpoint("sam-vit-b", tmp_path, url=server, sha256=digest, show_progress=False)
    part = tmp_path / "sam_vit_b_01ec64.pth.part"
    assert part.stat().st_size == 300_000
    path = download_checkpoint("sam-vit-b", tmp_path, url=server, sha256=digest, show_progress=False)
    assert path.read_bytes() == PAYLOAD
    assert _Handler.requests[-1] == "bytes=300000-"


def test_cli_download_and_offline_error(server, tmp_path, capsys):
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    assert main(["models", "download", "sam-vit-b", "--url", server, "--sha256", digest, "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().endswith("sam_vit_b_01ec64.pth")
    # a port nothing listens on stands for "offline": one clear sentence, exit status 2, no traceback
    assert main(["models", "download", "efficientvit-sam-l0", "--url", "http://127.0.0.1:9/x.pt",
                 "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "offline" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
