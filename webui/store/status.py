"""Per-image workflow status in the annotation store: to do, in progress, done, skipped.

A status the user set is stored in the `image_status` table; an image without one is "in
progress" once it has objects and "to do" before. Stores made before this table existed are
migrated when opened: an image saved there with no objects meant "all background" (that is how
exports treated it), so it becomes "done"; nothing else changes.
"""

STATUSES = ("todo", "in_progress", "done", "skipped")
TITLES = {"todo": "to do", "in_progress": "in progress", "done": "done", "skipped": "skipped"}

_TABLE = """
CREATE TABLE image_status (
    name TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('todo', 'in_progress', 'done', 'skipped')),
    changed TEXT NOT NULL DEFAULT (datetime('now'))
)"""


def ensure_table(store) -> None:
    """Creates the status table in a store that lacks it, migrating in the same transaction."""
    with store._write() as db:
        exists = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='image_status'").fetchone()
        if exists:
            return
        had_images = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='images'").fetchone()
        db.execute(_TABLE)
        if had_images:
            db.execute("INSERT INTO image_status (name, status) SELECT name, 'done' FROM images "
                       "WHERE version > 0 AND name NOT IN (SELECT DISTINCT image FROM objects)")


def marked(store) -> dict:
    """{image name: status the user set}."""
    with store._lock:
        rows = store._conn().execute("SELECT name, status FROM image_status").fetchall()
    return {r[0]: r[1] for r in rows}


def effective(marked_status, objects: int) -> str:
    """The status shown for an image: the one set, else by whether it has objects."""
    return marked_status or ("in_progress" if objects else "todo")


def set_status(store, name: str, status: str) -> None:
    """Stores `status` for an image (ValueError for an unknown status)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of: {', '.join(STATUSES)}")
    with store._write() as db:
        db.execute("INSERT INTO image_status (name, status) VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
                   "SET status=excluded.status, changed=datetime('now')", (name, status))


def counts(statuses) -> dict:
    """{status: number of images} over an iterable of effective statuses (all keys present)."""
    out = dict.fromkeys(STATUSES, 0)
    for status in statuses:
        out[status] += 1
    return out
