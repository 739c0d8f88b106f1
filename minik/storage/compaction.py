"""The compactor: keeps the store's history, and so its database file, bounded.

Part of the storage layer; the server runs it as a supervised task next to the store's writer. It keeps the
newest `keep_revisions` revisions (kine's default is 1000) and, when `retention_seconds` is set, also every
revision younger than that. It compacts as soon as the history has grown by `keep_revisions` more (so disk
use is bounded under any write rate, not only every few minutes as in kine) and at least every `interval`
seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

from .store import RevisionedStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompactionPolicy:
    keep_revisions: int = 1000
    retention_seconds: float = 0.0  # 0: no time window, only the revision window
    interval: float = 60.0


class Compactor:
    def __init__(self, store: RevisionedStore, policy: CompactionPolicy = CompactionPolicy(), *, clock=time.monotonic):
        self._store = store
        self._policy = policy
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()  # (time, revision) seen, for the time window

    def target(self) -> int:
        """The revision to compact to now (0: nothing to do)."""
        current = self._store.current_revision
        now = self._clock()
        self._samples.append((now, current))
        target = current - self._policy.keep_revisions
        if self._policy.retention_seconds > 0:
            cutoff = now - self._policy.retention_seconds
            while len(self._samples) > 1 and self._samples[1][0] <= cutoff:
                self._samples.popleft()
            oldest_time, oldest_revision = self._samples[0]
            # Only revisions seen before the cutoff may go.
            target = min(target, oldest_revision if oldest_time <= cutoff else 0)
        return target if target > self._store.compact_revision else 0

    async def run_once(self) -> int:
        target = self.target()
        if target:
            started = self._clock()
            await self._store.compact(target)
            log.debug("compacted to revision %d in %.1f ms", target, (self._clock() - started) * 1000)
        return target

    async def run(self) -> None:
        keep = self._policy.keep_revisions
        while True:
            try:
                await asyncio.wait_for(self._store.wait_for_growth(2 * keep), self._policy.interval)
            except asyncio.TimeoutError:
                pass
            await self.run_once()
