"""PATCH annotations with "paint": a brush or eraser stroke saved as the pixels of its box,
applied onto the stored mask (square.png is 64x48), refused in one sentence when unusable, and
versioned like every save."""

import numpy as np
import pytest

from edgemask.runtime.shapes import box_runs_to_mask, crop_to_runs, mask_to_box_runs

W, H = 64, 48
URL = "/api/images/square.png/annotations"


def _label_id(client, index=0):
    return client.get("/api/labels").get_json()["labels"][index]["id"]


def _blob(seed=0):
    """A mask with a ragged edge (many runs) in the middle of the image."""
    rng = np.random.default_rng(seed)
    m = np.zeros((H, W), bool)
    m[10:35, 12:50] = True
    m[10:35, 12:50] &= rng.random((25, 38)) < 0.8
    return m


def _stored(client, oid="m"):
    body = client.get(URL).get_json()
    obj = next(o for o in body["objects"] if o["id"] == oid)
    return body["version"], obj, box_runs_to_mask(obj["mask"], H, W)


def _start(client, mask, client_id="page-a"):
    label = _label_id(client)
    resp = client.put(URL, json={"version": 0, "client": client_id, "objects": [
        {"id": "m", "label_id": label, "kind": "mask", "mask": mask_to_box_runs(mask)},
        {"id": "p", "label_id": label, "kind": "polygon", "polygon": [[1, 1], [9, 1], [9, 9]]}]})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["version"]


def _paint(box, pixels, oid="m"):
    x0, y0, x1, y1 = box
    return {"id": oid, "box": list(box), "runs": crop_to_runs(pixels[y0:y1, x0:x1])}


def _patch(client, version, paint=(), client_id="page-a", **more):
    return client.patch(URL, json={"version": version, "paint": list(paint), "client": client_id, **more})


@pytest.mark.parametrize("box, fill", [
    ((40, 30, 60, 46), True),    # a stroke reaching past the mask's box: it grows
    ((20, 15, 30, 25), False),   # an eraser stroke inside
    ((0, 0, 64, 48), False),     # erased whole: an empty mask
    ((5, 5, 5, 9), True),        # an empty box changes nothing
])
def test_a_paint_replaces_the_pixels_of_its_box(client, box, fill):
    before = _blob()
    version = _start(client, before)
    after = before.copy()
    x0, y0, x1, y1 = box
    stroke = np.zeros((H, W), bool)
    stroke[y0:y1, x0:x1] = np.random.default_rng(1).random((y1 - y0, x1 - x0)) < 0.6
    after[y0:y1, x0:x1] = stroke[y0:y1, x0:x1] if fill else False
    resp = _patch(client, version, [_paint(box, after)])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    new_version, obj, mask = _stored(client)
    assert new_version == version + 1
    np.testing.assert_array_equal(mask, after)
    assert obj["mask"] == mask_to_box_runs(after)  # tight box again
    assert obj["bbox"] == obj["mask"]["box"]


def test_a_paint_keeps_attributes_and_takes_an_update_of_the_same_object(client):
    version = _start(client, _blob())
    other = _label_id(client, 1)
    after = _blob()
    after[0:4, 0:4] = True
    resp = _patch(client, version, [_paint((0, 0, 8, 8), after)],
                  update=[{"id": "m", "label_id": other, "z": 7}, {"id": "p", "hidden": True}])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    _, obj, mask = _stored(client)
    np.testing.assert_array_equal(mask, after)
    assert (obj["label_id"], obj["z"], obj["kind"]) == (other, 7, "mask")
    poly = next(o for o in client.get(URL).get_json()["objects"] if o["id"] == "p")
    assert poly["hidden"] is True and poly["polygon"] == [[1, 1], [9, 1], [9, 9]]


def _bad_paints():
    ok = crop_to_runs(np.ones((4, 4), bool))
    return [
        ({"id": "m", "box": [60, 40, 68, 44], "runs": [32]}, "not inside the 64x48 image"),
        ({"id": "m", "box": [0, 0, 4, 4], "runs": ok + [1]}, "cover 17 pixels"),          # overflowing
        ({"id": "m", "box": [0, 0, 4, 4], "runs": [0, 15]}, "cover 15 pixels"),
        ({"id": "m", "box": [0, 0, 4, 4], "runs": [20, -4]}, "non-negative"),
        ({"id": "m", "box": [0, 0, 4, 4], "runs": [2 ** 63 - 1, 2 ** 63 - 1, 18]}, "but its 4x4 box has 16"),  # wraps in int64
        ({"id": "m", "box": [-2, 0, 2, 4], "runs": [16]}, "not inside"),
        ({"id": "m", "box": [0, 0, 4], "runs": [12]}, "4 integers"),
        ({"id": "m", "box": [0, 0, 4, 4]}, "must be {"),
        ({"id": "m", "box": [0, 0, 4, 4], "runs": ok, "mask": 1}, "not 'mask'"),
        ({"id": "p", "box": [0, 0, 4, 4], "runs": ok}, "is a polygon"),
        ({"id": "nobody", "box": [0, 0, 4, 4], "runs": ok}, "is not stored"),
        ({"box": [0, 0, 4, 4], "runs": ok}, "needs the \"id\""),
        ("m", "must be a JSON object"),
    ]


