"""RevisionedStore: the `Storage` implementation shared by every backend (the watch cache of Kubernetes).

Part of the storage layer; the registry is its only caller. It holds the current state in memory (reads
never touch disk), sequences writes, and hands them to a `Log` (SQLite or memory) for durability:

    create/update/delete ── check against the latest state (committed + pending) ── assign revision
        └─► queue ──► writer task: one `log.append(batch)` (one transaction, one fsync) per batch
                        └─► apply to the committed state ─► history ring ─► watchers ─► ack callers

Writes are checked and numbered in the caller's turn of the event loop, so concurrent writers on one key
are ordered and exactly one wins a compare-and-swap. A write becomes visible to readers and watchers only
after its batch is durable: nobody can observe a state that a crash would take back. Group commit is what
makes throughput: every write queued while a batch is being synced goes into the next one.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from dataclasses import dataclass

from .interface import (
    CompactedError,
    ConflictError,
    Event,
    KeyExistsError,
    KeyValue,
    ListResult,
    NotFoundError,
    StorageError,
    StorageUnavailableError,
    Value,
)
from .log import Log, prefix_end
from .watch import WatchHub, Watcher

log = logging.getLogger(__name__)


class FutureRevisionError(StorageError):
    """A read asked for a revision the store has not reached (the API answers 504, "Too large")."""

    def __init__(self, requested: int, current: int):
        super().__init__(f"revision {requested} is in the future (current {current})")
        self.requested, self.current = requested, current


@dataclass(frozen=True)
class StoreConfig:
    history: int = 8192  # events kept in memory for watch resume and consistent pagination
    watcher_queue: int = 5000  # events a watcher may fall behind before it is ended with Gone


class RevisionedStore:
    def __init__(self, log_backend: Log, config: StoreConfig = StoreConfig()):
        self._log = log_backend
        self._config = config
        self._items: dict[str, KeyValue] = {}
        self._keys: list[str] = []  # sorted, for prefix ranges
        self._revision = 0  # last durable revision
        self._last_assigned = 0
        self._compact_revision = 0
        self._history: list[Event] = []  # contiguous revisions, newest last
        # Sequenced writes not yet durable: key → (revision, value or None for a delete). Checks of later
        # writes see them; readers do not.
        self._pending: dict[str, tuple[int, KeyValue | None]] = {}
        self._queue: list[tuple[Event, asyncio.Future]] = []
        self._wakeup = asyncio.Event()
        self._hub = WatchHub()
        self._growth_waiters: list[tuple[int, asyncio.Future]] = []
        self._writer_running = False
        self._writer_done = asyncio.Event()
        self._state = "new"  # new → open → closing → closed | failed
        self._failure: BaseException | None = None

    # --- lifecycle ---

    async def open(self) -> None:
        loaded = await self._log.open(recent=self._config.history)
        self._items = {kv.key: kv for kv in loaded.items}
        self._keys = sorted(self._items)
        self._revision = self._last_assigned = loaded.revision
        self._compact_revision = loaded.compact_revision
        self._history = loaded.recent
        self._state = "open"

    async def run(self) -> None:
        """The writer: commits queued writes in batches until `close()`. Run it as a supervised task.

        One batch at a time: everything queued while a batch is being written goes into the next one.
        (Handing the log two batches at once was measured slower: the SQLite thread needs the GIL back to
        return, so the loop and the disk cannot really overlap, and halved batches cost more fsyncs.)
        """
        self._writer_running = True
        try:
            while True:
                if not self._queue:
                    if self._state != "open":
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                batch, self._queue = self._queue, []
                await self._write(batch)
        except asyncio.CancelledError:
            # Shutting down: what was queued was promised an answer; make it durable first.
            if self._state == "open":
                self._state = "closing"
            while self._queue and self._state == "closing":
                batch, self._queue = self._queue, []
                await self._write(batch)
            raise
        finally:
            self._writer_running = False
            self._writer_done.set()

    async def _write(self, batch: list[tuple[Event, asyncio.Future]]) -> None:
        """Make one batch durable, then visible. A batch is never left half-done by a cancellation."""
        events = [event for event, _ in batch]
        append = asyncio.ensure_future(self._log.append(events))
        cancelled = False
        while not append.done():
            try:
                await asyncio.shield(append)
            except asyncio.CancelledError:
                cancelled = True
            except BaseException:
                break
        error = append.exception()
        if error is not None:
            self._fail(error, batch)
            raise StorageUnavailableError(f"storage failed: {error}") from error
        self._commit(events, batch)
        if cancelled:
            raise asyncio.CancelledError

    def _commit(self, events: list[Event], batch: list[tuple[Event, asyncio.Future]]) -> None:
        items, keys, pending = self._items, self._keys, self._pending
        for event in events:
            kv = event.kv
            key = kv.key
            if event.type == "DELETED":
                del items[key]
                del keys[bisect.bisect_left(keys, key)]
            else:
                if event.type == "ADDED":
                    bisect.insort(keys, key)
                items[key] = kv
            entry = pending.get(key)
            if entry is not None and entry[0] == kv.mod_revision:
                del pending[key]
        self._revision = events[-1].revision
        history = self._history
        history.extend(events)
        if len(history) > 2 * self._config.history:  # trim in halves: amortized O(1) per event
            del history[: len(history) - self._config.history]
        self._hub.publish(events)
        for _, future in batch:
            if not future.done():
                future.set_result(None)
        if self._growth_waiters:
            self._notify_growth()

    def _fail(self, exc: BaseException, batch: list[tuple[Event, asyncio.Future]]) -> None:
        log.error("storage write failed, the store stops: %s", exc)
        self._state = "failed"
        self._failure = exc
        error = StorageUnavailableError(f"storage failed: {exc}")
        for _, future in batch + self._queue:
            if not future.done():
                future.set_exception(error)
        self._queue = []
        self._pending.clear()
        self._hub.end_all()

    async def close(self) -> None:
        """Stop accepting writes, finish the queued ones, end watches, close the log."""
        if self._state in ("closed", "new"):
            self._state = "closed"
            return
        if self._state == "open":
            self._state = "closing"
            self._wakeup.set()
        if self._writer_running:
            await self._writer_done.wait()  # the writer drains the queue, then returns
        while self._queue and self._state == "closing":  # no writer running: drain here
            batch, self._queue = self._queue, []
            await self._write(batch)
        self._hub.end_all()
        for _, future in self._growth_waiters:
            if not future.done():
                future.cancel()
        self._growth_waiters.clear()
        if self._state != "failed":
            self._state = "closed"
        await self._log.close()

    def end_watches(self) -> None:
        """End every watch now (their queued events are still delivered); used at shutdown."""
        self._hub.end_all()

    # --- properties ---

    @property
    def current_revision(self) -> int:
        return self._revision

    @property
    def compact_revision(self) -> int:
        return self._compact_revision

    @property
    def watcher_count(self) -> int:
        return len(self._hub)

    def _check_readable(self) -> None:
        if self._state not in ("open", "closing"):
            raise StorageUnavailableError(f"storage is {self._state}")

    def _check_writable(self) -> None:
        if self._state != "open":
            raise StorageUnavailableError(f"storage is {self._state}")

    # --- writes ---

    def _latest(self, key: str) -> KeyValue | None:
        entry = self._pending.get(key)
        if entry is not None:
            return entry[1]
        return self._items.get(key)

    def _sequence(self, event_type: str, key: str, value: Value | None, prev: KeyValue | None) -> tuple:
        revision = self._last_assigned + 1
        if event_type == "DELETED":
            kv = KeyValue(key, prev.value, prev.create_revision, revision)
        else:
            data = value(revision) if callable(value) else value
            if not isinstance(data, bytes):
                raise TypeError(f"storage values are bytes, got {type(data).__name__}")
            kv = KeyValue(key, data, prev.create_revision if prev else revision, revision)
        self._last_assigned = revision
        self._pending[key] = (revision, None if event_type == "DELETED" else kv)
        future = asyncio.get_running_loop().create_future()
        self._queue.append((Event(event_type, kv, prev), future))
        self._wakeup.set()
        return kv, future

    async def create(self, key: str, value: Value) -> KeyValue:
        if self._state != "open":
            self._check_writable()
        if key in self._pending or key in self._items:
            if self._latest(key) is not None:
                raise KeyExistsError(key)
        kv, future = self._sequence("ADDED", key, value, None)
        await future
        return kv

    async def update(self, key: str, value: Value, *, expected_revision: int) -> KeyValue:
        kv, future = self._sequence("MODIFIED", key, value, self._existing(key, expected_revision))
        await future
        return kv

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        kv, future = self._sequence("DELETED", key, None, self._existing(key, expected_revision))
        await future
        return kv

    def _existing(self, key: str, expected_revision: int) -> KeyValue:
        """The key's latest value, checked writable, present and (when given) at `expected_revision`."""
        self._check_writable()
        prev = self._latest(key)
        if prev is None:
            raise NotFoundError(key)
        if expected_revision and prev.mod_revision != expected_revision:
            raise ConflictError(key, expected_revision, prev.mod_revision)
        return prev

    # --- reads ---

    async def get(self, key: str) -> KeyValue | None:
        self._check_readable()
        return self._items.get(key)

    async def get_latest(self, key: str) -> KeyValue | None:
        """The newest value including writes accepted but not yet durable: the base of read-modify-write.

        A write built on it is sequenced after the pending one and acknowledged only once durable, which
        implies the pending one is durable too; readers (get/list/watch) never see pending state.
        """
        self._check_readable()
        return self._latest(key)

    async def count(self, prefix: str) -> int:
        self._check_readable()
        low, high = self._range(prefix)
        return high - low

    def _range(self, prefix: str, start_after: str = "") -> tuple[int, int]:
        keys = self._keys
        low = bisect.bisect_left(keys, prefix)
        if start_after:
            low = max(low, bisect.bisect_right(keys, start_after))
        end = prefix_end(prefix)
        high = bisect.bisect_left(keys, end) if end else len(keys)
        return low, max(low, high)

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0, start_after: str = "") -> ListResult:
        self._check_readable()
        current = self._revision
        if revision == 0 or revision == current:
            return self._list_current(prefix, current, limit, start_after)
        if revision > current:
            raise FutureRevisionError(revision, current)
        if revision < self._compact_revision:
            raise CompactedError(revision, self._compact_revision)
        if self._history and revision >= self._history[0].revision - 1:
            return self._list_from_history(prefix, revision, limit, start_after)
        page = await self._log.list_at(prefix, revision, start_after=start_after, limit=limit)
        if revision < self._compact_revision:  # compacted while we read
            raise CompactedError(revision, self._compact_revision)
        return ListResult(page.items, revision, page.more, page.remaining)

    def _list_current(self, prefix: str, revision: int, limit: int, start_after: str) -> ListResult:
        low, high = self._range(prefix, start_after)
        items, keys = self._items, self._keys
        if limit and high - low > limit:
            return ListResult([items[k] for k in keys[low : low + limit]], revision, True, high - low - limit)
        return ListResult([items[k] for k in keys[low:high]], revision, False, 0)

    def _list_from_history(self, prefix: str, revision: int, limit: int, start_after: str) -> ListResult:
        """The state at `revision`: today's state with every later event undone."""
        first = self._history[0].revision
        overlay: dict[str, KeyValue | None] = {}
        for event in reversed(self._history[revision + 1 - first :]):
            key = event.kv.key
            if key.startswith(prefix) and key > start_after:
                overlay[key] = event.prev_kv  # iterating newest→oldest: the oldest undo wins
        low, high = self._range(prefix, start_after)
        names = sorted(set(self._keys[low:high]).union(overlay))
        values = [overlay[k] if k in overlay else self._items[k] for k in names]
        result = [kv for kv in values if kv is not None]
        if limit and len(result) > limit:
            return ListResult(result[:limit], revision, True, len(result) - limit)
        return ListResult(result, revision, False, 0)

    # --- watch ---

    def watch(self, prefix: str, revision: int = 0) -> Watcher:
        self._check_readable()
        current = self._revision
        after = revision or current
        if revision and revision < current:
            oldest = self._history[0].revision - 1 if self._history else current
            if revision < max(oldest, self._compact_revision):
                raise CompactedError(revision, max(oldest, self._compact_revision))
        watcher = Watcher(self._hub, prefix, after, self._config.watcher_queue)
        if after < current:
            backlog = [e for e in self._history[after + 1 - self._history[0].revision :] if e.kv.key.startswith(prefix)]
            watcher.after = after
            if backlog:
                watcher.push(backlog)
            watcher.after = current
        if self._state == "open":
            self._hub.add(watcher)
        else:
            watcher.end()
        return watcher

    # --- compaction ---

    async def compact(self, revision: int) -> None:
        self._check_writable()
        revision = min(revision, self._revision)
        if revision <= self._compact_revision:
            return
        await self._log.compact(revision)
        self._compact_revision = max(self._compact_revision, revision)

    async def wait_for_growth(self, revisions: int) -> None:
        """Return once more than `revisions` revisions lie above the compaction point (for the compactor)."""
        if self._revision - self._compact_revision > revisions:
            return
        future = asyncio.get_running_loop().create_future()
        self._growth_waiters.append((revisions, future))
        await future

    def _notify_growth(self) -> None:
        span = self._revision - self._compact_revision
        waiting = []
        for threshold, future in self._growth_waiters:
            if future.done():
                continue
            if span > threshold:
                future.set_result(None)
            else:
                waiting.append((threshold, future))
        self._growth_waiters = waiting
