"""The Deployment controller: rolls a Deployment's pod template out through ReplicaSets.

Part of the controllers layer (kube-controller-manager's pkg/controller/deployment). Informers on
Deployments, ReplicaSets and Pods enqueue the Deployment concerned; a reconcile (syncDeployment)
1. claims ReplicaSets (adopts orphans its selector matches, releases owned ones that stopped matching);
2. finds the "new" ReplicaSet, the one whose template equals the Deployment's ignoring the
   pod-template-hash label (so `kubectl rollout undo`, which copies an old template back, reuses that
   ReplicaSet and bumps its revision), and the old ones;
3. in priority order: a Deployment being deleted only gets status; a paused one or one whose replicas
   changed is scaled proportionally across its active ReplicaSets (`sync`); otherwise it rolls out with its
   strategy: RollingUpdate (new up to replicas + maxSurge, old down while replicas - maxUnavailable stay
   available) or Recreate (old to zero, wait for their pods to be gone, then the new one to full size);
4. prunes old, scaled-down ReplicaSets beyond revisionHistoryLimit once a rollout is complete;
5. writes status (replicas, updated/ready/available/unavailableReplicas, observedGeneration,
   collisionCount) and the Available and Progressing conditions, re-checking progressDeadlineSeconds with
   `add_after`.

ReplicaSets carry the Kubernetes annotations `deployment.kubernetes.io/revision` (also on the Deployment),
`revision-history`, `desired-replicas` and `max-replicas`; events are `ScalingReplicaSet`
("Scaled up replica set web-7d9f8 from 0 to 3").
"""

from __future__ import annotations

import logging
import math

from ..api.meta import controller_of, format_time, json_copy, key_of, parse_time
from ..api.errors import APIError
from ..apiserver.operations import STRATEGIC_PATCH
from ..client.informer import controller_uid_index
from ..client.interface import is_already_exists, is_not_found, resource
from .base import Controller
from .hashing import POD_TEMPLATE_HASH_LABEL, compute_hash, equal_ignore_hash
from .replicaset import (CONTROLLER_UID_INDEX, PODS, REPLICASETS, adopt_patch, claim, controller_ref, labels_of,
                         release_patch, selector_of)

log = logging.getLogger(__name__)

DEPLOYMENTS = resource("deployments", "apps")

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
# annotations a Deployment does not pass on to its ReplicaSets (deploymentutil.annotationsToSkip)
ANNOTATIONS_TO_SKIP = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, "deprecated.deployment.rollback.to",
})
MAX_REV_HISTORY_LENGTH_IN_CHARS = 2000
MAX_INT32 = 2 ** 31 - 1

# condition types and reasons (deploymentutil), worded as Kubernetes words them
PROGRESSING, AVAILABLE, REPLICA_FAILURE = "Progressing", "Available", "ReplicaFailure"
REPLICA_SET_UPDATED = "ReplicaSetUpdated"
FAILED_RS_CREATE = "ReplicaSetCreateError"
NEW_REPLICA_SET = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"


# --- small accessors ---


def replicas_of(obj: dict) -> int:
    return (obj.get("spec") or {}).get("replicas") or 0


def status_of(obj: dict | None, field: str) -> int:
    return ((obj or {}).get("status") or {}).get(field) or 0


def annotations_of(obj: dict) -> dict:
    return (obj.get("metadata") or {}).get("annotations") or {}


def created_at(obj: dict):
    return parse_time((obj.get("metadata") or {}).get("creationTimestamp"))


def by_creation(rs: dict):
    """ReplicaSetsByCreationTimestamp: oldest first, name breaking ties."""
    return (created_at(rs) or parse_time("0001-01-01T00:00:00Z"), rs["metadata"]["name"])


def revision_of(rs: dict) -> int | None:
    """deploymentutil.Revision: 0 without the annotation, None when it is not a number."""
    value = annotations_of(rs).get(REVISION_ANNOTATION)
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        return None


def max_revision(replica_sets: list[dict]) -> int:
    return max((r for r in (revision_of(rs) for rs in replica_sets) if r is not None), default=0)


def filter_active(replica_sets: list[dict | None]) -> list[dict]:
    """controller.FilterActiveReplicaSets: those with spec.replicas > 0."""
    return [rs for rs in replica_sets if rs is not None and replicas_of(rs) > 0]


def total_replicas(replica_sets: list[dict | None]) -> int:
    return sum(replicas_of(rs) for rs in replica_sets if rs is not None)


def total_status(replica_sets: list[dict | None], field: str) -> int:
    return sum(status_of(rs, field) for rs in replica_sets if rs is not None)


def pods_count(replica_sets: list[dict | None]) -> int:
    """Pods the ReplicaSets may have: the larger of what they want and what they last reported.

    Kubernetes counts spec.replicas only. A ReplicaSet just scaled down still runs its surplus pods until
    its controller deletes them (and reports so in status.replicas); counting those keeps maxSurge true of
    the pods that actually exist, not only of the ReplicaSets' specs.
    """
    return sum(max(replicas_of(rs), status_of(rs, "replicas")) for rs in replica_sets if rs is not None)


# --- rolling-update parameters (intstr and deploymentutil.ResolveFenceposts) ---


