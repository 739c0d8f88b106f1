"""Watch fan-out: committed events go from the store to every watcher of a matching prefix.

Part of the storage layer. The store publishes each committed batch once; watchers are grouped by prefix so
matching costs one `startswith` per (prefix, event), not per (watcher, event). Each watcher has a bounded
queue: a watcher that falls too far behind is ended with `SlowWatcherError` (the API answers 410 and the
client relists), so a stuck client can never grow the server's memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import AsyncIterator

from .interface import CompactedError, Event


class SlowWatcherError(CompactedError):
    """The watcher's queue overflowed; its events since `requested` are lost to it."""


class Watcher:
    """One watch stream. Implements the `Watch` protocol."""

    __slots__ = ("prefix", "after", "_hub", "_queue", "_max_queue", "_waiter", "_error", "_closed")

    def __init__(self, hub: "WatchHub", prefix: str, after: int, max_queue: int):
        self.prefix = prefix
        self.after = after  # revision of the last event delivered to (or skipped by) this watcher
        self._hub = hub
        self._queue: deque[Event] = deque()
        self._max_queue = max_queue
        self._waiter: asyncio.Future | None = None
        self._error: Exception | None = None
        self._closed = False

    # --- producer side (the store, synchronously, in the event loop) ---

    def push(self, events: list[Event]) -> None:
        if self._closed or self._error:
            return
        if events[0].revision <= self.after:  # registered with a start revision inside this batch
            events = [e for e in events if e.revision > self.after]
            if not events:
                return
        if len(self._queue) + len(events) > self._max_queue:
            self._error = SlowWatcherError(self.after, events[-1].revision)
            self._queue.clear()
            self._hub.remove(self)
        else:
            self._queue.extend(events)
            self.after = events[-1].revision
        self._wake()

    def end(self) -> None:
        """The store is closing: deliver what is queued, then stop."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- consumer side ---

    async def next_batch(self, timeout: float | None = None) -> list[Event] | None:
        while True:
            if self._queue:
                batch = list(self._queue)
                self._queue.clear()
                return batch
            if self._error is not None:
                raise self._error
            if self._closed:
                return None
            if timeout is not None and timeout <= 0:
                return []
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(timeout, _set_if_pending, waiter) if timeout is not None else None
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
            if timeout is not None and not (self._queue or self._error or self._closed):
                return []

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.clear()
            self._hub.remove(self)
            self._wake()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            batch = await self.next_batch()
            if batch is None:
                return
            for event in batch:
                yield event


def _set_if_pending(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


class WatchHub:
    """The set of live watchers, grouped by prefix."""

    def __init__(self) -> None:
        self._by_prefix: dict[str, set[Watcher]] = {}

    def __len__(self) -> int:
        return sum(len(group) for group in self._by_prefix.values())

    def add(self, watcher: Watcher) -> None:
        self._by_prefix.setdefault(watcher.prefix, set()).add(watcher)

    def remove(self, watcher: Watcher) -> None:
        group = self._by_prefix.get(watcher.prefix)
        if group is not None:
            group.discard(watcher)
            if not group:
                del self._by_prefix[watcher.prefix]

    def publish(self, events: list[Event]) -> None:
        for prefix, group in list(self._by_prefix.items()):
            matched = [e for e in events if e.kv.key.startswith(prefix)] if prefix else events
            if matched:
                for watcher in list(group):
                    watcher.push(matched)

    def end_all(self) -> None:
        for group in list(self._by_prefix.values()):
            for watcher in list(group):
                watcher.end()
        self._by_prefix.clear()
