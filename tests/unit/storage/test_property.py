"""Property test: random operation sequences against a dictionary model of etcd's semantics."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minik.storage import (
    CompactedError,
    ConflictError,
    KeyExistsError,
    NotFoundError,
    StoreConfig,
    running_store,
)

KEYS = [f"/p/{c}" for c in "abcde"] + ["/q/a"]

op = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(KEYS), st.binary(max_size=8)),
    st.tuples(st.just("update"), st.sampled_from(KEYS), st.binary(max_size=8), st.sampled_from(["current", "stale", "any"])),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.sampled_from(["current", "stale", "any"])),
    st.tuples(st.just("list_at"), st.sampled_from(["/p/", "/q/", ""]), st.floats(0, 1), st.integers(0, 3)),
    st.tuples(st.just("compact"), st.floats(0, 1)),
)


class Model:
    def __init__(self):
        self.revision = 0
        self.compacted = 0
        self.state: dict[str, tuple[bytes, int, int]] = {}
        self.snapshots = {0: {}}
        self.events: list[tuple[str, str, int]] = []

    def write(self, kind, key, value=None):
        self.revision += 1
        if kind == "DELETED":
            del self.state[key]
        else:
            create = self.state[key][1] if key in self.state else self.revision
            self.state[key] = (value, create, self.revision)
        self.snapshots[self.revision] = dict(self.state)
        self.events.append((kind, key, self.revision))

    def expected(self, key, mode):
        current = self.state[key][2] if key in self.state else 0
        return {"current": current, "stale": max(1, current - 1) if current > 1 else 10**6, "any": 0}[mode]


async def run_ops(path, ops):
    model = Model()
    async with running_store(path, StoreConfig(history=8)) as store:
        watch = store.watch("/p/")
        for o in ops:
            name = o[0]
            if name == "create":
                _, key, value = o
                if key in model.state:
                    try:
                        await store.create(key, value)
                        raise AssertionError("create of an existing key succeeded")
                    except KeyExistsError:
                        pass
                else:
                    kv = await store.create(key, value)
                    model.write("ADDED", key, value)
                    assert kv.mod_revision == model.revision
            elif name in ("update", "delete"):
                key, mode = o[1], o[-1]
                expected = model.expected(key, mode)
                try:
                    if name == "update":
                        kv = await store.update(key, o[2], expected_revision=expected)
                    else:
                        kv = await store.delete(key, expected_revision=expected)
                except NotFoundError:
                    assert key not in model.state
                    continue
                except ConflictError:
                    assert key in model.state and expected not in (0, model.state[key][2])
                    continue
                assert key in model.state and expected in (0, model.state[key][2])
                model.write("MODIFIED" if name == "update" else "DELETED", key, o[2] if name == "update" else None)
                assert kv.mod_revision == model.revision
            elif name == "list_at":
                _, prefix, where, limit = o
                revision = model.compacted + round(where * (model.revision - model.compacted))
                if revision == 0:
                    continue
                want = sorted((k, v) for k, v in model.snapshots[revision].items() if k.startswith(prefix))
                got, start = [], ""
                while True:
                    page = await store.list(prefix, revision=revision, limit=limit, start_after=start)
                    got += [(kv.key, (kv.value, kv.create_revision, kv.mod_revision)) for kv in page.items]
                    if not page.more:
                        break
                    start = page.items[-1].key
                assert got == want, (revision, model.revision)
            elif name == "compact":
                target = model.compacted + round(o[1] * (model.revision - model.compacted))
                await store.compact(target)
                model.compacted = max(model.compacted, target)
                assert store.compact_revision == model.compacted
                if model.compacted > 1:
                    with pytest.raises(CompactedError):
                        await store.list("/p/", revision=model.compacted - 1)
        assert store.current_revision == model.revision
        assert {kv.key: (kv.value, kv.create_revision, kv.mod_revision) for kv in (await store.list("")).items} == model.state
        seen = []
        while True:
            batch = await watch.next_batch(timeout=0)
            if not batch:
                break
            seen += [(e.type, e.kv.key, e.revision) for e in batch]
        watch.close()
        assert seen == [e for e in model.events if e[1].startswith("/p/")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, max_size=60))
def test_memory_store_matches_model(ops):
    asyncio.run(run_ops(None, ops))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, max_size=60))
def test_sqlite_store_matches_model(ops):
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run_ops(Path(tmp) / "state.db", ops))
