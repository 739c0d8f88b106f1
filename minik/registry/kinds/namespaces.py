"""Namespaces: the `kubernetes` finalizer, Terminating phase, and the /finalize subresource.

Part of the registry layer. Deleting a namespace only marks it Terminating; the namespace controller
empties it and then removes the `kubernetes` entry of `spec.finalizers` through /finalize, after which the
namespace goes (Kubernetes' two-step namespace deletion).
"""

from __future__ import annotations


from ...api.meta import json_copy
from ...api import validation as v
from ..strategy import Strategy

NAME_LABEL = "kubernetes.io/metadata.name"


class NamespaceStrategy(Strategy):
    field_labels = ("status.phase",)

    def validate_name(self, name: str) -> list[str]:
        return v.dns1123_label(name)

    def prepare_for_create(self, obj: dict) -> None:
        spec = obj.setdefault("spec", {})
        finalizers = spec.get("finalizers") or []
        if "kubernetes" not in finalizers:
            finalizers = finalizers + ["kubernetes"]
        spec["finalizers"] = finalizers
        obj["status"] = {"phase": "Active"}
        self._label(obj)

    def _label(self, obj: dict) -> None:
        # Since Kubernetes 1.21 every namespace carries its own name as a label (for namespaceSelectors).
        meta = obj["metadata"]
        if meta.get("name"):
            meta.setdefault("labels", {})[NAME_LABEL] = meta["name"]

    def prepare_for_update(self, obj: dict, old: dict) -> None:
        super().prepare_for_update(obj, old)
        obj["spec"] = json_copy(old.get("spec") or {})  # only /finalize changes spec.finalizers
        self._label(obj)

    def prepare_for_subresource(self, subresource: str, obj: dict, old: dict) -> None:
        if subresource == "finalize":
            finalizers = (obj.get("spec") or {}).get("finalizers") or []
            obj.clear()
            obj.update(json_copy(old))
            obj.setdefault("spec", {})["finalizers"] = finalizers
            return
        super().prepare_for_subresource(subresource, obj, old)

    def validate(self, obj: dict) -> list[v.Cause]:
        causes = []
        for i, name in enumerate((obj.get("spec") or {}).get("finalizers") or []):
            if name != "kubernetes":
                causes += [v.invalid(f"spec.finalizers[{i}]", name, m) for m in v.qualified_name(name)]
        return causes

    def blocks_removal(self, obj: dict) -> bool:
        return bool((obj.get("spec") or {}).get("finalizers"))

    def prepare_for_delete(self, obj: dict) -> None:
        obj.setdefault("status", {})["phase"] = "Terminating"

    def selectable_fields(self, obj: dict) -> dict[str, str]:
        fields = super().selectable_fields(obj)
        fields["status.phase"] = (obj.get("status") or {}).get("phase", "")
        return fields
