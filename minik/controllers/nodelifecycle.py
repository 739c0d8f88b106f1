"""The node lifecycle controller: notices lost nodes, taints them, and evicts what does not tolerate it.

Part of the controllers layer (kube-controller-manager's pkg/controller/nodelifecycle and
pkg/controller/tainteviction). Informers on Nodes, node Leases (kube-node-lease) and Pods enqueue the node
concerned; a reconcile of a node
1. monitors its health (tryUpdateNodeHealth): a renewed Lease or a new Ready heartbeat is a probe; once
   the last probe is older than `node_monitor_grace_period` (default 40 s; `node_startup_grace_period`,
   60 s, for a node that never posted Ready), its Ready, MemoryPressure, DiskPressure and PIDPressure
   conditions become Unknown ("NodeStatusUnknown", "Kubelet stopped posting node status."; a condition
   never posted gets "NodeStatusNeverUpdated", "Kubelet never posted node status."), with a NodeNotReady
   event on the node;
2. keeps the condition taints current: NoExecute `node.kubernetes.io/unreachable` (Ready Unknown) or
   `node.kubernetes.io/not-ready` (Ready False), with timeAdded, removed when Ready is True again; and the
   NoSchedule taints of TaintNodesByCondition (not-ready, unreachable, memory-, disk-, pid-pressure,
   network-unavailable, unschedulable);
3. evicts (the taint-eviction controller): a pod that does not tolerate all NoExecute taints of its node
   is deleted at once; one that tolerates them for tolerationSeconds is deleted when the shortest of those
   has passed since the taint was added (re-checked with `add_after`); before deleting, the pod gets the
   DisruptionTarget condition (DeletionByTaintManager); events TaintManagerEviction "Marking for deletion
   Pod <ns>/<name>" (and "Cancelling deletion of Pod ..." when a scheduled eviction is no longer due);
4. marks the pods of a node that is not Ready as not Ready (MarkPodsNotReady: their Ready condition False,
   a NodeNotReady event each), except pods already being deleted.

Not done: zone-aware eviction rate limiting (zone states, --node-eviction-rate, large-cluster thresholds);
the controller never marks a node Ready again: that is the kubelet's status update, after which the taints
go.
"""

from __future__ import annotations

import dataclasses
import logging

from ..api.meta import format_time, json_copy, parse_time
from ..api.errors import APIError
from ..apiserver.operations import STRATEGIC_PATCH
from ..client.informer import node_name_index
from ..client.interface import is_conflict, is_not_found, resource
from .base import Controller

log = logging.getLogger(__name__)

NODES = resource("nodes")
PODS = resource("pods")
LEASES = resource("leases", "coordination.k8s.io")
NODE_LEASE_NAMESPACE = "kube-node-lease"

DEFAULT_NODE_MONITOR_GRACE_PERIOD = 40.0
DEFAULT_NODE_STARTUP_GRACE_PERIOD = 60.0
MONITORED_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")

UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
# TaintNodesByCondition: (condition, status) → NoSchedule taint key
CONDITION_TAINTS = {
    ("Ready", "False"): NOT_READY_TAINT,
    ("Ready", "Unknown"): UNREACHABLE_TAINT,
    ("MemoryPressure", "True"): "node.kubernetes.io/memory-pressure",
    ("DiskPressure", "True"): "node.kubernetes.io/disk-pressure",
    ("NetworkUnavailable", "True"): "node.kubernetes.io/network-unavailable",
    ("PIDPressure", "True"): "node.kubernetes.io/pid-pressure",
}
NO_SCHEDULE_KEYS = frozenset(CONDITION_TAINTS.values()) | {UNSCHEDULABLE_TAINT}


@dataclasses.dataclass
class _Health:
    probe: float  # monotonic time of the last sign of life
    heartbeat: str | None = None  # Ready condition's lastHeartbeatTime as last seen (None: no Ready yet)
    lease: str = ""  # Lease spec.renewTime as last seen