def value_from_int_or_percent(value, total: int, round_up: bool) -> int:
    """intstr.GetValueFromIntOrPercent."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        percent = int(value[:-1])
        return -(-percent * total // 100) if round_up else percent * total // 100
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ValueError(f"invalid value for IntOrString: invalid value {value!r}")


def is_rolling_update(d: dict) -> bool:
    return ((d.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def resolve_fenceposts(d: dict) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) for spec.replicas: surge rounds up, unavailable down; never both 0."""
    rolling = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    desired = replicas_of(d)
    surge = value_from_int_or_percent(rolling.get("maxSurge"), desired, True)
    unavailable = value_from_int_or_percent(rolling.get("maxUnavailable"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # both rounded to zero: let one go rather than rely on surge (quota may forbid it)
    return surge, unavailable


def max_surge(d: dict) -> int:
    return resolve_fenceposts(d)[0] if is_rolling_update(d) else 0


def max_unavailable(d: dict) -> int:
    if not is_rolling_update(d) or replicas_of(d) == 0:
        return 0
    return min(resolve_fenceposts(d)[1], replicas_of(d))


def round_half_away(x: float) -> int:
    """Go's math.Round (integer.RoundToInt32), not Python's banker's rounding."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


# --- annotations ---


def set_replicas_annotations(rs: dict, desired: int, maximum: int) -> bool:
    annotations = rs["metadata"].setdefault("annotations", {})
    updated = False
    for key, value in ((DESIRED_REPLICAS_ANNOTATION, str(desired)), (MAX_REPLICAS_ANNOTATION, str(maximum))):
        if annotations.get(key) != value:
            annotations[key] = value
            updated = True
    return updated


def replicas_annotations_need_update(rs: dict, desired: int, maximum: int) -> bool:
    annotations = annotations_of(rs)
    return annotations.get(DESIRED_REPLICAS_ANNOTATION) != str(desired) \
        or annotations.get(MAX_REPLICAS_ANNOTATION) != str(maximum)


def desired_replicas_annotation(rs: dict) -> int | None:
    try:
        return int(annotations_of(rs)[DESIRED_REPLICAS_ANNOTATION])
    except (KeyError, ValueError):
        return None


def max_replicas_annotation(rs: dict) -> int | None:
    try:
        return int(annotations_of(rs)[MAX_REPLICAS_ANNOTATION])
    except (KeyError, ValueError):
        return None


def copy_deployment_annotations(d: dict, rs: dict) -> bool:
    """copyDeploymentAnnotationsToReplicaSet (e.g. kubernetes.io/change-cause for rollout history)."""
    annotations = rs["metadata"].setdefault("annotations", {})
    changed = False
    for key, value in annotations_of(d).items():
        if key in ANNOTATIONS_TO_SKIP or annotations.get(key) == value:
            continue
        annotations[key] = value
        changed = True
    return changed


def set_new_replica_set_annotations(d: dict, rs: dict, new_revision: str, *, exists: bool,
                                    history_limit: int = MAX_REV_HISTORY_LENGTH_IN_CHARS) -> bool:
    """SetNewReplicaSetAnnotations: copy annotations, raise the revision (keeping the old ones in
    revision-history when an old ReplicaSet becomes the new one again) and, for a new one, the replica
    annotations. Returns whether anything changed."""
    changed = copy_deployment_annotations(d, rs)
    annotations = rs["metadata"].setdefault("annotations", {})
    had_revision = REVISION_ANNOTATION in annotations
    old_revision = annotations.get(REVISION_ANNOTATION, "")
    try:
        old_int = int(old_revision) if old_revision != "" else 0
    except ValueError:
        return False
    new_int = int(new_revision)
    if old_int < new_int:
        annotations[REVISION_ANNOTATION] = new_revision
        changed = True
        if had_revision:
            history = annotations.get(REVISION_HISTORY_ANNOTATION, "")
            if not history:
                annotations[REVISION_HISTORY_ANNOTATION] = old_revision
            else:
                revisions = history.split(",")
                total = len(history) + len(old_revision) + 1
                start = 0
                while total > history_limit and start < len(revisions):
                    total -= len(revisions[start]) + 1
                    start += 1
                if total <= history_limit:
                    annotations[REVISION_HISTORY_ANNOTATION] = ",".join(revisions[start:] + [old_revision])
    if not exists and set_replicas_annotations(rs, replicas_of(d), replicas_of(d) + max_surge(d)):
        changed = True
    return changed


def set_deployment_revision(d: dict, revision: str) -> bool:
    annotations = d["metadata"].setdefault("annotations", {})
    if annotations.get(REVISION_ANNOTATION) == revision:
        return False
    annotations[REVISION_ANNOTATION] = revision
    return True


# --- conditions ---


def get_condition(status: dict, condition_type: str) -> dict | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == condition_type), None)


def set_condition(status: dict, condition: dict) -> None:
    """SetDeploymentCondition: no-op for the same status and reason; keeps lastTransitionTime if the
    status stays; the condition moves to the end."""
    current = get_condition(status, condition["type"])
    if current is not None and current.get("status") == condition["status"] \
            and current.get("reason") == condition["reason"]:
        return
    if current is not None and current.get("status") == condition["status"]:
        condition["lastTransitionTime"] = current.get("lastTransitionTime")
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != condition["type"]]
    status["conditions"].append(condition)


def remove_condition(status: dict, condition_type: str) -> None:
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != condition_type]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)


def has_progress_deadline(d: dict) -> bool:
    deadline = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return deadline is not None and deadline != MAX_INT32


def has_revision_history_limit(d: dict) -> bool:
    limit = (d.get("spec") or {}).get("revisionHistoryLimit")
    return limit is not None and limit != MAX_INT32


def deployment_complete(d: dict, status: dict) -> bool:
    replicas = replicas_of(d)
    return (status.get("updatedReplicas") or 0) == replicas and (status.get("replicas") or 0) == replicas \
        and (status.get("availableReplicas") or 0) == replicas \
        and (status.get("observedGeneration") or 0) >= (d["metadata"].get("generation") or 0)


def deployment_progressing(d: dict, new: dict) -> bool:
    old = d.get("status") or {}

    def get(status: dict, field: str) -> int:
        return status.get(field) or 0

    old_old = get(old, "replicas") - get(old, "updatedReplicas")
    new_old = get(new, "replicas") - get(new, "updatedReplicas")
    return get(new, "updatedReplicas") > get(old, "updatedReplicas") or new_old < old_old \
        or get(new, "readyReplicas") > get(old, "readyReplicas") \
        or get(new, "availableReplicas") > get(old, "availableReplicas")


# --- finding the new and old ReplicaSets ---


def find_new_replica_set(d: dict, rs_list: list[dict]) -> dict | None:
    """FindNewReplicaSet: the oldest ReplicaSet whose template equals the Deployment's (hash ignored)."""
    template = (d.get("spec") or {}).get("template")
    for rs in sorted(rs_list, key=by_creation):
        if equal_ignore_hash((rs.get("spec") or {}).get("template"), template):
            return rs
    return None


def find_old_replica_sets(d: dict, rs_list: list[dict]) -> list[dict]:
    """FindOldReplicaSets (the "all old" list): every ReplicaSet but the new one."""
    new_rs = find_new_replica_set(d, rs_list)
    return [rs for rs in rs_list if new_rs is None or rs["metadata"]["uid"] != new_rs["metadata"]["uid"]]


def find_active_or_latest(new_rs: dict | None, old_rss: list[dict]) -> dict | None:
    if new_rs is None and not old_rss:
        return None
    old_sorted = sorted(old_rss, key=by_creation, reverse=True)
    active = filter_active(old_sorted + [new_rs])
    if not active:
        return new_rs if new_rs is not None else old_sorted[0]
    return active[0] if len(active) == 1 else None


def is_saturated(d: dict, rs: dict | None) -> bool:
    if rs is None:
        return False
    desired = desired_replicas_annotation(rs)
    replicas = replicas_of(d)
    return desired is not None and replicas_of(rs) == replicas and desired == replicas \
        and status_of(rs, "availableReplicas") == replicas


def new_rs_new_replicas(d: dict, all_rss: list[dict | None], new_rs: dict) -> int:
    """NewRSNewReplicas: how big the new ReplicaSet may be now."""
    if not is_rolling_update(d):
        return replicas_of(d)
    surge = value_from_int_or_percent(
        (((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge"),
        replicas_of(d), True)
    current = pods_count(all_rss)
    max_total = replicas_of(d) + surge
    if current >= max_total:
        return replicas_of(new_rs)
    return replicas_of(new_rs) + min(max_total - current, replicas_of(d) - replicas_of(new_rs))


def replica_set_fraction(rs: dict, d: dict) -> int:
    """getReplicaSetFraction: this ReplicaSet's share of a resize, from its max-replicas annotation."""
    if replicas_of(d) == 0:
        return -replicas_of(rs)
    deployment_replicas = replicas_of(d) + max_surge(d)
    annotated = max_replicas_annotation(rs)
    if annotated is None:
        annotated = status_of(d, "replicas")
    if not annotated:
        return 0
    return round_half_away(replicas_of(rs) * deployment_replicas / annotated) - replicas_of(rs)


def proportion(rs: dict, d: dict, to_add: int, added: int) -> int:
    """GetProportion."""
    if replicas_of(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = replica_set_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


# --- status ---


def new_condition(condition_type: str, status: str, reason: str, message: str, now) -> dict:
    stamp = format_time(now)
    return {"type": condition_type, "status": status, "lastUpdateTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def calculate_status(all_rss: list[dict | None], new_rs: dict | None, d: dict, now) -> dict:
    """calculateStatus; zero counts are omitted as Go's omitempty does."""
    available = total_status(all_rss, "availableReplicas")
    unavailable = max(0, total_replicas(all_rss) - available)
    old = d.get("status") or {}
    status: dict = {}
    counts = (("observedGeneration", d["metadata"].get("generation") or 0),
              ("replicas", total_status(all_rss, "replicas")),
              ("updatedReplicas", status_of(new_rs, "replicas")),
              ("readyReplicas", total_status(all_rss, "readyReplicas")),
              ("availableReplicas", available),
              ("unavailableReplicas", unavailable))
    for field, value in counts:
        if value:
            status[field] = value
    if old.get("conditions"):
        status["conditions"] = json_copy(old["conditions"])
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if available >= replicas_of(d) - max_unavailable(d):
        set_condition(status, new_condition(AVAILABLE, "True", MINIMUM_REPLICAS_AVAILABLE,
                                            "Deployment has minimum availability.", now))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MINIMUM_REPLICAS_UNAVAILABLE,
                                            "Deployment does not have minimum availability.", now))
    return status


# --- the controller ---


class DeploymentController(Controller):
    name = "deployment"
    workers = 5  # --concurrent-deployment-syncs
    api_version = "apps/v1"
    kind = "Deployment"

    def setup(self) -> None:
        self.deployments = self.informer(DEPLOYMENTS)
        self.replicasets = self.informer(REPLICASETS, indexers={CONTROLLER_UID_INDEX: controller_uid_index})
        self.pods = self.informer(PODS)
        self.deployments.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self.enqueue)
        self.replicasets.add_handler(self._replica_set_added, self._replica_set_updated, self._replica_set_deleted)
        self.pods.add_handler(on_delete=self._pod_deleted)

    # --- handlers ---

    def _resolve(self, namespace: str, ref: dict | None) -> dict | None:
        if ref is None or ref.get("kind") != self.kind:
            return None
        d = self.deployments.get(f"{namespace}/{ref.get('name')}")
        if d is None or d["metadata"].get("uid") != ref.get("uid"):
            return None
        return d

    def _deployments_for_replica_set(self, rs: dict) -> list[dict]:
        """Deployments whose selector matches an orphan ReplicaSet's labels (who might adopt it)."""
        found = []
        for d in self.deployments.indexer.by_index("namespace", rs["metadata"].get("namespace", "")):
            selector = selector_of(d)
            if selector is not None and not selector.empty and selector.matches(labels_of(rs)):
                found.append(d)
        return found

    def _replica_set_added(self, rs: dict) -> None:
        if rs["metadata"].get("deletionTimestamp"):
            self._replica_set_deleted(rs)
            return
        ref = controller_of(rs)
        if ref is not None:
            d = self._resolve(rs["metadata"].get("namespace", ""), ref)
            if d is not None:
                self.enqueue(d)
            return
        for d in self._deployments_for_replica_set(rs):
            self.enqueue(d)

    def _replica_set_updated(self, old: dict, cur: dict) -> None:
        if old["metadata"].get("resourceVersion") == cur["metadata"].get("resourceVersion"):
            return
        namespace = cur["metadata"].get("namespace", "")
        cur_ref, old_ref = controller_of(cur), controller_of(old)
        ref_changed = cur_ref != old_ref
        if ref_changed and old_ref is not None:
            d = self._resolve(namespace, old_ref)
            if d is not None:
                self.enqueue(d)
        if cur_ref is not None:
            d = self._resolve(namespace, cur_ref)
            if d is not None:
                self.enqueue(d)
            return
        if ref_changed or labels_of(old) != labels_of(cur):
            for d in self._deployments_for_replica_set(cur):
                self.enqueue(d)

    def _replica_set_deleted(self, rs: dict) -> None:
        d = self._resolve(rs["metadata"].get("namespace", ""), controller_of(rs))
        if d is not None:
            self.enqueue(d)

    def _pod_deleted(self, pod: dict) -> None:
        """A Recreate rollout waits for the old pods to be gone: wake it when the last one goes."""
        namespace = pod["metadata"].get("namespace", "")
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.replicasets.get(f"{namespace}/{ref.get('name')}")
        if rs is None or rs["metadata"].get("uid") != ref.get("uid"):
            return
        d = self._resolve(namespace, controller_of(rs))
        if d is None or is_rolling_update(d):
            return
        selector = selector_of(d)
        if selector is None:
            return
        owned = [other for other in self.replicasets.indexer.by_index("namespace", namespace)
                 if (controller_of(other) or {}).get("uid") == d["metadata"]["uid"]
                 and selector.matches(labels_of(other))]
        if not any(self._pod_map(d, owned).values()):
            self.enqueue(d)

    # --- reconcile (syncDeployment) ---

    async def reconcile(self, key: str) -> None:
        cached = self.deployments.get(key)
        if cached is None:
            return
        d = json_copy(cached)  # never mutate the cache
        selector = selector_of(d)
        if selector is None:
            log.warning("deployment %s has an invalid selector", key)
            return
        if selector.empty:
            self.record(d, "Warning", "SelectingAll",
                        "This deployment is selecting all pods. A non-empty selector is required.")
            if status_of(d, "observedGeneration") < (d["metadata"].get("generation") or 0):
                d.setdefault("status", {})["observedGeneration"] = d["metadata"].get("generation") or 0
                await self._update_status(d)
            return
        rs_list = await self._replica_sets_for(d)
        pod_map = self._pod_map(d, rs_list)
        if d["metadata"].get("deletionTimestamp"):
            await self.sync_status_only(d, rs_list)
            return
        await self.check_paused_conditions(d)
        if d["spec"].get("paused"):
            await self.sync(d, rs_list)
            return
        if await self.is_scaling_event(d, rs_list):
            await self.sync(d, rs_list)
            return
        if is_rolling_update(d):
            await self.rollout_rolling(d, rs_list)
        else:
            await self.rollout_recreate(d, rs_list, pod_map)

    async def _replica_sets_for(self, d: dict) -> list[dict]:
        """getReplicaSetsForDeployment: claim, adopting and releasing as needed."""
        namespace, name, uid = d["metadata"]["namespace"], d["metadata"]["name"], d["metadata"]["uid"]

        async def can_adopt() -> None:
            fresh = await self.client.get(DEPLOYMENTS, name, namespace)
            if fresh["metadata"].get("uid") != uid:
                raise APIError(409, "Conflict", f"original Deployment {namespace}/{name} is gone: "
                                                f"got uid {fresh['metadata'].get('uid')}, wanted {uid}")
            if fresh["metadata"].get("deletionTimestamp"):
                raise APIError(409, "Conflict", f"{namespace}/{name} has just been deleted at "
                                                f"{fresh['metadata']['deletionTimestamp']}")

        async def adopt(rs: dict) -> None:
            await self.client.patch(REPLICASETS, rs["metadata"]["name"],
                                    adopt_patch(d, self.api_version, self.kind, rs["metadata"]["uid"]),
                                    namespace, patch_type=STRATEGIC_PATCH)

        async def release(rs: dict) -> None:
            try:
                await self.client.patch(REPLICASETS, rs["metadata"]["name"], release_patch(uid, rs["metadata"]["uid"]),
                                        namespace, patch_type=STRATEGIC_PATCH)
            except APIError as exc:
                if exc.code != 422:
                    raise

        candidates = self.replicasets.indexer.by_index("namespace", namespace)
        return await claim(d, candidates, selector_of(d), match_labels_of=labels_of, adopt=adopt, release=release,
                           can_adopt=can_adopt)

    def _pod_map(self, d: dict, rs_list: list[dict]) -> dict[str, list[dict]]:
        """getPodMapForDeployment: the Deployment's pods (terminating ones too) by ReplicaSet uid."""
        selector = selector_of(d)
        pod_map: dict[str, list[dict]] = {rs["metadata"]["uid"]: [] for rs in rs_list}
        for pod in self.pods.indexer.by_index("namespace", d["metadata"]["namespace"]):
            ref = controller_of(pod)
            if ref is not None and ref.get("uid") in pod_map and selector.matches(labels_of(pod)):
                pod_map[ref["uid"]].append(pod)
        return pod_map

    # --- writes to the Deployment ---

    async def _update_status(self, d: dict) -> None:
        updated = await self.client.update(DEPLOYMENTS, d, subresource="status")
        d["metadata"]["resourceVersion"] = updated["metadata"]["resourceVersion"]

    async def _write_revision(self, d: dict) -> None:
        # Kubernetes writes the revision annotation with UpdateStatus (its deployment status strategy keeps
        # metadata changes); minik's /status keeps status only, so the annotation is its own patch, pinned
        # to the resourceVersion we read.
        patch = {"metadata": {"resourceVersion": d["metadata"]["resourceVersion"],
                              "annotations": {REVISION_ANNOTATION: annotations_of(d).get(REVISION_ANNOTATION)}}}
        updated = await self.client.patch(DEPLOYMENTS, d["metadata"]["name"], patch, d["metadata"]["namespace"])
        d["metadata"]["resourceVersion"] = updated["metadata"]["resourceVersion"]

    async def _write(self, d: dict, *, revision: bool, status: bool) -> None:
        if revision:
            await self._write_revision(d)
        if status:
            await self._update_status(d)

    # --- the modes ---

    async def sync_status_only(self, d: dict, rs_list: list[dict]) -> None:
        new_rs, old_rss = await self.get_all_replica_sets_and_sync_revision(d, rs_list, create=False)
        await self.sync_deployment_status(old_rss + [new_rs], new_rs, d)

    async def sync(self, d: dict, rs_list: list[dict]) -> None:
        """Scaling (and paused Deployments): resize proportionally, no rollout."""
        new_rs, old_rss = await self.get_all_replica_sets_and_sync_revision(d, rs_list, create=False)
        new_rs, old_rss = await self.scale(d, new_rs, old_rss)
        if d["spec"].get("paused"):
            await self.cleanup_deployment(old_rss, d)
        await self.sync_deployment_status(old_rss + [new_rs], new_rs, d)

    async def check_paused_conditions(self, d: dict) -> None:
        """Progressing=Unknown while paused, so time spent paused never counts against the deadline."""
        if not has_progress_deadline(d):
            return
        status = d.setdefault("status", {})
        current = get_condition(status, PROGRESSING)
        if current is not None and current.get("reason") == TIMED_OUT:
            return
        paused_condition = current is not None and current.get("reason") == PAUSED
        now = self.clock.now()
        if d["spec"].get("paused") and not paused_condition:
            set_condition(status, new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now))
        elif not d["spec"].get("paused") and paused_condition:
            set_condition(status, new_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", now))
        else:
            return
        await self._update_status(d)

    async def is_scaling_event(self, d: dict, rs_list: list[dict]) -> bool:
        """Whether an active ReplicaSet was sized for another spec.replicas (its desired-replicas annotation)."""
        new_rs, old_rss = await self.get_all_replica_sets_and_sync_revision(d, rs_list, create=False)
        for rs in filter_active(old_rss + [new_rs]):
            desired = desired_replicas_annotation(rs)
            if desired is not None and desired != replicas_of(d):
                return True
        return False

    async def rollout_rolling(self, d: dict, rs_list: list[dict]) -> None:
        new_rs, old_rss = await self.get_all_replica_sets_and_sync_revision(d, rs_list, create=True)
        scaled, new_rs = await self.reconcile_new_replica_set(old_rss + [new_rs], new_rs, d)
        if scaled:
            await self.sync_rollout_status(old_rss + [new_rs], new_rs, d)
            return
        scaled, old_rss = await self.reconcile_old_replica_sets(old_rss, new_rs, d)
        if scaled:
            await self.sync_rollout_status(old_rss + [new_rs], new_rs, d)
            return
        if deployment_complete(d, d.get("status") or {}):
            await self.cleanup_deployment(old_rss, d)
        await self.sync_rollout_status(old_rss + [new_rs], new_rs, d)

    async def rollout_recreate(self, d: dict, rs_list: list[dict], pod_map: dict[str, list[dict]]) -> None:
        # No new ReplicaSet yet: creating it now would scale up before the old ones are down.
        new_rs, old_rss = await self.get_all_replica_sets_and_sync_revision(d, rs_list, create=False)
        scaled = False
        for i, rs in enumerate(old_rss):
            if replicas_of(rs) > 0:
                done, old_rss[i] = await self.scale_replica_set(rs, 0, d)
                scaled = scaled or done
        if scaled:
            await self.sync_rollout_status(old_rss + [new_rs], new_rs, d)
            return
        if self._old_pods_running(new_rs, old_rss, pod_map):
            await self.sync_rollout_status(old_rss + [new_rs], new_rs, d)
            return
        if new_rs is None:
            new_rs, old_rss = await self.get_all_replica_sets_and_sync_revision(d, rs_list, create=True)
        _, new_rs = await self.scale_replica_set(new_rs, replicas_of(d), d)
        if deployment_complete(d, d.get("status") or {}):
            await self.cleanup_deployment(old_rss, d)
        await self.sync_rollout_status(old_rss + [new_rs], new_rs, d)

    @staticmethod
    def _old_pods_running(new_rs: dict | None, old_rss: list[dict], pod_map: dict[str, list[dict]]) -> bool:
        if total_status(old_rss, "replicas") > 0:
            return True
        new_uid = new_rs["metadata"]["uid"] if new_rs is not None else None
        for uid, pods in pod_map.items():
            if uid == new_uid:
                continue
            # Pods that finished do not count; everything else (Unknown included) might still run.
            if any((p.get("status") or {}).get("phase") not in ("Failed", "Succeeded") for p in pods):
                return True
        return False

    # --- the new ReplicaSet and revisions ---

    async def get_all_replica_sets_and_sync_revision(self, d: dict, rs_list: list[dict], *, create: bool
                                                     ) -> tuple[dict | None, list[dict]]:
        old_rss = find_old_replica_sets(d, rs_list)
        new_rs = await self.get_new_replica_set(d, rs_list, old_rss, create=create)
        return new_rs, old_rss

    async def get_new_replica_set(self, d: dict, rs_list: list[dict], old_rss: list[dict], *, create: bool
                                  ) -> dict | None:
        existing = find_new_replica_set(d, rs_list)
        new_revision = str(max_revision(old_rss) + 1)
        now = self.clock.now()
        status = d.setdefault("status", {})
        if existing is not None:
            rs_copy = json_copy(existing)
            annotations_updated = set_new_replica_set_annotations(d, rs_copy, new_revision, exists=True)
            min_ready = (d["spec"].get("minReadySeconds") or 0)
            if annotations_updated or (rs_copy["spec"].get("minReadySeconds") or 0) != min_ready:
                rs_copy["spec"]["minReadySeconds"] = min_ready
                updated = await self.client.update(REPLICASETS, rs_copy)
                _replace(rs_list, updated)
                return updated
            revision_changed = set_deployment_revision(d, annotations_of(rs_copy).get(REVISION_ANNOTATION, ""))
            status_changed = False
            if has_progress_deadline(d) and get_condition(status, PROGRESSING) is None:
                set_condition(status, new_condition(PROGRESSING, "True", FOUND_NEW_RS,
                                                    f'Found new replica set "{rs_copy["metadata"]["name"]}"', now))
                status_changed = True
            await self._write(d, revision=revision_changed, status=status_changed)
            return rs_copy
        if not create:
            return None
        return await self._create_new_replica_set(d, old_rss, new_revision)

    async def _create_new_replica_set(self, d: dict, old_rss: list[dict], new_revision: str) -> dict:
        namespace, status = d["metadata"]["namespace"], d.setdefault("status", {})
        template = json_copy(d["spec"].get("template") or {})
        pod_template_hash = compute_hash(template, status.get("collisionCount"))
        labels = {**((template.get("metadata") or {}).get("labels") or {}), POD_TEMPLATE_HASH_LABEL: pod_template_hash}
        template.setdefault("metadata", {})["labels"] = labels
        selector = json_copy(d["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH_LABEL] = pod_template_hash
        name = f"{d['metadata']['name']}-{pod_template_hash}"  # deterministic, so creation is idempotent
        new_rs = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels),
                         "ownerReferences": [controller_ref(d, self.api_version, self.kind)]},
            "spec": {"replicas": 0, "minReadySeconds": d["spec"].get("minReadySeconds") or 0,
                     "selector": selector, "template": template},
        }
        new_replicas = new_rs_new_replicas(d, old_rss + [new_rs], new_rs)
        new_rs["spec"]["replicas"] = new_replicas
        set_new_replica_set_annotations(d, new_rs, new_revision, exists=False)
        already_exists = False
        try:
            created = await self.client.create(REPLICASETS, new_rs, namespace)
        except APIError as exc:
            if is_already_exists(exc):
                created = self.replicasets.get(f"{namespace}/{name}")
                if created is None:
                    raise  # not in our cache yet: try again when it is
                if not self._is_our_new_replica_set(d, created):
                    await self._bump_collision_count(d)
                    raise
                already_exists = True
            elif exc.code == 403 and "because it is being terminated" in exc.message:
                raise  # the namespace is going away; nothing to report
            else:
                message = f'Failed to create new replica set "{name}": {exc.message}'
                if has_progress_deadline(d):
                    set_condition(status, new_condition(PROGRESSING, "False", FAILED_RS_CREATE, message,
                                                        self.clock.now()))
                    try:
                        await self._update_status(d)
                    except APIError:
                        pass  # the failure to create is the bigger problem; it is reported below
                self.record(d, "Warning", FAILED_RS_CREATE, message)
                raise
        if not already_exists and new_replicas > 0:
            self.record(d, "Normal", "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {new_replicas}")
        revision_changed = set_deployment_revision(d, new_revision)
        status_changed = False
        if not already_exists and has_progress_deadline(d):
            set_condition(status, new_condition(PROGRESSING, "True", NEW_REPLICA_SET,
                                                f'Created new replica set "{name}"', self.clock.now()))
            status_changed = True
        await self._write(d, revision=revision_changed, status=status_changed)
        return created

    @staticmethod
    def _is_our_new_replica_set(d: dict, rs: dict) -> bool:
        """After AlreadyExists: ours if we control it and its template is ours (else a hash collision)."""
        ref = controller_of(rs)
        return ref is not None and ref.get("uid") == d["metadata"]["uid"] \
            and equal_ignore_hash(d["spec"].get("template"), (rs.get("spec") or {}).get("template"))

    async def _bump_collision_count(self, d: dict) -> None:
        """A ReplicaSet of that name with another template: hash again with collisionCount + 1."""
        status = d.setdefault("status", {})
        status["collisionCount"] = (status.get("collisionCount") or 0) + 1
        await self._update_status(d)
        log.info("deployment %s: hash collision, collisionCount now %d", key_of(d), status["collisionCount"])

    # --- scaling ---

    async def scale_replica_set(self, rs: dict, new_scale: int, d: dict) -> tuple[bool, dict]:
        """scaleReplicaSet: resize (and refresh the replica annotations); an event when the size changes."""
        size_changes = replicas_of(rs) != new_scale
        desired, maximum = replicas_of(d), replicas_of(d) + max_surge(d)
        if not size_changes and not replicas_annotations_need_update(rs, desired, maximum):
            return False, rs
        old_scale = replicas_of(rs)
        rs_copy = json_copy(rs)
        rs_copy["spec"]["replicas"] = new_scale
        set_replicas_annotations(rs_copy, desired, maximum)
        updated = await self.client.update(REPLICASETS, rs_copy)
        if size_changes:
            direction = "up" if old_scale < new_scale else "down"
            self.record(d, "Normal", "ScalingReplicaSet",
                        f"Scaled {direction} replica set {updated['metadata']['name']} from {old_scale} to {new_scale}")
        return size_changes, updated

    async def scale(self, d: dict, new_rs: dict | None, old_rss: list[dict]) -> tuple[dict | None, list[dict]]:
        """Proportional scaling (sync.go scale); returns the ReplicaSets as written."""
        replicas = replicas_of(d)
        latest = find_active_or_latest(new_rs, old_rss)
        if latest is not None:
            if replicas_of(latest) != replicas:
                _, updated = await self.scale_replica_set(latest, replicas, d)
                new_rs, old_rss = _substitute(new_rs, old_rss, updated)
            return new_rs, old_rss
        if is_saturated(d, new_rs):
            for rs in filter_active(old_rss):
                _, updated = await self.scale_replica_set(rs, 0, d)
                new_rs, old_rss = _substitute(new_rs, old_rss, updated)
            return new_rs, old_rss
        if not is_rolling_update(d):
            return new_rs, old_rss
        active = filter_active(old_rss + [new_rs])
        allowed = replicas + max_surge(d) if replicas > 0 else 0
        to_add = allowed - total_replicas(active)
        # Larger first; among equals newer first when growing (ReplicaSetsBySizeNewer), older first when
        # shrinking (ReplicaSetsBySizeOlder). Two stable sorts: by age, then by size.
        if to_add:
            active.sort(key=by_creation, reverse=to_add > 0)
            active.sort(key=lambda rs: -replicas_of(rs))
        sizes, added = {}, 0
        for rs in active:
            share = proportion(rs, d, to_add, added) if to_add else 0
            sizes[rs["metadata"]["name"]] = replicas_of(rs) + share
            added += share
        for i, rs in enumerate(active):
            name = rs["metadata"]["name"]
            if i == 0 and to_add:  # leftovers go to the largest
                sizes[name] = max(0, sizes[name] + to_add - added)
            _, updated = await self.scale_replica_set(rs, sizes[name], d)
            new_rs, old_rss = _substitute(new_rs, old_rss, updated)
        return new_rs, old_rss

    async def reconcile_new_replica_set(self, all_rss: list[dict | None], new_rs: dict, d: dict
                                        ) -> tuple[bool, dict]:
        replicas = replicas_of(d)
        if replicas_of(new_rs) == replicas:
            return False, new_rs
        if replicas_of(new_rs) > replicas:
            return await self.scale_replica_set(new_rs, replicas, d)
        return await self.scale_replica_set(new_rs, new_rs_new_replicas(d, all_rss, new_rs), d)

    async def reconcile_old_replica_sets(self, old_rss: list[dict], new_rs: dict, d: dict
                                         ) -> tuple[bool, list[dict]]:
        """Scale old ReplicaSets down as far as maxUnavailable allows, unhealthy replicas first."""
        old_active = filter_active(old_rss)
        if total_replicas(old_active) == 0:
            return False, old_rss
        all_pods = total_replicas(old_active + [new_rs])
        min_available = replicas_of(d) - max_unavailable(d)
        new_unavailable = replicas_of(new_rs) - status_of(new_rs, "availableReplicas")
        # Neither the surge already created nor the new ReplicaSet's unavailable pods may be given up.
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False, old_rss
        old_active, cleaned = await self._cleanup_unhealthy_replicas(old_active, d, max_scaled_down)
        old_active, scaled_down = await self._scale_down_old_replica_sets(old_active + [new_rs], old_active, d)
        for rs in old_active:
            _, old_rss = _substitute(None, old_rss, rs)
        return cleaned + scaled_down > 0, old_rss

    async def _cleanup_unhealthy_replicas(self, old_rss: list[dict], d: dict, max_cleanup: int
                                          ) -> tuple[list[dict], int]:
        old_rss = sorted(old_rss, key=by_creation)
        total = 0
        for i, rs in enumerate(old_rss):
            if total >= max_cleanup:
                break
            replicas, available = replicas_of(rs), status_of(rs, "availableReplicas")
            if replicas == 0 or replicas == available:
                continue  # nothing unhealthy here
            count = min(max_cleanup - total, replicas - available)
            _, old_rss[i] = await self.scale_replica_set(rs, replicas - count, d)
            total += count
        return old_rss, total

    async def _scale_down_old_replica_sets(self, all_rss: list[dict], old_rss: list[dict], d: dict
                                           ) -> tuple[list[dict], int]:
        min_available = replicas_of(d) - max_unavailable(d)
        available = total_status(all_rss, "availableReplicas")
        if available <= min_available:
            return old_rss, 0
        old_rss = sorted(old_rss, key=by_creation)
        target, total = available - min_available, 0
        for i, rs in enumerate(old_rss):
            if total >= target:
                break
            if replicas_of(rs) == 0:
                continue
            count = min(replicas_of(rs), target - total)
            _, old_rss[i] = await self.scale_replica_set(rs, replicas_of(rs) - count, d)
            total += count
        return old_rss, total

    async def cleanup_deployment(self, old_rss: list[dict], d: dict) -> None:
        """Delete the oldest scaled-down ReplicaSets beyond revisionHistoryLimit."""
        if not has_revision_history_limit(d):
            return
        cleanable = [rs for rs in old_rss if rs is not None and not rs["metadata"].get("deletionTimestamp")]
        diff = len(cleanable) - d["spec"]["revisionHistoryLimit"]
        if diff <= 0:
            return
        cleanable.sort(key=lambda rs: (revision_of(rs) or 0, by_creation(rs)))
        for rs in cleanable[:diff]:
            if status_of(rs, "replicas") or replicas_of(rs) \
                    or (rs["metadata"].get("generation") or 0) > status_of(rs, "observedGeneration"):
                continue
            try:
                await self.client.delete(REPLICASETS, rs["metadata"]["name"], rs["metadata"]["namespace"])
            except APIError as exc:
                if not is_not_found(exc):
                    raise

    # --- status ---

    async def sync_deployment_status(self, all_rss: list[dict | None], new_rs: dict | None, d: dict) -> None:
        status = calculate_status(all_rss, new_rs, d, self.clock.now())
        if status != (d.get("status") or {}):
            d["status"] = status
            await self._update_status(d)

    async def sync_rollout_status(self, all_rss: list[dict | None], new_rs: dict | None, d: dict) -> None:
        """syncRolloutStatus: status plus the Progressing condition (progress, completion, deadline)."""
        now = self.clock.now()
        status = calculate_status(all_rss, new_rs, d, now)
        if not has_progress_deadline(d):
            remove_condition(status, PROGRESSING)
        current = get_condition(d.get("status") or {}, PROGRESSING)
        complete_before = (status.get("replicas") or 0) == (status.get("updatedReplicas") or 0) \
            and current is not None and current.get("reason") == NEW_RS_AVAILABLE
        if has_progress_deadline(d) and not complete_before:
            self._estimate_progress(d, status, current, new_rs, now)
        failure = self._replica_failure(all_rss, new_rs)
        if failure is not None:
            set_condition(status, failure)
        else:
            remove_condition(status, REPLICA_FAILURE)
        if status == (d.get("status") or {}):
            self._requeue_stuck(d, status, now)
            return
        d["status"] = status
        await self._update_status(d)

    def _estimate_progress(self, d: dict, status: dict, current: dict | None, new_rs: dict | None, now) -> None:
        name = d["metadata"]["name"]
        subject = f'ReplicaSet "{new_rs["metadata"]["name"]}"' if new_rs is not None else f'Deployment "{name}"'
        if deployment_complete(d, status):
            set_condition(status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE,
                                                f"{subject} has successfully progressed.", now))
        elif deployment_progressing(d, status):
            condition = new_condition(PROGRESSING, "True", REPLICA_SET_UPDATED, f"{subject} is progressing.", now)
            # Same reason, new lastUpdateTime: progress moves the deadline even when nothing else changes.
            if current is not None:
                if current.get("status") == "True":
                    condition["lastTransitionTime"] = current.get("lastTransitionTime")
                remove_condition(status, PROGRESSING)
            set_condition(status, condition)
        elif self._timed_out(d, status, now):
            set_condition(status, new_condition(PROGRESSING, "False", TIMED_OUT,
                                                f"{subject} has timed out progressing.", now))

    @staticmethod
    def _timed_out(d: dict, status: dict, now) -> bool:
        """DeploymentTimedOut: no progress reported within progressDeadlineSeconds."""
        if not has_progress_deadline(d):
            return False
        condition = get_condition(status, PROGRESSING)
        if condition is None or condition.get("reason") == NEW_RS_AVAILABLE:
            return False
        if condition.get("reason") == TIMED_OUT:
            return True
        since = parse_time(condition.get("lastUpdateTime"))
        return since is not None and (now - since).total_seconds() > d["spec"]["progressDeadlineSeconds"]

    @staticmethod
    def _replica_failure(all_rss: list[dict | None], new_rs: dict | None) -> dict | None:
        """getReplicaFailures: a ReplicaSet's ReplicaFailure condition, the new one's first."""
        for rs in ([new_rs] if new_rs is not None else []) + [rs for rs in all_rss if rs is not None]:
            for c in (rs.get("status") or {}).get("conditions") or []:
                if c.get("type") == REPLICA_FAILURE:
                    return {"type": REPLICA_FAILURE, "status": c.get("status"),
                            "lastUpdateTime": c.get("lastTransitionTime"),
                            "lastTransitionTime": c.get("lastTransitionTime"),
                            "reason": c.get("reason"), "message": c.get("message")}
        return None

    def _requeue_stuck(self, d: dict, status: dict, now) -> None:
        """requeueStuckDeployment: come back when the progress deadline would pass."""
        current = get_condition(d.get("status") or {}, PROGRESSING)
        if not has_progress_deadline(d) or current is None:
            return
        if deployment_complete(d, status) or current.get("reason") == TIMED_OUT:
            return
        since = parse_time(current.get("lastUpdateTime"))
        if since is None:
            return
        after = (since - now).total_seconds() + d["spec"]["progressDeadlineSeconds"]
        if after < 1:
            self.queue.add_rate_limited(key_of(d))
        else:
            self.queue.add_after(key_of(d), after + 1)  # a second more, against rounding of timestamps


def _replace(rs_list: list[dict], updated: dict) -> None:
    for i, rs in enumerate(rs_list):
        if rs["metadata"]["uid"] == updated["metadata"]["uid"]:
            rs_list[i] = updated


def _substitute(new_rs: dict | None, old_rss: list[dict], updated: dict) -> tuple[dict | None, list[dict]]:
    """The lists with `updated` in place of the ReplicaSet it is a newer version of."""
    uid = updated["metadata"]["uid"]
    if new_rs is not None and new_rs["metadata"]["uid"] == uid:
        return updated, old_rss
    return new_rs, [updated if rs["metadata"]["uid"] == uid else rs for rs in old_rss]
