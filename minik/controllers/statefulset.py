"""The StatefulSet controller: pods with stable names, storage and order (pkg/controller/statefulset).

Part of the controllers layer. Informers on StatefulSets, Pods, PersistentVolumeClaims and
ControllerRevisions feed the queue; a sync of a StatefulSet, as kube-controller-manager's does:

1. finds the current and update revisions (ControllerRevisions `<set>-<hash>`, created, or renumbered
   on a rollback, as needed); a pod's `controller-revision-hash` label names the revision it was made from;
2. makes sure pods `<set>-0` … `<set>-<replicas-1>` exist, each with labels
   `statefulset.kubernetes.io/pod-name` and `apps.kubernetes.io/pod-index`, hostname = pod name,
   subdomain = `serviceName`, and a PersistentVolumeClaim `<claim>-<set>-<ordinal>` per
   volumeClaimTemplate (created before the pod, left Pending: minik has no provisioner);
   OrderedReady creates ordinal n only when 0..n-1 are Running and Ready, Parallel creates them all;
3. recreates failed or finished pods, deletes pods above `replicas` from the highest ordinal down (one at
   a time, waiting for the others to be healthy, under OrderedReady);
4. RollingUpdate: deletes the highest-ordinal pod not at the update revision, down to `partition`, one at
   a time and only while all are healthy (it is then recreated at the update revision); OnDelete leaves
   that to the user;
5. writes the status (replicas, readyReplicas, currentReplicas, updatedReplicas, availableReplicas,
   currentRevision, updateRevision, collisionCount, observedGeneration) and prunes old revisions.

Events as Kubernetes words them: "create Pod web-0 in StatefulSet web successful" (SuccessfulCreate),
"delete Pod …" (SuccessfulDelete), "create Claim … Pod … in StatefulSet … success".
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from ..api.meta import json_copy
from ..api.errors import APIError
from ..client.informer import controller_uid_index
from ..client.interface import is_already_exists, is_not_found, resource
from .base import Controller
from .podutil import is_pod_available, is_pod_ready, pod_from_template
from .revisions import REVISION_HASH_LABEL, History, new_revision, next_revision_number, with_template

STATEFULSETS = resource("statefulsets", "apps")
PODS = resource("pods")
PVCS = resource("persistentvolumeclaims")
CONTROLLER_REVISIONS = resource("controllerrevisions", "apps")
CONTROLLER_UID_INDEX = "controller-uid"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


# --- identity ---


def parent_and_ordinal(pod: dict) -> tuple[str, int]:
    match = _ORDINAL.match(pod["metadata"].get("name", ""))
    if not match:
        return "", -1
    return match.group(1), int(match.group(2))


def ordinal_of(pod: dict) -> int:
    return parent_and_ordinal(pod)[1]


def pod_name(sts: dict, ordinal: int) -> str:
    return f"{sts['metadata']['name']}-{ordinal}"


def claim_name(sts: dict, claim: dict, ordinal: int) -> str:
    return f"{claim['metadata']['name']}-{sts['metadata']['name']}-{ordinal}"


def pod_revision(pod: dict) -> str:
    return ((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_HASH_LABEL, "")


def is_created(pod: dict) -> bool:
    """Stored by the API (a pod we only plan to create has no phase yet)."""
    return bool((pod.get("status") or {}).get("phase"))


def phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase", "")


def is_terminating(pod: dict) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_running_and_ready(pod: dict) -> bool:
    return phase(pod) == "Running" and is_pod_ready(pod)


def is_healthy(pod: dict) -> bool:
    return is_running_and_ready(pod) and not is_terminating(pod)


def claim_templates(sts: dict) -> list[dict]:
    templates = (sts.get("spec") or {}).get("volumeClaimTemplates") or []
    return [c for c in templates if (c.get("metadata") or {}).get("name")]


def identity_matches(sts: dict, pod: dict) -> bool:
    parent, ordinal = parent_and_ordinal(pod)
    labels = pod["metadata"].get("labels") or {}
    return (ordinal >= 0 and parent == sts["metadata"]["name"]
            and pod["metadata"].get("namespace") == sts["metadata"]["namespace"]
            and labels.get(POD_NAME_LABEL) == pod["metadata"]["name"]
            and labels.get(POD_INDEX_LABEL) == str(ordinal))


def storage_matches(sts: dict, pod: dict) -> bool:
    ordinal = ordinal_of(pod)
    if ordinal < 0:
        return False
    volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []}
    for claim in claim_templates(sts):
        source = (volumes.get(claim["metadata"]["name"]) or {}).get("persistentVolumeClaim") or {}
        if source.get("claimName") != claim_name(sts, claim, ordinal):
            return False
    return True


def update_identity(sts: dict, pod: dict) -> None:
    ordinal = ordinal_of(pod)
    pod["metadata"]["name"] = pod_name(sts, ordinal)
    pod["metadata"]["namespace"] = sts["metadata"]["namespace"]
    labels = pod["metadata"].setdefault("labels", {})
    labels[POD_NAME_LABEL] = pod["metadata"]["name"]
    labels[POD_INDEX_LABEL] = str(ordinal)


def update_storage(sts: dict, pod: dict) -> None:
    """Volumes referencing the pod's claims replace any same-named volumes of the template."""
    ordinal = ordinal_of(pod)
    templates = claim_templates(sts)
    names = {c["metadata"]["name"] for c in templates}
    volumes = [{"name": c["metadata"]["name"],
                "persistentVolumeClaim": {"claimName": claim_name(sts, c, ordinal)}} for c in templates]
    spec = pod.setdefault("spec", {})
    volumes += [v for v in spec.get("volumes") or [] if v.get("name") not in names]
    if volumes:
        spec["volumes"] = volumes


