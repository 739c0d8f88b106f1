"""The ReplicaSet controller: keeps `spec.replicas` pods of a ReplicaSet's template alive.

Part of the controllers layer (kube-controller-manager's pkg/controller/replicaset). Informers on
ReplicaSets and Pods enqueue `namespace/name` of the ReplicaSet concerned; a reconcile then
1. claims pods (controller.PodControllerRefManager): adopts orphans its selector matches and releases owned
   pods that stopped matching, both by strategic-merge patches of metadata.ownerReferences;
2. unless it is still waiting for its own earlier creates/deletes to show up in the informer
   (expectations), creates the missing pods in slow-start batches (1, 2, 4, ...; at most burstReplicas per
   sync) or deletes the surplus, preferring pods that are least far along (controller.ActivePodsWithRanks);
3. writes status: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas (ready for
   minReadySeconds; re-checked with `add_after` when a pod's wait lapses), observedGeneration and the
   ReplicaFailure condition when creating or deleting failed (e.g. a quota's 403). Pods it has just
   deleted no longer count (Kubernetes counts them until its next sync), so a Deployment never reads
   availability that is already gone.

The claim helpers (`claim`, `adopt_patch`, `release_patch`) are shared with the Deployment controller, which
claims ReplicaSets the same way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from typing import Awaitable, Callable

import orjson

from ..api.meta import controller_of, format_time, json_copy, key_of, parse_time
from ..api.errors import APIError
from ..api.selectors import LabelSelector, SelectorError, label_selector_from_dict
from ..apiserver.operations import STRATEGIC_PATCH
from ..client.informer import controller_uid_index
from ..client.interface import is_conflict, is_not_found, resource
from .base import Controller
from .expectations import EXPECTATIONS_TIMEOUT, Expectations
from .podutil import is_active, is_pod_available, is_pod_ready, pod_from_template, ready_since

log = logging.getLogger(__name__)

PODS = resource("pods")
REPLICASETS = resource("replicasets", "apps")
CONTROLLER_UID_INDEX = "controller-uid"

BURST_REPLICAS = 500  # replicaset.BurstReplicas: creates or deletes per sync
SLOW_START_INITIAL_BATCH_SIZE = 1  # controller.SlowStartInitialBatchSize
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"

# event reasons (pkg/controller/controller_utils.go)
SUCCESSFUL_CREATE = "SuccessfulCreate"
FAILED_CREATE = "FailedCreate"
SUCCESSFUL_DELETE = "SuccessfulDelete"
FAILED_DELETE = "FailedDelete"
REPLICA_FAILURE = "ReplicaFailure"


# --- selectors ---


@functools.lru_cache(maxsize=4096)
def _parse_selector(raw: bytes) -> LabelSelector | None:
    try:
        return label_selector_from_dict(orjson.loads(raw))
    except SelectorError:
        return None


def selector_of(obj: dict) -> LabelSelector | None:
    """spec.selector parsed (cached: handlers match every pod against every ReplicaSet); None if invalid."""
    return _parse_selector(orjson.dumps((obj.get("spec") or {}).get("selector"), option=orjson.OPT_SORT_KEYS))


def labels_of(obj: dict) -> dict:
    return (obj.get("metadata") or {}).get("labels") or {}


# --- ownership: adoption and release (controller.BaseControllerRefManager) ---


def controller_ref(owner: dict, api_version: str, kind: str) -> dict:
    """metav1.NewControllerRef."""
    meta = owner["metadata"]
    return {"apiVersion": api_version, "kind": kind, "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def adopt_patch(owner: dict, api_version: str, kind: str, uid: str) -> dict:
    """ownerRefControllerPatch: add the controller ref; metadata.uid guards against a recreated object."""
    return {"metadata": {"ownerReferences": [controller_ref(owner, api_version, kind)], "uid": uid}}


def release_patch(owner_uid: str, uid: str) -> dict:
    """GenerateDeleteOwnerRefStrategicMergeBytes: remove the owner's ref only."""
    return {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": owner_uid}], "uid": uid}}


Claimer = Callable[[dict], Awaitable[None]]


async def claim(owner: dict, objects: list[dict], selector: LabelSelector, *, match_labels_of: Callable[[dict], dict],
                adopt: Claimer, release: Claimer, can_adopt: Callable[[], Awaitable[None]]) -> list[dict]:
    """ClaimObject over `objects`: the ones `owner` controls afterwards (the cached objects, unchanged).

    Errors are collected and the first raised after every object has had its turn, as the aggregate
    error of ClaimPods/ClaimReplicaSets makes the caller retry.
    """
    owner_meta = owner["metadata"]
    owner_deleting = bool(owner_meta.get("deletionTimestamp"))
    checked_adoption = False
    claimed: list[dict] = []
    errors: list[APIError] = []
    for obj in objects:
        ref = controller_of(obj)
        matches = selector.matches(match_labels_of(obj))
        try:
            if ref is not None:
                if ref.get("uid") != owner_meta["uid"]:
                    continue  # someone else's
                if matches:
                    claimed.append(obj)
                elif not owner_deleting:
                    await release(obj)
                continue
            if owner_deleting or not matches or (obj.get("metadata") or {}).get("deletionTimestamp"):
                continue
            if not checked_adoption:  # RecheckDeletionTimestamp: at most one live read per sync
                await can_adopt()
                checked_adoption = True
            await adopt(obj)
            claimed.append(obj)
        except APIError as exc:
            if not is_not_found(exc):
                errors.append(exc)
    if errors:
        raise errors[0]
    return claimed


# --- which pods to delete (controller.ActivePodsWithRanks) ---

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}  # a missing phase counts as Pending (Go's zero)


