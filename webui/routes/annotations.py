"""/api/images/<name>/annotations: load, save (PUT) and save changes (PATCH), versioned."""

import dataclasses
import weakref

from flask import jsonify

from edgemask.webui.routes import bp, payloads
from edgemask.webui.routes.errors import ApiError
from edgemask.webui.routes.requests import _body, _client, _ctx, _image
from edgemask.webui.store import Damaged, DiskFull, StoreError, VersionConflict
from edgemask.webui.store import propagated


@bp.get("/images/<path:name>/annotations")
def get_annotations(name):
    name, width, height = _image(name)
    record = _ctx().store.load(name)
    objects = [payloads.object_to_json(o) for o in record.objects] if record else []
    held = propagated.marks(_ctx().store, name) if record else {}
    for o in objects:
        if o["id"] in held:
            o["propagated"] = held[o["id"]]  # the image Propagate sent it from, until it is edited
    return jsonify({"image": name, "width": width, "height": height,
                    "version": record.version if record else 0, "objects": objects})


def _expected_version(body: dict) -> int:
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ApiError(400, "\"version\" must be the integer version you loaded (0 for a new image).")
    return version


def _saved(save):
    """Runs a store save; its new version as JSON, a conflict as 409 and a refused change as 400."""
    try:
        return jsonify({"version": save()})
    except VersionConflict as exc:
        raise ApiError(409, str(exc), version=exc.stored) from None
    except (DiskFull, Damaged):
        raise
    except StoreError as exc:
        raise ApiError(400, str(exc)) from None


@bp.put("/images/<path:name>/annotations")
def put_annotations(name):
    name, width, height = _image(name)
    body = _body()
    version = _expected_version(body)
    raw = body.get("objects")
    if not isinstance(raw, list):
        raise ApiError(400, "\"objects\" must be a list of objects.")
    client = _client(body)
    store = _ctx().store
    label_ids = {label.id for label in store.labels()}
    parsed = [payloads.parse_object(o, width, height, label_ids) for o in raw]
    return _saved(lambda: store.save(name, width, height, version, parsed, client=client))


@bp.patch("/images/<path:name>/annotations")
def patch_annotations(name):
    """Saves only what changed: objects added or replaced, masks painted in a box (brush and
    eraser strokes: "paint", applied onto the stored masks), attributes updated, objects deleted."""
    name, width, height = _image(name)
    body = _body()
    version = _expected_version(body)
    upsert, paint, update, delete = (body.get(key, []) for key in ("upsert", "paint", "update", "delete"))
    for key, value in (("upsert", upsert), ("paint", paint), ("update", update), ("delete", delete)):
        if not isinstance(value, list):
            raise ApiError(400, f"\"{key}\" must be a list.")
    if not all(isinstance(oid, str) for oid in delete):
        raise ApiError(400, "\"delete\" must be a list of object ids.")
    client = _client(body)
    store = _ctx().store
    label_ids = {label.id for label in store.labels()}
    rows = [payloads.parse_object(o, width, height, label_ids) for o in upsert]
    updates = [payloads.parse_update(u, label_ids) for u in update]
    paints = [payloads.parse_paint(p, width, height) for p in paint]
    if not paints:
        return _saved(lambda: store.save_changes(name, width, height, version, rows, updates, delete, client=client))
    painted, updates = _apply_paints(store, name, width, height, version, paints, updates)

    def save():
        new_version = store.save_changes(name, width, height, version, rows + painted, updates, delete, client=client)
        _last_painted[store] = (name, new_version, {row.id: row for row in painted})
        return new_version
    return _saved(save)


# store -> (image, version, {id: ObjectRow}): the objects the last paint save wrote, as stored
# at that version. Every change of an image's objects gives it a new version (the store's rule),
# so while the version is the same they are what a load would read: the next stroke on them
# needs no load of the image's masks (on a 12 MP photo, most of a stroke's save).
_last_painted = weakref.WeakKeyDictionary()


def _stored_objects(store, name, version, ids):
    """({id: ObjectRow} holding at least `ids` if they are stored, the stored version)."""
    hit = _last_painted.get(store)
    if hit and hit[:2] == (name, version) and all(oid in hit[2] for oid in ids):
        return hit[2], version  # (the save checks that the version is still this one)
    record = store.load(name)
    return ({o.id: o for o in record.objects}, record.version) if record else ({}, 0)


def _apply_paints(store, name, width, height, version, paints, updates):
    """(the painted objects as rows to save, the updates left): each paint applied onto the
    stored mask, with the label / z / hidden update of the same object folded in. The save that
    follows checks the version again, so a save from elsewhere in between is a conflict."""
    stored, stored_version = _stored_objects(store, name, version, [p[0] for p in paints])
    rows, folded = [], []
    for oid, box, crop in paints:
        if oid not in stored:
            if stored_version != version:  # removed elsewhere: that is the news
                raise ApiError(409, str(VersionConflict(version, stored_version)), version=stored_version)
            raise ApiError(400, f"Object {oid!r} is not stored for this image; send it whole in \"upsert\".")
        row = payloads.painted(stored[oid], box, crop, width, height)
        change = next((u for u in updates if u["id"] == oid), None)
        if change is not None:
            folded.append(change)
            row = dataclasses.replace(row, **{k: v for k, v in change.items() if k != "id"})
        rows.append(row)
    return rows, [u for u in updates if not any(u is f for f in folded)]
