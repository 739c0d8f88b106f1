"""Registry: one GenericStore per served resource, plus admission; the only door to storage.

Part of the registry layer (storage → **registry** → API). Built-in resources come from the resource table
and their strategies in `minik.registry.kinds`; custom resources are added and removed as their
CustomResourceDefinitions are written. Admission plugins run inside every write, in order, in the same
pipeline for HTTP and in-process clients (namespace lifecycle here; limit ranges, service accounts,
default tolerations and quota in `minik.registry.admission`).
"""

from __future__ import annotations

import logging
from typing import Protocol

from ..api import errors
from ..api.meta import decode
from ..api.resources import ResourceInfo, ResourceTable
from ..storage import Storage
from .store import Context, GenericStore
from .strategy import Strategy

log = logging.getLogger(__name__)

NAMESPACES = ResourceTable.builtin().lookup("", "v1", "namespaces")
UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public")


class FieldManager(Protocol):
    """Updates `obj`'s metadata.managedFields in place for a write by `manager` (see apiserver.fieldmanager)."""

    def __call__(self, info: ResourceInfo, old: dict | None, obj: dict, *, manager: str, operation: str,
                 subresource: str) -> None: ...


class AdmissionPlugin(Protocol):
    """Mutating (`admit`) and validating (`validate`) admission, as in kube-apiserver.

    `operation` is "create", "update" or "delete"; for delete `obj` is None and `old` the stored object.
    Raise `APIError` to refuse.
    """

    async def admit(self, operation: str, store: GenericStore, obj: dict | None, old: dict | None, ctx: Context) -> None: ...

    async def validate(self, operation: str, store: GenericStore, obj: dict | None, old: dict | None, ctx: Context) -> None: ...


class Registry:
    def __init__(self, storage: Storage, table: ResourceTable | None = None, *,
                 field_manager: "FieldManager | None" = None, service_cidr: str = "10.43.0.0/16",
                 node_port_range: tuple[int, int] = (30000, 32767)):
        from .kinds import strategy_for

        self.storage = storage
        self.service_cidr = service_cidr  # read by the Service strategy's allocators
        self.node_port_range = node_port_range
        self.table = table or ResourceTable.builtin()
        # Server-side field ownership (metadata.managedFields) is the API layer's business; the wiring
        # passes it in so every write, HTTP or in-process, records ownership the same way.
        self.field_manager = field_manager
        self._stores: dict[tuple[str, str, str], GenericStore] = {}
        # kube-apiserver's default admission chain, in its order (ResourceQuota last: it counts what the
        # others let in).
        from .admission import default_plugins

        self.admission: list[AdmissionPlugin] = [NamespaceLifecycle(), *default_plugins()]
        self.listeners: list = []  # called with (info, added: bool) when custom resources come and go
        for info in self.table.all():
            self._stores[(info.group, info.version, info.plural)] = GenericStore(
                info, strategy_for(info, self), storage, self
            )

    # --- lookup ---

    def store(self, group: str, version: str, plural: str) -> GenericStore | None:
        return self._stores.get((group, version, plural))

    def store_for(self, info: ResourceInfo) -> GenericStore:
        return self._stores[(info.group, info.version, info.plural)]

    def store_by_kind(self, api_version: str, kind: str) -> GenericStore | None:
        group, _, version = api_version.rpartition("/")
        info = self.table.by_kind(group, kind)
        if info is None or info.version != version:
            return None
        return self.store_for(info)

    def resources(self) -> list[ResourceInfo]:
        return self.table.all()

    # --- admission ---

    async def admit(self, operation: str, store: GenericStore, obj, old, ctx: Context) -> None:
        for plugin in self.admission:
            await plugin.admit(operation, store, obj, old, ctx)

    async def validate_admission(self, operation: str, store: GenericStore, obj, old, ctx: Context) -> None:
        for plugin in self.admission:
            await plugin.validate(operation, store, obj, old, ctx)

    def record_managed_fields(self, store: GenericStore, old: dict | None, obj: dict, ctx: Context,
                              operation: str, *, subresource: str = "") -> None:
        """Keep metadata.managedFields as Kubernetes does, for writes that are not server-side apply."""
        if ctx.apply:
            return
        if self.field_manager is None or not ctx.field_manager:
            # Without a manager name, ownership stays as it was.
            if old is not None and "managedFields" in old.get("metadata", {}):
                obj["metadata"]["managedFields"] = old["metadata"]["managedFields"]
            return
        self.field_manager(store.info, old, obj, manager=ctx.field_manager, operation=operation,
                           subresource=subresource)

    # --- custom resources ---

    def add_custom_resource(self, info: ResourceInfo, strategy: Strategy) -> None:
        key = (info.group, info.version, info.plural)
        existing = self._stores.get(key)
        if existing is not None and existing.info == info:
            existing.strategy = strategy
            return
        if existing is not None:
            self.table.remove(existing.info)
        self.table.add(info)
        self._stores[key] = GenericStore(info, strategy, self.storage, self)
        for listener in self.listeners:
            listener(info, True)

    def remove_custom_resource(self, info: ResourceInfo) -> None:
        store = self._stores.pop((info.group, info.version, info.plural), None)
        if store is not None:
            self.table.remove(store.info)
            for listener in self.listeners:
                listener(store.info, False)

    async def load_custom_resources(self) -> None:
        """At start: serve the custom resources of every stored CRD."""
        crds = self.store("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        page = await crds.list("")
        for raw in page.items:
            try:
                await crds.strategy.after_create(decode(raw))
            except Exception as exc:  # one broken CRD must not keep the server from starting
                log.error("cannot serve custom resource from a stored CRD: %s", exc)


class NamespaceLifecycle:
    """Namespaced objects need a live namespace; the system namespaces cannot be deleted."""

    async def admit(self, operation, store, obj, old, ctx) -> None:
        pass

    async def validate(self, operation: str, store: GenericStore, obj, old, ctx: Context) -> None:
        info = store.info
        if operation == "delete" and info.plural == "namespaces" and not info.group:
            name = old["metadata"]["name"]
            if name in UNDELETABLE_NAMESPACES:
                raise errors.forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                                       info, name)
            return
        if operation != "create" or not info.namespaced:
            return
        namespace = obj["metadata"]["namespace"]
        kv = await store.storage.get(NAMESPACES.storage_key(None, namespace))
        if kv is None:
            raise errors.not_found(NAMESPACES, namespace)
        ns = decode(kv.value)
        if (ns.get("metadata") or {}).get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            message = (f"unable to create new content in namespace {namespace} because it is being terminated")
            error = errors.forbidden(f'{info.plural} "{obj["metadata"].get("name", "")}" is forbidden: {message}',
                                     info, obj["metadata"].get("name", ""))
            error.details["causes"] = [{"reason": "NamespaceTerminating", "message": message,
                                        "field": "metadata.namespace"}]
            raise error