def new_pod(sts: dict, ordinal: int, revision: str) -> dict:
    """newStatefulSetPod + setPodRevision: `sts` carries the template of the wanted revision."""
    pod = pod_from_template(sts["spec"].get("template") or {}, sts, name=pod_name(sts, ordinal))
    update_identity(sts, pod)
    # hostname and subdomain are immutable: set at creation only (initIdentity)
    pod["spec"]["hostname"] = pod["metadata"]["name"]
    if sts["spec"].get("serviceName"):
        pod["spec"]["subdomain"] = sts["spec"]["serviceName"]
    update_storage(sts, pod)
    pod["metadata"]["labels"][REVISION_HASH_LABEL] = revision
    return pod


def claims_for(sts: dict, pod: dict) -> list[dict]:
    """The PersistentVolumeClaims a pod of the set needs (getPersistentVolumeClaims)."""
    ordinal = ordinal_of(pod)
    match_labels = ((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    claims = []
    for template in claim_templates(sts):
        template_meta = template.get("metadata") or {}
        meta = {"name": claim_name(sts, template, ordinal), "namespace": sts["metadata"]["namespace"],
                "labels": {**(template_meta.get("labels") or {}), **match_labels}}
        if template_meta.get("annotations"):
            meta["annotations"] = dict(template_meta["annotations"])
        claims.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
                       "spec": json_copy(template.get("spec") or {})})
    return claims


@dataclass
class SetSync:
    """One sync of a StatefulSet: the set at its current and update revisions, and the status so far."""

    sts: dict
    current: dict  # ControllerRevision
    update: dict  # ControllerRevision
    now: dt.datetime
    status: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.current_set = with_template(self.sts, self.current)
        self.update_set = with_template(self.sts, self.update)

    @property
    def current_name(self) -> str:
        return self.current["metadata"]["name"]

    @property
    def update_name(self) -> str:
        return self.update["metadata"]["name"]

    @property
    def monotonic(self) -> bool:
        """OrderedReady: one pod at a time, each waiting for its predecessors."""
        return self.sts["spec"].get("podManagementPolicy", "OrderedReady") != "Parallel"

    @property
    def min_ready(self) -> int:
        return self.sts["spec"].get("minReadySeconds", 0)

    def count(self, pod: dict, sign: int = 1) -> None:
        """Add (or, sign -1, take away) a pod in the status counters."""
        status = self.status
        status["replicas"] += sign
        if is_running_and_ready(pod):
            status["readyReplicas"] += sign
            if is_pod_available(pod, self.min_ready, self.now):
                status["availableReplicas"] += sign
        if is_created(pod) and not is_terminating(pod):
            status["currentReplicas"] += sign * (pod_revision(pod) == self.current_name)
            status["updatedReplicas"] += sign * (pod_revision(pod) == self.update_name)

    def versioned_pod(self, ordinal: int) -> dict:
        """Ordinals below the partition stay at the current revision (newVersionedStatefulSetPod)."""
        strategy = self.current_set["spec"].get("updateStrategy") or {}
        if strategy.get("type") == "RollingUpdate":
            rolling = strategy.get("rollingUpdate")
            if rolling is None:
                below = ordinal < (self.current_set.get("status") or {}).get("currentReplicas", 0)
            else:
                below = ordinal < (rolling.get("partition") or 0)
            if below:
                return new_pod(self.current_set, ordinal, self.current_name)
        return new_pod(self.update_set, ordinal, self.update_name)


