"""A static file server on 127.0.0.1 in a thread, standing in for the checkpoints' hosts."""

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


class FileServer:
    """Serves the files of `root`; `requests` lists the paths asked for. Use as a context manager."""

    def __init__(self, root) -> None:
        self.requests = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
