"""Clocks: real time for the server, a fake one that tests advance by hand.

Part of the clients layer; controllers, work queues and simulated nodes read time only through a Clock,
so tests of time-driven behaviour (eviction after tolerationSeconds, CronJob schedules, backoffs) run in
milliseconds and deterministically.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import time
from typing import Callable


class Clock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_later(self, delay: float, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` after `delay` seconds; returns a function that cancels it."""
        handle = asyncio.get_running_loop().call_later(max(0.0, delay), callback)
        return handle.cancel


class FakeClock(Clock):
    """Time stands still until `advance`; sleepers and timers fire as it passes their deadline."""

    def __init__(self, start: dt.datetime | None = None):
        self._now = start or dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        self._mono = 1000.0
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._ids = itertools.count()

    def now(self) -> dt.datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def call_later(self, delay: float, callback: Callable[[], None]) -> Callable[[], None]:
        ident = next(self._ids)
        heapq.heappush(self._timers, (self._mono + max(0.0, delay), ident, callback))
        return lambda: self._cancelled.add(ident)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future = asyncio.get_running_loop().create_future()
        self.call_later(seconds, lambda: future.done() or future.set_result(None))
        await future

    async def advance(self, seconds: float) -> None:
        """Move time forward, firing due timers in order; yields to the loop so woken tasks run."""
        target = self._mono + seconds
        while self._timers and self._timers[0][0] <= target:
            when, ident, callback = heapq.heappop(self._timers)
            self._now += dt.timedelta(seconds=when - self._mono)
            self._mono = when
            if ident not in self._cancelled:
                callback()
            for _ in range(5):
                await asyncio.sleep(0)
        self._now += dt.timedelta(seconds=target - self._mono)
        self._mono = target
        for _ in range(5):
            await asyncio.sleep(0)
