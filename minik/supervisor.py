"""The supervisor: every long-running task of the process, named and guarded.

Used by the wiring modules (`server.py`, `agent.py`). Each component runs as a named task; the first one
to fail (or to return when it was meant to run forever) stops the whole process cleanly, the way kopf and
k3s do: a half-running control plane is worse than a stopped one that systemd restarts. Ordering between
components uses readiness events (`ready(name)`), never sleeps. Stop runs registered cleanups (e.g. "close
the store": finish in-flight writes) before cancelling the remaining tasks in reverse start order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Awaitable, Callable, Coroutine

log = logging.getLogger(__name__)


class Supervisor:
    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task] = {}
        self._essential: set[str] = set()
        self._ready: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._cleanups: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        self._stop_requested = asyncio.Event()
        self._stopped = False
        self.failure: tuple[str, BaseException | None] | None = None

    def spawn(self, name: str, coro: Coroutine, *, essential: bool = True) -> asyncio.Task:
        """Run `coro` as task `name`. An essential task ending for any reason stops the process."""
        if name in self._tasks and not self._tasks[name].done():
            coro.close()
            raise ValueError(f"task {name!r} is already running")
        task = asyncio.create_task(coro, name=name)
        self._tasks[name] = task
        if essential:
            self._essential.add(name)
        task.add_done_callback(self._on_done)
        return task

    def on_stop(self, name: str, cleanup: Callable[[], Awaitable[None]]) -> None:
        """Run `cleanup()` at stop, before tasks are cancelled (latest registered runs first)."""
        self._cleanups.append((name, cleanup))

    def ready(self, name: str) -> asyncio.Event:
        """The readiness event of a component: set it when ready, wait on it to depend on it."""
        return self._ready[name]

    def _on_done(self, task: asyncio.Task) -> None:
        name = task.get_name()
        if self._stopped or self._stop_requested.is_set():
            return
        if task.cancelled():
            error: BaseException | None = None
            reason = "was cancelled"
        else:
            error = task.exception()
            reason = f"failed: {error!r}" if error else "exited"
        if error is None and name not in self._essential:
            return
        if error is not None:
            log.error("task %s %s", name, reason, exc_info=error)
        else:
            log.error("task %s %s; stopping", name, reason)
        if self.failure is None:
            self.failure = (name, error)
        self._stop_requested.set()

    def request_stop(self) -> None:
        self._stop_requested.set()

    async def wait(self) -> None:
        """Until a stop is requested or an essential task ends."""
        await self._stop_requested.wait()

    async def stop(self, timeout: float = 10.0) -> None:
        """Run cleanups, then cancel every task (newest first) and wait for them, bounded by `timeout`."""
        if self._stopped:
            return
        self._stop_requested.set()
        self._stopped = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for name, cleanup in reversed(self._cleanups):
            try:
                await asyncio.wait_for(cleanup(), max(0.1, deadline - loop.time()))
            except Exception as exc:  # a failing cleanup must not keep the others from running
                log.error("cleanup %s failed: %r", name, exc)
        for task in reversed(list(self._tasks.values())):
            if not task.done():
                task.cancel()
        pending = [t for t in self._tasks.values() if not t.done()]
        if pending:
            done, still = await asyncio.wait(pending, timeout=max(0.1, deadline - loop.time()))
            for task in still:
                log.error("task %s did not stop within %.0fs", task.get_name(), timeout)
        for task in self._tasks.values():
            if task.done() and not task.cancelled() and task.exception() is not None:
                task.exception()  # retrieved: no "exception was never retrieved" noise

    async def run_until_stopped(self, timeout: float = 10.0) -> None:
        try:
            await self.wait()
        finally:
            await self.stop(timeout)
