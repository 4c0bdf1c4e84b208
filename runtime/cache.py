"""Image-embedding cache: an LRU in memory bounded by bytes, and files on disk bounded by bytes.

Entries are keyed by the image's content hash and the model's identity (the hash of
its model.json), so a reopened image, also after a restart, needs no encoder run.
Disk files are written atomically (temporary file + os.replace) and carry a CRC32;
an entry that cannot be read back intact is deleted and treated as missing. Several
processes (or machines, on a shared folder) may write one cache directory: temporary
names are unique, and each writer re-measures the folder every RESCAN_WRITES writes so
that the size bound holds for their sum.

`FileIndex` remembers which content hash a file had (by its path, size, modification time and a
hash of its bytes: a file replaced by another of the same size and mtime is not mistaken for it),
so an image file whose embedding is cached is found without decoding it again. An entry whose
values are not finite, or all zero, is refused like a damaged one (its CRC may still be valid).
"""

import hashlib
import json
import logging
import os
import sqlite3
import tempfile
import threading
import time
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Optional

import numpy as np

log = logging.getLogger("edgemask.runtime")

MAGIC = b"EDGEMASK-EMBEDDING/1\n"
SUFFIX = ".emb"
DEFAULT_MEMORY_BYTES = 128 * 2**20
DEFAULT_DISK_BYTES = 4 * 2**30
RESCAN_WRITES = 32  # writes after which the disk usage is measured again (other writers add to it)
STALE_TMP_SECONDS = 3600  # a temporary file this old belongs to a writer that died: a scan deletes it


