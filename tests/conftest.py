"""Shared test fixtures: every async test must leave no task behind."""

from __future__ import annotations

import asyncio

import pytest


@pytest.fixture(autouse=True)
async def no_leaked_tasks():
    """Fail a test that leaves tasks running (a leaked task is a leaked watch, loop or connection)."""
    before = asyncio.all_tasks()
    yield
    for _ in range(3):  # let tasks that are finishing finish
        await asyncio.sleep(0)
    current = asyncio.current_task()
    leaked = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    for task in leaked:
        task.cancel()
    if leaked:
        await asyncio.gather(*leaked, return_exceptions=True)
        pytest.fail(f"test left tasks running: {sorted(t.get_name() for t in leaked)}")
