"""The annotation store: one SQLite file per images folder (`.edgemask.sqlite`).

WAL mode, `synchronous=FULL`, and every write is one `BEGIN IMMEDIATE` transaction that is
committed before the caller answers, so a killed process loses nothing that was acknowledged.
Each image has a `version` (0 before its first save) used for optimistic concurrency: a save
names the version it started from and fails with `VersionConflict` if another writer got there
first. Labels are ordered by `position`; the class index of a label is its position + 1
(0 is background). Masks are stored as box-runs JSON (their bounding box and row-major run
lengths, see edgemask.runtime.shapes), polygons as JSON lists of [x, y]. Stores of schema 1
kept masks as full-image COCO RLE; opening one converts them in one transaction (lossless).
An object also keeps what annotation tools record about it: occluded, a group id (0: none)
and attributes ({name: text, number or true/false}, JSON); schema 3 added those columns, which
opening an older store adds (defaults: not occluded, no group, no attributes), losing nothing.
A store of a newer schema than this edgemask knows is refused.
"""

import json
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Optional

from edgemask.webui.store.errors import (
    Conflict,
    CorruptStore,
    Damaged,
    DiskFull,
    MAX_LABELS,
    NotFound,
    StoreError,
    TooManyLabels,
    VersionConflict,
)
from edgemask.webui.store.rows import ImageRecord, LabelRow, _OBJECT_COLUMNS, _object_row, _object_values