@pytest.mark.parametrize("paint, reason", _bad_paints())
def test_unusable_paints_are_refused_in_one_sentence_and_change_nothing(client, paint, reason):
    version = _start(client, _blob())
    resp = _patch(client, version, [paint])
    assert resp.status_code == 400, resp.get_data(as_text=True)
    message = resp.get_json()["error"]
    assert reason in message and message.endswith(".") and "\n" not in message
    new_version, _, mask = _stored(client)
    assert new_version == version
    np.testing.assert_array_equal(mask, _blob())


def test_paint_must_be_a_list(client):
    version = _start(client, _blob())
    resp = client.patch(URL, json={"version": version, "paint": {"id": "m"}})
    assert resp.status_code == 400 and resp.get_json()["error"] == "\"paint\" must be a list."


def test_a_paint_over_a_save_from_elsewhere_is_a_conflict(client):
    version = _start(client, _blob())
    elsewhere = _blob(seed=5)
    resp = client.patch(URL, json={"version": version, "client": "page-b",
                                   "upsert": [{"id": "m", "label_id": _label_id(client), "kind": "mask",
                                               "mask": mask_to_box_runs(elsewhere)}]})
    assert resp.status_code == 200
    mine = _blob()
    mine[0:5, 0:5] = True
    resp = _patch(client, version, [_paint((0, 0, 6, 6), mine)])
    assert resp.status_code == 409 and resp.get_json()["version"] == version + 1
    assert "another tab" in resp.get_json()["error"]
    np.testing.assert_array_equal(_stored(client)[2], elsewhere)  # nothing overwritten

    # the object deleted elsewhere: still the conflict, not "not stored"
    resp = client.patch(URL, json={"version": version + 1, "client": "page-b", "delete": ["m"]})
    assert resp.status_code == 200
    resp = _patch(client, version, [_paint((0, 0, 6, 6), mine)])
    assert resp.status_code == 409, resp.get_data(as_text=True)


def test_a_paint_resent_after_a_lost_answer_applies_once(client):
    version = _start(client, _blob())
    after = _blob()
    after[40:46, 2:20] = True
    paint = _paint((0, 36, 24, 48), after)
    assert _patch(client, version, [paint]).status_code == 200
    resp = _patch(client, version, [paint])  # the answer was lost: the page sends it again
    assert resp.status_code == 200, resp.get_data(as_text=True)
    new_version, _, mask = _stored(client)
    assert new_version == version + 2
    np.testing.assert_array_equal(mask, after)


def test_strokes_in_a_row_build_on_each_other_and_on_changes_made_between(client):
    version = _start(client, _blob())
    mask = _blob()
    for k, box in enumerate([(0, 0, 20, 12), (10, 5, 40, 20), (30, 30, 64, 48)]):
        x0, y0, x1, y1 = box
        mask[y0:y1, x0:x1] = (np.arange(x1 - x0) + k) % 3 == 0
        resp = _patch(client, version, [_paint(box, mask)])
        assert resp.status_code == 200, resp.get_data(as_text=True)
        version = resp.get_json()["version"]
        np.testing.assert_array_equal(_stored(client)[2], mask)
    # the label moved by deleting it (a new version): the next stroke keeps the new label
    first, second = _label_id(client), _label_id(client, 1)
    assert client.delete(f"/api/labels/{first}?objects=relabel&to={second}").status_code == 200
    version, obj, _ = _stored(client)
    assert obj["label_id"] == second
    mask[40:48, 0:10] = True
    resp = _patch(client, version, [_paint((0, 40, 10, 48), mask)])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    _, obj, stored = _stored(client)
    assert obj["label_id"] == second
    np.testing.assert_array_equal(stored, mask)
    # another tab's save since: still a conflict
    assert _patch(client, resp.get_json()["version"], client_id="page-b").status_code == 200
    assert _patch(client, resp.get_json()["version"], [_paint((0, 40, 10, 48), mask)]).status_code == 409


def test_paints_on_the_rows_they_cover_match_decoding_the_whole_mask():
    """Paint applied to its rows' runs (the fast way) gives what decoding the whole mask gives,
    for boxes anywhere: inside, on the edges (where the mask's box may shrink), outside."""
    from edgemask.runtime.shapes import box_runs_to_mask
    from edgemask.webui.routes.payloads import painted
    from edgemask.webui.store import ObjectRow

    rng = np.random.default_rng(3)
    for trial in range(300):
        mask = _blob(seed=trial)
        if trial % 7 == 0:
            mask[10, 12:50] = True  # full edge rows and columns
            mask[10:35, 12] = True
        row = ObjectRow(id="m", label_id=1, kind="mask", mask=mask_to_box_runs(mask))
        (mx0, my0, mx1, my1) = row.mask["box"] if trial % 2 else (0, 0, W, H)  # half inside its box
        x0, x1 = sorted(rng.integers(mx0, mx1 + 1, 2))
        y0, y1 = sorted(rng.integers(my0, my1 + 1, 2))
        pixels = rng.random((y1 - y0, x1 - x0)) < rng.choice([0.0, 0.5, 1.0])
        expected = mask.copy()
        expected[y0:y1, x0:x1] = pixels
        value = painted(row, (int(x0), int(y0), int(x1), int(y1)), pixels, W, H).mask
        assert value == mask_to_box_runs(expected), (trial, (x0, y0, x1, y1))
        np.testing.assert_array_equal(box_runs_to_mask(value, H, W), expected)