class StatefulSetController(Controller):
    name = "statefulset"

    def setup(self) -> None:
        self.sets = self.informer(STATEFULSETS)
        self.pods = self.informer(PODS, indexers={CONTROLLER_UID_INDEX: controller_uid_index})
        self.claims = self.informer(PVCS)
        self.history = History(self.client, self.informer(CONTROLLER_REVISIONS))
        self.sets.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self.enqueue)
        self.pods.add_handler(self._pod_changed, self._pod_updated, self._pod_changed)

    # --- event handlers ---

    def _owner(self, pod: dict) -> dict | None:
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == "StatefulSet":
                sts = self.sets.get(f"{pod['metadata']['namespace']}/{ref.get('name')}")
                if sts is not None and sts["metadata"]["uid"] == ref.get("uid"):
                    return sts
        return None

    def _pod_changed(self, pod: dict) -> None:
        sts = self._owner(pod)
        if sts is not None:
            self.enqueue(sts)

    def _pod_updated(self, old: dict, new: dict) -> None:
        if old["metadata"].get("ownerReferences") != new["metadata"].get("ownerReferences"):
            self._pod_changed(old)
        self._pod_changed(new)

    # --- reconcile ---

    async def reconcile(self, key: str) -> None:
        cached = self.sets.get(key)
        if cached is None:
            return
        sts = json_copy(cached)
        pods = [p for p in self.pods.indexer.by_index(CONTROLLER_UID_INDEX, sts["metadata"]["uid"])
                if parent_and_ordinal(p)[0] == sts["metadata"]["name"]]
        current, update, collision_count = await self._revisions(sts, self.history.owned(sts))
        sync = SetSync(sts, current, update, self.clock.now())
        error: Exception | None = None
        try:
            await self._update_set(sync, pods, collision_count=collision_count)
        except APIError as exc:
            error = exc
        await self._write_status(sts, sync.status)
        await self._truncate_history(sync, pods, self.history.owned(sts))
        if error is not None:
            raise error

    # --- revisions ---

    async def _revisions(self, sts: dict, revisions: list[dict]) -> tuple[dict, dict, int]:
        """(current revision, update revision, collision count) — getStatefulSetRevisions."""
        collision_count = (sts.get("status") or {}).get("collisionCount") or 0
        labels = dict(((sts["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {})
        candidate = new_revision(sts, next_revision_number(revisions), labels=labels)
        equal = [r for r in revisions if r.get("data") == candidate["data"]]
        if equal and revisions[-1] is equal[-1]:
            update = revisions[-1]  # the template has not changed
        elif equal:
            # A rollback to an earlier template: that revision becomes the newest.
            update = await self.history.set_revision_number(equal[-1], candidate["revision"])
        else:
            update, collision_count = await self.history.create_hashed(candidate, sts["metadata"]["name"],
                                                                       collision_count)
        current_name = (sts.get("status") or {}).get("currentRevision")
        current = next((r for r in revisions if r["metadata"]["name"] == current_name), update)
        return current, update, collision_count

    async def _truncate_history(self, sync: SetSync, pods: list[dict], revisions: list[dict]) -> None:
        """Delete the oldest revisions beyond revisionHistoryLimit that no pod or status refers to."""
        live = {sync.current_name, sync.update_name} | {pod_revision(p) for p in pods}
        history = [r for r in revisions if r["metadata"]["name"] not in live]
        limit = sync.sts["spec"].get("revisionHistoryLimit", 10)
        for revision in history[:max(0, len(history) - limit)]:
            await self.history.delete(revision)

    # --- updateStatefulSet ---

    async def _update_set(self, sync: SetSync, pods: list[dict], *, collision_count: int) -> None:
        """Create, recreate, scale down and roll pods; fills `sync.status` as it goes."""
        sts = sync.sts
        sync.status.update({"observedGeneration": sts["metadata"].get("generation", 0), "replicas": 0,
                            "readyReplicas": 0, "currentReplicas": 0, "updatedReplicas": 0, "availableReplicas": 0,
                            "currentRevision": sync.current_name, "updateRevision": sync.update_name,
                            "collisionCount": collision_count})
        count = sts["spec"].get("replicas", 1)
        replicas: list[dict | None] = [None] * count
        condemned: list[dict] = []
        for pod in pods:
            sync.count(pod)
            ordinal = ordinal_of(pod)
            if 0 <= ordinal < count:
                replicas[ordinal] = pod
            elif ordinal >= count:
                condemned.append(pod)
        for ordinal in range(count):
            if replicas[ordinal] is None:
                replicas[ordinal] = sync.versioned_pod(ordinal)
        condemned.sort(key=ordinal_of)
        unhealthy = [p for p in replicas + condemned if not is_healthy(p)]
        first_unhealthy = min(unhealthy, key=ordinal_of) if unhealthy else None
        if sts["metadata"].get("deletionTimestamp"):
            return
        if await self._process_replicas(sync, replicas):
            return
        if await self._scale_down(sync, condemned, first_unhealthy):
            return
        if (sts["spec"].get("updateStrategy") or {}).get("type") == "OnDelete":
            return
        await self._rolling_update(sync, replicas)

    async def _process_replicas(self, sync: SetSync, replicas: list[dict]) -> bool:
        """Bring each ordinal in [0, replicas) to a healthy pod; True when it must wait for progress."""
        sts, status = sync.sts, sync.status
        for i, pod in enumerate(replicas):
            if phase(pod) in ("Failed", "Succeeded") and not is_terminating(pod):
                self._record_recreate(sts, pod)
                await self._delete_pod(sts, pod)
                sync.count(pod, -1)
                pod = replicas[i] = sync.versioned_pod(i)
            if not is_created(pod):
                await self._create_pod(sts, pod)
                status["replicas"] += 1
                status["currentReplicas"] += pod_revision(pod) == sync.current_name
                status["updatedReplicas"] += pod_revision(pod) == sync.update_name
                if sync.monotonic:
                    return True  # one pod at a time: the next waits for this one to be Running and Ready
                continue
            if sync.monotonic and (is_terminating(pod) or not is_running_and_ready(pod)):
                return True
            if sync.monotonic and sync.min_ready and not is_pod_available(pod, sync.min_ready, sync.now):
                self.enqueue_after(sts, sync.min_ready)
                return True
            if not (identity_matches(sts, pod) and storage_matches(sts, pod)):
                await self._update_pod(sync.update_set, json_copy(pod))
        return False

    def _record_recreate(self, sts: dict, pod: dict) -> None:
        where = f"StatefulSet {sts['metadata']['namespace']}/{sts['metadata']['name']}"
        if phase(pod) == "Failed":
            self.record(sts, "Warning", "RecreatingFailedPod",
                        f"{where} is recreating failed Pod {pod['metadata']['name']}")
        else:
            self.record(sts, "Normal", "RecreatingTerminatedPod",
                        f"{where} is recreating terminated Pod {pod['metadata']['name']}")

    async def _scale_down(self, sync: SetSync, condemned: list[dict], first_unhealthy: dict | None) -> bool:
        """Delete pods above `replicas`, highest ordinal first; True when it must wait."""
        status = sync.status
        for pod in reversed(condemned):
            if is_terminating(pod):
                if sync.monotonic:
                    return True
                continue
            if sync.monotonic and not is_running_and_ready(pod) and pod is not first_unhealthy:
                return True  # under OrderedReady the others must be healthy first
            await self._delete_pod(sync.sts, pod)
            status["currentReplicas"] -= pod_revision(pod) == sync.current_name
            status["updatedReplicas"] -= pod_revision(pod) == sync.update_name
            if sync.monotonic:
                return True
        return False

    async def _rolling_update(self, sync: SetSync, replicas: list[dict]) -> None:
        """Replace the highest-ordinal pod not at the update revision, down to the partition."""
        rolling = (sync.sts["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}
        partition = rolling.get("partition") or 0
        for pod in reversed(replicas[partition:]):
            if pod_revision(pod) != sync.update_name and not is_terminating(pod):
                await self._delete_pod(sync.sts, pod)
                sync.status["currentReplicas"] -= 1
                return
            if not is_healthy(pod):
                return  # wait for the pod just replaced before touching the next one

    # --- pod and claim writes ---

    async def _create_pod(self, sts: dict, pod: dict) -> None:
        await self._create_claims(sts, pod)
        try:
            await self.client.create(PODS, pod, sts["metadata"]["namespace"])
        except APIError as exc:
            if not is_already_exists(exc):  # already there: our cache is behind, nothing to report
                self._record_pod(sts, "create", pod, error=exc)
            raise
        self._record_pod(sts, "create", pod)

    async def _create_claims(self, sts: dict, pod: dict) -> None:
        for claim in claims_for(sts, pod):
            meta = claim["metadata"]
            existing = self.claims.get(f"{meta['namespace']}/{meta['name']}")
            if existing is not None:
                if existing["metadata"].get("deletionTimestamp"):
                    raise APIError(409, "Conflict", f"pvc {meta['name']} is being deleted")
                continue
            try:
                await self.client.create(PVCS, claim, meta["namespace"])
            except APIError as exc:
                if is_already_exists(exc):
                    continue
                self.record(sts, "Warning", "FailedCreate", f"create Claim {meta['name']} for Pod "
                            f"{pod['metadata']['name']} in StatefulSet {sts['metadata']['name']} failed error: "
                            f"{exc.message}")
                raise
            self.record(sts, "Normal", "SuccessfulCreate", f"create Claim {meta['name']} Pod "
                        f"{pod['metadata']['name']} in StatefulSet {sts['metadata']['name']} success")

    async def _update_pod(self, sts: dict, pod: dict) -> None:
        """Restore a pod's identity labels and claims (UpdateStatefulPod)."""
        if not storage_matches(sts, pod):
            update_storage(sts, pod)
            await self._create_claims(sts, pod)
        update_identity(sts, pod)
        try:
            await self.client.update(PODS, pod)
        except APIError as exc:
            self._record_pod(sts, "update", pod, error=exc)
            raise
        self._record_pod(sts, "update", pod)

    async def _delete_pod(self, sts: dict, pod: dict) -> None:
        meta = pod["metadata"]
        try:
            await self.client.delete(PODS, meta["name"], meta["namespace"], preconditions={"uid": meta["uid"]})
        except APIError as exc:
            if is_not_found(exc):
                return
            self._record_pod(sts, "delete", pod, error=exc)
            raise
        self._record_pod(sts, "delete", pod)

    def _record_pod(self, sts: dict, verb: str, pod: dict, *, error: APIError | None = None) -> None:
        name, owner = pod["metadata"]["name"], sts["metadata"]["name"]
        if error is None:
            self.record(sts, "Normal", f"Successful{verb.title()}",
                        f"{verb} Pod {name} in StatefulSet {owner} successful")
        else:
            self.record(sts, "Warning", f"Failed{verb.title()}",
                        f"{verb} Pod {name} in StatefulSet {owner} failed error: {error.message}")

    # --- status ---

    async def _write_status(self, sts: dict, status: dict) -> None:
        if not status:
            return
        if ((sts["spec"].get("updateStrategy") or {}).get("type") == "RollingUpdate"
                and status["updatedReplicas"] == status["replicas"]
                and status["readyReplicas"] == status["replicas"]):
            # The rollout is complete: the update revision becomes current (completeRollingUpdate).
            status["currentReplicas"] = status["updatedReplicas"]
            status["currentRevision"] = status["updateRevision"]
        wanted = {**(sts.get("status") or {}), **status}
        for optional in ("readyReplicas", "currentReplicas", "updatedReplicas"):
            if not wanted.get(optional):
                wanted.pop(optional, None)  # omitempty, as Kubernetes serializes them
        if wanted != (sts.get("status") or {}):
            sts["status"] = wanted
            await self.client.update(STATEFULSETS, sts, subresource="status")
        min_ready = sts["spec"].get("minReadySeconds", 0)
        if min_ready and status["readyReplicas"] != status["availableReplicas"]:
            self.enqueue_after(sts, min_ready)
