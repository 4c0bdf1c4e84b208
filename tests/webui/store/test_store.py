"""The SQLite annotation store: transactions, versions, labels, durability."""

import sqlite3
import threading

import numpy as np
import pytest

from edgemask.runtime.shapes import box_runs_to_mask, mask_to_box_runs, mask_to_rle
from edgemask.webui.store import Conflict, NotFound, ObjectRow, Store, StoreError, VersionConflict


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    yield s
    s.close()


def _polygon(oid, label_id, z=0):
    return ObjectRow(id=oid, label_id=label_id, kind="polygon", z=z,
                     polygon=[[1, 1], [9, 1], [9, 7]], bbox=[1, 1, 9, 7])


def test_wal_mode_and_schema(store):
    assert store.journal_mode() == "wal"
    assert store.labels() == []
    assert store.load("a.png") is None
    assert store.version("a.png") == 0


def test_labels_are_ordered_and_indexed_by_position(store):
    a = store.add_label("fish", "#ffff00")
    b = store.add_label("reef", "#ff00ff")
    c = store.add_label("rock", "#ffffff")
    assert [(lb.name, lb.index) for lb in store.labels()] == [("fish", 1), ("reef", 2), ("rock", 3)]
    store.update_label(c.id, position=0)
    assert [lb.name for lb in store.labels()] == ["rock", "fish", "reef"]
    store.delete_label(a.id)
    assert [(lb.id, lb.index) for lb in store.labels()] == [(c.id, 1), (b.id, 2)]
    renamed = store.update_label(b.id, name="coral", color="#123456")
    assert (renamed.name, renamed.color, renamed.index) == ("coral", "#123456", 2)


def test_label_errors(store):
    a = store.add_label("fish", "#ffff00")
    with pytest.raises(Conflict):
        store.add_label("fish", "#000000")
    b = store.add_label("reef", "#ff00ff")
    with pytest.raises(Conflict):
        store.update_label(b.id, name="fish")
    with pytest.raises(NotFound):
        store.update_label(999, name="x")
    with pytest.raises(NotFound):
        store.delete_label(999)
    store.save("a.png", 10, 8, 0, [_polygon("o1", a.id)])
    with pytest.raises(Conflict, match="used by 1 object"):
        store.delete_label(a.id)
    assert [lb.name for lb in store.labels()] == ["fish", "reef"]


def test_ensure_labels_adds_only_missing_names(store):
    store.add_label("fish", "#ffff00")
    ids = store.ensure_labels([("reef", "#ff00ff"), ("fish", "#000000")])
    labels = store.labels()
    assert [lb.name for lb in labels] == ["fish", "reef"]
    assert labels[0].color == "#ffff00"  # an existing label keeps its colour
    assert ids == [labels[1].id, labels[0].id]


def test_save_and_load_round_trip_with_masks(store):
    label = store.add_label("fish", "#ffff00")
    mask = np.zeros((8, 10), bool)
    mask[2:5, 3:7] = True
    objects = [
        ObjectRow(id="m", label_id=label.id, kind="mask", z=2, hidden=True, mask=mask_to_box_runs(mask),
                  bbox=[3, 2, 7, 5]),
        _polygon("p", label.id, z=1),
    ]
    assert store.save("sub/a.png", 10, 8, 0, objects) == 1
    record = store.load("sub/a.png")
    assert (record.width, record.height, record.version) == (10, 8, 1)
    assert [o.id for o in record.objects] == ["p", "m"]  # ordered by z
    m = record.objects[1]
    assert m.hidden and m.bbox == [3, 2, 7, 5]
    np.testing.assert_array_equal(box_runs_to_mask(m.mask, 8, 10), mask)
    assert record.objects[0].polygon == [[1, 1], [9, 1], [9, 7]]
    assert store.object_counts() == {"sub/a.png": 2}
    # a save replaces the whole list
    assert store.save("sub/a.png", 10, 8, 1, []) == 2
    assert store.load("sub/a.png").objects == []
    assert store.object_counts() == {}


def test_stale_version_is_refused_and_nothing_overwritten(store):
    label = store.add_label("fish", "#ffff00")
    store.save("a.png", 10, 8, 0, [_polygon("first", label.id)])
    # a second tab that loaded version 0 saves later
    with pytest.raises(VersionConflict) as info:
        store.save("a.png", 10, 8, 0, [_polygon("second", label.id)])
    assert info.value.stored == 1 and "another tab" in str(info.value)
    record = store.load("a.png")
    assert record.version == 1 and [o.id for o in record.objects] == ["first"]


