"""What only the durable backend promises: restarts, bounded files, clear errors, snapshots."""

from __future__ import annotations

import os
import sqlite3

import pytest

from minik.storage import CompactedError, CompactionPolicy, Compactor, DatabaseError, StoreConfig, running_store
from minik.storage.snapshot import restore_snapshot, save_snapshot


@pytest.fixture
def db(tmp_path):
    return tmp_path / "server" / "db" / "state.db"


async def test_restart_preserves_data_revision_and_history(db):
    async with running_store(db) as store:
        a = await store.create("/r/a", b"1")
        await store.update("/r/a", b"2", expected_revision=a.mod_revision)
        await store.create("/r/b", b"1")
        await store.delete("/r/b")
        revision = store.current_revision
    async with running_store(db) as store:
        assert store.current_revision == revision
        assert [(kv.key, kv.value, kv.create_revision) for kv in (await store.list("/r/")).items] == [
            ("/r/a", b"2", a.mod_revision)
        ]
        # A client that saw revision `a` resumes its watch across the restart without relisting.
        watch = store.watch("/r/", a.mod_revision)
        events = await watch.next_batch(timeout=1)
        assert [(e.type, e.kv.key) for e in events] == [("MODIFIED", "/r/a"), ("ADDED", "/r/b"), ("DELETED", "/r/b")]
        assert events[0].prev_kv.value == b"1" and events[2].kv.value == b"1"
        watch.close()
        nxt = await store.create("/r/c", b"x")
        assert nxt.mod_revision == revision + 1


async def test_revision_not_reused_after_compaction_and_restart(db):
    async with running_store(db) as store:
        await store.create("/r/a", b"1")
        await store.delete("/r/a")  # the newest row is a tombstone that compaction removes
        revision = store.current_revision
        await store.compact(revision)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM log").fetchone()[0] == 0
    async with running_store(db) as store:
        assert store.current_revision == revision
        assert (await store.create("/r/b", b"1")).mod_revision == revision + 1


async def test_compaction_removes_superseded_rows_only(db):
    async with running_store(db) as store:
        kv = await store.create("/r/a", b"0")
        for i in range(50):
            kv = await store.update("/r/a", b"%d" % i, expected_revision=kv.mod_revision)
        await store.create("/r/b", b"keep")
        keep_from = store.current_revision - 5
        await store.compact(keep_from)
        with sqlite3.connect(db) as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM log ORDER BY id")]
        # the row current at `keep_from`, and every row after it
        assert ids == list(range(keep_from, store.current_revision + 1))
        assert (await store.list("/r/", revision=keep_from)).items[0].value == b"45"


async def test_disk_stays_bounded_under_churn(db):
    policy = CompactionPolicy(keep_revisions=200, interval=3600)
    value = os.urandom(1024)
    async with running_store(db, policy=policy) as store:
        kvs = [await store.create(f"/r/{i}", value) for i in range(20)]
        for _ in range(150):  # 3,000 updates of 1 KiB: ~3.3 MB of rows without compaction
            kvs = [await store.update(kv.key, value, expected_revision=kv.mod_revision) for kv in kvs]
        await Compactor(store, policy).run_once()
        assert store.compact_revision >= store.current_revision - 200
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT COUNT(*) FROM log").fetchone()[0]
        assert rows <= 200 + 20
        size = os.path.getsize(db) + os.path.getsize(str(db) + "-wal")
        assert size < 1_500_000, size


def test_compactor_revision_and_time_windows():
    class FakeStore:
        current_revision = 0
        compact_revision = 0

    store = FakeStore()
    now = [0.0]
    compactor = Compactor(store, CompactionPolicy(keep_revisions=10, retention_seconds=60), clock=lambda: now[0])
    store.current_revision = 100
    assert compactor.target() == 0  # nothing is older than 60 s yet
    now[0] = 61
    store.current_revision = 500
    assert compactor.target() == 100  # what existed 60 s ago may go, no more
    only_revisions = Compactor(store, CompactionPolicy(keep_revisions=10))
    assert only_revisions.target() == 490


async def test_corrupt_database_is_a_clear_error(db):
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DatabaseError, match=str(db)):
        async with running_store(db):
            pass


async def test_second_process_on_same_database_is_refused(db):
    async with running_store(db):
        with pytest.raises(DatabaseError, match="in use"):
            async with running_store(db):
                pass


async def test_snapshot_save_and_restore(db, tmp_path):
    async with running_store(db) as store:
        await store.create("/r/a", b"before")
        snap = tmp_path / "snap.db"
        revision = save_snapshot(db, snap)  # while the server is running
        assert revision == store.current_revision
        await store.create("/r/b", b"after")
        with pytest.raises(DatabaseError, match="in use"):
            restore_snapshot(snap, db)
    assert restore_snapshot(snap, db) == revision
    async with running_store(db) as store:
        assert [kv.key for kv in (await store.list("/r/")).items] == ["/r/a"]
        assert store.current_revision == revision


def test_restore_refuses_a_file_that_is_not_a_snapshot(db, tmp_path):
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"nope" * 1000)
    with pytest.raises(DatabaseError, match="not a usable minik snapshot"):
        restore_snapshot(bogus, db)


async def test_history_reload_respects_configured_size(db):
    async with running_store(db) as store:
        for i in range(20):
            await store.create(f"/r/{i}", b"x")
    async with running_store(db, StoreConfig(history=5)) as store:
        store.watch("/r/", store.current_revision - 5).close()
        with pytest.raises(CompactedError):
            store.watch("/r/", store.current_revision - 6)
