"""The ResourceQuota controller: keeps each quota's status.hard and status.used current.

Part of the controllers layer (kube-controller-manager's pkg/controller/resourcequota). A reconcile of a
quota recalculates its usage (CalculateUsage) with the evaluators the ResourceQuota admission plugin uses
(`minik.registry.admission.quota`): for every entry of spec.hard something counts (pods, count/pods,
cpu, memory, requests.*, limits.*, services, services.nodeports, services.loadbalancers, configmaps,
secrets, persistentvolumeclaims, requests.storage, count/<resource>.<group>), the sum over the
namespace's objects in the quota's scopes, "0" where there are none; it writes status {hard: spec.hard,
used} when that differs from what is stored.

Pods, Services, ConfigMaps, Secrets and PersistentVolumeClaims are read from informers whose events
re-enqueue the namespace's quotas (the replenishment controller's job, done for every change since minik's
admission does not bump status.used itself). Other `count/` resources (any built-in or custom kind) are
counted with a live list, and such quotas are re-synced every `resource_quota_sync_period` seconds
(default 300, --resource-quota-sync-period).
"""

from __future__ import annotations

import logging

from ..api.meta import json_copy
from ..api.errors import APIError
from ..api.resources import BUILTIN_RESOURCES, ResourceInfo
from ..client.interface import is_conflict, is_not_found, resource
from ..registry.admission.quota import (
    ZERO,
    add_lists,
    format_list,
    object_usage,
    parse_list,
    quota_matches,
    resource_of,
)
from .base import Controller
from .namespace import CRDS, custom_resource_infos

log = logging.getLogger(__name__)

RESOURCEQUOTAS = resource("resourcequotas")
WATCHED = ("pods", "services", "configmaps", "secrets", "persistentvolumeclaims")
DEFAULT_SYNC_PERIOD = 300.0


class ResourceQuotaController(Controller):
    name = "resourcequota"
    workers = 2

    def setup(self) -> None:
        self.sync_period = float(self.ctx.settings.get("resource_quota_sync_period", DEFAULT_SYNC_PERIOD))
        self.quotas = self.informer(RESOURCEQUOTAS)
        self.quotas.add_handler(self.enqueue, lambda old, new: self.enqueue(new))
        self.watched = {("", plural): self.informer(resource(plural)) for plural in WATCHED}
        for informer in self.watched.values():
            informer.add_handler(self._changed, lambda old, new: self._changed(new), self._changed)

    def _changed(self, obj: dict) -> None:
        """Replenishment: any change of a counted object re-evaluates its namespace's quotas."""
        namespace = (obj.get("metadata") or {}).get("namespace", "")
        for quota in self.quotas.indexer.by_index("namespace", namespace):
            self.enqueue(quota)

    async def reconcile(self, key: str) -> None:
        quota = self.quotas.get(key)
        if quota is None or quota["metadata"].get("deletionTimestamp"):
            return
        hard = (quota.get("spec") or {}).get("hard") or {}
        used, live = await self._usage(quota, parse_list(hard))
        status = {"hard": dict(hard), "used": format_list(used)}
        if live:
            self.queue.add_after(key, self.sync_period)
        if (quota.get("status") or {}) == status:
            return
        await self._write_status(quota, status)

    async def _usage(self, quota: dict, hard: dict) -> tuple[dict, bool]:
        """Used amounts of the tracked hard entries, and whether some were counted by a live list."""
        namespace = quota["metadata"]["namespace"]
        groups: dict[tuple[str, str], list[str]] = {}
        for name in hard:
            owner = resource_of(name)
            if owner is not None:
                groups.setdefault(owner, []).append(name)
        used: dict = {}
        live = False
        now = self.clock.now()
        for (group, plural), names in groups.items():
            informer = self.watched.get((group, plural))
            if informer is not None:
                objects = informer.indexer.by_index("namespace", namespace)
            else:
                live = True
                objects = await self._list(group, plural, namespace)
                if objects is None:
                    continue  # nothing serves that resource: no evaluator, no usage
            total = {name: ZERO for name in names}
            for obj in objects:
                if quota_matches(quota, obj, group=group, plural=plural):
                    usage = object_usage(group, plural, obj, now=now)
                    total = add_lists(total, {n: q for n, q in usage.items() if n in total})
            used.update(total)
        return used, live

    async def _list(self, group: str, plural: str, namespace: str) -> list[dict] | None:
        info = await self._resolve(group, plural)
        if info is None or not info.namespaced:
            return None
        try:
            return (await self.client.list(info, namespace)).get("items") or []
        except APIError as exc:
            if is_not_found(exc):
                return None
            raise

    async def _resolve(self, group: str, plural: str) -> ResourceInfo | None:
        for info in BUILTIN_RESOURCES:
            if info.group == group and info.plural == plural:
                return info
        if not group:
            return None
        try:
            crd = await self.client.get(CRDS, f"{plural}.{group}")
        except APIError as exc:
            if is_not_found(exc):
                return None
            raise
        infos = custom_resource_infos(crd)
        return infos[0] if infos else None

    async def _write_status(self, quota: dict, status: dict) -> None:
        updated = json_copy(quota)
        for attempt in range(2):
            updated["status"] = status
            try:
                await self.client.update(RESOURCEQUOTAS, updated, subresource="status")
                return
            except APIError as exc:
                if is_not_found(exc):
                    return
                if attempt or not is_conflict(exc):
                    raise
                meta = quota["metadata"]
                updated = await self.client.get(RESOURCEQUOTAS, meta["name"], meta["namespace"])
