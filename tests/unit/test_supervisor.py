"""The supervisor: named tasks, first failure stops the rest, cleanups before cancellation."""

from __future__ import annotations

import asyncio

import pytest

from minik.supervisor import Supervisor


async def forever(log: list, name: str):
    try:
        await asyncio.Event().wait()
    finally:
        log.append(f"{name} stopped")


async def test_first_failure_stops_everything_in_reverse_order():
    supervisor = Supervisor()
    log: list[str] = []
    supervisor.spawn("a", forever(log, "a"))
    supervisor.spawn("b", forever(log, "b"))

    async def broken():
        await asyncio.sleep(0.01)
        raise RuntimeError("boom")

    supervisor.spawn("c", broken())
    await asyncio.wait_for(supervisor.run_until_stopped(), 2)
    assert supervisor.failure[0] == "c" and isinstance(supervisor.failure[1], RuntimeError)
    assert log == ["b stopped", "a stopped"]


async def test_essential_task_returning_stops_the_process_but_helpers_may_finish():
    supervisor = Supervisor()
    log: list[str] = []
    supervisor.spawn("server", forever(log, "server"))

    async def one_shot():
        return 42

    supervisor.spawn("setup", one_shot(), essential=False)
    await asyncio.sleep(0.01)
    assert supervisor.failure is None  # a non-essential task may end
    supervisor.spawn("loop", one_shot())  # an essential one may not
    await asyncio.wait_for(supervisor.run_until_stopped(), 2)
    assert supervisor.failure == ("loop", None)
    assert log == ["server stopped"]


async def test_cleanups_run_before_cancellation_and_readiness_events():
    supervisor = Supervisor()
    order: list[str] = []

    async def worker():
        await supervisor.ready("store").wait()  # ordering by readiness, not sleeps
        order.append("worker saw store ready")
        await asyncio.Event().wait()

    supervisor.spawn("worker", worker())
    supervisor.ready("store").set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)

    async def cleanup():
        order.append("cleanup")

    supervisor.on_stop("store", cleanup)
    supervisor.request_stop()
    await asyncio.wait_for(supervisor.run_until_stopped(), 2)
    assert order == ["worker saw store ready", "cleanup"]


async def test_duplicate_names_are_refused():
    supervisor = Supervisor()
    supervisor.spawn("x", asyncio.sleep(10))
    with pytest.raises(ValueError):
        supervisor.spawn("x", asyncio.sleep(10))
    await supervisor.stop()
