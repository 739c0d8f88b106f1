"""The storage contract: a revisioned key-value store with etcd's semantics.

This is the bottom of the flow (storage → registry → API → clients → components). Only the registry talks to
it. Values are opaque bytes; keys are strings ("/registry/pods/default/web-1"). One global revision counter
orders every write; an object's `resourceVersion` is the revision of its last modification.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Callable, Literal, Protocol, Union

# A value, or a function that makes the value once its revision is known. The registry uses the latter to
# stamp `metadata.resourceVersion` into the stored bytes, so reads can serve those bytes as they are.
Value = Union[bytes, Callable[[int], bytes]]

EventType = Literal["ADDED", "MODIFIED", "DELETED"]


class StorageError(Exception):
    """Base class. Anything else escaping the store is a bug or a failed disk."""


class KeyExistsError(StorageError):
    def __init__(self, key: str):
        super().__init__(f"key exists: {key}")
        self.key = key


class NotFoundError(StorageError):
    def __init__(self, key: str):
        super().__init__(f"key not found: {key}")
        self.key = key


class ConflictError(StorageError):
    """The expected modification revision is stale (the API answers 409 Conflict)."""

    def __init__(self, key: str, expected: int, actual: int):
        super().__init__(f"revision conflict on {key}: expected {expected}, is {actual}")
        self.key, self.expected, self.actual = key, expected, actual


class CompactedError(StorageError):
    """The requested revision is no longer available (the API answers 410 Gone / Expired)."""

    def __init__(self, requested: int, oldest: int):
        super().__init__(f"revision {requested} is compacted (oldest available {oldest})")
        self.requested, self.oldest = requested, oldest


class StorageUnavailableError(StorageError):
    """The store is closed, or failed (a write could not be made durable)."""


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(slots=True)
class Event:
    """One revision. For DELETED, `kv` holds the last value and the revision of the deletion.

    `prev_kv` is the value before this revision (None for ADDED). Watchers of a filtered view need it: an
    object that stops matching a label selector must be reported as DELETED.
    """

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None = None
    # Per-event memo for layers above (e.g. a serialized watch frame), so a fan-out to N watchers encodes
    # once. Created on first use: most events are never watched.
    memo: dict | None = None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[KeyValue]
    revision: int  # the revision the list was read at (pass it back to continue consistently)
    more: bool  # True when `limit` cut the list short
    remaining: int  # items after this page (Kubernetes' remainingItemCount)


class Watch(Protocol):
    """A stream of events after a revision, in revision order, each exactly once.

    Ends (iteration stops) when the store closes. Raises CompactedError when the watcher fell so far behind
    that its queue overflowed; the client must relist, as with Kubernetes' 410 Gone.
    """

    async def next_batch(self, timeout: float | None = None) -> list[Event] | None:
        """The next events; [] when `timeout` passes first; None when the watch has ended."""

    def close(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[Event]: ...


class Storage(Protocol):
    """The store every backend implements (SQLite, memory; etcd later).

    Contracts:
    - Every write gets the next revision; revisions never repeat, also across restarts and compaction.
    - A write returns only once it is durable; a returned write is visible to get/list/watch.
    - `expected_revision` is the key's current mod revision; anything else raises ConflictError.
    - Revisions at or below `compact_revision` are gone: listing at them or watching from them raises
      CompactedError.
    """

    @property
    def current_revision(self) -> int: ...

    @property
    def compact_revision(self) -> int: ...

    async def get(self, key: str) -> KeyValue | None: ...

    async def get_latest(self, key: str) -> KeyValue | None:
        """Like get, but including writes accepted and not yet durable (for read-modify-write only)."""

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0, start_after: str = "") -> ListResult:
        """Keys under `prefix` in key order, at `revision` (0 = current), after `start_after`."""

    async def count(self, prefix: str) -> int: ...

    async def create(self, key: str, value: Value) -> KeyValue:
        """Raises KeyExistsError when the key exists."""

    async def update(self, key: str, value: Value, *, expected_revision: int) -> KeyValue:
        """Raises NotFoundError, ConflictError."""

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        """Removes the key (0 = whatever its revision). Returns its last value at the deletion revision."""

    def watch(self, prefix: str, revision: int = 0) -> Watch:
        """Events under `prefix` with revision > `revision` (0 = from now). Raises CompactedError."""

    async def compact(self, revision: int) -> None: ...

    async def close(self) -> None: ...
