"""The simpler core/v1 kinds: nodes, config maps, secrets, service accounts, events, endpoints, quotas,
limit ranges, persistent volume claims.

Part of the registry layer. Each strategy states only how its kind differs from the generic pipeline.
"""

from __future__ import annotations

import base64
import binascii

from ...api import validation as v
from ..strategy import Strategy

DATA_KEY_MESSAGE = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"


def _config_key_causes(data: object, path: str) -> list[v.Cause]:
    if data is None:
        return []
    if not isinstance(data, dict):
        return [v.type_invalid(path, data, "must be a map of strings")]
    causes = []
    for key in data:
        if not key or len(key) > 253 or not all(c.isalnum() or c in "-_." for c in key) or key in (".", ".."):
            causes.append(v.invalid(f"{path}[{key}]", key, DATA_KEY_MESSAGE + " (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"))
    return causes


class NodeStrategy(Strategy):
    field_labels = ("spec.unschedulable",)

    def prepare_for_create(self, obj: dict) -> None:
        pass  # a node registers itself with its status (Kubernetes allows status on node create)

    def selectable_fields(self, obj: dict) -> dict[str, str]:
        fields = super().selectable_fields(obj)
        fields["spec.unschedulable"] = "true" if (obj.get("spec") or {}).get("unschedulable") else "false"
        return fields

    def validate(self, obj: dict) -> list[v.Cause]:
        causes = []
        for i, taint in enumerate((obj.get("spec") or {}).get("taints") or []):
            if not isinstance(taint, dict) or not taint.get("key"):
                causes.append(v.required(f"spec.taints[{i}].key"))
                continue
            if taint.get("effect") not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
                causes.append(v.not_supported(f"spec.taints[{i}].effect", taint.get("effect"),
                                              ("NoExecute", "NoSchedule", "PreferNoSchedule")))
        return causes


class ConfigMapStrategy(Strategy):
    def validate(self, obj: dict) -> list[v.Cause]:
        causes = _config_key_causes(obj.get("data"), "data") + _config_key_causes(obj.get("binaryData"), "binaryData")
        for key in set(obj.get("data") or {}) & set(obj.get("binaryData") or {}):
            causes.append(v.invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        for key, value in (obj.get("data") or {}).items():
            if not isinstance(value, str):
                causes.append(v.type_invalid(f"data[{key}]", value, "must be a string"))
        return causes


class SecretStrategy(Strategy):
    field_labels = ("type",)

    def prepare_for_create(self, obj: dict) -> None:
        obj.setdefault("type", "Opaque")
        self._fold_string_data(obj)

    def prepare_for_update(self, obj: dict, old: dict) -> None:
        obj.setdefault("type", old.get("type", "Opaque"))
        self._fold_string_data(obj)

    @staticmethod
    def _fold_string_data(obj: dict) -> None:
        """stringData is write-only: it is merged into data (base64) as the apiserver does."""
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            data = obj.setdefault("data", {})
            for key, value in string_data.items():
                if isinstance(value, str):
                    data[key] = base64.b64encode(value.encode()).decode()

    def validate(self, obj: dict) -> list[v.Cause]:
        causes = _config_key_causes(obj.get("data"), "data")
        for key, value in (obj.get("data") or {}).items():
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, TypeError, ValueError):
                causes.append(v.invalid(f"data[{key}]", "<secret contents redacted>", "illegal base64 data"))
        return causes

    def validate_update(self, obj: dict, old: dict) -> list[v.Cause]:
        causes = self.validate(obj)
        if old.get("type") != obj.get("type"):
            causes.append(v.invalid("type", obj.get("type"), "field is immutable"))
        if old.get("immutable") and (old.get("data") != obj.get("data") or not obj.get("immutable")):
            causes.append(v.forbidden("data", "field is immutable when `immutable` is set"))
        return causes

    def selectable_fields(self, obj: dict) -> dict[str, str]:
        fields = super().selectable_fields(obj)
        fields["type"] = obj.get("type", "")
        return fields


class EventStrategy(Strategy):
    """core/v1 Events: kubectl describe selects them by involvedObject.*."""

    allow_create_on_update = True
    field_labels = (
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
        "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
        "reason", "reportingComponent", "source", "type",
    )

    def validate(self, obj: dict) -> list[v.Cause]:
        causes = []
        involved = obj.get("involvedObject")
        if not isinstance(involved, dict):
            return [v.required("involvedObject")]
        ns = obj["metadata"].get("namespace")
        if involved.get("namespace") and ns and involved["namespace"] != ns:
            causes.append(v.invalid("involvedObject.namespace", involved["namespace"],
                                    "does not match event.namespace"))
        if obj.get("type") and obj["type"] not in ("Normal", "Warning"):
            causes.append(v.not_supported("type", obj["type"], ("Normal", "Warning")))
        return causes

    def selectable_fields(self, obj: dict) -> dict[str, str]:
        fields = super().selectable_fields(obj)
        involved = obj.get("involvedObject") or {}
        for key in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
            fields[f"involvedObject.{key}"] = str(involved.get(key, ""))
        fields["reason"] = obj.get("reason", "")
        fields["reportingComponent"] = obj.get("reportingComponent", "")
        fields["source"] = (obj.get("source") or {}).get("component", "")
        fields["type"] = obj.get("type", "")
        return fields


class EventsV1Strategy(Strategy):
    """events.k8s.io/v1 Events (the newer shape: regarding/note/reportingController)."""

    allow_create_on_update = True
    field_labels = ("regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "reason", "type")

    def selectable_fields(self, obj: dict) -> dict[str, str]:
        fields = super().selectable_fields(obj)
        regarding = obj.get("regarding") or {}
        for key in ("kind", "namespace", "name", "uid"):
            fields[f"regarding.{key}"] = str(regarding.get(key, ""))
        fields["reason"] = obj.get("reason", "")
        fields["type"] = obj.get("type", "")
        return fields


class EndpointsStrategy(Strategy):
    allow_create_on_update = True


class LeaseStrategy(Strategy):
    allow_create_on_update = True


class ResourceQuotaStrategy(Strategy):
    def validate(self, obj: dict) -> list[v.Cause]:
        return v.resource_list((obj.get("spec") or {}).get("hard"), "spec.hard")


class LimitRangeStrategy(Strategy):
    def validate(self, obj: dict) -> list[v.Cause]:
        causes = []
        for i, limit in enumerate((obj.get("spec") or {}).get("limits") or []):
            kind = (limit or {}).get("type")
            if kind not in ("Container", "Pod", "PersistentVolumeClaim"):
                causes.append(v.not_supported(f"spec.limits[{i}].type", kind, ("Container", "Pod", "PersistentVolumeClaim")))
            for key in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
                causes += v.resource_list((limit or {}).get(key), f"spec.limits[{i}].{key}")
        return causes


class PersistentVolumeClaimStrategy(Strategy):
    def prepare_for_create(self, obj: dict) -> None:
        super().prepare_for_create(obj)
        obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
        obj["status"] = {"phase": "Pending"}

    def validate(self, obj: dict) -> list[v.Cause]:
        spec = obj.get("spec") or {}
        causes = []
        if not spec.get("accessModes"):
            causes.append(v.required("spec.accessModes"))
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        if storage is None:
            causes.append(v.required("spec.resources[storage]"))
        return causes + v.resource_list((spec.get("resources") or {}).get("requests"), "spec.resources.requests")
