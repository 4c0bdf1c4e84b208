"""Objects that Propagate (edgemask.webui.ai.propagation_jobs) wrote, marked "propagated" (from which image)
until edited, in the annotation store beside the objects (never exported).

A mark (`propagated`: image, object id, source image, fingerprint) holds while the object's content is
what Propagate wrote: its label, shape, occluded flag, group and attributes (the fingerprint); any save
that changes one of those clears it, as does deleting the object. Its z order and hidden flag are not
content: reordering or hiding keeps the mark.
"""

import hashlib
import json
import uuid

from edgemask.webui.store.database import _next_version, _write_image_row
from edgemask.webui.store.rows import _OBJECT_COLUMNS, ObjectRow, _object_row, _object_values

_TABLE = """
CREATE TABLE IF NOT EXISTS propagated (
    image TEXT NOT NULL,
    object_id TEXT NOT NULL,
    source TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (image, object_id)
)"""


def fingerprint(o: ObjectRow) -> str:
    """What an edit changes of an object (not its z or hidden flag)."""
    content = [o.label_id, o.kind, o.polygon, o.mask, bool(o.occluded), int(o.group), o.attributes]
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _tables(store):
    if not getattr(store, "_propagated_table", False):
        with store._write() as db:
            db.execute(_TABLE)
        store._propagated_table = True
    return store


def marks(store, image: str) -> dict:
    """{object id: source image} of the image's objects still as Propagate wrote them."""
    with _tables(store)._lock:
        db = store._conn()
        held = db.execute("SELECT object_id, source, fingerprint FROM propagated WHERE image=?", (image,)).fetchall()
        if not held:
            return {}
        size = db.execute("SELECT width, height FROM images WHERE name=?", (image,)).fetchone()
        rows = {r["client_id"]: r for r in db.execute("SELECT * FROM objects WHERE image=?", (image,))}
    out = {}
    for object_id, source, print_ in held:
        row = rows.get(object_id)
        if row is not None and fingerprint(_object_row(row, size[0], size[1])) == print_:
            out[object_id] = source
    return out


def add(store, image: str, width: int, height: int, source: str, new_objects, keep) -> tuple:
    """Writes `new_objects` ([(label_id, box-runs mask)]) on `image` above its objects, marked as propagated
    from `source`, in one transaction and a new version; `keep(existing ObjectRows, label_id, mask)` says
    whether one may be added beside what the image holds then (nothing stored is changed). Returns
    (version or None when nothing was added, [ObjectRow added], [label ids skipped])."""
    with _tables(store)._write() as db:
        img = db.execute("SELECT width, height, version FROM images WHERE name=?", (image,)).fetchone()
        existing = [_object_row(r, width, height)
                    for r in db.execute("SELECT * FROM objects WHERE image=? ORDER BY z, rowid", (image,))]
        chosen, skipped = [], []
        for label_id, mask in new_objects:
            (chosen if keep(existing, label_id, mask) else skipped).append((label_id, mask))
        if not chosen:
            return None, [], [label_id for label_id, _ in skipped]
        version, _ = _next_version(db, image, img["version"] if img else 0, None)
        _write_image_row(db, image, width, height, version, None)
        top = max([o.z for o in existing], default=-1) + 1
        rows = []
        for i, (label_id, mask) in enumerate(chosen):
            o = ObjectRow(id=str(uuid.uuid4()), label_id=label_id, kind="mask", z=top + i, mask=mask,
                          bbox=list(mask["box"]))
            db.execute(f"INSERT INTO objects ({_OBJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       _object_values(image, o, label_id, o.z))
            db.execute("INSERT OR REPLACE INTO propagated (image, object_id, source, fingerprint) VALUES (?, ?, ?, ?)",
                       (image, o.id, source, fingerprint(o)))
            rows.append(o)
    return version, rows, [label_id for label_id, _ in skipped]
