"""The controller base: informers → handlers enqueue keys → N workers → `reconcile(key)`.

Part of the controllers layer (the top of the flow, with the scheduler, kubelet and proxy). Every
controller is level-triggered the way kube-controller-manager's are: handlers only enqueue
`namespace/name`; a worker reads the current state from the informer caches and makes the world match
it, writing through the client. A 409 Conflict (someone wrote first) or any error requeues the key with
per-key exponential backoff; success forgets the key's failures.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from ..api.errors import APIError
from ..api.meta import key_of
from ..client.clock import Clock
from ..client.events import EventRecorder
from ..client.informer import InformerFactory, SharedInformer
from ..client.interface import Client
from ..client.workqueue import WorkQueue

log = logging.getLogger(__name__)


@dataclass
class ControllerContext:
    """What every controller receives (no globals: all dependencies come through here)."""

    client: Client
    informers: InformerFactory
    recorder: EventRecorder
    clock: Clock = field(default_factory=Clock)
    settings: dict = field(default_factory=dict)  # per-controller knobs, e.g. {"node_grace_period": 40}


class Controller:
    name = "controller"
    workers = 1

    def __init__(self, ctx: ControllerContext):
        self.ctx = ctx
        self.client = ctx.client
        self.clock = ctx.clock
        self.queue = WorkQueue(self.name, clock=ctx.clock)
        self._informers: list[SharedInformer] = []
        self.setup()

    # --- for subclasses ---

    def setup(self) -> None:
        """Create informers (`self.informer(...)`) and add handlers."""

    async def reconcile(self, key: str) -> None:
        raise NotImplementedError

    def informer(self, info, **kw) -> SharedInformer:
        informer = self.ctx.informers.informer(info, **kw)
        self._informers.append(informer)
        return informer

    def record(self, obj: dict, event_type: str, reason: str, message: str) -> None:
        self.ctx.recorder.event(obj, event_type, reason, message, component=self.event_source)

    @property
    def event_source(self) -> str:
        return f"{self.name}-controller"

    def enqueue(self, obj: dict) -> None:
        self.queue.add(key_of(obj))

    def enqueue_after(self, obj: dict, delay: float) -> None:
        self.queue.add_after(key_of(obj), delay)

    # --- running ---

    async def run(self) -> None:
        await asyncio.gather(*(i.wait_for_sync() for i in self._informers))
        workers = [asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}") for i in range(self.workers)]
        try:
            await asyncio.gather(*workers)
        finally:
            self.queue.shutdown()
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            if key is None:
                return
            try:
                await self.reconcile(key)
            except asyncio.CancelledError:
                raise
            except APIError as exc:
                level = logging.DEBUG if exc.code in (404, 409) else logging.WARNING
                log.log(level, "%s: reconciling %s: %s (retrying)", self.name, key, exc.message)
                self.queue.add_rate_limited(key)
            except Exception:
                log.exception("%s: reconciling %s failed (retrying)", self.name, key)
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
            finally:
                self.queue.done(key)
