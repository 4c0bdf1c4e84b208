"""Label changes that reach into the stored objects: how many objects use a label, and deleting
a label together with its objects or moving them to another label first (one transaction).

Every image whose objects change gets a new version, so a tab that has it open sees a conflict
instead of saving the old objects back."""

from edgemask.webui.store.errors import Conflict, NotFound


def usage(store, label_id: int) -> dict:
    """{"objects": n, "images": n} that use the label; NotFound for an unknown label."""
    store.label(label_id)
    with store._lock:
        row = store._conn().execute(
            "SELECT COUNT(*), COUNT(DISTINCT image) FROM objects WHERE label_id=?", (label_id,)).fetchone()
    return {"objects": row[0], "images": row[1]}


def delete_label(store, label_id: int, objects: str = None, to: int = None) -> dict:
    """Deletes a label. Its objects: `objects=None` refuses (Conflict) while there are any,
    "delete" deletes them, "relabel" gives them label `to`. Returns {"objects": n, "images": [names]}
    of the objects deleted or moved."""
    if objects not in (None, "delete", "relabel"):
        raise ValueError('"objects" must be "delete" or "relabel"')
    if objects == "relabel" and (to is None or to == label_id):
        raise ValueError('moving the objects needs "to": the id of another label')
    with store._write() as db:
        ids = {r[0] for r in db.execute("SELECT id FROM labels")}
        if label_id not in ids:
            raise NotFound(f"There is no label with id {label_id}.")
        if objects == "relabel" and to not in ids:
            raise NotFound(f"There is no label with id {to} to move the objects to.")
        images = [r[0] for r in db.execute(
            "SELECT DISTINCT image FROM objects WHERE label_id=? ORDER BY image", (label_id,))]
        n = db.execute("SELECT COUNT(*) FROM objects WHERE label_id=?", (label_id,)).fetchone()[0]
        if n and objects is None:
            raise Conflict(f"This label is used by {n} object(s) on {len(images)} image(s); "
                           "delete them with it or move them to another label.")
        if objects == "delete":
            db.execute("DELETE FROM objects WHERE label_id=?", (label_id,))
        elif objects == "relabel":
            db.execute("UPDATE objects SET label_id=? WHERE label_id=?", (to, label_id))
        db.executemany("UPDATE images SET version = version + 1 WHERE name=?", [(i,) for i in images])
        db.execute("DELETE FROM labels WHERE id=?", (label_id,))
        rest = [r[0] for r in db.execute("SELECT id FROM labels ORDER BY position, id")]
        for pos, lid in enumerate(rest):
            db.execute("UPDATE labels SET position=? WHERE id=?", (pos, lid))
    return {"objects": n, "images": images}
