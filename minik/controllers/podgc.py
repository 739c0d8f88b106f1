"""The Pod GC controller: removes pods nothing else will ever clean up.

Part of the controllers layer (kube-controller-manager's pkg/controller/podgc, gc_controller.go). Every
20 s (and when a node goes), over the pod and node caches:
- orphaned pods: bound to a node that does not exist. A node missing from the cache is quarantined for
  40 s, then confirmed gone with a live GET; its pods are marked Failed with the condition
  DisruptionTarget (DeletionByPodGC, "PodGC: node no longer exists") and force-deleted (grace period 0);
- terminating pods that were never scheduled: force-deleted;
- terminating pods on a node that is not Ready and carries the `node.kubernetes.io/out-of-service` taint:
  marked Failed and force-deleted;
- terminated pods (Succeeded/Failed) beyond `terminated_pod_gc_threshold` (default 12500; 0 disables):
  the oldest are force-deleted.
"""

from __future__ import annotations

import logging

from ..api.errors import APIError
from ..api.meta import format_time
from ..client.informer import node_name_index
from ..client.interface import is_not_found, resource
from .base import Controller
from .podutil import condition_status, is_terminal

log = logging.getLogger(__name__)

PODS = resource("pods")
NODES = resource("nodes")
GC_KEY = "gc"
GC_CHECK_PERIOD = 20.0  # gcCheckPeriod
QUARANTINE_SECONDS = 40.0  # quarantineTime
DEFAULT_TERMINATED_POD_GC_THRESHOLD = 12500
OUT_OF_SERVICE_TAINT = "node.kubernetes.io/out-of-service"


STATE_INDEX = "podgc-state"


def pod_state_index(pod: dict) -> list[str]:
    """"terminal" (Succeeded/Failed) and/or "terminating" (deletionTimestamp set): what PodGC looks at."""
    values = []
    if is_terminal(pod):
        values.append("terminal")
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        values.append("terminating")
    return values


class PodGCController(Controller):
    name = "pod-garbage-collector"
    workers = 1

    def setup(self) -> None:
        self.threshold = int(self.ctx.settings.get("terminated_pod_gc_threshold", DEFAULT_TERMINATED_POD_GC_THRESHOLD))
        # Indexes, so a pass reads only the pods it is about (a full scan decodes every cached pod).
        self.pods = self.informer(PODS, indexers={"nodeName": node_name_index, STATE_INDEX: pod_state_index})
        self.nodes = self.informer(NODES)
        self.nodes.add_handler(on_delete=lambda node: self.queue.add(GC_KEY))
        self._missing_since: dict[str, float] = {}  # node name → when the node was first missed (monotonic)
        self.queue.add(GC_KEY)

    async def reconcile(self, key: str) -> None:
        try:
            await self._gc_terminated()
            await self._gc_terminating()
            await self._gc_orphaned()
            await self._gc_unscheduled_terminating()
        finally:
            self.queue.add_after(GC_KEY, GC_CHECK_PERIOD)

    # --- the passes ---

    async def _gc_terminated(self) -> None:
        if self.threshold <= 0:
            return
        terminated = self.pods.indexer.by_index(STATE_INDEX, "terminal")
        excess = len(terminated) - self.threshold
        if excess <= 0:
            return
        terminated.sort(key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]))
        for pod in terminated[:excess]:
            await self._force_delete(pod)

    async def _gc_terminating(self) -> None:
        for pod in self.pods.indexer.by_index(STATE_INDEX, "terminating"):
            node = self.nodes.get((pod.get("spec") or {}).get("nodeName") or "")
            if not pod["metadata"].get("deletionTimestamp") or node is None:
                continue
            taints = (node.get("spec") or {}).get("taints") or []
            out_of_service = any(t.get("key") == OUT_OF_SERVICE_TAINT and t.get("effect") == "NoExecute" for t in taints)
            if out_of_service and condition_status(node, "Ready") != "True":
                await self._mark_failed_and_delete(pod)

    async def _gc_orphaned(self) -> None:
        now = self.clock.monotonic()
        wanted = set(self.pods.indexer.index_values("nodeName"))
        missing = {name for name in wanted if self.nodes.get(name) is None}
        self._missing_since = {name: self._missing_since.get(name, now) for name in missing}
        for name, since in list(self._missing_since.items()):
            due = since + QUARANTINE_SECONDS - now
            if due > 0:
                self.queue.add_after(GC_KEY, due)
                continue
            if await self._node_exists(name):
                continue
            for pod in self.pods.indexer.by_index("nodeName", name):
                log.info("deleting orphaned pod %s/%s (node %s no longer exists)", pod["metadata"]["namespace"],
                         pod["metadata"]["name"], name)
                await self._mark_failed_and_delete(pod, reason="DeletionByPodGC",
                                                   message="PodGC: node no longer exists")

    async def _gc_unscheduled_terminating(self) -> None:
        for pod in self.pods.indexer.by_index(STATE_INDEX, "terminating"):
            if pod["metadata"].get("deletionTimestamp") and not (pod.get("spec") or {}).get("nodeName"):
                await self._mark_failed_and_delete(pod)

    # --- writes ---

    async def _node_exists(self, name: str) -> bool:
        try:
            await self.client.get(NODES, name)
            return True
        except APIError as exc:
            if is_not_found(exc):
                return False
            raise

    async def _mark_failed_and_delete(self, pod: dict, *, reason: str = "", message: str = "") -> None:
        """markFailedAndDeletePodWithCondition: phase Failed (and a DisruptionTarget condition), then a force delete."""
        meta = pod["metadata"]
        if not is_terminal(pod) or reason:
            status: dict = {} if is_terminal(pod) else {"phase": "Failed"}
            if reason:
                status["conditions"] = [{"type": "DisruptionTarget", "status": "True", "reason": reason,
                                         "message": message, "lastTransitionTime": format_time(self.clock.now())}]
            try:
                await self.client.patch(PODS, meta["name"], {"metadata": {"uid": meta.get("uid")}, "status": status},
                                        meta["namespace"], subresource="status",
                                        patch_type="application/strategic-merge-patch+json")
            except APIError as exc:
                if is_not_found(exc) or exc.code == 409:
                    return
                raise
        await self._force_delete(pod)

    async def _force_delete(self, pod: dict) -> None:
        meta = pod["metadata"]
        try:
            await self.client.delete(PODS, meta["name"], meta["namespace"], grace_period_seconds=0,
                                     preconditions={"uid": meta.get("uid", "")})
        except APIError as exc:
            if not is_not_found(exc) and exc.code != 409:
                raise
