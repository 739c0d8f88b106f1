"""The garbage collector: deletes objects whose owners are gone, and runs foreground and orphan deletion.

Part of the controllers layer (kube-controller-manager's pkg/controller/garbagecollector). Where Kubernetes
keeps a graph of ownerReferences built from one monitor (informer) per resource, this controller keeps
the same monitors and asks their caches directly: every informer indexes objects by uid and by owner uid,
so an object's owners and dependents are index lookups.

Monitors (which resources, and why informers): one informer per resource the API serves that can be
listed, watched and deleted, built-in ones (from the resource table) at start and custom ones as their
CustomResourceDefinitions appear (a CRD informer is the discovery; the GC runs those informers itself and
stops them when the CRD goes, since shared informers cannot be stopped). Informers rather than periodic
lists because both directions must be cheap and prompt: an owner's deletion must reach its dependents
at once, and a dependent's disappearance must reach a foreground-deleting owner at once. Events are not
monitored (Kubernetes ignores them too). The informers are metadata-only, as Kubernetes' GC uses
metadata informers: it needs owner references, finalizers and uids, and a full copy of every object of every
kind would multiply the server's memory.

Per object (level-triggered, keyed `group|plural|namespace|name`), as attemptToDeleteItem /
attemptToOrphan do:
- an object being deleted with the `orphan` finalizer: its dependents lose their ownerReferences to it,
  then the finalizer is removed;
- an object being deleted with the `foregroundDeletion` finalizer: its dependents are processed (and so
  deleted); once none with blockOwnerDeletion remains, the finalizer is removed and the API deletes it;
- any other object with ownerReferences: each owner is looked up (cache by uid, else a live GET: absent
  or with another uid means dangling; being deleted in the foreground means "waiting"). With a live owner
  left, dangling and waiting references are removed; otherwise the object is deleted - in the foreground
  when an owner waits for it and it has dependents itself, else honouring its own orphan/foreground
  finalizers, else in the background. Deletes carry uid and resourceVersion preconditions from a fresh
  read, so an object adopted meanwhile is not collected.
References to kinds nothing serves are left alone and looked at again every 30 s (Kubernetes retries
them too). As since Kubernetes 1.20, an owner in another namespace than its namespaced dependent counts as
absent, and a cluster-scoped object naming a namespaced owner is never collected; both get an
OwnerRefInvalidNamespace event. Not done: the cycle breaker for foreground deletion
(unblockOwnerReferences).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections import OrderedDict

from ..api.errors import APIError
from ..api.resources import BUILTIN_RESOURCES, ResourceInfo
from ..client.informer import SharedInformer, owner_uid_index
from ..client.interface import is_conflict, is_not_found
from .base import Controller
from .namespace import CRDS, custom_resource_infos

log = logging.getLogger(__name__)

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
IGNORED_RESOURCES = {("", "events"), ("events.k8s.io", "events")}
OWNER_INDEX = "ownerUID"
UID_INDEX = "uid"
ABSENT_OWNER_CACHE_SIZE = 500
UNKNOWN_KIND_RETRY = 30.0

SOLID, DANGLING, WAITING, UNKNOWN, INVALID = "solid", "dangling", "waiting", "unknown", "invalid"


def uid_index(obj: dict) -> list[str]:
    uid = (obj.get("metadata") or {}).get("uid")
    return [uid] if uid else []


INDEXERS = {OWNER_INDEX: owner_uid_index, UID_INDEX: uid_index}


def owner_refs(obj: dict) -> list[dict]:
    return [r for r in (obj.get("metadata") or {}).get("ownerReferences") or [] if isinstance(r, dict) and r.get("uid")]


def deleting_dependents(obj: dict) -> bool:
    meta = obj.get("metadata") or {}
    return bool(meta.get("deletionTimestamp")) and FOREGROUND in (meta.get("finalizers") or [])


def api_group(api_version: str) -> str:
    group, _, _ = (api_version or "").rpartition("/")
    return group


@dataclasses.dataclass
class Monitor:
    info: ResourceInfo
    informer: SharedInformer
    task: asyncio.Task | None = None  # custom resources: the GC runs (and stops) their informers itself


class GarbageCollector(Controller):
    name = "garbagecollector"
    workers = 4

    @property
    def event_source(self) -> str:
        return "garbage-collector-controller"

    def setup(self) -> None:
        self._monitors: dict[tuple[str, str], Monitor] = {}
        self._by_kind: dict[tuple[str, str], Monitor] = {}
        self._absent: OrderedDict[str, None] = OrderedDict()  # absentOwnerCache: uids known not to exist
        for info in BUILTIN_RESOURCES:
            if (info.group, info.plural) in IGNORED_RESOURCES or not {"list", "watch", "delete"} <= set(info.verbs):
                continue
            self._add_monitor(info, self.informer(info, indexers=INDEXERS, metadata_only=True))
        crds = self.informer(CRDS)
        crds.add_handler(self._crd_changed, lambda old, new: self._crd_changed(new), self._crd_deleted)

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            tasks = [m.task for m in self._monitors.values() if m.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- monitors ---

    def _add_monitor(self, info: ResourceInfo, informer: SharedInformer, task: asyncio.Task | None = None) -> None:
        monitor = Monitor(info, informer, task)
        self._monitors[(info.group, info.plural)] = monitor
        self._by_kind[(info.group, info.kind)] = monitor
        informer.add_handler(functools.partial(self._added, monitor), functools.partial(self._updated, monitor),
                             functools.partial(self._deleted, monitor))

    def _crd_changed(self, crd: dict) -> None:
        infos = custom_resource_infos(crd)
        if not infos:
            self._crd_deleted(crd)
            return
        for info in infos:
            existing = self._monitors.get((info.group, info.plural))
            if existing is not None and existing.info == info:
                continue
            if existing is not None:
                self._stop(existing)
            informer = SharedInformer(self.client, info, clock=self.clock, indexers=INDEXERS, metadata_only=True)
            task = asyncio.get_running_loop().create_task(informer.run(), name=f"gc-monitor:{info.group_resource}")
            self._add_monitor(info, informer, task)

    def _crd_deleted(self, crd: dict) -> None:
        spec = crd.get("spec") or {}
        monitor = self._monitors.get((spec.get("group", ""), (spec.get("names") or {}).get("plural", "")))
        if monitor is not None and monitor.task is not None:
            # Its objects are gone with it: give their dependents a look before the monitor goes.
            for obj in monitor.informer.list():
                self._enqueue_dependents(obj["metadata"].get("uid", ""))
            self._stop(monitor)

    def _stop(self, monitor: Monitor) -> None:
        info = monitor.info
        if self._monitors.get((info.group, info.plural)) is monitor:
            del self._monitors[(info.group, info.plural)]
        if self._by_kind.get((info.group, info.kind)) is monitor:
            del self._by_kind[(info.group, info.kind)]
        if monitor.task is not None:
            monitor.task.cancel()

    def _synced(self) -> bool:
        return all(m.informer.has_synced for m in self._monitors.values())

    # --- handlers (the graph builder's events) ---

    def _key(self, monitor: Monitor, obj: dict) -> str:
        meta = obj.get("metadata") or {}
        return f"{monitor.info.group}|{monitor.info.plural}|{meta.get('namespace', '')}|{meta.get('name', '')}"

    def _enqueue_obj(self, monitor: Monitor, obj: dict) -> None:
        self.queue.add(self._key(monitor, obj))

    def _added(self, monitor: Monitor, obj: dict) -> None:
        self._enqueue_obj(monitor, obj)

    def _updated(self, monitor: Monitor, old: dict, new: dict) -> None:
        self._enqueue_obj(monitor, new)
        for ref in owner_refs(old) + owner_refs(new):
            self._enqueue_owner_if_waiting(ref)

    def _deleted(self, monitor: Monitor, obj: dict) -> None:
        uid = (obj.get("metadata") or {}).get("uid", "")
        self._remember_absent(uid)
        self._enqueue_dependents(uid)
        for ref in owner_refs(obj):
            self._enqueue_owner_if_waiting(ref)

    def _enqueue_dependents(self, uid: str) -> None:
        for monitor, dependent in self._dependents(uid):
            self._enqueue_obj(monitor, dependent)

    def _enqueue_owner_if_waiting(self, ref: dict) -> None:
        monitor = self._by_kind.get((api_group(ref.get("apiVersion", "")), ref.get("kind", "")))
        if monitor is None:
            return
        for owner in monitor.informer.indexer.by_index(UID_INDEX, ref["uid"]):
            if deleting_dependents(owner):
                self._enqueue_obj(monitor, owner)

    # --- lookups ---

    def _dependents(self, uid: str) -> list[tuple[Monitor, dict]]:
        if not uid:
            return []
        return [(m, d) for m in list(self._monitors.values()) for d in m.informer.indexer.by_index(OWNER_INDEX, uid)]

    def _remember_absent(self, uid: str) -> None:
        if uid:
            self._absent[uid] = None
            self._absent.move_to_end(uid)
            while len(self._absent) > ABSENT_OWNER_CACHE_SIZE:
                self._absent.popitem(last=False)

    async def _owner_state(self, monitor: Monitor, obj: dict, ref: dict) -> str:
        """isDangling + classifyReferences for one ownerReference."""
        uid = ref["uid"]
        if uid in self._absent:
            return DANGLING
        owner_monitor = self._by_kind.get((api_group(ref.get("apiVersion", "")), ref.get("kind", "")))
        if owner_monitor is None:
            return UNKNOWN
        owner_info = owner_monitor.info
        namespace = (obj.get("metadata") or {}).get("namespace", "")
        if owner_info.namespaced and not monitor.info.namespaced:
            # A cluster-scoped object cannot be owned by a namespaced one: unresolvable, never collected.
            self._invalid_namespace(obj, ref)
            return INVALID
        cached = owner_monitor.informer.indexer.by_index(UID_INDEX, uid)
        owner = cached[0] if cached else None
        if owner is not None and owner_info.namespaced and owner["metadata"].get("namespace") != namespace:
            # An owner in another namespace counts as absent (it is not where the reference points).
            self._invalid_namespace(obj, ref)
            return DANGLING
        if owner is None:
            namespace = namespace if owner_info.namespaced else ""
            try:
                owner = await self.client.get(owner_info, ref.get("name", ""), namespace)
            except APIError as exc:
                if not is_not_found(exc):
                    raise
                owner = None
            if owner is None or owner["metadata"].get("uid") != uid:
                self._remember_absent(uid)
                return DANGLING
        return WAITING if deleting_dependents(owner) else SOLID

    def _invalid_namespace(self, obj: dict, ref: dict) -> None:
        namespace = (obj.get("metadata") or {}).get("namespace", "")
        reference = (f"[{ref.get('apiVersion', '')}/{ref.get('kind', '')}, namespace: {namespace}, "
                     f"name: {ref.get('name', '')}, uid: {ref['uid']}]")
        self.record(obj, "Warning", "OwnerRefInvalidNamespace",
                    f'ownerRef {reference} does not exist in namespace "{namespace}"')

    # --- reconcile ---

    async def reconcile(self, key: str) -> None:
        group, plural, namespace, name = key.split("|", 3)
        monitor = self._monitors.get((group, plural))
        if monitor is None:
            return
        obj = monitor.informer.get(f"{namespace}/{name}" if namespace else name)
        if obj is None:
            return
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            finalizers = meta.get("finalizers") or []
            if ORPHAN in finalizers:
                await self._orphan_dependents(monitor, obj, key)
            elif FOREGROUND in finalizers:
                await self._process_deleting_dependents(monitor, obj, key)
            return  # otherwise being deleted is a one-way trip: its dependents are seen to when it is gone
        refs = owner_refs(obj)
        if refs:
            await self._attempt_to_delete(monitor, obj, refs=refs, key=key)

    async def _attempt_to_delete(self, monitor: Monitor, obj: dict, *, refs: list[dict], key: str) -> None:
        states = {ref["uid"]: await self._owner_state(monitor, obj, ref) for ref in refs}
        if UNKNOWN in states.values():
            self.queue.add_after(key, UNKNOWN_KIND_RETRY)
        solid = [uid for uid, state in states.items() if state in (SOLID, UNKNOWN, INVALID)]
        stale = {uid for uid, state in states.items() if state in (DANGLING, WAITING)}
        if solid:
            if stale:
                # A live owner keeps it; references to gone or foreground-deleting owners must go, or
                # those owners would wait for it forever.
                await self._remove_owner_refs(monitor, obj, stale)
            return
        meta = obj["metadata"]
        finalizers = meta.get("finalizers") or []
        if WAITING in states.values() and self._dependents(meta.get("uid", "")):
            policy = "Foreground"
        elif ORPHAN in finalizers:
            policy = "Orphan"
        elif FOREGROUND in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        await self._delete(monitor, obj, policy)

    async def _process_deleting_dependents(self, monitor: Monitor, owner: dict, key: str) -> None:
        if not self._synced():
            self.queue.add_after(key, 1.0)
            return
        uid = owner["metadata"].get("uid", "")
        dependents = self._dependents(uid)
        blocking = [d for _, d in dependents
                    if any(r["uid"] == uid and r.get("blockOwnerDeletion") for r in owner_refs(d))]
        if not blocking:
            await self._remove_finalizer(monitor, owner, FOREGROUND)
            return
        for dep_monitor, dependent in dependents:
            if not deleting_dependents(dependent):
                self._enqueue_obj(dep_monitor, dependent)

    async def _orphan_dependents(self, monitor: Monitor, owner: dict, key: str) -> None:
        if not self._synced():
            self.queue.add_after(key, 1.0)
            return
        uid = owner["metadata"].get("uid", "")
        for dep_monitor, dependent in self._dependents(uid):
            await self._remove_owner_refs(dep_monitor, dependent, {uid})
        await self._remove_finalizer(monitor, owner, ORPHAN)

    # --- writes ---

    async def _delete(self, monitor: Monitor, obj: dict, policy: str) -> None:
        meta = obj["metadata"]
        info, namespace, name = monitor.info, meta.get("namespace", ""), meta["name"]
        try:
            live = await self.client.get(info, name, namespace)
        except APIError as exc:
            if is_not_found(exc):
                return
            raise
        if live["metadata"].get("uid") != meta.get("uid") or live["metadata"].get("resourceVersion") != meta.get("resourceVersion"):
            return  # the cache is behind: the newer version's event brings the object back here
        log.debug("garbage collecting %s %s/%s (%s)", info.group_resource, namespace, name, policy)
        try:
            await self.client.delete(info, name, namespace, propagation_policy=policy,
                                     preconditions={"uid": meta.get("uid", ""),
                                                    "resourceVersion": meta.get("resourceVersion", "")})
        except APIError as exc:
            if not is_not_found(exc) and not is_conflict(exc):
                raise

    async def _remove_owner_refs(self, monitor: Monitor, obj: dict, uids: set[str]) -> None:
        def mutate(live: dict) -> bool:
            refs = live["metadata"].get("ownerReferences") or []
            kept = [r for r in refs if r.get("uid") not in uids]
            if len(kept) == len(refs):
                return False
            if kept:
                live["metadata"]["ownerReferences"] = kept
            else:
                live["metadata"].pop("ownerReferences")
            return True

        await self._mutate(monitor.info, obj, mutate)

    async def _remove_finalizer(self, monitor: Monitor, obj: dict, finalizer: str) -> None:
        def mutate(live: dict) -> bool:
            finalizers = live["metadata"].get("finalizers") or []
            if finalizer not in finalizers:
                return False
            live["metadata"]["finalizers"] = [f for f in finalizers if f != finalizer]
            return True

        await self._mutate(monitor.info, obj, mutate)

    async def _mutate(self, info: ResourceInfo, obj: dict, mutate) -> None:
        """Read, change, write back (with the read's resourceVersion), retried on conflicts."""
        meta = obj["metadata"]
        for _ in range(5):
            try:
                live = await self.client.get(info, meta["name"], meta.get("namespace", ""))
            except APIError as exc:
                if is_not_found(exc):
                    return
                raise
            if live["metadata"].get("uid") != meta.get("uid") or not mutate(live):
                return
            try:
                await self.client.update(info, live)
                return
            except APIError as exc:
                if is_not_found(exc):
                    return
                if not is_conflict(exc):
                    raise
        raise APIError(409, "Conflict", f"{info.group_resource} {meta['name']} keeps changing")
