"""WorkQueue: client-go's rate-limited work queue of object keys.

Part of the clients layer; every controller's workers take keys from one. Guarantees, as client-go's:
a key is queued at most once however often it is added (dirty set); a key is never processed by two
workers at once (added while processing → re-queued when `done`); failures back off per key
exponentially (`add_rate_limited`, cleared by `forget`); `add_after` delays an add (e.g. "check again when
this toleration expires").
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Callable

from .clock import Clock


class WorkQueue:
    def __init__(self, name: str = "", *, base_delay: float = 0.005, max_delay: float = 60.0,
                 clock: Clock | None = None):
        self.name = name
        self._clock = clock or Clock()
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._failures: dict[str, int] = {}
        self._timers: dict[str, tuple[float, Callable[[], None]]] = {}  # key → (due, cancel)
        self._waiters: deque[asyncio.Future] = deque()
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, key: str) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # re-queued by done()
        self._queue.append(key)
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def get(self) -> str | None:
        """The next key to process (call `done` after), or None once the queue shuts down."""
        while not self._queue:
            if self._shutting_down:
                return None
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # pass our wake-up on to another worker
                raise
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake()

    def add_after(self, key: str, delay: float) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        due = self._clock.monotonic() + delay
        existing = self._timers.get(key)
        if existing is not None:
            if existing[0] <= due:
                return  # an earlier add is already scheduled
            existing[1]()

        def fire() -> None:
            self._timers.pop(key, None)
            self.add(key)

        self._timers[key] = (due, self._clock.call_later(delay, fire))

    def add_rate_limited(self, key: str) -> None:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        self.add_after(key, min(self._base_delay * (2 ** failures), self._max_delay))

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: str) -> int:
        return self._failures.get(key, 0)

    def shutdown(self) -> None:
        self._shutting_down = True
        for _, cancel in self._timers.values():
            cancel()
        self._timers.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
