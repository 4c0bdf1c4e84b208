"""The page's "get a model": download + export (edgemask.export.get) in a background thread.

One job at a time in the whole process (a second start is refused while one runs), so two
conversions never compete for memory. The status is polled by the page; when the job ends the
`on_ready(folder)` callback swaps the app's assistant, so the AI wand works without a restart.
"""

import threading
import time
from typing import Callable, Optional

_LOCK = threading.Lock()  # held while a job runs, process-wide


class ModelGetter:
    """Runs `edgemask.export.get.get_model` for the page and keeps its progress."""

    def __init__(self, on_ready: Callable, urls: Optional[dict] = None, sha256: Optional[dict] = None) -> None:
        self.on_ready = on_ready
        self.urls = dict(urls or {})  # model -> checkpoint URL (a mirror; tests use a local server)
        self.sha256 = dict(sha256 or {})  # model -> sha256 of the file at that URL, where it is not the official one
        self._status = {"state": "idle"}
        self._status_lock = threading.Lock()

    def status(self) -> dict:
        with self._status_lock:
            return dict(self._status)

    def start(self, name: str, precision: str) -> bool:
        """Starts getting `name` at `precision`; False when a job (of any app here) is running."""
        if not _LOCK.acquire(blocking=False):
            return False
        self._set(state="running", model=name, precision=precision, phase="download", done=0, total=None,
                  message="starting", started=time.time(), error=None, hint=None)
        threading.Thread(target=self._run, args=(name, precision), name="edgemask-model-get", daemon=True).start()
        return True

    def _set(self, **fields) -> None:
        with self._status_lock:
            self._status.update(fields)

    def _run(self, name: str, precision: str) -> None:
        from edgemask.export.download import DownloadError, OfflineError
        from edgemask.export.get import get_model, offline_hint

        try:
            folder, _ = get_model(
                name, precision, url=self.urls.get(name), sha256=self.sha256.get(name), show_progress=False,
                on_event=lambda phase, done, total, message: self._set(phase=phase, done=done, total=total,
                                                                       message=message),
            )
            self._set(phase="load", message="loading the model")
            self.on_ready(folder)
            self._set(state="done", message=f"{name} ({precision}) is ready", folder=str(folder))
        except OfflineError as exc:
            self._set(state="error", error=f"{exc.where}: you seem to be offline.",
                      hint=offline_hint(name, precision))
        except (DownloadError, ValueError, OSError) as exc:
            self._set(state="error", error=str(exc))
        except Exception as exc:  # a bug or a broken environment: the page says so, the server keeps running
            self._set(state="error", error=f"Getting {name} failed ({type(exc).__name__}: {exc}).")
        finally:
            _LOCK.release()
