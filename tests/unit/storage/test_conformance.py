"""The storage contract, run against every backend (memory and SQLite)."""

from __future__ import annotations

import asyncio
import random

import pytest

from minik.storage import (
    CompactedError,
    ConflictError,
    FutureRevisionError,
    KeyExistsError,
    NotFoundError,
    SlowWatcherError,
    StorageUnavailableError,
)


async def drain(watch, until_revision: int, timeout: float = 2.0) -> list:
    """Collect events until one at `until_revision` arrives."""
    events = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not events or events[-1].revision < until_revision:
        batch = await watch.next_batch(timeout=max(0.0, deadline - loop.time()))
        if not batch:
            raise AssertionError(f"no event up to {until_revision}; got {[e.revision for e in events]}")
        events.extend(batch)
    return events


def summary(events):
    return [(e.type, e.kv.key, e.revision) for e in events]


# --- create / get / update / delete ---


async def test_create_then_get(store):
    kv = await store.create("/r/a", b"one")
    assert kv.create_revision == kv.mod_revision == store.current_revision
    got = await store.get("/r/a")
    assert got == kv and got.value == b"one"
    assert await store.get("/r/missing") is None


async def test_create_existing_key_fails(store):
    await store.create("/r/a", b"one")
    with pytest.raises(KeyExistsError):
        await store.create("/r/a", b"two")
    assert (await store.get("/r/a")).value == b"one"


async def test_revisions_are_global_and_strictly_increasing(store):
    revisions = []
    for i in range(5):
        revisions.append((await store.create(f"/r/{i}", b"x")).mod_revision)
    revisions.append((await store.update("/r/0", b"y", expected_revision=revisions[0])).mod_revision)
    revisions.append((await store.delete("/r/1")).mod_revision)
    assert revisions == list(range(revisions[0], revisions[0] + 7))
    assert store.current_revision == revisions[-1]


async def test_update_keeps_create_revision(store):
    created = await store.create("/r/a", b"1")
    updated = await store.update("/r/a", b"2", expected_revision=created.mod_revision)
    assert updated.create_revision == created.create_revision
    assert updated.mod_revision > created.mod_revision


async def test_update_with_stale_revision_conflicts(store):
    created = await store.create("/r/a", b"1")
    await store.update("/r/a", b"2", expected_revision=created.mod_revision)
    with pytest.raises(ConflictError) as info:
        await store.update("/r/a", b"3", expected_revision=created.mod_revision)
    assert info.value.actual == store.current_revision
    assert (await store.get("/r/a")).value == b"2"


async def test_update_and_delete_missing_key(store):
    with pytest.raises(NotFoundError):
        await store.update("/r/nope", b"x", expected_revision=1)
    with pytest.raises(NotFoundError):
        await store.delete("/r/nope")


async def test_delete_with_expected_revision(store):
    created = await store.create("/r/a", b"1")
    await store.update("/r/a", b"2", expected_revision=created.mod_revision)
    with pytest.raises(ConflictError):
        await store.delete("/r/a", expected_revision=created.mod_revision)
    deleted = await store.delete("/r/a", expected_revision=store.current_revision)
    assert deleted.value == b"2" and deleted.mod_revision == store.current_revision
    assert await store.get("/r/a") is None
    recreated = await store.create("/r/a", b"3")  # a deleted key can be created again
    assert recreated.create_revision == recreated.mod_revision


async def test_value_function_receives_its_revision(store):
    kv = await store.create("/r/a", lambda rev: b"rv=%d" % rev)
    assert kv.value == b"rv=%d" % kv.mod_revision
    assert (await store.get("/r/a")).value == kv.value


async def test_value_function_error_consumes_no_revision(store):
    before = store.current_revision

    def broken(rev):
        raise ValueError("cannot encode")

    with pytest.raises(ValueError):
        await store.create("/r/a", broken)
    kv = await store.create("/r/a", b"ok")
    assert kv.mod_revision == before + 1