def image_key(image: np.ndarray) -> str:
    """Content hash of an RGB uint8 image (pixels and shape)."""
    h = hashlib.sha256(f"{image.shape}|{image.dtype}|".encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


def file_identity(path) -> tuple:
    """(resolved path, size, mtime in ns, sha256 of the bytes) of a file: what FileIndex keys on. Hashing
    the bytes costs far less than decoding the image (benchmarks/bench_file_index_hash.py)."""
    path = Path(path).resolve()
    st = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return str(path), int(st.st_size), int(st.st_mtime_ns), digest.hexdigest()


class FileIndex:
    """file identity -> (image key, height, width), in memory and, with a directory, in a small
    SQLite file there (`files.sqlite`, shared by all models: image keys do not depend on the
    model). A changed file (other size, mtime or bytes) is simply not found. Thread-safe; a file that
    cannot be written only costs a decode later."""

    FILE_NAME = "files.sqlite"
    MAX_MEMORY = 4096

    def __init__(self, directory=None):
        self._memory: "OrderedDict[tuple, tuple]" = OrderedDict()
        self._lock = threading.Lock()
        self._db = None
        if directory is not None:
            try:
                Path(directory).mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(str(Path(directory) / self.FILE_NAME), check_same_thread=False,
                                           isolation_level=None, timeout=5.0)
                self._db.execute("CREATE TABLE IF NOT EXISTS file_contents (path TEXT PRIMARY KEY, size INTEGER, "
                                 "mtime INTEGER, digest TEXT, key TEXT, height INTEGER, width INTEGER)")
            except (OSError, sqlite3.Error) as exc:
                log.warning("no file index for the embedding cache in %s (%s).", directory, exc)
                self._db = None

    def get(self, identity: tuple) -> Optional[tuple]:
        """(image key, height, width) recorded for this file identity, or None."""
        with self._lock:
            hit = self._memory.get(identity)
            if hit is not None:
                self._memory.move_to_end(identity)
                return hit
            if self._db is None:
                return None
            try:
                row = self._db.execute("SELECT key, height, width FROM file_contents WHERE path=? AND size=? "
                                       "AND mtime=? AND digest=?", identity).fetchone()
            except sqlite3.Error:
                return None
        if row is None:
            return None
        self._remember(identity, (row[0], int(row[1]), int(row[2])))
        return self._memory.get(identity)

    def put(self, identity: tuple, key: str, height: int, width: int) -> None:
        value = (key, int(height), int(width))
        self._remember(identity, value)
        with self._lock:
            if self._db is None:
                return
            try:
                self._db.execute("INSERT OR REPLACE INTO file_contents VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 (*identity, *value))
            except sqlite3.Error as exc:
                log.debug("file index not written: %s", exc)

    def _remember(self, identity, value) -> None:
        with self._lock:
            self._memory[identity] = value
            self._memory.move_to_end(identity)
            while len(self._memory) > self.MAX_MEMORY:
                self._memory.popitem(last=False)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class EmbeddingCache:
    """Memory + disk cache of image embeddings for one model identity. Thread-safe."""

    def __init__(self, model_identity: str, directory=None, memory_bytes: int = DEFAULT_MEMORY_BYTES,
                 disk_bytes: int = DEFAULT_DISK_BYTES, model_name: str = "model",
                 embedding_shape: Optional[tuple] = None):
        self.model_identity = model_identity
        # an entry of another shape is corrupt (e.g. written by a bad export): dropped, recomputed
        self.embedding_shape = tuple(embedding_shape) if embedding_shape is not None else None
        self.memory_bytes = int(memory_bytes)
        self.disk_bytes = int(disk_bytes)
        self.root = Path(directory).expanduser() if directory is not None else None
        self.dir = self.root / f"{model_name}-{model_identity[:16]}" if self.root is not None else None
        self._memory: "OrderedDict[str, np.ndarray]" = OrderedDict()
        self._memory_used = 0
        self._disk_used: Optional[int] = None  # computed lazily over the whole root
        self._writes_since_scan = 0
        self._lock = threading.RLock()
        self.hits_memory = self.hits_disk = self.misses = 0
        self.files = FileIndex(self.root)

    # -- public API -----------------------------------------------------
    def get(self, key: str) -> Optional[np.ndarray]:
        """The cached embedding for an image key, or None."""
        with self._lock:
            emb = self._memory.get(key)
            if emb is not None:
                self._memory.move_to_end(key)
                self.hits_memory += 1
                return emb
        emb = self._read_disk(key)
        if emb is None:
            with self._lock:
                self.misses += 1
            return None
        with self._lock:
            self.hits_disk += 1
        self._put_memory(key, emb)
        return emb

    def contains(self, key: str) -> bool:
        with self._lock:
            if key in self._memory:
                return True
        return self.dir is not None and self._path(key).is_file()

    def put(self, key: str, embedding: np.ndarray) -> None:
        """Stores an embedding in memory and on disk (if the cache has a directory)."""
        embedding = np.ascontiguousarray(embedding, dtype=np.float32)
        embedding.setflags(write=False)
        if not _sound(embedding):  # a broken encoder's output: not kept, so the image is encoded again
            log.warning("the encoder returned non-finite or all-zero values; the embedding is not cached.")
            return
        self._put_memory(key, embedding)
        if self.dir is not None and self.disk_bytes > 0:
            try:
                self._write_disk(key, embedding)
            except OSError as exc:  # a full or read-only disk must not stop annotation
                log.warning("could not write the embedding cache in %s (%s).", self.dir, exc)

    def clear_memory(self) -> None:
        with self._lock:
            self._memory.clear()
            self._memory_used = 0

    @property
    def memory_used(self) -> int:
        return self._memory_used

    def disk_used(self) -> int:
        with self._lock:
            if self._disk_used is None:
                self._disk_used = sum(size for _, size, _ in self._disk_entries())
            return self._disk_used

    # -- memory ---------------------------------------------------------
    def _put_memory(self, key: str, embedding: np.ndarray) -> None:
        if embedding.nbytes > self.memory_bytes:
            return
        with self._lock:
            old = self._memory.pop(key, None)
            if old is not None:
                self._memory_used -= old.nbytes
            self._memory[key] = embedding
            self._memory_used += embedding.nbytes
            while self._memory_used > self.memory_bytes:
                _, dropped = self._memory.popitem(last=False)
                self._memory_used -= dropped.nbytes

    # -- disk -----------------------------------------------------------
    def _path(self, key: str) -> Path:
        return self.dir / f"{key}{SUFFIX}"

    def _read_disk(self, key: str) -> Optional[np.ndarray]:
        if self.dir is None:
            return None
        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        emb = _decode(data, self.model_identity)
        if emb is not None and self.embedding_shape is not None and emb.shape != self.embedding_shape:
            emb = None
        if emb is not None and not _sound(emb):  # a valid CRC over NaN or zeros: refused all the same
            emb = None
        if emb is None:
            log.debug("dropping a corrupt embedding cache entry %s", path)
            self._remove(path, len(data))
            return None
        try:
            os.utime(path)  # last use, for eviction
        except OSError:
            pass
        return emb

    def _write_disk(self, key: str, embedding: np.ndarray) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self._path(key)
        data = _encode(embedding, self.model_identity)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the entry from the other users of a shared cache
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            old = path.stat().st_size if path.exists() else 0
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with self._lock:
            self._writes_since_scan += 1
            if self._writes_since_scan >= RESCAN_WRITES:  # measure again: other writers add too
                self._disk_used, self._writes_since_scan = None, 0
                self.disk_used()
            else:
                self._disk_used = self.disk_used() + len(data) - old
        self._evict_disk(keep=path)

    def _disk_entries(self):
        """(path, size, mtime) of every cache file under the root (all models share the bound)."""
        if self.root is None or not self.root.is_dir():
            return []
        out = []
        for tmp in self.root.glob(f"*/.*{SUFFIX}.*.tmp"):  # left by a writer killed mid-write
            try:
                if time.time() - tmp.stat().st_mtime > STALE_TMP_SECONDS:
                    tmp.unlink()
            except OSError:
                pass
        for path in self.root.glob(f"*/*{SUFFIX}"):
            try:
                st = path.stat()
            except OSError:
                continue
            out.append((path, st.st_size, st.st_mtime))
        return out

    def _evict_disk(self, keep: Path) -> None:
        with self._lock:
            if self.disk_used() <= self.disk_bytes:
                return
            entries = sorted(self._disk_entries(), key=lambda e: e[2])
            self._disk_used = sum(size for _, size, _ in entries)
            for path, size, _ in entries:
                if self._disk_used <= self.disk_bytes:
                    break
                if path != keep:
                    self._remove(path, size)

    def _remove(self, path: Path, size: int) -> None:
        try:
            path.unlink()
        except OSError:
            return
        with self._lock:
            if self._disk_used is not None:
                self._disk_used = max(0, self._disk_used - size)


def _sound(embedding: np.ndarray) -> bool:
    """False for an embedding no encoder gives: non-finite values, or all zeros."""
    return bool(np.isfinite(embedding).all() and embedding.any())


def _encode(embedding: np.ndarray, identity: str) -> bytes:
    body = embedding.tobytes()
    header = json.dumps({"model": identity, "shape": list(embedding.shape), "dtype": "float32",
                         "crc32": zlib.crc32(body), "bytes": len(body)}).encode()
    return MAGIC + header + b"\n" + body


def _decode(data: bytes, identity: str) -> Optional[np.ndarray]:
    if not data.startswith(MAGIC):
        return None
    end = data.find(b"\n", len(MAGIC))
    if end < 0:
        return None
    try:
        header = json.loads(data[len(MAGIC):end])
        body = memoryview(data)[end + 1:]
        if header["model"] != identity or header["dtype"] != "float32" or len(body) != header["bytes"]:
            return None
        if zlib.crc32(body) != header["crc32"]:
            return None
        shape = tuple(int(v) for v in header["shape"])
        emb = np.frombuffer(body, np.float32).reshape(shape)
    except (ValueError, KeyError, TypeError):
        return None
    return emb
