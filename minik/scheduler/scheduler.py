"""The scheduler loop: unbound pods in, bindings out (kube-scheduler's scheduleOne).

Part of the top layer of the flow, beside the controllers. Informers on nodes, pods and namespaces keep
the incremental `Cache` of node allocations and the `SchedulingQueue` current. Each cycle pops one pod,
runs the pure filter/score framework on a snapshot, *assumes* the pod on the chosen node (so the next
cycle already counts it) and binds it through `pods/binding` in the background, as kube-scheduler's
binding cycle runs beside the next scheduling cycle. A pod that fits nowhere gets `PodScheduled=False`
(reason Unschedulable, the "0/3 nodes are available: ..." message) and a FailedScheduling event, and is
parked until a cluster event its rejecting plugins care about (a node added, a pod deleted, ...).
"""

from __future__ import annotations

import asyncio
import logging

from ..api.errors import APIError
from ..api.meta import format_time
from ..client.interface import resource
from ..controllers.base import ControllerContext
from .framework import schedule
from .nodeinfo import Cache, pod_key
from .queue import (
    EVENT_ASSIGNED_POD_ADD,
    EVENT_ASSIGNED_POD_UPDATE,
    EVENT_NODE_ADD,
    EVENT_POD_DELETE,
    QueuedPodInfo,
    SchedulingQueue,
    node_update_event,
)

log = logging.getLogger(__name__)

NODES = resource("nodes")
PODS = resource("pods")
NAMESPACES = resource("namespaces")
MAX_EVENT_MESSAGE = 1024  # kube-scheduler truncates FailedScheduling messages
MAX_BINDINGS_IN_FLIGHT = 256


def _unassigned(pod: dict) -> bool:
    return not (pod.get("spec") or {}).get("nodeName")