DB_NAME = ".edgemask.sqlite"
SCHEMA_VERSION = 3
log = logging.getLogger("edgemask.webui")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    position INTEGER NOT NULL,
    name TEXT NOT NULL UNIQUE,
    color TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
    name TEXT PRIMARY KEY,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS objects (
    image TEXT NOT NULL REFERENCES images(name) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    label_id INTEGER NOT NULL REFERENCES labels(id),
    kind TEXT NOT NULL CHECK (kind IN ('polygon', 'mask')),
    z INTEGER NOT NULL,
    hidden INTEGER NOT NULL DEFAULT 0,
    polygon TEXT,
    mask TEXT,
    bbox TEXT NOT NULL,
    occluded INTEGER NOT NULL DEFAULT 0,
    group_id INTEGER NOT NULL DEFAULT 0,
    attributes TEXT,
    PRIMARY KEY (image, client_id)
);
CREATE INDEX IF NOT EXISTS objects_label ON objects(label_id);
"""
# columns added since schema 1, with what ALTER TABLE needs to add them to an older database
_ADDED_COLUMNS = (
    ("objects", "occluded", "INTEGER NOT NULL DEFAULT 0"),
    ("objects", "group_id", "INTEGER NOT NULL DEFAULT 0"),
    ("objects", "attributes", "TEXT"),
)


def _check_room(db, name: str) -> None:
    """TooManyLabels when one more label would pass MAX_LABELS."""
    if db.execute("SELECT COUNT(*) FROM labels").fetchone()[0] >= MAX_LABELS:
        raise TooManyLabels(name)


def _next_version(db, name: str, expected_version: int, client: Optional[str]):
    """(the version a save of image `name` writes, whether `client` wrote the stored one itself);
    raises VersionConflict when another writer saved since `expected_version`."""
    row = db.execute("SELECT version, saved_by FROM images WHERE name=?", (name,)).fetchone()
    stored = row[0] if row else 0
    own = client is not None and row is not None and row[1] == client and stored > expected_version
    if stored != expected_version and not own:
        raise VersionConflict(expected_version, stored)
    return stored + 1, own


def _check_labels(db, pairs) -> None:
    """Raises StoreError for the first (object id, label id) whose label does not exist (None: unchanged)."""
    known = {r[0] for r in db.execute("SELECT id FROM labels")}
    for oid, label_id in pairs:
        if label_id is not None and label_id not in known:
            raise StoreError(f"Object {oid!r} uses label id {label_id}, which does not exist.")


def _write_image_row(db, name: str, width: int, height: int, version: int, client: Optional[str]) -> None:
    db.execute(
        "INSERT INTO images (name, width, height, version, saved_by) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET width=excluded.width, height=excluded.height, "
        "version=excluded.version, saved_by=excluded.saved_by",
        (name, width, height, version, client))


class Store:
    """Thread-safe access to one annotation database (one connection behind a lock)."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_file() and self.path.stat().st_size == 0:
            raise CorruptStore(f"{self.path} is an empty file (0 bytes) where a project's annotations should "
                               "be; restore it from a backup, or delete it to start an empty project")
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False,
                                   timeout=30.0)
        self._db.row_factory = sqlite3.Row
        try:
            self._check_integrity()
        except BaseException:
            self._db.close()
            self._db = None
            raise
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._write():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            self._migrate()
        from edgemask.webui.store.status import ensure_table

        ensure_table(self)  # per-image workflow status; migrates older stores

    def _migrate(self) -> None:
        """Under a write transaction: brings a store of an older schema to SCHEMA_VERSION."""
        db = self._db
        schema = int(db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0])
        if schema > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer edgemask (schema {schema}); update edgemask.")
        if schema < 2:  # masks: full-image COCO RLE -> box-runs
            from edgemask.runtime.shapes import rle_to_box_runs

            rows = db.execute("SELECT rowid, mask FROM objects WHERE mask IS NOT NULL").fetchall()
            if rows:
                log.info("converting %d stored masks of %s to the box-runs form", len(rows), self.path)
            for row in rows:
                value = json.loads(row[1])
                if "counts" in value:
                    db.execute("UPDATE objects SET mask=? WHERE rowid=?",
                               (json.dumps(rle_to_box_runs(value)), row[0]))
        for table, column, declaration in _ADDED_COLUMNS:  # schema 3: occluded, group, attributes
            present = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))
        columns = {r[1] for r in db.execute("PRAGMA table_info(images)")}
        if "saved_by" not in columns:  # the page that wrote the version (new stores too)
            db.execute("ALTER TABLE images ADD COLUMN saved_by TEXT")

    def _check_integrity(self) -> None:
        """PRAGMA quick_check (reads every page once, milliseconds for an annotation database):
        CorruptStore with SQLite's first complaint when the file is damaged."""
        try:
            rows = self._db.execute("PRAGMA quick_check(1)").fetchall()
        except sqlite3.DatabaseError as exc:  # e.g. "file is not a database"
            raise CorruptStore(f"{self.path} is damaged ({exc}); restore it from a backup, or move it "
                               "away to start an empty one") from None
        if [tuple(r) for r in rows] != [("ok",)]:
            detail = " ".join(str(rows[0][0] if rows else "no answer").replace("*** in database main ***", "").split())
            raise CorruptStore(f"{self.path} is damaged (SQLite: {detail}); restore it from a backup, "
                               "or move it away to start an empty one")

    # -- plumbing -------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _write(self):
        return _Transaction(self)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the store is closed")
        return self._db

    def journal_mode(self) -> str:
        with self._lock:
            return self._conn().execute("PRAGMA journal_mode").fetchone()[0]

    def get_meta(self, key: str) -> Optional[str]:
        with self._lock:
            row = self._conn().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
            return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- labels ---------------------------------------------------------------------------
    def labels(self) -> list:
        """All labels in class order."""
        with self._lock:
            rows = self._conn().execute(
                "SELECT id, name, color FROM labels ORDER BY position, id").fetchall()
        return [LabelRow(r["id"], r["name"], r["color"], i + 1) for i, r in enumerate(rows)]

    def label(self, label_id: int) -> LabelRow:
        for row in self.labels():
            if row.id == label_id:
                return row
        raise NotFound(f"There is no label with id {label_id}.")

    def add_label(self, name: str, color: str) -> LabelRow:
        with self._write() as db:
            self._check_name_free(db, name)
            _check_room(db, name)
            pos = db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM labels").fetchone()[0]
            cur = db.execute("INSERT INTO labels (position, name, color) VALUES (?, ?, ?)",
                             (pos, name, color))
            new_id = cur.lastrowid
        return self.label(new_id)

    def ensure_labels(self, labels) -> list:
        """Adds (name, color) pairs whose name is not there yet, in order, in one transaction.

        Returns the ids of all given names, existing or new."""
        ids = []
        with self._write() as db:
            for name, color in labels:
                row = db.execute("SELECT id FROM labels WHERE name=?", (name,)).fetchone()
                if row is None:
                    _check_room(db, name)
                    pos = db.execute(
                        "SELECT COALESCE(MAX(position), -1) + 1 FROM labels").fetchone()[0]
                    row = (db.execute("INSERT INTO labels (position, name, color) VALUES (?, ?, ?)",
                                      (pos, name, color)).lastrowid,)
                ids.append(row[0])
        return ids

    def update_label(self, label_id: int, name: Optional[str] = None,
                     color: Optional[str] = None, position: Optional[int] = None) -> LabelRow:
        """Renames, recolours and/or moves a label (position is 0-based among all labels)."""
        with self._write() as db:
            if db.execute("SELECT 1 FROM labels WHERE id=?", (label_id,)).fetchone() is None:
                raise NotFound(f"There is no label with id {label_id}.")
            if name is not None:
                self._check_name_free(db, name, except_id=label_id)
                db.execute("UPDATE labels SET name=? WHERE id=?", (name, label_id))
            if color is not None:
                db.execute("UPDATE labels SET color=? WHERE id=?", (color, label_id))
            if position is not None:
                ids = [r[0] for r in db.execute("SELECT id FROM labels ORDER BY position, id")]
                ids.remove(label_id)
                ids.insert(max(0, min(position, len(ids))), label_id)
                for pos, lid in enumerate(ids):
                    db.execute("UPDATE labels SET position=? WHERE id=?", (pos, lid))
        return self.label(label_id)

    def delete_label(self, label_id: int) -> None:
        with self._write() as db:
            if db.execute("SELECT 1 FROM labels WHERE id=?", (label_id,)).fetchone() is None:
                raise NotFound(f"There is no label with id {label_id}.")
            used = db.execute("SELECT COUNT(*) FROM objects WHERE label_id=?", (label_id,)).fetchone()[0]
            if used:
                raise Conflict(f"This label is used by {used} object(s); relabel or delete them first.")
            db.execute("DELETE FROM labels WHERE id=?", (label_id,))
            ids = [r[0] for r in db.execute("SELECT id FROM labels ORDER BY position, id")]
            for pos, lid in enumerate(ids):
                db.execute("UPDATE labels SET position=? WHERE id=?", (pos, lid))

    @staticmethod
    def _check_name_free(db, name, except_id=None):
        row = db.execute("SELECT id FROM labels WHERE name=?", (name,)).fetchone()
        if row is not None and row[0] != except_id:
            raise Conflict(f"A label named {name!r} already exists.")

    # -- images and objects ---------------------------------------------------------------
    def version(self, name: str) -> int:
        with self._lock:
            row = self._conn().execute("SELECT version FROM images WHERE name=?", (name,)).fetchone()
        return row[0] if row else 0

    def object_counts(self) -> dict:
        """{image name: number of objects} for images with at least one object."""
        with self._lock:
            rows = self._conn().execute(
                "SELECT image, COUNT(*) FROM objects GROUP BY image").fetchall()
        return {r[0]: r[1] for r in rows}

    def image_names(self) -> list:
        with self._lock:
            return [r[0] for r in self._conn().execute("SELECT name FROM images ORDER BY name")]

    def load(self, name: str) -> Optional[ImageRecord]:
        """The stored record of an image, or None if it was never saved. Damaged (one sentence)
        when its rows cannot be read back whole: a damaged page, or a mask whose runs do not
        fill its box (one flipped bit); the other images are not affected."""
        with self._lock:
            db = self._conn()
            try:
                img = db.execute("SELECT * FROM images WHERE name=?", (name,)).fetchone()
                if img is None:
                    return None
                rows = db.execute("SELECT * FROM objects WHERE image=? ORDER BY z, rowid",
                                  (name,)).fetchall()
            except sqlite3.DatabaseError as exc:
                raise Damaged(f"The stored annotations of {name!r} are damaged (SQLite: {exc}); the other "
                              "images are not affected, and saving this image again replaces them.") from None
        try:
            objects = [_object_row(r, img["width"], img["height"]) for r in rows]
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise Damaged(f"The stored annotations of {name!r} are damaged ({exc}); the other images are "
                          "not affected, and saving this image again replaces them.") from None
        return ImageRecord(img["name"], img["width"], img["height"], img["version"], objects)

    def save(self, name: str, width: int, height: int, expected_version: int, objects,
             client: Optional[str] = None) -> int:
        """Replaces all objects of an image in one transaction; returns the new version.

        Raises VersionConflict if the stored version is not `expected_version`, StoreError if an
        object names an unknown label or two objects share an id; nothing is written then.
        `client` names the writer (a page): when the stored version was written by that same
        client, its answer was lost (a crash, a dropped connection) and the client's newer state
        is saved over it instead of reporting a conflict with itself."""
        ids = [o.id for o in objects]
        if len(set(ids)) != len(ids):
            raise StoreError("Two objects have the same id; every object needs its own id.")
        with self._write() as db:
            new_version, own = _next_version(db, name, expected_version, client)
            _check_labels(db, [(o.id, o.label_id) for o in objects])
            _write_image_row(db, name, width, height, new_version, client)
            db.execute("DELETE FROM objects WHERE image=?", (name,))
            db.executemany(
                f"INSERT INTO objects ({_OBJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_object_values(name, o, o.label_id, int(o.z)) for o in objects])
        return new_version

    def save_changes(self, name: str, width: int, height: int, expected_version: int,
                     upsert=(), update=(), delete=(), client: Optional[str] = None) -> int:
        """Applies changes to an image's objects in one transaction; returns the new version.

        `upsert`: ObjectRows added, or replacing the stored object with the same id; `update`:
        dicts {"id", and any of "label_id", "z", "hidden"} changing stored objects; `delete`: ids.
        Raises VersionConflict as save() does, StoreError when an id is named twice, an updated or
        deleted id is not stored, or a label does not exist; nothing is written then. `client` as in
        save(): changes re-sent after a lost answer apply again (a delete of an id that the lost
        save already removed is then no error)."""
        ids = [o.id for o in upsert] + [u["id"] for u in update] + list(delete)
        if len(set(ids)) != len(ids):
            raise StoreError("An object id appears twice in the changes; name each object once.")
        with self._write() as db:
            new_version, own = _next_version(db, name, expected_version, client)
            present = {r[0] for r in db.execute("SELECT client_id FROM objects WHERE image=?", (name,))}
            if own:
                delete = [oid for oid in delete if oid in present]
            for oid in [u["id"] for u in update] + list(delete):
                if oid not in present:
                    raise StoreError(f"Object {oid!r} is not stored for this image; it cannot be changed or deleted.")
            _check_labels(db, [(o.id, o.label_id) for o in upsert] + [(u["id"], u.get("label_id")) for u in update])
            _write_image_row(db, name, width, height, new_version, client)
            db.executemany("DELETE FROM objects WHERE image=? AND client_id=?", [(name, oid) for oid in delete])
            db.executemany(
                f"INSERT INTO objects ({_OBJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(image, client_id) DO UPDATE SET "
                "label_id=excluded.label_id, kind=excluded.kind, z=excluded.z, hidden=excluded.hidden, "
                "polygon=excluded.polygon, mask=excluded.mask, bbox=excluded.bbox, "
                "occluded=excluded.occluded, group_id=excluded.group_id, attributes=excluded.attributes",
                [_object_values(name, o, o.label_id, int(o.z)) for o in upsert])
            for u in update:
                for column in ("label_id", "z", "hidden"):
                    if column in u:
                        db.execute(f"UPDATE objects SET {column}=? WHERE image=? AND client_id=?",
                                   (int(u[column]), name, u["id"]))
        return new_version

    def add_objects(self, labels, images, replace: bool = False) -> dict:
        """Imports in one transaction: adds the (name, color) `labels` it lacks, then for each
        (image name, width, height, [(label name, ObjectRow)]) in `images` appends the objects
        above the image's existing ones (or replaces them with `replace`) and bumps its version.
        Returns {image name: new version}."""
        versions = {}
        with self._write() as db:
            for name, color in labels:
                if db.execute("SELECT 1 FROM labels WHERE name=?", (name,)).fetchone() is None:
                    _check_room(db, name)
                    pos = db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM labels").fetchone()[0]
                    db.execute("INSERT INTO labels (position, name, color) VALUES (?, ?, ?)",
                               (pos, name, color))
            ids = {r[1]: r[0] for r in db.execute("SELECT id, name FROM labels")}
            for name, width, height, pairs in images:
                row = db.execute("SELECT version FROM images WHERE name=?", (name,)).fetchone()
                version = (row[0] if row else 0) + 1
                _write_image_row(db, name, width, height, version, None)
                if replace:
                    db.execute("DELETE FROM objects WHERE image=?", (name,))
                top = db.execute("SELECT COALESCE(MAX(z), -1) + 1 FROM objects WHERE image=?",
                                 (name,)).fetchone()[0]
                for label_name, o in pairs:
                    if label_name not in ids:
                        raise StoreError(f"Label {label_name!r} is not in the label list.")
                    db.execute(
                        f"INSERT INTO objects ({_OBJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        _object_values(name, o, ids[label_name], top + int(o.z)))
                versions[name] = version
        return versions


class _Transaction:
    """`with store._write() as db:` -> BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error)."""

    def __init__(self, store: Store):
        self.store = store

    def __enter__(self) -> sqlite3.Connection:
        self.store._lock.acquire()
        try:
            db = self.store._conn()
            db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.store._lock.release()
            raise
        return db

    def __exit__(self, exc_type, exc, tb):
        try:
            db = self.store._conn()
            if exc_type is None:
                try:
                    db.execute("COMMIT")
                except sqlite3.OperationalError as error:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise _disk_full(error) from None
            elif db.in_transaction:  # SQLite may have rolled back already (a full disk does)
                db.execute("ROLLBACK")
        finally:
            self.store._lock.release()
        if exc_type is not None and issubclass(exc_type, sqlite3.OperationalError):
            full = _disk_full(exc)
            if isinstance(full, DiskFull):
                raise full from None
        return False


def _disk_full(error: sqlite3.OperationalError) -> Exception:
    """DiskFull for SQLite's "database or disk is full", the error itself otherwise."""
    if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(error):
        return DiskFull("The disk holding the annotations is full, so this change was not saved; "
                        "free some space and it will be saved (the page keeps your edits and retries).")
    return error
