"""A real in-process API (memory store, the full registry pipeline) with a fake clock, for controller tests.

    async def test_x(cluster):
        cluster.start(MyController)           # runs it (and its informers) in the background
        await cluster.client.create(...)       # through the same pipeline kubectl uses
        await cluster.eventually(lambda: ...)  # poll the store until a condition holds
        await cluster.clock.advance(300)       # move time (backoffs, deadlines, tolerations)
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from minik.api.errors import APIError
from minik.apiserver.openapi import OpenAPI
from minik.apiserver.operations import Operations, record_field_ownership
from minik.client.clock import FakeClock
from minik.client.events import EventRecorder
from minik.client.informer import InformerFactory
from minik.client.interface import resource
from minik.client.local import LocalClient
from minik.controllers.base import ControllerContext
from minik.registry.registry import Registry
from minik.server import bootstrap
from minik.storage import running_store


class Cluster:
    def __init__(self, registry: Registry, clock: FakeClock):
        self.registry = registry
        self.clock = clock
        self.operations = Operations(registry, OpenAPI(registry.resources()))
        self.client = LocalClient(self.operations)
        self.informers = InformerFactory(self.client, clock=clock)
        self.recorder = EventRecorder(self.client, "test", clock=clock)
        self._tasks: list[asyncio.Task] = []
        self.controllers = []

    def context(self, **settings) -> ControllerContext:
        return ControllerContext(self.client, self.informers, self.recorder, self.clock, settings)

    def start(self, controller_class, **settings):
        """Construct and run a controller (and every informer asked for so far) in the background."""
        controller = controller_class(self.context(**settings))
        self.controllers.append(controller)
        self.informers.start(self.spawn)
        self.spawn(f"controller:{controller.name}", controller.run())
        return controller

    def spawn(self, name: str, coro) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.append(task)
        return task

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def eventually(self, check, timeout: float = 5.0, message: str = ""):
        """Poll `check` (sync or async) until it returns something truthy; fails after `timeout` real seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
            if loop.time() > deadline:
                raise AssertionError(message or f"condition not reached within {timeout}s")
            await asyncio.sleep(0.01)

    async def get(self, plural: str, name: str, namespace: str = "default", group: str = "") -> dict | None:
        try:
            return await self.client.get(resource(plural, group), name, namespace)
        except APIError as exc:
            if exc.code == 404:
                return None
            raise

    async def list(self, plural: str, namespace: str = "default", group: str = "", **kw) -> list[dict]:
        return (await self.client.list(resource(plural, group), namespace, **kw))["items"]

    def now(self) -> dt.datetime:
        return self.clock.now()


@pytest.fixture
async def cluster():
    async with running_store(None) as store:
        registry = Registry(store, field_manager=record_field_ownership)
        await bootstrap(registry, "127.0.0.1", 6443)
        c = Cluster(registry, FakeClock(dt.datetime.now(dt.timezone.utc)))
        c.spawn("event-recorder", c.recorder.run())
        try:
            yield c
        finally:
            await c.stop()