def _condition(node: dict, kind: str) -> dict | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def tolerates(toleration: dict, taint: dict) -> bool:
    """Toleration.ToleratesTaint."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def matching_tolerations(taints: list[dict], tolerations: list[dict]) -> tuple[bool, list[dict]]:
    """GetMatchingTolerations: whether every taint is tolerated, and the tolerations used."""
    used = []
    for taint in taints:
        match = next((t for t in tolerations if isinstance(t, dict) and tolerates(t, taint)), None)
        if match is None:
            return False, []
        used.append(match)
    return True, used


def min_toleration_seconds(tolerations: list[dict]) -> float | None:
    """getMinTolerationTime: the shortest tolerationSeconds (<= 0 means 0); None when all are forever."""
    if not tolerations:
        return 0.0
    seconds = [t["tolerationSeconds"] for t in tolerations if t.get("tolerationSeconds") is not None]
    if not seconds:
        return None
    return float(max(0, min(seconds)))


class NodeLifecycleController(Controller):
    name = "node-lifecycle"
    workers = 2

    def setup(self) -> None:
        settings = self.ctx.settings
        self.grace_period = float(settings.get("node_monitor_grace_period", DEFAULT_NODE_MONITOR_GRACE_PERIOD))
        self.startup_grace_period = float(settings.get("node_startup_grace_period", DEFAULT_NODE_STARTUP_GRACE_PERIOD))
        self.nodes = self.informer(NODES)
        # All Leases (filtered below) rather than a kube-node-lease informer: the factory names informer
        # tasks without their namespace, so a second Lease informer would clash with the GC's.
        self.leases = self.informer(LEASES)
        self.pods = self.informer(PODS, indexers={"nodeName": node_name_index})
        self._health: dict[str, _Health] = {}
        self._scheduled: dict[str, str] = {}  # pod uid → node, for pods with a future eviction
        self.nodes.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self._node_deleted)
        self.leases.add_handler(self._lease_changed, lambda old, new: self._lease_changed(new))
        self.pods.add_handler(self._pod_changed, lambda old, new: self._pod_changed(new))

    @property
    def event_source(self) -> str:
        return "node-controller"

    # --- handlers ---

    def _node_deleted(self, node: dict) -> None:
        self._health.pop(node["metadata"]["name"], None)

    def _lease_changed(self, lease: dict) -> None:
        if lease["metadata"].get("namespace") == NODE_LEASE_NAMESPACE:
            self.queue.add(lease["metadata"]["name"])

    def _pod_changed(self, pod: dict) -> None:
        node_name = (pod.get("spec") or {}).get("nodeName")
        node = self.nodes.get(node_name) if node_name else None
        if node is None:
            return
        tainted = any(t.get("effect") == "NoExecute" for t in (node.get("spec") or {}).get("taints") or [])
        if tainted or (_condition(node, "Ready") or {}).get("status") != "True":
            self.queue.add(node_name)

    # --- reconcile ---

    async def reconcile(self, key: str) -> None:
        cached = self.nodes.get(key)
        if cached is None:
            self._health.pop(key, None)
            return
        node = json_copy(cached)
        recheck = await self._monitor_health(node)
        ready = (_condition(node, "Ready") or {}).get("status", "Unknown")
        node = await self._update_taints(node, ready)
        evicted, evict_recheck = await self._evict(node)
        if ready != "True":
            await self._mark_pods_not_ready(key, skip=evicted)
        for delay in (recheck, evict_recheck):
            if delay is not None:
                self.queue.add_after(key, delay)

    # --- 1. health ---

    def _observe(self, node: dict) -> tuple[_Health, float]:
        """The node's last probe (tryUpdateNodeHealth's bookkeeping) and the grace period that applies."""
        name = node["metadata"]["name"]
        now = self.clock.monotonic()
        ready = _condition(node, "Ready")
        saved = self._health.get(name)
        if ready is None:
            grace = self.startup_grace_period
            if saved is None:
                created = parse_time(node["metadata"].get("creationTimestamp"))
                age = max(0.0, (self.clock.now() - created).total_seconds()) if created else 0.0
                saved = _Health(probe=now - age)
            health = saved
        else:
            grace = self.grace_period
            heartbeat = ready.get("lastHeartbeatTime") or ""
            if saved is None or saved.heartbeat is None or saved.heartbeat != heartbeat:
                health = _Health(probe=now, heartbeat=heartbeat, lease=saved.lease if saved else "")
            else:
                health = saved
        lease = self.leases.get(f"{NODE_LEASE_NAMESPACE}/{name}")
        renewed = ((lease or {}).get("spec") or {}).get("renewTime") or ""
        if renewed and (not health.lease or _later(renewed, health.lease)):
            health.lease = renewed
            health.probe = now
        self._health[name] = health
        return health, grace

    async def _monitor_health(self, node: dict) -> float | None:
        """Conditions to Unknown once the grace period passed without a probe; returns when to look again."""
        health, grace = self._observe(node)
        overdue = self.clock.monotonic() - (health.probe + grace)
        if overdue <= 0:
            return -overdue + 0.01
        now = format_time(self.clock.now())
        was_ready = (_condition(node, "Ready") or {}).get("status")
        changed = []
        conditions = node.setdefault("status", {}).setdefault("conditions", [])
        for kind in MONITORED_CONDITIONS:
            cond = _condition(node, kind)
            if cond is None:
                cond = {"type": kind, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                        "message": "Kubelet never posted node status.",
                        "lastHeartbeatTime": node["metadata"].get("creationTimestamp"), "lastTransitionTime": now}
                conditions.append(cond)
                changed.append(cond)
            elif cond.get("status") != "Unknown":
                cond.update({"status": "Unknown", "reason": "NodeStatusUnknown",
                             "message": "Kubelet stopped posting node status.", "lastTransitionTime": now})
                changed.append(cond)
        if changed:
            name = node["metadata"]["name"]
            await self.client.patch(NODES, name, {"status": {"conditions": changed}}, subresource="status",
                                    patch_type=STRATEGIC_PATCH)
            if was_ready == "True":
                self.record(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        return None

    # --- 2. taints ---

    def _wanted_taints(self, node: dict, ready: str) -> list[dict]:
        now = format_time(self.clock.now())
        taints = [t for t in (node.get("spec") or {}).get("taints") or []
                  if not (t.get("effect") == "NoSchedule" and t.get("key") in NO_SCHEDULE_KEYS)
                  and not (t.get("effect") == "NoExecute" and t.get("key") in (UNREACHABLE_TAINT, NOT_READY_TAINT))]
        existing = {(t.get("key"), t.get("effect")): t for t in (node.get("spec") or {}).get("taints") or []}
        wanted_keys = [(key, "NoSchedule") for (kind, status), key in CONDITION_TAINTS.items()
                       if (_condition(node, kind) or {}).get("status") == status]
        if (node.get("spec") or {}).get("unschedulable"):
            wanted_keys.append((UNSCHEDULABLE_TAINT, "NoSchedule"))
        if ready == "Unknown":
            wanted_keys.append((UNREACHABLE_TAINT, "NoExecute"))
        elif ready == "False":
            wanted_keys.append((NOT_READY_TAINT, "NoExecute"))
        for key, effect in wanted_keys:
            if (key, effect) in existing:
                taints.append(existing[(key, effect)])
            elif effect == "NoExecute":
                taints.append({"key": key, "effect": effect, "timeAdded": now})
            else:
                taints.append({"key": key, "effect": effect})
        return taints

    async def _update_taints(self, node: dict, ready: str) -> dict:
        """Swap/add/remove the condition taints (SwapNodeControllerTaint, markNodeAsReachable)."""
        wanted = self._wanted_taints(node, ready)
        if _taint_set(wanted) == _taint_set((node.get("spec") or {}).get("taints") or []):
            return node
        name = node["metadata"]["name"]
        for _ in range(5):
            try:
                live = await self.client.get(NODES, name)
            except APIError as exc:
                if is_not_found(exc):
                    return node
                raise
            # Conditions may have moved on since the cache: taint by what the node says now.
            wanted = self._wanted_taints(live, (_condition(live, "Ready") or {}).get("status", "Unknown"))
            if _taint_set(wanted) == _taint_set((live.get("spec") or {}).get("taints") or []):
                return live
            live.setdefault("spec", {})["taints"] = wanted
            if not wanted:
                live["spec"].pop("taints")
            try:
                return await self.client.update(NODES, live)
            except APIError as exc:
                if not is_conflict(exc):
                    raise
        raise APIError(409, "Conflict", f"could not update the taints of node {name}: it keeps changing")

    # --- 4. pods of a node that is not ready ---

    async def _mark_pods_not_ready(self, node_name: str, *, skip: set[str]) -> None:
        """MarkPodsNotReady; pods this pass just evicted are left out (they are going anyway)."""
        now = format_time(self.clock.now())
        for pod in self.pods.indexer.by_index("nodeName", node_name):
            if pod["metadata"].get("uid") in skip or pod["metadata"].get("deletionTimestamp"):
                continue
            ready = next((c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
            if ready is None or ready.get("status") == "False":
                continue
            meta = pod["metadata"]
            condition = {**ready, "status": "False", "lastTransitionTime": now}
            try:
                await self.client.patch(PODS, meta["name"], {"status": {"conditions": [condition]}}, meta["namespace"],
                                        subresource="status", patch_type=STRATEGIC_PATCH)
            except APIError as exc:
                if is_not_found(exc):
                    continue
                raise
            self.record(pod, "Warning", "NodeNotReady", "Node is not ready")

    # --- 3. taint-based eviction ---

    async def _evict(self, node: dict) -> tuple[set[str], float | None]:
        """Evict what is due: the uids evicted, and the delay until the next eviction falls due, if any."""
        name = node["metadata"]["name"]
        taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]
        now = self.clock.now()
        evicted: set[str] = set()
        next_due: float | None = None
        for pod in self.pods.indexer.by_index("nodeName", name):
            meta = pod["metadata"]
            if meta.get("deletionTimestamp"):
                self._scheduled.pop(meta.get("uid", ""), None)
                continue
            delay = self._eviction_delay(taints, pod, now)
            if delay is None:
                self._cancel(pod)
            elif delay <= 0:
                await self._evict_pod(pod)
                evicted.add(meta.get("uid", ""))
            else:
                self._scheduled[meta.get("uid", "")] = name
                next_due = delay if next_due is None else min(next_due, delay)
        return evicted, next_due

    def _eviction_delay(self, taints: list[dict], pod: dict, now) -> float | None:
        """Seconds until the pod must go (<= 0: now), or None when it may stay."""
        if not taints:
            return None
        tolerated, used = matching_tolerations(taints, (pod.get("spec") or {}).get("tolerations") or [])
        if not tolerated:
            return 0.0
        seconds = min_toleration_seconds(used)
        if seconds is None:
            return None
        added = [t for t in (parse_time(t.get("timeAdded")) for t in taints) if t is not None]
        start = min(added) if added else now
        return (start - now).total_seconds() + seconds

    def _cancel(self, pod: dict) -> None:
        meta = pod["metadata"]
        if self._scheduled.pop(meta.get("uid", ""), None) is not None:
            self.ctx.recorder.event(pod, "Normal", "TaintManagerEviction",
                                    f"Cancelling deletion of Pod {meta['namespace']}/{meta['name']}",
                                    component="taint-eviction-controller")

    async def _evict_pod(self, pod: dict) -> None:
        """addConditionAndDeletePod."""
        meta = pod["metadata"]
        self._scheduled.pop(meta.get("uid", ""), None)
        self.ctx.recorder.event(pod, "Normal", "TaintManagerEviction",
                                f"Marking for deletion Pod {meta['namespace']}/{meta['name']}",
                                component="taint-eviction-controller")
        condition = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                     "message": "Taint manager: deleting due to NoExecute taint",
                     "lastTransitionTime": format_time(self.clock.now())}
        try:
            await self.client.patch(PODS, meta["name"], {"metadata": {"uid": meta.get("uid")},
                                                         "status": {"conditions": [condition]}},
                                    meta["namespace"], subresource="status", patch_type=STRATEGIC_PATCH)
            await self.client.delete(PODS, meta["name"], meta["namespace"], preconditions={"uid": meta.get("uid", "")})
        except APIError as exc:
            if not is_not_found(exc) and exc.code != 409:
                raise


def _later(a: str, b: str) -> bool:
    """Whether timestamp `a` is after `b` (Lease renewTimes)."""
    ta, tb = parse_time(a), parse_time(b)
    return a > b if ta is None or tb is None else ta > tb


def _taint_set(taints: list[dict]) -> set[tuple]:
    return {(t.get("key"), t.get("value", ""), t.get("effect")) for t in taints}