def _schedulable(pod: dict, scheduler_name: str) -> bool:
    """Pods this scheduler should place: unbound, its own, not finished, not being deleted."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    return (not spec.get("nodeName") and spec.get("schedulerName", "default-scheduler") == scheduler_name
            and status.get("phase") not in ("Succeeded", "Failed")
            and not (pod.get("metadata") or {}).get("deletionTimestamp"))


class Scheduler:
    name = "scheduler"

    def __init__(self, ctx: ControllerContext, *, scheduler_name: str = "default-scheduler",
                 percentage_of_nodes_to_score: int = 0):
        self.ctx = ctx
        self.client = ctx.client
        self.clock = ctx.clock
        self.scheduler_name = scheduler_name
        self.percentage = percentage_of_nodes_to_score
        self.cache = Cache()
        self.queue = SchedulingQueue(clock=ctx.clock.monotonic)
        self._wakeup = asyncio.Event()
        self._bindings: set[asyncio.Task] = set()
        self._binding_slots = asyncio.Semaphore(MAX_BINDINGS_IN_FLIGHT)
        self.nodes = ctx.informers.informer(NODES)
        self.pods = ctx.informers.informer(PODS)
        self.namespaces = ctx.informers.informer(NAMESPACES)
        self.nodes.add_handler(self._node_added, self._node_updated, self._node_deleted)
        self.pods.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.namespaces.add_handler(
            lambda ns: self.cache.set_namespace(ns["metadata"]["name"], ns["metadata"].get("labels") or {}),
            lambda old, ns: self.cache.set_namespace(ns["metadata"]["name"], ns["metadata"].get("labels") or {}),
            lambda ns: self.cache.remove_namespace(ns["metadata"]["name"]),
        )

    # --- informer handlers: keep the cache and the queue current ---

    def _event(self, event) -> None:
        if event is not None and self.queue.move_all_to_active_or_backoff(event):
            self._wakeup.set()

    def _node_added(self, node: dict) -> None:
        self.cache.add_node(node)
        self._event(EVENT_NODE_ADD)

    def _node_updated(self, old: dict, new: dict) -> None:
        self.cache.update_node(new)
        self._event(node_update_event(old, new))

    def _node_deleted(self, node: dict) -> None:
        self.cache.remove_node(node)

    def _pod_added(self, pod: dict) -> None:
        if _unassigned(pod):
            if _schedulable(pod, self.scheduler_name):
                self.queue.add(pod)
                self._wakeup.set()
        else:
            self.cache.add_pod(pod)  # confirms an assumed pod, or counts one bound by someone else
            self._event(EVENT_ASSIGNED_POD_ADD)

    def _pod_updated(self, old: dict, new: dict) -> None:
        if _unassigned(new):
            if _schedulable(new, self.scheduler_name):
                self.queue.update(old, new)
                self._wakeup.set()
            else:
                self.queue.delete(new)
        elif _unassigned(old):  # just bound (by us: the assumed pod is confirmed)
            self.queue.delete(new)
            self.cache.add_pod(new)
            self._event(EVENT_ASSIGNED_POD_ADD)
        else:
            self.cache.update_pod(old, new)
            self._event(EVENT_ASSIGNED_POD_UPDATE)

    def _pod_deleted(self, pod: dict) -> None:
        if _unassigned(pod):
            self.queue.delete(pod)
        else:
            self.cache.remove_pod(pod)
            self._event(EVENT_POD_DELETE)

    # --- the loop ---

    async def run(self) -> None:
        await asyncio.gather(self.nodes.wait_for_sync(), self.pods.wait_for_sync(),
                             self.namespaces.wait_for_sync())
        try:
            while True:
                self.queue.flush()
                info = self.queue.pop()
                if info is None:
                    await self._idle()
                    continue
                await self.schedule_one(info)
                await asyncio.sleep(0)  # let informers and bindings run between cycles
        finally:
            for task in list(self._bindings):
                task.cancel()
            await asyncio.gather(*self._bindings, return_exceptions=True)

    async def _idle(self) -> None:
        """Until an event, or until a backing-off pod is due (30 s at most: the leftover flush period)."""
        wait = self.queue.next_ready_in()
        wait = 30.0 if wait is None else min(max(wait, 0.001), 30.0)
        self._wakeup.clear()
        cancel = self.clock.call_later(wait, self._wakeup.set)  # the injected clock: fake in tests
        try:
            await self._wakeup.wait()
        finally:
            cancel()

    async def schedule_one(self, info: QueuedPodInfo) -> None:
        pod = self.pods.get(info.key)
        if pod is None or pod["metadata"].get("uid") != info.pod["metadata"].get("uid") \
                or not _schedulable(pod, self.scheduler_name):
            self.queue.done(info)  # deleted or bound meanwhile
            return
        result = schedule(pod, self.cache.snapshot(), percentage_of_nodes_to_score=self.percentage)
        if not result.scheduled:
            await self._unschedulable(info, pod, result)
            return
        node = result.node_name
        self.cache.assume_pod(pod, node)
        self.queue.done(info)
        await self._binding_slots.acquire()
        task = asyncio.create_task(self._bind(info, pod, node), name=f"bind:{info.key}")
        self._bindings.add(task)
        task.add_done_callback(self._bindings.discard)

    async def _bind(self, info: QueuedPodInfo, pod: dict, node: str) -> None:
        meta = pod["metadata"]
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        try:
            await self.client.create(PODS, binding, meta["namespace"], subresource="binding", name=meta["name"])
        except APIError as exc:
            self.cache.forget_pod(pod)
            if exc.code == 404:
                return  # the pod is gone
            log.info("binding %s to %s failed: %s", info.key, node, exc.message)
            self.ctx.recorder.event(pod, "Warning", "FailedScheduling", f"Binding rejected: {exc.message}",
                                    component=self.scheduler_name)
            self.queue.add_unschedulable(info)
            self._wakeup.set()
            return
        finally:
            self._binding_slots.release()
        self.ctx.recorder.event(pod, "Normal", "Scheduled",
                                f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
                                component=self.scheduler_name)

    async def _unschedulable(self, info: QueuedPodInfo, pod: dict, result) -> None:
        message = result.message
        self.queue.add_unschedulable(info, unschedulable_plugins=result.unschedulable_plugins)
        self.ctx.recorder.event(pod, "Warning", "FailedScheduling", message[:MAX_EVENT_MESSAGE],
                                component=self.scheduler_name)
        current = next((c for c in (pod.get("status") or {}).get("conditions") or []
                        if c.get("type") == "PodScheduled"), None)
        if current is not None and current.get("status") == "False" and current.get("message") == message:
            return
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                     "lastProbeTime": None, "lastTransitionTime": format_time(self.clock.now())}
        try:
            await self.client.patch(PODS, pod["metadata"]["name"], {"status": {"conditions": [condition]}},
                                    pod["metadata"]["namespace"], subresource="status",
                                    patch_type="application/strategic-merge-patch+json")
        except APIError as exc:
            log.debug("cannot record unschedulable status of %s: %s", pod_key(pod), exc.message)
