"""EventRecorder: Kubernetes Events about objects, aggregated so that a loop cannot flood the store.

Part of the clients layer (client-go's tools/record). Components call `event(obj, type, reason, message)`
without waiting; a background task writes core/v1 Events (what `kubectl describe` lists). As client-go's
EventCorrelator does:
- an identical event (same object, type, reason, message, source) updates the existing Event: `count`
  goes up, `lastTimestamp` moves, no new object;
- more than 10 events with the same object, type and reason but different messages within 10 minutes
  are combined into one Event "(combined from similar events): <latest message>";
- each object has a token bucket (burst 25, one token per 5 minutes): beyond it events are dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass

from ..api.errors import APIError
from ..api.meta import format_time
from .clock import Clock
from .interface import Client, resource

log = logging.getLogger(__name__)

EVENTS = resource("events")
CACHE_SIZE = 4096
SIMILAR_MAX = 10
SIMILAR_WINDOW = 600.0
BURST = 25
REFILL_SECONDS = 300.0
QUEUE_LIMIT = 1000


@dataclass
class _Seen:
    name: str
    namespace: str
    count: int
    first: str


class EventRecorder:
    def __init__(self, client: Client, component: str, *, host: str = "", clock: Clock | None = None):
        self._client = client
        self._component = component
        self._host = host
        self._clock = clock or Clock()
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self._seen: OrderedDict[tuple, _Seen] = OrderedDict()
        self._similar: dict[tuple, tuple[float, set[str]]] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # object uid → (tokens, last refill)
        self.dropped = 0
        self._last_stamp = 0  # event names must be unique even when the clock stands still

    def event(self, obj: dict, event_type: str, reason: str, message: str, *, component: str = "") -> None:
        """Record an event about `obj` (returns at once; written in the background)."""
        meta = obj.get("metadata") or {}
        if not self._allow(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}"):
            self.dropped += 1
            return
        try:
            self._queue.put_nowait((obj, event_type, reason, message, component or self._component))
        except asyncio.QueueFull:
            self.dropped += 1

    def _allow(self, key: str) -> bool:
        now = self._clock.monotonic()
        tokens, last = self._buckets.get(key, (float(BURST), now))
        tokens = min(float(BURST), tokens + (now - last) / REFILL_SECONDS)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > CACHE_SIZE:
            self._buckets.pop(next(iter(self._buckets)))
        return True

    async def run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._write(*item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an event is best effort: never let it stop the recorder
                log.debug("could not record event: %r", exc)

    async def flush(self) -> None:
        """Write everything queued (tests; shutdown)."""
        while not self._queue.empty():
            await self._write(*self._queue.get_nowait())

    def _involved(self, obj: dict) -> dict:
        meta = obj.get("metadata") or {}
        ref = {"kind": obj.get("kind", ""), "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
               "uid": meta.get("uid", ""), "apiVersion": obj.get("apiVersion", ""),
               "resourceVersion": meta.get("resourceVersion", "")}
        return {k: v for k, v in ref.items() if v}

    async def _write(self, obj: dict, event_type: str, reason: str, message: str, component: str) -> None:
        involved = self._involved(obj)
        namespace = involved.get("namespace") or "default"
        now = format_time(self._clock.now())
        similar_key = (involved.get("uid"), involved.get("kind"), event_type, reason, component)
        window_start, messages = self._similar.get(similar_key, (self._clock.monotonic(), set()))
        if self._clock.monotonic() - window_start > SIMILAR_WINDOW:
            window_start, messages = self._clock.monotonic(), set()
        messages.add(message)
        self._similar[similar_key] = (window_start, messages)
        if len(messages) > SIMILAR_MAX:
            message = f"(combined from similar events): {message}"
            key = similar_key + ("combined",)
        else:
            key = similar_key + (message,)
        seen = self._seen.get(key)
        if seen is not None:
            seen.count += 1
            try:
                await self._client.patch(EVENTS, seen.name, {"count": seen.count, "lastTimestamp": now,
                                                             "message": message}, seen.namespace)
                self._seen.move_to_end(key)
                return
            except APIError as exc:
                if exc.code != 404:
                    raise
                del self._seen[key]  # the Event expired or was deleted: write a new one
        stamp = max(int(self._clock.now().timestamp() * 1e9), self._last_stamp + 1)
        self._last_stamp = stamp
        name = f"{involved.get('name', 'unknown')}.{stamp:x}"
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved, "reason": reason, "message": message, "type": event_type,
            "source": {"component": component, **({"host": self._host} if self._host else {})},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "reportingComponent": component, "reportingInstance": self._host,
        }
        created = await self._client.create(EVENTS, event, namespace)
        self._seen[key] = _Seen(created["metadata"]["name"], namespace, 1, now)
        if len(self._seen) > CACHE_SIZE:
            self._seen.popitem(last=False)