async def test_concurrent_compare_and_swap_exactly_one_wins(store):
    created = await store.create("/r/counter", b"0")

    async def writer(i):
        await asyncio.sleep(0)
        try:
            await store.update("/r/counter", b"%d" % i, expected_revision=created.mod_revision)
            return i
        except ConflictError:
            return None

    results = await asyncio.gather(*(writer(i) for i in range(20)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert (await store.get("/r/counter")).value == b"%d" % winners[0]


async def test_concurrent_creates_of_one_key_exactly_one_wins(store):
    results = await asyncio.gather(*(store.create("/r/x", b"%d" % i) for i in range(10)), return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, KeyExistsError) for r in results if isinstance(r, Exception))


async def test_concurrent_writers_are_batched_and_all_durable(store):
    await asyncio.gather(*(store.create(f"/r/{i:04d}", b"v") for i in range(300)))
    result = await store.list("/r/")
    assert [kv.key for kv in result.items] == [f"/r/{i:04d}" for i in range(300)]
    assert await store.count("/r/") == 300


# --- list ---


async def test_list_is_ordered_and_prefix_exact(store):
    for key in ["/r/b", "/r/a", "/rr/x", "/r/c/1", "/q/a"]:
        await store.create(key, b"x")
    assert [kv.key for kv in (await store.list("/r/")).items] == ["/r/a", "/r/b", "/r/c/1"]
    assert [kv.key for kv in (await store.list("/r/c/")).items] == ["/r/c/1"]
    assert len((await store.list("")).items) == 5


async def test_list_pagination(store):
    for i in range(10):
        await store.create(f"/r/{i}", b"x")
    page = await store.list("/r/", limit=4)
    assert [kv.key for kv in page.items] == ["/r/0", "/r/1", "/r/2", "/r/3"]
    assert page.more and page.remaining == 6
    page2 = await store.list("/r/", limit=4, start_after=page.items[-1].key, revision=page.revision)
    assert [kv.key for kv in page2.items] == ["/r/4", "/r/5", "/r/6", "/r/7"]
    page3 = await store.list("/r/", limit=4, start_after=page2.items[-1].key, revision=page.revision)
    assert [kv.key for kv in page3.items] == ["/r/8", "/r/9"]
    assert not page3.more and page3.remaining == 0


async def test_list_at_past_revision(store):
    a = await store.create("/r/a", b"a1")
    await store.create("/r/b", b"b1")
    at = store.current_revision
    await store.update("/r/a", b"a2", expected_revision=a.mod_revision)
    await store.delete("/r/b")
    await store.create("/r/c", b"c1")
    past = await store.list("/r/", revision=at)
    assert [(kv.key, kv.value) for kv in past.items] == [("/r/a", b"a1"), ("/r/b", b"b1")]
    assert past.revision == at
    now = await store.list("/r/")
    assert [(kv.key, kv.value) for kv in now.items] == [("/r/a", b"a2"), ("/r/c", b"c1")]


async def test_list_at_past_revision_beyond_memory_history(make_store):
    async with make_store(history=4) as store:
        await store.create("/r/a", b"a1")
        at = store.current_revision
        for i in range(20):  # pushes revision `at` out of the in-memory history
            await store.create(f"/r/x{i}", b"x")
        await store.update("/r/a", b"a2", expected_revision=at)
        past = await store.list("/r/", revision=at)
        assert [(kv.key, kv.value) for kv in past.items] == [("/r/a", b"a1")]


async def test_list_future_revision_fails(store):
    await store.create("/r/a", b"x")
    with pytest.raises(FutureRevisionError):
        await store.list("/r/", revision=store.current_revision + 5)


async def test_pagination_is_consistent_under_concurrent_writes(make_store):
    async with make_store(history=64) as store:
        for i in range(30):
            await store.create(f"/r/{i:02d}", b"v0")
        expected = {kv.key: kv.value for kv in (await store.list("/r/")).items}
        stop = asyncio.Event()
        rng = random.Random(7)

        async def churn():
            n = 0
            while not stop.is_set():
                key = f"/r/{rng.randrange(40):02d}"
                kv = await store.get(key)
                if kv is None:
                    await store.create(key, b"new")
                elif rng.random() < 0.3:
                    await store.delete(key)
                else:
                    await store.update(key, b"v%d" % n, expected_revision=kv.mod_revision)
                n += 1

        writer = asyncio.create_task(churn())
        try:
            seen = {}
            page = await store.list("/r/", limit=4)
            revision = page.revision
            while True:
                seen.update((kv.key, kv.value) for kv in page.items)
                await asyncio.sleep(0.001)  # let the writer change things between pages
                if not page.more:
                    break
                page = await store.list("/r/", limit=4, revision=revision, start_after=page.items[-1].key)
        finally:
            stop.set()
            await writer
        assert store.current_revision > revision + 10  # writes really happened in between
        assert seen == expected


# --- watch ---


async def test_watch_from_now_sees_only_new_events(store):
    await store.create("/r/old", b"x")
    watch = store.watch("/r/")
    a = await store.create("/r/a", b"1")
    await store.update("/r/a", b"2", expected_revision=a.mod_revision)
    await store.delete("/r/a")
    events = await drain(watch, store.current_revision)
    assert summary(events) == [
        ("ADDED", "/r/a", a.mod_revision),
        ("MODIFIED", "/r/a", a.mod_revision + 1),
        ("DELETED", "/r/a", a.mod_revision + 2),
    ]
    assert events[1].prev_kv.value == b"1"
    assert events[2].kv.value == b"2" and events[2].prev_kv.value == b"2"
    watch.close()


async def test_watch_replays_from_a_past_revision(store):
    first = await store.create("/r/a", b"1")
    await store.create("/r/b", b"1")
    await store.update("/r/a", b"2", expected_revision=first.mod_revision)
    watch = store.watch("/r/", first.mod_revision)  # events after `first`
    events = await drain(watch, store.current_revision)
    assert summary(events) == [("ADDED", "/r/b", first.mod_revision + 1), ("MODIFIED", "/r/a", first.mod_revision + 2)]
    late = await store.create("/r/c", b"1")  # and then continues live, nothing skipped or repeated
    assert summary(await drain(watch, late.mod_revision)) == [("ADDED", "/r/c", late.mod_revision)]
    watch.close()


async def test_watch_from_current_revision_is_empty_then_live(store):
    await store.create("/r/a", b"1")
    watch = store.watch("/r/", store.current_revision)
    assert await watch.next_batch(timeout=0.05) == []
    b = await store.create("/r/b", b"1")
    assert summary(await drain(watch, b.mod_revision)) == [("ADDED", "/r/b", b.mod_revision)]
    watch.close()


async def test_watch_from_future_revision_skips_until_then(store):
    await store.create("/r/a", b"1")
    start = store.current_revision + 2
    watch = store.watch("/r/", start)
    for key in "bcde":
        await store.create(f"/r/{key}", b"1")
    events = await drain(watch, store.current_revision)
    assert [e.revision for e in events] == [start + 1, start + 2]
    watch.close()


async def test_watch_filters_by_prefix(store):
    watch = store.watch("/r/a/")
    await store.create("/r/ab", b"x")
    await store.create("/r/b/1", b"x")
    kv = await store.create("/r/a/1", b"x")
    assert summary(await drain(watch, kv.mod_revision)) == [("ADDED", "/r/a/1", kv.mod_revision)]
    watch.close()


async def test_many_watchers_each_get_every_event_once(store):
    watches = [store.watch("/r/") for _ in range(50)]
    keys = [f"/r/{i}" for i in range(20)]
    await asyncio.gather(*(store.create(k, b"x") for k in keys))
    for watch in watches:
        events = await drain(watch, store.current_revision)
        assert sorted(e.kv.key for e in events) == sorted(keys)
        assert [e.revision for e in events] == sorted(e.revision for e in events)
        watch.close()
    assert store.watcher_count == 0


async def test_watch_from_revision_older_than_history_is_gone(make_store):
    async with make_store(history=4) as store:
        first = await store.create("/r/a", b"x")
        for i in range(12):
            await store.create(f"/r/{i}", b"x")
        with pytest.raises(CompactedError):
            store.watch("/r/", first.mod_revision)


async def test_watch_after_compaction_is_gone(store):
    first = await store.create("/r/a", b"1")
    for i in range(5):
        await store.create(f"/r/{i}", b"x")
    await store.compact(store.current_revision - 1)
    with pytest.raises(CompactedError):
        store.watch("/r/", first.mod_revision)
    with pytest.raises(CompactedError):
        await store.list("/r/", revision=first.mod_revision)
    watch = store.watch("/r/", store.compact_revision)  # the compaction point itself is still fine
    assert summary(await drain(watch, store.current_revision))[-1][2] == store.current_revision
    watch.close()


async def test_slow_watcher_is_ended_with_gone(make_store):
    async with make_store(watcher_queue=10) as store:
        slow = store.watch("/r/")
        fast = store.watch("/r/")
        for i in range(30):
            await store.create(f"/r/{i}", b"x")
            assert len(await fast.next_batch(timeout=1)) == 1
        with pytest.raises(SlowWatcherError):
            await slow.next_batch(timeout=1)
        assert store.watcher_count == 1  # the slow one no longer holds memory
        fast.close()


async def test_close_ends_watches_and_refuses_writes(make_store):
    async with make_store() as store:
        watch = store.watch("/r/")
        kv = await store.create("/r/a", b"x")
    assert summary(await watch.next_batch(timeout=1)) == [("ADDED", "/r/a", kv.mod_revision)]
    assert await watch.next_batch(timeout=1) is None  # ended
    with pytest.raises(StorageUnavailableError):
        await store.create("/r/b", b"x")


async def test_close_finishes_in_flight_writes(make_store):
    async with make_store() as store:
        writes = [asyncio.ensure_future(store.create(f"/r/{i}", b"x")) for i in range(50)]
        await asyncio.sleep(0)
    results = await asyncio.gather(*writes, return_exceptions=True)
    assert all(not isinstance(r, Exception) for r in results), results


# --- compaction ---


async def test_compaction_keeps_current_state(store):
    a = await store.create("/r/a", b"1")
    prev = a
    for i in range(10):
        prev = await store.update("/r/a", b"%d" % i, expected_revision=prev.mod_revision)
    await store.create("/r/b", b"x")
    await store.delete("/r/b")
    await store.compact(store.current_revision)
    assert [(kv.key, kv.value) for kv in (await store.list("/r/")).items] == [("/r/a", b"9")]
    assert store.compact_revision == store.current_revision
    nxt = await store.create("/r/c", b"x")
    assert nxt.mod_revision == store.compact_revision + 1
