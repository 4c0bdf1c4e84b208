"""The SQLite annotation store: transactions, versions, labels, durability."""

import sqlite3
import threading

import numpy as np
import pytest

from edgemask.runtime.shapes import mask_to_rle, rle_to_mask
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
        ObjectRow(id="m", label_id=label.id, kind="mask", z=2, hidden=True, rle=mask_to_rle(mask),
                  bbox=[3, 2, 7, 5]),
        _polygon("p", label.id, z=1),
    ]
    assert store.save("sub/a.png", 10, 8, 0, objects) == 1
    record = store.load("sub/a.png")
    assert (record.width, record.height, record.version) == (10, 8, 1)
    assert [o.id for o in record.objects] == ["p", "m"]  # ordered by z
    m = record.objects[1]
    assert m.hidden and m.bbox == [3, 2, 7, 5]
    np.testing.assert_array_equal(rle_to_mask(m.rle), mask)
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