def test_invalid_save_rolls_back(store):
    label = store.add_label("fish", "#ffff00")
    store.save("a.png", 10, 8, 0, [_polygon("keep", label.id)])
    with pytest.raises(StoreError, match="does not exist"):
        store.save("a.png", 10, 8, 1, [_polygon("x", label.id), _polygon("y", 12345)])
    with pytest.raises(StoreError, match="same id"):
        store.save("a.png", 10, 8, 1, [_polygon("x", label.id), _polygon("x", label.id)])
    record = store.load("a.png")
    assert record.version == 1 and [o.id for o in record.objects] == ["keep"]


def test_concurrent_saves_of_one_version_let_exactly_one_win(store):
    label = store.add_label("fish", "#ffff00")
    results = []
    barrier = threading.Barrier(8)

    def save(i):
        barrier.wait()
        try:
            results.append(store.save("a.png", 10, 8, 0, [_polygon(f"t{i}", label.id)]))
        except VersionConflict:
            results.append("conflict")

    threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == [1] + ["conflict"] * 7
    assert store.load("a.png").version == 1


def test_two_connections_see_each_other_and_conflict(tmp_path):
    """Two processes (two connections) on one file: the second stale save gets a conflict."""
    path = tmp_path / "db.sqlite"
    first, second = Store(path), Store(path)
    try:
        label = first.add_label("fish", "#ffff00")
        assert [lb.name for lb in second.labels()] == ["fish"]
        first.save("a.png", 10, 8, 0, [_polygon("one", label.id)])
        with pytest.raises(VersionConflict):
            second.save("a.png", 10, 8, 0, [_polygon("two", label.id)])
        assert second.save("a.png", 10, 8, 1, [_polygon("two", label.id)]) == 2
        assert [o.id for o in first.load("a.png").objects] == ["two"]
    finally:
        first.close()
        second.close()


def test_reopen_after_close_keeps_data(tmp_path):
    path = tmp_path / "db.sqlite"
    store = Store(path)
    label = store.add_label("fish", "#ffff00")
    store.save("a.png", 10, 8, 0, [_polygon("p", label.id)])
    store.close()
    reopened = Store(path)
    try:
        assert [lb.name for lb in reopened.labels()] == ["fish"]
        record = reopened.load("a.png")
        assert record.version == 1 and record.objects[0].id == "p"
    finally:
        reopened.close()


def test_acknowledged_save_is_on_disk_without_close(tmp_path):
    """What save() returned is committed: another plain sqlite3 connection reads it at once,
    while the store is still open (as after a killed process, nothing waits for a close)."""
    path = tmp_path / "db.sqlite"
    store = Store(path)
    label = store.add_label("fish", "#ffff00")
    store.save("a.png", 10, 8, 0, [_polygon("p", label.id)])
    other = sqlite3.connect(path)
    try:
        assert other.execute("SELECT version FROM images WHERE name='a.png'").fetchone() == (1,)
        assert other.execute("SELECT client_id FROM objects").fetchall() == [("p",)]
    finally:
        other.close()
        store.close()


