"""The Namespace controller: empties a Terminating namespace, then lets the API delete it.

Part of the controllers layer (kube-controller-manager's pkg/controller/namespace and its
deletion.NamespacedResourcesDeleter). Deleting a namespace only marks it (deletionTimestamp, phase
Terminating, the `kubernetes` entry in spec.finalizers holds it). For such a namespace a reconcile
1. discovers every namespaced resource the API serves that can be listed and deleted: the built-in ones
   from the resource table (`minik.api.resources`) and the custom ones from the
   CustomResourceDefinitions listed through the client (each at its storage version, if served);
2. deletes every object of each, one by one with propagationPolicy Background (minik's client has no
   deletecollection), then lists again to see what remains;
3. records the outcome in the namespace's conditions exactly as Kubernetes words them
   (NamespaceDeletionDiscoveryFailure, NamespaceDeletionGroupVersionParsingFailure,
   NamespaceDeletionContentFailure, NamespaceContentRemaining, NamespaceFinalizersRemaining, with their
   "ok" variants when all is well);
4. when nothing remains, removes `kubernetes` from spec.finalizers through PUT namespaces/<name>/finalize,
   after which the API removes the namespace (Kubernetes' two-step deletion).
While content remains it re-checks after half the estimated time (pods' grace periods, 15 s for objects
held by finalizers), as the controller's ResourcesRemainingError does.

`discover_resources` and `custom_resource_infos` are shared with the controllers that work on every
resource kind (garbage collector, resource quota).
"""

from __future__ import annotations

import datetime as dt
import logging

from ..api.meta import format_time, json_copy, parse_time
from ..api.errors import APIError
from ..api.resources import BUILTIN_RESOURCES, ResourceInfo
from ..client.interface import Client, is_conflict, is_not_found, resource
from .base import Controller

log = logging.getLogger(__name__)

NAMESPACES = resource("namespaces")
CRDS = resource("customresourcedefinitions", "apiextensions.k8s.io")
FINALIZER = "kubernetes"
FINALIZER_ESTIMATE_SECONDS = 15  # finalizerEstimateSeconds

CONDITION_TYPES = ("NamespaceDeletionDiscoveryFailure", "NamespaceDeletionGroupVersionParsingFailure",
                   "NamespaceDeletionContentFailure", "NamespaceContentRemaining", "NamespaceFinalizersRemaining")
OK_MESSAGES = {
    "NamespaceDeletionDiscoveryFailure": "All resources successfully discovered",
    "NamespaceDeletionGroupVersionParsingFailure": "All legacy kube types successfully parsed",
    "NamespaceDeletionContentFailure": "All content successfully deleted, may be waiting on finalization",
    "NamespaceContentRemaining": "All content successfully removed",
    "NamespaceFinalizersRemaining": "All content successfully removed",
}
OK_REASONS = {
    "NamespaceDeletionDiscoveryFailure": "ResourcesDiscovered",
    "NamespaceDeletionGroupVersionParsingFailure": "ParsedGroupVersions",
    "NamespaceDeletionContentFailure": "ContentDeleted",
    "NamespaceContentRemaining": "ContentRemoved",
    "NamespaceFinalizersRemaining": "ContentRemoved",
}


# --- discovery (shared) ---


