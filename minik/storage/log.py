"""The log: what a storage backend persists, one record per revision (kine's layout).

Part of the storage layer, below `RevisionedStore`. The store keeps the current state in memory and does
all sequencing; a log only has to (1) load what it holds at start, (2) make a batch of events durable,
(3) answer "what was under this prefix at revision R" for revisions older than the store's in-memory
history, and (4) drop history at or below a compaction revision. `MemoryLog` is the in-memory backend
(tests, `--ephemeral`); `minik.storage.sqlite.SqliteLog` is the durable one.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Protocol

from .interface import Event, KeyValue


@dataclass
class LoadedState:
    revision: int = 0
    compact_revision: int = 0
    items: list[KeyValue] = field(default_factory=list)  # current values, any order
    recent: list[Event] = field(default_factory=list)  # the newest events, contiguous, ending at `revision`


@dataclass(frozen=True, slots=True)
class Page:
    items: list[KeyValue]
    more: bool
    remaining: int


class Log(Protocol):
    async def open(self, *, recent: int) -> LoadedState:
        """Load the current state and up to `recent` newest events (for watch resume)."""

    async def append(self, events: list[Event]) -> None:
        """Persist the events (consecutive revisions) atomically; durable when this returns."""

    async def list_at(self, prefix: str, revision: int, *, start_after: str, limit: int) -> Page: ...

    async def compact(self, revision: int) -> None:
        """Drop every record superseded at or before `revision`, and tombstones at or before it."""

    async def close(self) -> None: ...


def prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix` ("" → no bound)."""
    if not prefix:
        return ""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def page_of(items: list[KeyValue], limit: int) -> Page:
    if limit and len(items) > limit:
        return Page(items[:limit], True, len(items) - limit)
    return Page(items, False, 0)


class MemoryLog:
    """Keeps every version of every key until compaction, like the SQLite table, but in dicts."""

    def __init__(self) -> None:
        # key → ascending list of (revision, KeyValue | None); None marks a deletion.
        self._versions: dict[str, list[tuple[int, KeyValue | None]]] = {}
        self._compact_revision = 0

    async def open(self, *, recent: int) -> LoadedState:
        return LoadedState()  # nothing survives a restart of the memory backend

    async def append(self, events: list[Event]) -> None:
        for event in events:
            value = None if event.type == "DELETED" else event.kv
            self._versions.setdefault(event.kv.key, []).append((event.revision, value))

    async def list_at(self, prefix: str, revision: int, *, start_after: str, limit: int) -> Page:
        items = []
        for key in sorted(k for k in self._versions if k.startswith(prefix) and k > start_after):
            versions = self._versions[key]
            i = bisect.bisect_right(versions, revision, key=lambda v: v[0])
            if i and versions[i - 1][1] is not None:
                items.append(versions[i - 1][1])
        return page_of(items, limit)

    async def compact(self, revision: int) -> None:
        for key in list(self._versions):
            versions = self._versions[key]
            i = bisect.bisect_right(versions, revision, key=lambda v: v[0])
            if i == 0:
                continue
            kept = versions[i - 1 :]  # the version current at `revision` and everything after it
            if kept[0][1] is None:  # a deletion at or before `revision`: nothing of it is needed
                kept = kept[1:]
            if kept:
                self._versions[key] = kept
            else:
                del self._versions[key]
        self._compact_revision = max(self._compact_revision, revision)

    async def close(self) -> None:
        self._versions.clear()