def _deletion_cost(pod: dict) -> int:
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(POD_DELETION_COST)
    try:
        cost = int(value) if value is not None else 0
    except ValueError:
        return 0
    return cost if -(2 ** 31) <= cost < 2 ** 31 else 0


def _max_restarts(pod: dict) -> int:
    return max((c.get("restartCount") or 0 for c in (pod.get("status") or {}).get("containerStatuses") or []),
               default=0)


def _after_or_zero(t1: dt.datetime | None, t2: dt.datetime | None) -> bool:
    if t1 is None or t2 is None:
        return t1 is None
    return t1 > t2


def _prefer_for_deletion(a: dict, b: dict, rank_a: int, rank_b: int) -> bool:
    """ActivePodsWithRanks.Less: whether `a` should go before `b`."""
    node_a, node_b = (a.get("spec") or {}).get("nodeName") or "", (b.get("spec") or {}).get("nodeName") or ""
    if node_a != node_b and (not node_a or not node_b):
        return not node_a  # 1. unassigned < assigned
    phase_a = _PHASE_ORDINAL.get((a.get("status") or {}).get("phase"), 0)
    phase_b = _PHASE_ORDINAL.get((b.get("status") or {}).get("phase"), 0)
    if phase_a != phase_b:
        return phase_a < phase_b  # 2. Pending < Unknown < Running
    ready_a, ready_b = is_pod_ready(a), is_pod_ready(b)
    if ready_a != ready_b:
        return not ready_a  # 3. not ready < ready
    cost_a, cost_b = _deletion_cost(a), _deletion_cost(b)
    if cost_a != cost_b:
        return cost_a < cost_b  # 4. lower pod-deletion-cost first
    if rank_a != rank_b:
        return rank_a > rank_b  # 5. doubled up (more related pods on its node) first
    if ready_a and ready_b:
        since_a, since_b = ready_since(a), ready_since(b)
        if since_a != since_b:
            return _after_or_zero(since_a, since_b)  # 6. ready for a shorter time first
    restarts_a, restarts_b = _max_restarts(a), _max_restarts(b)
    if restarts_a != restarts_b:
        return restarts_a > restarts_b  # 7. more restarts first
    created_a = parse_time((a.get("metadata") or {}).get("creationTimestamp"))
    created_b = parse_time((b.get("metadata") or {}).get("creationTimestamp"))
    if created_a != created_b:
        return _after_or_zero(created_a, created_b)  # 8. newer first
    return False