def test_killed_process_keeps_acknowledged_save(tmp_path):
    """A process that saved and is then SIGKILLed (no close, no atexit) loses nothing."""
    import signal
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "db.sqlite"
    script = textwrap.dedent(f"""
        import os, signal
        from edgemask.webui.store import ObjectRow, Store
        store = Store({str(path)!r})
        label = store.add_label("fish", "#ffff00")
        v = store.save("a.png", 10, 8, 0, [ObjectRow(id="p", label_id=label.id, kind="polygon",
                       polygon=[[1, 1], [9, 1], [9, 7]], bbox=[1, 1, 9, 7])])
        print("acknowledged", v, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL and "acknowledged 1" in proc.stdout, proc.stderr
    with Store(path) as store:
        record = store.load("a.png")
        assert record.version == 1 and [o.id for o in record.objects] == ["p"]


V1_COLUMNS = "image, client_id, label_id, kind, z, hidden, polygon, mask, bbox"  # schema 1's objects


def test_a_schema_1_store_is_migrated_without_losing_a_pixel(tmp_path):
    """Stores written before masks were kept as box-runs held full-image COCO RLE."""
    from edgemask.webui.store.database import _SCHEMA

    path = tmp_path / "old.sqlite"
    rng = np.random.default_rng(0)
    masks = [rng.random((30, 40)) < 0.3, np.zeros((30, 40), bool)]
    masks[1][5:9, 30:40] = True
    db = sqlite3.connect(path)
    db.executescript(_SCHEMA)
    db.execute("INSERT INTO meta VALUES ('schema', '1')")
    db.execute("INSERT INTO labels (position, name, color) VALUES (0, 'fish', '#ffff00')")
    db.execute("INSERT INTO images VALUES ('a.png', 40, 30, 3)")
    import json

    for i, m in enumerate(masks):
        db.execute(f"INSERT INTO objects ({V1_COLUMNS}) VALUES ('a.png', ?, 1, 'mask', ?, 0, NULL, ?, '[0, 0, 40, 30]')",
                   (f"m{i}", i, json.dumps(mask_to_rle(m))))
    db.execute(f"INSERT INTO objects ({V1_COLUMNS}) VALUES ('a.png', 'p', 1, 'polygon', 5, 1, "
               "'[[1, 1], [9, 1], [9, 7]]', NULL, '[1, 1, 9, 7]')")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.get_meta("schema") == "3"
        record = store.load("a.png")
        assert record.version == 3 and [o.id for o in record.objects] == ["m0", "m1", "p"]
        for o, m in zip(record.objects, masks):
            assert set(o.mask) == {"box", "runs"}
            np.testing.assert_array_equal(box_runs_to_mask(o.mask, 30, 40), m)
        assert record.objects[1].mask["box"] == [30, 5, 40, 9]
        assert record.objects[2].polygon == [[1, 1], [9, 1], [9, 7]] and record.objects[2].hidden
    with Store(path) as store:  # opening again changes nothing
        np.testing.assert_array_equal(box_runs_to_mask(store.load("a.png").objects[0].mask, 30, 40), masks[0])


def test_save_changes_touches_only_named_objects(store):
    fish = store.add_label("fish", "#ffff00")
    reef = store.add_label("reef", "#ff00ff")
    mask = np.zeros((8, 10), bool)
    mask[1:3, 2:4] = True
    m = ObjectRow(id="m", label_id=fish.id, kind="mask", z=0, mask=mask_to_box_runs(mask), bbox=[2, 1, 4, 3])
    assert store.save_changes("a.png", 10, 8, 0, upsert=[m, _polygon("p", fish.id, z=1), _polygon("q", fish.id, 2)]) == 1
    mask[5:7, 5:9] = True
    m2 = ObjectRow(id="m", label_id=fish.id, kind="mask", z=0, mask=mask_to_box_runs(mask), bbox=[2, 1, 9, 7])
    assert store.save_changes("a.png", 10, 8, 1, upsert=[m2], update=[{"id": "p", "label_id": reef.id, "z": 5,
                                                                          "hidden": True}], delete=["q"]) == 2
    record = store.load("a.png")
    assert [o.id for o in record.objects] == ["m", "p"]
    np.testing.assert_array_equal(box_runs_to_mask(record.objects[0].mask, 8, 10), mask)
    assert record.objects[0].bbox == [2, 1, 9, 7]
    p = record.objects[1]
    assert (p.label_id, p.z, p.hidden, p.polygon) == (reef.id, 5, True, [[1, 1], [9, 1], [9, 7]])
    # a stale version, an unknown id, an id named twice or an unknown label: nothing is written
    with pytest.raises(VersionConflict):
        store.save_changes("a.png", 10, 8, 1, delete=["m"])
    for kwargs in ({"delete": ["nope"]}, {"update": [{"id": "nope", "z": 1}]},
                   {"upsert": [_polygon("p", fish.id)], "delete": ["p"]},
                   {"upsert": [_polygon("n", 999)]}, {"update": [{"id": "p", "label_id": 999}]}):
        with pytest.raises(StoreError):
            store.save_changes("a.png", 10, 8, 2, **kwargs)
    assert store.version("a.png") == 2 and [o.id for o in store.load("a.png").objects] == ["m", "p"]
