"""Encode ahead into the embedding cache: the one scheduler behind the annotator's prefetch,
`edgemask precompute` and its Ray actors.

Rules it keeps: at most one encoder run per image key is in flight (a second request for the same
image waits for the first and then reads the cache); one encoder run at a time per encoder;
interactive requests (foreground) go before background work; background work comes from a queue
that a new `prefetch` call replaces, served by one daemon thread.
"""

import logging
import queue
import threading
from pathlib import Path
from typing import Callable, Iterable, Optional, Tuple

import numpy as np

from edgemask.runtime.cache import EmbeddingCache, file_identity, image_key
from edgemask.runtime.engine import Embedding
from edgemask.runtime.transforms import check_image, load_image

log = logging.getLogger("edgemask.runtime")


class EncodeAhead:
    """Schedules encoder runs whose results go into `cache`.

    encode: float32 encoder input -> Embedding (one encoder; never called concurrently).
    prepare: HxWx3 uint8 RGB image -> the encoder input (resize and pad for the model).
    cache: where embeddings go, or None (then nothing is shared and prefetch does nothing).
    """

    def __init__(self, encode: Callable[[np.ndarray], Embedding], prepare: Callable[[np.ndarray], np.ndarray],
                 cache: Optional[EmbeddingCache]):
        self._encode = encode
        self._prepare = prepare
        self.cache = cache
        self.runs = 0  # encoder runs so far
        self._encoder_lock = threading.Lock()
        self._inflight_lock = threading.Lock()
        self._inflight = {}  # key -> Event set when its owner is done
        self._foreground = 0  # foreground requests waiting: background work yields to them
        self._foreground_done = threading.Condition(self._inflight_lock)
        self._queue: "queue.Queue" = queue.Queue()
        self._worker: Optional[threading.Thread] = None
        self._pending = 0
        self._idle = threading.Condition()

    # -- one image ------------------------------------------------------------------------
    def embedding(self, key: str, make_input: Callable[[], np.ndarray],
                  foreground: bool = True) -> Tuple[Embedding, bool]:
        """(embedding, found in the cache) for an image key; `make_input()` is called only when
        the encoder must run. Background requests wait while foreground ones are waiting."""
        if foreground:
            with self._inflight_lock:
                self._foreground += 1
        try:
            return self._embedding(key, make_input, foreground)
        finally:
            if foreground:
                with self._inflight_lock:
                    self._foreground -= 1
                    self._foreground_done.notify_all()

    def ensure(self, image: np.ndarray, key: Optional[str] = None) -> bool:
        """Puts an RGB image's embedding into the cache (background priority); True if it was
        there already (or another caller computed it meanwhile), False if this call encoded it."""
        key = key or image_key(image)
        _, cached = self.embedding(key, lambda: self._prepare(image), foreground=False)
        return cached

    def ensure_file(self, path, read=load_image) -> bool:
        """ensure() for an image file, decoded by `read(path)`: a file the cache's file index knows,
        with its embedding cached, is not decoded at all. Records the file in the index."""
        identity = file_identity(path)
        known = self.cache.files.get(identity) if self.cache is not None else None
        if known is not None and self.cache.get(known[0]) is not None:  # read back intact (and kept in memory)
            return True
        image = read(path)
        key = image_key(image)
        cached = self.ensure(image, key)
        if self.cache is not None:
            self.cache.files.put(identity, key, *image.shape[:2])
        return cached

    # -- a queue of upcoming images ---------------------------------------------------------
    def prefetch(self, images: Iterable) -> None:
        """Encodes upcoming images (paths or HxWx3 RGB arrays) into the cache in a background
        thread. A new call replaces the images still waiting from an earlier one. Images that
        fail to load are skipped (logged at debug level)."""
        if self.cache is None:
            return
        items = list(images)
        with self._idle:
            self._drop_waiting()
            for item in items:
                self._queue.put(item)
                self._pending += 1
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._prefetch_loop, name="edgemask-prefetch", daemon=True)
                self._worker.start()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Blocks until the prefetch queue is empty; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Stops the prefetch thread (images still waiting are dropped)."""
        with self._idle:
            self._drop_waiting()
            self._queue.put(None)
            self._idle.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=60)
            self._worker = None

    # -- internals --------------------------------------------------------------------------
    def _drop_waiting(self) -> None:
        """Under _idle: empties the queue."""
        while True:
            try:
                self._queue.get_nowait()
                self._pending -= 1
            except queue.Empty:
                return

    def _prefetch_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                if isinstance(item, (str, Path)):
                    self.ensure_file(item)
                else:
                    self.ensure(check_image(item))
            except Exception as exc:  # noqa: BLE001 - a bad file must not kill the thread
                log.debug("prefetch of %r skipped: %s", item if isinstance(item, (str, Path)) else "array", exc)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _embedding(self, key: str, make_input, foreground: bool) -> Tuple[Embedding, bool]:
        while True:
            if self.cache is not None:
                host = self.cache.get(key)
                if host is not None:
                    return Embedding(host), True
            host = None
            with self._inflight_lock:
                if not foreground:  # let interactive requests go first
                    self._foreground_done.wait_for(lambda: self._foreground == 0)
                event = self._inflight.get(key) if self.cache is not None else None
                owner = event is None
                if owner and self.cache is not None:
                    # an owner puts into the cache before it leaves _inflight: check again
                    host = self.cache.get(key)
                if owner and host is None:
                    event = threading.Event()
                    self._inflight[key] = event
            if host is not None:
                return Embedding(host), True
            if not owner:
                event.wait()
                continue  # the owner put it in the cache (or failed: then we try ourselves)
            try:
                inp = make_input()
                with self._encoder_lock:
                    embedding = self._encode(inp)
                    self.runs += 1
                if self.cache is not None:
                    self.cache.put(key, embedding.host)
                return embedding, False
            finally:
                with self._inflight_lock:
                    self._inflight.pop(key, None)
                event.set()