def rank_pods_for_deletion(pods: list[dict], ranks: list[int] | None = None) -> list[dict]:
    """`pods` sorted so that the ones to delete first come first."""
    ranks = ranks if ranks is not None else [0] * len(pods)

    def compare(i: int, j: int) -> int:
        if _prefer_for_deletion(pods[i], pods[j], ranks[i], ranks[j]):
            return -1
        if _prefer_for_deletion(pods[j], pods[i], ranks[j], ranks[i]):
            return 1
        return 0

    order = sorted(range(len(pods)), key=functools.cmp_to_key(compare))
    return [pods[i] for i in order]


def pods_to_delete(pods: list[dict], related_pods: list[dict], count: int) -> list[dict]:
    """getPodsToDelete: ranks are the number of active related pods sharing each pod's node."""
    if count >= len(pods):
        return list(pods)
    on_node: dict[str, int] = {}
    for pod in related_pods:
        if is_active(pod):
            node = (pod.get("spec") or {}).get("nodeName") or ""
            on_node[node] = on_node.get(node, 0) + 1
    ranks = [on_node.get((p.get("spec") or {}).get("nodeName") or "", 0) for p in pods]
    return rank_pods_for_deletion(pods, ranks)[:count]


# --- status ---


def replica_set_condition(condition_type: str, status: str, reason: str, message: str, now: dt.datetime) -> dict:
    return {"type": condition_type, "status": status, "lastTransitionTime": format_time(now), "reason": reason,
            "message": message}


def calculate_status(rs: dict, pods: list[dict], manage_error: APIError | None, now: dt.datetime) -> dict:
    """calculateStatus (replica_set_utils.go); zero counts are omitted as Go's omitempty does."""
    spec = rs.get("spec") or {}
    status = json_copy(rs.get("status") or {})
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = spec.get("minReadySeconds") or 0
    fully_labeled = ready = available = 0
    for pod in pods:
        pod_labels = labels_of(pod)
        if all(pod_labels.get(k) == v for k, v in template_labels.items()):
            fully_labeled += 1
        if is_pod_ready(pod):
            ready += 1
            if is_pod_available(pod, min_ready, now):
                available += 1
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != REPLICA_FAILURE]
    failure = next((c for c in status.get("conditions") or [] if c.get("type") == REPLICA_FAILURE), None)
    if manage_error is not None:
        if failure is None:
            diff = len(pods) - (spec.get("replicas") or 0)
            reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
            failure = replica_set_condition(REPLICA_FAILURE, "True", reason, manage_error.message, now)
        conditions.append(failure)
    status["replicas"] = len(pods)
    for field, value in (("fullyLabeledReplicas", fully_labeled), ("readyReplicas", ready),
                         ("availableReplicas", available)):
        if value:
            status[field] = value
        else:
            status.pop(field, None)
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
    return status


_COUNTS = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")


def _status_unchanged(rs: dict, status: dict) -> bool:
    old = rs.get("status") or {}
    generation = (rs.get("metadata") or {}).get("generation") or 0
    return all((old.get(f) or 0) == (status.get(f) or 0) for f in _COUNTS) \
        and (old.get("observedGeneration") or 0) == generation \
        and (old.get("conditions") or []) == (status.get("conditions") or [])


# --- the controller ---


