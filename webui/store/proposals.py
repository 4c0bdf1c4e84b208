"""Pre-label proposals in the annotation store, apart from the objects: never exported, never an object
until accepted.

One proposal set per image name (`proposal_sets`: the image's content key, the file stamp it was checked
at, the model and the generator's parameters), its masks in `proposals` (box-runs JSON, the generator's
order, ids 1..n). A proposal is open, rejected, or accepted into an object (its id kept): accepting writes
a new object on top of the image's others and bumps the image's version in one transaction, like a save;
an accepted proposal whose object is gone again (undone, deleted) counts as open.
"""

import json
import uuid
from dataclasses import dataclass, field
from typing import Optional

from edgemask.webui.store.database import _check_labels, _next_version, _write_image_row
from edgemask.webui.store.errors import NotFound, StoreError
from edgemask.webui.store.rows import _OBJECT_COLUMNS, ObjectRow, _object_values

_TABLES = """
CREATE TABLE IF NOT EXISTS proposal_sets (
    image TEXT PRIMARY KEY,
    image_key TEXT NOT NULL,
    stamp TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    model TEXT NOT NULL,
    params TEXT NOT NULL,
    source TEXT NOT NULL,
    created TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE IF NOT EXISTS proposals (
    image TEXT NOT NULL REFERENCES proposal_sets(image) ON DELETE CASCADE,
    id INTEGER NOT NULL,
    mask TEXT NOT NULL,
    area INTEGER NOT NULL,
    predicted_iou REAL NOT NULL,
    stability_score REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'accepted', 'rejected')),
    object_id TEXT,
    PRIMARY KEY (image, id)
)"""


@dataclass
class Proposal:
    id: int
    mask: dict  # box-runs
    area: int
    predicted_iou: float
    stability_score: float
    state: str = "open"  # open | accepted | rejected
    object_id: Optional[str] = None

    def as_dict(self) -> dict:
        return {"id": self.id, "mask": self.mask, "bbox": list(self.mask["box"]), "area": self.area,
                "predicted_iou": self.predicted_iou, "stability_score": self.stability_score,
                "state": self.state, "object_id": self.object_id}


@dataclass
class ProposalSet:
    image: str
    image_key: str
    stamp: str
    width: int
    height: int
    model: str
    params: dict
    source: str  # "page", or the proposals file `edgemask prelabel` wrote
    created: str = ""
    proposals: list = field(default_factory=list)


def _tables(store):
    """The store, its proposal tables created on first use (a store made before them gets them then)."""
    if not getattr(store, "_proposal_tables", False):
        with store._write() as db:
            for statement in _TABLES.split(";"):
                db.execute(statement)
        store._proposal_tables = True
    return store


def replace(store, s: ProposalSet) -> None:
    """Stores a proposal set for `s.image`, replacing the one it had (its objects stay)."""
    with _tables(store)._write() as db:
        db.execute("DELETE FROM proposal_sets WHERE image=?", (s.image,))
        db.execute("INSERT INTO proposal_sets (image, image_key, stamp, width, height, model, params, source) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (s.image, s.image_key, s.stamp, s.width, s.height, s.model, json.dumps(s.params), s.source))
        db.executemany(
            "INSERT INTO proposals (image, id, mask, area, predicted_iou, stability_score) VALUES (?, ?, ?, ?, ?, ?)",
            [(s.image, p.id, json.dumps(p.mask), int(p.area), float(p.predicted_iou), float(p.stability_score))
             for p in s.proposals])


def restamp(store, image: str, stamp: str) -> None:
    """The image file changed its size or time but not its pixels: its proposals stay."""
    with _tables(store)._write() as db:
        db.execute("UPDATE proposal_sets SET stamp=? WHERE image=?", (stamp, image))


def forget(store, image: str) -> None:
    with _tables(store)._write() as db:
        db.execute("DELETE FROM proposal_sets WHERE image=?", (image,))


def load(store, image: str) -> Optional[ProposalSet]:
    """The image's proposal set with all its proposals (an accepted one whose object is gone: open)."""
    with _tables(store)._lock:
        db = store._conn()
        row = db.execute("SELECT * FROM proposal_sets WHERE image=?", (image,)).fetchone()
        if row is None:
            return None
        rows = db.execute("SELECT * FROM proposals WHERE image=? ORDER BY id", (image,)).fetchall()
        objects = {r[0] for r in db.execute("SELECT client_id FROM objects WHERE image=?", (image,))}
    proposals = []
    for r in rows:
        state, object_id = r["state"], r["object_id"]
        if state == "accepted" and object_id not in objects:
            state, object_id = "open", None
        proposals.append(Proposal(r["id"], json.loads(r["mask"]), r["area"], r["predicted_iou"],
                                  r["stability_score"], state, object_id))
    return ProposalSet(row["image"], row["image_key"], row["stamp"], row["width"], row["height"], row["model"],
                       json.loads(row["params"]), row["source"], row["created"], proposals)


def reject(store, image: str, proposal_id: int) -> None:
    """Marks an open proposal rejected (NotFound for an id the image has not)."""
    if not 0 < proposal_id < 2 ** 63:
        raise NotFound(f"The image has no proposal {proposal_id}; list its proposals again.")
    with _tables(store)._write() as db:
        cur = db.execute("UPDATE proposals SET state='rejected', object_id=NULL WHERE image=? AND id=?",
                         (image, proposal_id))
        if cur.rowcount == 0:
            raise NotFound(f"The image has no proposal {proposal_id}; list its proposals again.")


def accept(store, image: str, width: int, height: int, ids, label_id: int, expected_version: int,
           client: Optional[str] = None) -> tuple:
    """Turns open proposals into new objects of `label_id` above the image's objects, in `ids` order,
    in one transaction; returns (new version, [ObjectRow]). Raises VersionConflict as Store.save does,
    NotFound for an id the image has not, StoreError for a proposal no longer open or an unknown label."""
    if len(set(ids)) != len(ids):
        raise StoreError("A proposal id appears twice; name each proposal once.")
    with _tables(store)._write() as db:
        held = load(store, image)  # in the transaction: two pages cannot accept the same proposal twice
        current = {p.id: p for p in held.proposals} if held else {}
        for pid in ids:
            if pid not in current:
                raise NotFound(f"The image has no proposal {pid}; list its proposals again.")
            if current[pid].state != "open":
                raise StoreError(f"Proposal {pid} was {current[pid].state} already.")
        new_version, _ = _next_version(db, image, expected_version, client)
        _check_labels(db, [("new", label_id)])
        _write_image_row(db, image, width, height, new_version, client)
        top = db.execute("SELECT COALESCE(MAX(z), -1) + 1 FROM objects WHERE image=?", (image,)).fetchone()[0]
        rows = []
        for i, pid in enumerate(ids):
            mask = current[pid].mask
            o = ObjectRow(id=str(uuid.uuid4()), label_id=label_id, kind="mask", z=top + i, mask=mask,
                          bbox=list(mask["box"]))
            db.execute(f"INSERT INTO objects ({_OBJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       _object_values(image, o, label_id, o.z))
            db.execute("UPDATE proposals SET state='accepted', object_id=? WHERE image=? AND id=?",
                       (o.id, image, pid))
            rows.append(o)
    return new_version, rows
