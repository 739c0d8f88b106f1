"""Helpers shared by the controller unit tests.

Simulated nodes and the stand-ins for the scheduler that bind pods to them, fake-time polling, API writes
retried on 409s, capturing the events controllers record, and a custom resource definition to test with.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable

from minik.api.errors import APIError
from minik.api.resources import ResourceInfo
from minik.client.interface import resource
from minik.kubelet.simulated import SimulatedNodes, SimulatedNodesConfig

PODS = resource("pods")
CRDS = resource("customresourcedefinitions", "apiextensions.k8s.io")
WIDGETS = ResourceInfo("example.com", "v1", "Widget", "widgets", True)
WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}}}]},
}


# --- simulated nodes and stand-in schedulers ---


async def start_nodes(cluster, count: int, *, ready_delay: float = 0.0, **config) -> SimulatedNodes:
    """Register `count` simulated nodes (more SimulatedNodesConfig fields as keywords: name_prefix, run_seconds)."""
    sim = SimulatedNodes(cluster.client, SimulatedNodesConfig(count=count, ready_delay=ready_delay, **config),
                         informers=cluster.informers, clock=cluster.clock)
    await sim.register()
    return sim


async def stop_nodes(cluster, *sims: SimulatedNodes) -> None:
    """Let the simulated kubelets' pending timers run out before closing them: a task cancelled while
    it sleeps on the fake clock leaves its pod work un-awaited (a RuntimeWarning)."""
    for sim in sims:
        for name in sim.names:
            sim.stop_heartbeat(name)  # no new pod work from here on
    await cluster.clock.advance(3600)
    await asyncio.sleep(0.01)
    for sim in sims:
        await sim.close()


async def bind_pods(cluster, node_names: list[str], *, choose_node: Callable[[dict], str] | None = None) -> None:
    """Stand-in scheduler: binds every unbound pod to the node `choose_node(pod)` names, if it names one,
    else round-robin over `node_names`."""
    pending: asyncio.Queue = asyncio.Queue()
    informer = cluster.informers.informer(PODS)
    informer.add_handler(pending.put_nowait, lambda old, new: pending.put_nowait(new))
    turn = itertools.count()
    while True:
        pod = await pending.get()
        meta = pod["metadata"]
        if pod["spec"].get("nodeName") or meta.get("deletionTimestamp"):
            continue
        node = (choose_node(pod) if choose_node else "") or node_names[next(turn) % len(node_names)]
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"]},
                   "target": {"kind": "Node", "name": node}}
        try:
            await cluster.client.create(PODS, binding, meta["namespace"], subresource="binding", name=meta["name"])
        except APIError:
            pass  # bound already, or gone


@contextlib.asynccontextmanager
async def running_nodes(cluster, count: int, *, choose_node: Callable[[dict], str] | None = None,
                        **config) -> AsyncIterator[SimulatedNodes]:
    """`start_nodes` with `bind_pods` binding pods to them; on exit, `stop_nodes`."""
    sim = await start_nodes(cluster, count, **config)
    cluster.spawn("binder", bind_pods(cluster, sim.names, choose_node=choose_node))
    try:
        yield sim
    finally:
        await stop_nodes(cluster, sim)


class Binder:
    """Stands in for the scheduler: binds unbound pods round-robin to the simulated nodes.

    Unlike `bind_pods` it rescans the informer's pods on every change and tries each pod once, again only
    after a write raced its binding; while `enabled` is false it binds nothing (`resume()` catches up)."""

    def __init__(self, cluster, nodes: list[str]):
        self.client = cluster.client
        self.nodes = itertools.cycle(nodes)
        self.enabled = True
        self.pods = cluster.informers.informer(PODS)
        self._wake = asyncio.Event()
        self._tried: set[str] = set()
        self.pods.add_handler(lambda pod: self._wake.set(), lambda old, new: self._wake.set())

    def resume(self) -> None:
        self.enabled = True
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self.enabled:
                continue
            for pod in self.pods.list():
                meta = pod["metadata"]
                if pod["spec"].get("nodeName") or meta.get("deletionTimestamp") or meta["uid"] in self._tried:
                    continue
                self._tried.add(meta["uid"])
                binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"]},
                           "target": {"kind": "Node", "name": next(self.nodes)}}
                try:
                    await self.client.create(PODS, binding, meta["namespace"], subresource="binding", name=meta["name"])
                except APIError as exc:
                    if exc.code == 409 and "already assigned" not in exc.message:  # a write raced ours: again
                        self._tried.discard(meta["uid"])
                        asyncio.get_running_loop().call_later(0.01, self._wake.set)


# --- time and writes ---


async def advance_until(cluster, check, *, step: float = 1.0, limit: float = 120.0, message: str = ""):
    """Move fake time forward in steps until `check()` (async) holds."""
    elapsed = 0.0
    while True:
        result = await check()
        if result:
            return result
        if elapsed >= limit:
            raise AssertionError(message or f"condition not reached within {limit}s of fake time")
        await cluster.clock.advance(step)
        elapsed += step
        await asyncio.sleep(0.005)


async def retrying(write, *, attempts: int = 20):
    """Run an API write, retrying 409s: the store answers Conflict to a write that races another still
    awaiting its commit (its retries do not yield), as a kubectl user would retry."""
    for _ in range(attempts):
        try:
            return await write()
        except APIError as exc:
            if exc.code != 409:
                raise
            await asyncio.sleep(0.01)
    raise AssertionError("the write kept conflicting")


# --- what controllers record and report ---


def recorded(controller) -> list[tuple[str, str, str]]:
    """(object name, reason, message) of every event the controller records from now on.

    Read from the controller rather than the Events API: the recorder names Events by (fake) time, so
    two events about one object at the same fake instant collide there.
    """
    seen: list[tuple[str, str, str]] = []
    original = controller.record

    def record(obj: dict, event_type: str, reason: str, message: str) -> None:
        seen.append((obj["metadata"]["name"], reason, message))
        original(obj, event_type, reason, message)

    controller.record = record
    return seen


def capture_events(cluster, monkeypatch) -> list[dict]:
    """Every event any controller records from now on, as {kind, name, type, reason, message, component}
    of the involved object.

    Read at the recorder rather than from the API: Event names carry the clock's time, and the fake clock
    stands still, so all but the first event about an object at one instant collide on the name.
    """
    seen: list[dict] = []
    original = cluster.recorder.event

    def event(obj, event_type, reason, message, *, component=""):
        seen.append({"kind": obj.get("kind"), "name": obj["metadata"]["name"], "type": event_type,
                     "reason": reason, "message": message, "component": component})
        original(obj, event_type, reason, message, component=component)

    monkeypatch.setattr(cluster.recorder, "event", event)
    return seen


def condition(obj: dict, kind: str) -> dict | None:
    """The status condition of type `kind`, or None."""
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)