class ReplicaSetController(Controller):
    name = "replicaset"
    workers = 5  # --concurrent-replicaset-syncs
    api_version = "apps/v1"
    kind = "ReplicaSet"

    def setup(self) -> None:
        settings = self.ctx.settings
        self.burst_replicas = int(settings.get("burst_replicas", BURST_REPLICAS))
        self.expectations = Expectations(self.clock, float(settings.get("expectations_timeout", EXPECTATIONS_TIMEOUT)))
        self.replicasets = self.informer(REPLICASETS, indexers={CONTROLLER_UID_INDEX: controller_uid_index})
        self.pods = self.informer(PODS)
        self.replicasets.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self._replica_set_deleted)
        self.pods.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)

    # --- handlers: only bookkeeping and enqueueing ---

    def _replica_set_deleted(self, rs: dict) -> None:
        key = key_of(rs)
        self.expectations.forget(key)
        self.queue.add(key)

    def _resolve(self, namespace: str, ref: dict) -> dict | None:
        """resolveControllerRef: the ReplicaSet a controller reference points at, if it is still that one."""
        if ref.get("kind") != self.kind:
            return None
        rs = self.replicasets.get(f"{namespace}/{ref.get('name')}")
        if rs is None or rs["metadata"].get("uid") != ref.get("uid"):
            return None
        return rs

    def _matching_replica_sets(self, pod: dict) -> list[dict]:
        """getPodReplicaSets: ReplicaSets whose selector matches an orphan (who might adopt it)."""
        namespace, pod_labels = pod["metadata"].get("namespace", ""), labels_of(pod)
        found = []
        for rs in self.replicasets.indexer.by_index("namespace", namespace):
            selector = selector_of(rs)
            if selector is not None and not selector.empty and selector.matches(pod_labels):
                found.append(rs)
        return found

    def _pod_added(self, pod: dict) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            self._pod_deleted(pod)  # e.g. seen first after a restart, already going
            return
        ref = controller_of(pod)
        if ref is not None:
            rs = self._resolve(pod["metadata"].get("namespace", ""), ref)
            if rs is not None:
                self.expectations.creation_observed(key_of(rs))
                self.enqueue(rs)
            return
        for rs in self._matching_replica_sets(pod):
            self.enqueue(rs)

    def _pod_updated(self, old: dict, cur: dict) -> None:
        if old["metadata"].get("resourceVersion") == cur["metadata"].get("resourceVersion"):
            return
        label_changed = labels_of(old) != labels_of(cur)
        if cur["metadata"].get("deletionTimestamp"):
            # A graceful delete shows up as an update: count it as the deletion we expect right away.
            self._pod_deleted(cur)
            if label_changed:
                self._pod_deleted(old)
            return
        namespace = cur["metadata"].get("namespace", "")
        cur_ref, old_ref = controller_of(cur), controller_of(old)
        ref_changed = cur_ref != old_ref
        if ref_changed and old_ref is not None:
            rs = self._resolve(namespace, old_ref)
            if rs is not None:
                self.enqueue(rs)
        if cur_ref is not None:
            rs = self._resolve(namespace, cur_ref)
            if rs is not None:
                self.enqueue(rs)
            return
        if label_changed or ref_changed:
            for rs in self._matching_replica_sets(cur):
                self.enqueue(rs)

    def _pod_deleted(self, pod: dict) -> None:
        ref = controller_of(pod)
        if ref is None:
            return
        rs = self._resolve(pod["metadata"].get("namespace", ""), ref)
        if rs is None:
            return
        self.expectations.deletion_observed(key_of(rs), key_of(pod))
        self.enqueue(rs)

    # --- reconcile ---

    async def reconcile(self, key: str) -> None:
        rs = self.replicasets.get(key)
        if rs is None:
            self.expectations.forget(key)
            return
        needs_sync = self.expectations.satisfied(key)
        selector = selector_of(rs)
        if selector is None:
            log.warning("replicaset %s has an invalid selector", key)
            return
        namespace = rs["metadata"]["namespace"]
        active = [p for p in self.pods.indexer.by_index("namespace", namespace) if is_active(p)]
        pods = await self._claim_pods(rs, selector, active)
        manage_error: APIError | None = None
        deleted: set[str] = set()
        if needs_sync and not rs["metadata"].get("deletionTimestamp"):
            try:
                deleted = await self.manage_replicas(rs, pods)
            except APIError as exc:
                manage_error = exc
        # Pods we just deleted are going (deletionTimestamp set): counting them would overstate
        # availability to the Deployment controller until the next sync.
        pods = [p for p in pods if key_of(p) not in deleted]
        now = self.clock.now()
        updated = await self._update_status(rs, calculate_status(rs, pods, manage_error, now))
        if manage_error is not None:
            raise manage_error
        self._recheck_availability(key, updated or rs, pods, now)

    async def _claim_pods(self, rs: dict, selector: LabelSelector, pods: list[dict]) -> list[dict]:
        namespace, uid = rs["metadata"]["namespace"], rs["metadata"]["uid"]

        async def can_adopt() -> None:
            fresh = await self.client.get(REPLICASETS, rs["metadata"]["name"], namespace)
            if fresh["metadata"].get("uid") != uid:
                raise APIError(409, "Conflict", f"original ReplicaSet {namespace}/{rs['metadata']['name']} is gone: "
                                                f"got uid {fresh['metadata'].get('uid')}, wanted {uid}")
            if fresh["metadata"].get("deletionTimestamp"):
                raise APIError(409, "Conflict", f"{namespace}/{rs['metadata']['name']} has just been deleted at "
                                                f"{fresh['metadata']['deletionTimestamp']}")

        async def adopt(pod: dict) -> None:
            await self.client.patch(PODS, pod["metadata"]["name"], adopt_patch(rs, self.api_version, self.kind,
                                                                                 pod["metadata"]["uid"]),
                                    namespace, patch_type=STRATEGIC_PATCH)

        async def release(pod: dict) -> None:
            try:
                await self.client.patch(PODS, pod["metadata"]["name"], release_patch(uid, pod["metadata"]["uid"]),
                                        namespace, patch_type=STRATEGIC_PATCH)
            except APIError as exc:
                if exc.code != 422:  # Invalid: no such owner, or the pod was recreated under another uid
                    raise

        return await claim(rs, pods, selector, match_labels_of=labels_of, adopt=adopt, release=release,
                           can_adopt=can_adopt)

    async def manage_replicas(self, rs: dict, pods: list[dict]) -> set[str]:
        """Create or delete pods toward spec.replicas; returns the keys of pods it deleted."""
        key = key_of(rs)
        diff = len(pods) - (rs["spec"].get("replicas") or 0)
        if diff < 0:
            count = min(-diff, self.burst_replicas)
            self.expectations.expect_creations(key, count)
            successes, error = await slow_start_batch(count, SLOW_START_INITIAL_BATCH_SIZE,
                                                      lambda: self._create_pod(rs))
            for _ in range(count - successes):  # never attempted: the informer will not see them
                self.expectations.creation_observed(key)
            if error is not None:
                raise error
            return set()
        if diff > 0:
            count = min(diff, self.burst_replicas)
            victims = pods_to_delete(pods, self._indirectly_related_pods(rs), count)
            victim_keys = [key_of(p) for p in victims]
            self.expectations.expect_deletions(key, victim_keys)
            results = await asyncio.gather(*(self._delete_pod(rs, p) for p in victims), return_exceptions=True)
            errors = []
            for pod_key, result in zip(victim_keys, results):
                if isinstance(result, BaseException):
                    self.expectations.deletion_observed(key, pod_key)
                    if not is_not_found(result):
                        errors.append(result)
            if errors:
                raise errors[0]
            return set(victim_keys)
        return set()

    async def _create_pod(self, rs: dict) -> None:
        pod = pod_from_template(rs["spec"].get("template") or {}, rs)
        pod["metadata"]["ownerReferences"] = [controller_ref(rs, self.api_version, self.kind)]
        try:
            created = await self.client.create(PODS, pod, rs["metadata"]["namespace"])
        except APIError as exc:
            if _namespace_terminating(exc):
                return  # every create would fail; the namespace controller is cleaning up
            self.record(rs, "Warning", FAILED_CREATE, f"Error creating: {exc.message}")
            raise
        self.record(rs, "Normal", SUCCESSFUL_CREATE, f"Created pod: {created['metadata']['name']}")

    async def _delete_pod(self, rs: dict, pod: dict) -> None:
        name = pod["metadata"]["name"]
        try:
            await self.client.delete(PODS, name, rs["metadata"]["namespace"],
                                     preconditions={"uid": pod["metadata"]["uid"]})
        except APIError as exc:
            if not is_not_found(exc):
                self.record(rs, "Warning", FAILED_DELETE, f"Error deleting: {exc.message}")
            raise
        self.record(rs, "Normal", SUCCESSFUL_DELETE, f"Deleted pod: {name}")

    def _indirectly_related_pods(self, rs: dict) -> list[dict]:
        """Pods of every ReplicaSet with the same controller (e.g. all of a Deployment's ReplicaSets)."""
        ref = controller_of(rs)
        related_sets = self.replicasets.indexer.by_index(CONTROLLER_UID_INDEX, ref["uid"]) if ref else []
        namespace = rs["metadata"]["namespace"]
        candidates = self.pods.indexer.by_index("namespace", namespace) if related_sets else []
        seen: set[str] = set()
        related = []
        for other in related_sets:
            selector = selector_of(other)
            if selector is None:
                continue
            for pod in candidates:
                uid = pod["metadata"].get("uid", "")
                if uid not in seen and selector.matches(labels_of(pod)):
                    seen.add(uid)
                    related.append(pod)
        return related

    async def _update_status(self, rs: dict, status: dict) -> dict | None:
        """updateReplicaSetStatus: write if anything changed, retrying once on a conflict."""
        if _status_unchanged(rs, status):
            return rs
        for attempt in range(2):
            generation = rs["metadata"].get("generation") or 0
            body = {**rs, "status": {**status, "observedGeneration": generation}}
            try:
                return await self.client.update(REPLICASETS, body, subresource="status")
            except APIError as exc:
                if attempt or not is_conflict(exc):
                    raise
                rs = await self.client.get(REPLICASETS, rs["metadata"]["name"], rs["metadata"]["namespace"])
        return None

    def _recheck_availability(self, key: str, rs: dict, pods: list[dict], now: dt.datetime) -> None:
        """Requeue when the first ready-but-not-yet-available pod passes minReadySeconds."""
        min_ready = (rs.get("spec") or {}).get("minReadySeconds") or 0
        if min_ready <= 0:
            return
        waits = []
        for pod in pods:
            since = ready_since(pod)
            if since is not None and not is_pod_available(pod, min_ready, now):
                waits.append((since + dt.timedelta(seconds=min_ready) - now).total_seconds())
        if waits:
            self.queue.add_after(key, max(min(waits), 0.001))


async def slow_start_batch(count: int, initial_batch_size: int, fn: Callable[[], Awaitable[None]]
                           ) -> tuple[int, APIError | None]:
    """slowStartBatch: call `fn` `count` times in batches of 1, 2, 4, ...; stop after a failing batch.

    A project over its quota thus costs one failed request (and one event), not hundreds.
    """
    remaining, successes = count, 0
    batch = min(remaining, initial_batch_size)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        successes += batch - len(errors)
        if errors:
            first = errors[0]
            if not isinstance(first, APIError):
                raise first
            return successes, first
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


def _namespace_terminating(exc: APIError) -> bool:
    # Kubernetes checks the NamespaceTerminating status cause; minik's NamespaceLifecycle sets no cause, only
    # this message.
    return exc.code == 403 and "because it is being terminated" in exc.message
