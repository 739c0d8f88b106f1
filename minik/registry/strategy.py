"""Strategy: what differs between kinds inside the one generic registry pipeline.

Part of the registry layer (storage → **registry** → API). `GenericStore` runs the same pipeline for every
kind and calls the strategy at fixed points, as Kubernetes' generic registry does:

    create: prepare_for_create → before_create (async: allocations) → (admission) → validate → store
            → after_create
    update: prepare_for_update (main resource keeps status) or prepare_for_subresource (/status keeps
            everything but status; /finalize, /binding ...) → before_update → validate_update → store
            → after_update
    delete: graceful_period and blocks_removal decide whether the object lingers with a
            deletionTimestamp (prepare_for_delete marks it) → store → after_delete

A strategy never touches storage; it mutates the object it is handed (prepare_*) or returns causes
(validate*). Defaults here suit most kinds; `minik.registry.kinds.<kind>` overrides what differs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..api.meta import json_copy
from ..api import validation as v
from ..api.resources import ResourceInfo
from ..api.selectors import label_selector_from_dict, SelectorError

if TYPE_CHECKING:
    from .registry import Registry


class Strategy:
    # metadata.generation counts spec changes (kinds with a spec that controllers act on)
    tracks_generation = False
    # PUT on a missing object creates it (Kubernetes allows it for a few kinds, e.g. Endpoints, Leases)
    allow_create_on_update = False
    # DELETE answers the deleted object rather than a Status (Kubernetes: pods)
    return_deleted_object = False
    # field selector labels besides metadata.name / metadata.namespace
    field_labels: tuple[str, ...] = ()

    def __init__(self, info: ResourceInfo, registry: "Registry | None" = None):
        self.info = info
        self.registry = registry
        self.has_status = "status" in info.subresources

    # --- names ---

    def validate_name(self, name: str) -> list[str]:
        return v.dns1123_subdomain(name)

    # --- create ---

    def prepare_for_create(self, obj: dict) -> None:
        """Defaults; a kind with a status subresource starts with an empty status."""
        if self.has_status:
            obj.pop("status", None)

    def validate(self, obj: dict) -> list[v.Cause]:
        return []

    # --- update ---

    def prepare_for_update(self, obj: dict, old: dict) -> None:
        """Writes to the main resource cannot change status when status is its own subresource."""
        if self.has_status:
            if "status" in old:
                obj["status"] = json_copy(old["status"])
            else:
                obj.pop("status", None)

    def prepare_for_subresource(self, subresource: str, obj: dict, old: dict) -> None:
        """A write to a subresource: /status by default; kinds with others override and call super()."""
        if subresource != "status" or not self.has_status:
            from ..api import errors

            raise errors.not_found(self.info, f"{old['metadata']['name']}/{subresource}")
        self.prepare_for_status_update(obj, old)

    def prepare_for_status_update(self, obj: dict, old: dict) -> None:
        """Writes to /status change status (and annotations): everything else comes from the stored object.

        Kubernetes' status strategies reset spec and most metadata but let annotations through (the
        deployment controller records its revision annotation with its status).
        """
        status = obj.get("status")
        new_meta = obj.get("metadata") or {}
        obj.clear()
        obj.update(json_copy(old))
        if status is None:
            obj.pop("status", None)
        else:
            obj["status"] = status
        if "annotations" in new_meta:
            if new_meta["annotations"]:
                obj["metadata"]["annotations"] = new_meta["annotations"]
            else:
                obj["metadata"].pop("annotations", None)
        # metadata.resourceVersion still carries the client's precondition
        if "resourceVersion" in new_meta:
            obj["metadata"]["resourceVersion"] = new_meta["resourceVersion"]

    def validate_update(self, obj: dict, old: dict) -> list[v.Cause]:
        return self.validate(obj)

    def validate_subresource_update(self, subresource: str, obj: dict, old: dict) -> list[v.Cause]:
        return []

    async def before_create(self, obj: dict) -> None:
        """Async preparation that needs other objects (e.g. allocating a Service's cluster IP)."""

    async def before_update(self, obj: dict, old: dict) -> None:
        pass

    def spec_changed(self, obj: dict, old: dict) -> bool:
        """Whether a write changes what `metadata.generation` counts (all but metadata and status)."""
        skip = ("metadata", "status")
        return {k: x for k, x in obj.items() if k not in skip} != {k: x for k, x in old.items() if k not in skip}

    # --- delete ---

    def graceful_period(self, obj: dict, requested: int | None) -> int:
        """Seconds the object lingers with a deletionTimestamp before it goes (0: at once)."""
        return 0

    def blocks_removal(self, obj: dict) -> bool:
        """Kind-specific reasons an object being deleted must stay (namespaces: spec.finalizers)."""
        return False

    def prepare_for_delete(self, obj: dict) -> None:
        """Mark an object whose deletion has started (namespaces: status.phase Terminating)."""

    # --- reads ---

    def selectable_fields(self, obj: dict) -> dict[str, str]:
        meta = obj.get("metadata") or {}
        fields = {"metadata.name": meta.get("name", "")}
        if self.info.namespaced:
            fields["metadata.namespace"] = meta.get("namespace", "")
        return fields

    def supported_field_labels(self) -> tuple[str, ...]:
        base = ("metadata.name", "metadata.namespace") if self.info.namespaced else ("metadata.name",)
        return base + self.field_labels

    # --- scale subresource ---

    def scale_paths(self) -> tuple[str, str, str] | None:
        """(specReplicasPath, statusReplicasPath, labelSelectorPath) in dotted form, or None."""
        if "scale" in self.info.subresources:
            return ("spec.replicas", "status.replicas", "")
        return None

    def scale_selector(self, obj: dict) -> str:
        selector = (obj.get("spec") or {}).get("selector")
        if not isinstance(selector, dict):
            return ""
        try:
            return str(label_selector_from_dict(selector))
        except SelectorError:
            return ""

    # --- hooks (after the write is durable) ---

    async def after_create(self, obj: dict) -> None:
        pass

    async def after_update(self, obj: dict, old: dict) -> None:
        pass

    async def after_delete(self, obj: dict) -> None:
        pass


def get_path(obj: Any, dotted: str) -> Any:
    """`spec.replicas` → obj["spec"]["replicas"] (None when any step is missing)."""
    for part in dotted.split(".") if dotted else ():
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def set_path(obj: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        nxt = obj.get(part)
        if not isinstance(nxt, dict):
            nxt = obj[part] = {}
        obj = nxt
    obj[parts[-1]] = value