def custom_resource_infos(crd: dict) -> list[ResourceInfo]:
    """The resource a CRD serves, at its preferred version (the storage version when served, else the
    first served one), as discovery would list it."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    served = [v for v in spec.get("versions") or [] if isinstance(v, dict) and v.get("served") and v.get("name")]
    if not served or not spec.get("group") or not names.get("plural") or not names.get("kind"):
        return []
    version = next((v for v in served if v.get("storage")), served[0])
    established = any(c.get("type") == "Established" and c.get("status") == "True"
                      for c in (crd.get("status") or {}).get("conditions") or [])
    if not established or (crd.get("metadata") or {}).get("deletionTimestamp"):
        return []
    return [ResourceInfo(spec["group"], version["name"], names["kind"], names["plural"],
                         spec.get("scope", "Namespaced") == "Namespaced", singular=names.get("singular", ""))]


async def discover_resources(client: Client) -> tuple[list[ResourceInfo], str]:
    """Every resource the API serves (built-in and custom), and a discovery error message ("" if none)."""
    infos = list(BUILTIN_RESOURCES)
    try:
        crds = (await client.list(CRDS)).get("items") or []
    except APIError as exc:
        return infos, f"Discovery failed for some groups, 1 failing: unable to retrieve the complete list of " \
                      f"server APIs: customresourcedefinitions.apiextensions.k8s.io: {exc.message}"
    for crd in crds:
        infos += custom_resource_infos(crd)
    return infos, ""


def gvr_text(info: ResourceInfo) -> str:
    """schema.GroupVersionResource.String(): "apps/v1, Resource=deployments"."""
    return f"{info.group}/{info.version}, Resource={info.plural}"


# --- conditions (deletion/status_condition_utils.go) ---


class ConditionUpdater:
    def __init__(self, now: str):
        self.now = now
        self.conditions: list[dict] = []
        self.content_errors: list[str] = []

    def _add(self, kind: str, reason: str, message: str) -> None:
        self.conditions.append({"type": kind, "status": "True", "lastTransitionTime": self.now,
                                "reason": reason, "message": message})

    def discovery_failed(self, message: str) -> None:
        self._add("NamespaceDeletionDiscoveryFailure", "DiscoveryFailed", message)

    def content_totals(self, remaining: dict[ResourceInfo, int], finalizers: dict[str, int]) -> None:
        if remaining:
            parts = sorted(f"{info.plural}.{info.group} has {n} resource instances" for info, n in remaining.items() if n)
            self._add("NamespaceContentRemaining", "SomeResourcesRemain",
                      f"Some resources are remaining: {', '.join(parts)}")
        if finalizers:
            parts = sorted(f"{name} in {n} resource instances" for name, n in finalizers.items() if n)
            self._add("NamespaceFinalizersRemaining", "SomeFinalizerRemain",
                      f"Some finalizers are remaining: {', '.join(parts)}")

    def update(self, status: dict) -> bool:
        """updateConditions: every maintained type present, "ok" variants where nothing failed."""
        if self.content_errors and not any(c["type"] == "NamespaceDeletionContentFailure" for c in self.conditions):
            messages = sorted(self.content_errors)
            self._add("NamespaceDeletionContentFailure", "ContentDeletionFailed",
                      f"Failed to delete all resource types, {len(messages)} remaining: {', '.join(messages)}")
        existing = status.setdefault("conditions", [])
        changed = False
        for kind in CONDITION_TYPES:
            new = next((c for c in self.conditions if c["type"] == kind), None) or {
                "type": kind, "status": "False", "lastTransitionTime": self.now,
                "reason": OK_REASONS[kind], "message": OK_MESSAGES[kind]}
            old = next((c for c in existing if c.get("type") == kind), None)
            if old is None:
                existing.append(new)
                changed = True
            elif (old.get("status"), old.get("reason"), old.get("message")) != (new["status"], new["reason"], new["message"]):
                if old.get("status") != new["status"]:
                    old["lastTransitionTime"] = self.now
                old.update({"status": new["status"], "reason": new["reason"], "message": new["message"]})
                changed = True
        return changed


# --- the controller ---


class NamespaceController(Controller):
    name = "namespace"
    workers = 2

    def setup(self) -> None:
        self.namespaces = self.informer(NAMESPACES)
        self.namespaces.add_handler(self._changed, lambda old, new: self._changed(new))
        self._failures: dict[str, int] = {}

    def _changed(self, namespace: dict) -> None:
        if namespace["metadata"].get("deletionTimestamp"):
            self.enqueue(namespace)

    async def reconcile(self, key: str) -> None:
        try:
            namespace = await self.client.get(NAMESPACES, key)  # the latest state: others edit it too
        except APIError as exc:
            if is_not_found(exc):
                return
            raise
        if not namespace["metadata"].get("deletionTimestamp"):
            return
        if FINALIZER not in ((namespace.get("spec") or {}).get("finalizers") or []):
            return  # finalized by us already; other finalizers are other controllers' business
        estimate, failed = await self._delete_all_content(namespace)
        if estimate > 0 or failed:
            self._retry(key, estimate)
            return
        self._failures.pop(key, None)
        await self._finalize(key)

    def _retry(self, key: str, estimate: int) -> None:
        if estimate > 0:
            self.queue.add_after(key, estimate / 2)  # ResourcesRemainingError: check again halfway
            return
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        self.queue.add_after(key, min(0.5 * 2 ** failures, 60.0))

    async def _delete_all_content(self, namespace: dict) -> tuple[int, bool]:
        """deleteAllContent: (estimate in seconds, whether something failed)."""
        name = namespace["metadata"]["name"]
        conditions = ConditionUpdater(format_time(self.clock.now()))
        infos, discovery_error = await discover_resources(self.client)
        failed = bool(discovery_error)
        if discovery_error:
            conditions.discovery_failed(discovery_error)
        estimate = 0
        remaining: dict[ResourceInfo, int] = {}
        finalizers: dict[str, int] = {}
        deleted_at = parse_time(namespace["metadata"]["deletionTimestamp"])
        for info in infos:
            if not info.namespaced or not {"list", "delete"} <= set(info.verbs):
                continue
            try:
                gvr_estimate, count, held = await self._delete_resource(info, name, deleted_at)
            except APIError as exc:
                conditions.content_errors.append(exc.message)
                failed = True
                continue
            except _UnexpectedRemains as exc:
                conditions.content_errors.append(str(exc))
                gvr_estimate, count, held = exc.estimate, exc.count, {}
                failed = True
            estimate = max(estimate, gvr_estimate)
            if count:
                remaining[info] = count
                for finalizer, n in held.items():
                    finalizers[finalizer] = finalizers.get(finalizer, 0) + n
        conditions.content_totals(remaining, finalizers)
        await self._write_conditions(namespace, conditions)
        return estimate, failed

    async def _delete_resource(self, info: ResourceInfo, namespace: str,
                               deleted_at: dt.datetime | None) -> tuple[int, int, dict[str, int]]:
        """deleteAllContentForGroupVersionResource: (estimate, objects remaining, finalizer → count)."""
        items = await self._list(info, namespace)
        estimate = self._graceful_estimate(info, items, deleted_at)
        for item in items:
            try:
                await self.client.delete(info, item["metadata"]["name"], namespace, propagation_policy="Background")
            except APIError as exc:
                if not is_not_found(exc) and exc.code != 405:
                    raise
        items = await self._list(info, namespace)
        if not items:
            return 0, 0, {}
        held: dict[str, int] = {}
        for item in items:
            for finalizer in item["metadata"].get("finalizers") or []:
                held[finalizer] = held.get(finalizer, 0) + 1
        if estimate:
            return estimate, len(items), held
        if held:
            return FINALIZER_ESTIMATE_SECONDS, len(items), held
        raise _UnexpectedRemains(f"unexpected items still remain in namespace: {namespace} for gvr: {gvr_text(info)}",
                                 estimate, len(items))

    async def _list(self, info: ResourceInfo, namespace: str) -> list[dict]:
        try:
            return (await self.client.list(info, namespace)).get("items") or []
        except APIError as exc:
            if is_not_found(exc) or exc.code == 405:
                return []  # the resource went away meanwhile (a CRD deleted): nothing to do
            raise

    def _graceful_estimate(self, info: ResourceInfo, items: list[dict], deleted_at: dt.datetime | None) -> int:
        """estimateGracefulTermination: the longest pod grace period, unless it passed since the delete."""
        if info.group or info.plural != "pods":
            return 0
        estimate = 0
        for pod in items:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            grace = pod["metadata"].get("deletionGracePeriodSeconds")
            if grace is None:
                grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds") or 0
            estimate = max(estimate, int(grace))
        if deleted_at is not None and (self.clock.now() - deleted_at).total_seconds() >= estimate:
            return 0
        return estimate

    async def _write_conditions(self, namespace: dict, conditions: ConditionUpdater) -> None:
        updated = json_copy(namespace)
        if conditions.update(updated.setdefault("status", {})):
            try:
                await self.client.update(NAMESPACES, updated, subresource="status")
            except APIError as exc:
                log.debug("could not update conditions of namespace %s: %s", namespace["metadata"]["name"], exc.message)

    async def _finalize(self, name: str) -> None:
        """finalizeNamespace, retried on conflicts: spec.finalizers without `kubernetes`, via /finalize."""
        for _ in range(5):
            try:
                namespace = await self.client.get(NAMESPACES, name)
            except APIError as exc:
                if is_not_found(exc):
                    return
                raise
            finalizers = sorted(set((namespace.get("spec") or {}).get("finalizers") or []) - {FINALIZER})
            namespace.setdefault("spec", {})["finalizers"] = finalizers
            try:
                await self.client.update(NAMESPACES, namespace, subresource="finalize")
                return
            except APIError as exc:
                if is_not_found(exc):
                    return
                if not is_conflict(exc):
                    raise
        raise APIError(409, "Conflict", f"could not finalize namespace {name}: it keeps changing")


class _UnexpectedRemains(Exception):
    def __init__(self, message: str, estimate: int, count: int):
        super().__init__(message)
        self.estimate = estimate
        self.count = count
