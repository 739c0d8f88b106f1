"""CustomResourceDefinitions, and the strategy of the custom resources they define.

Part of the registry layer. Writing a CRD registers (or changes, or removes) its resources in the registry
right after the write is durable, so `kubectl apply -f` of a CRD followed by a custom resource works
without waiting. Custom resources run the same generic pipeline as built-in kinds: their strategy
validates against the version's openAPIV3Schema, prunes unknown fields and applies defaults, as
apiextensions-apiserver does. Deleting a CRD deletes its custom resources.
"""

from __future__ import annotations


from ...api.meta import json_copy
from ...api import schema as openapi_schema, validation as v
from ...api.resources import ResourceInfo
from ...storage import NotFoundError
from ..strategy import Strategy

GROUP = "apiextensions.k8s.io"


def _served_versions(crd: dict) -> list[dict]:
    return [ver for ver in (crd.get("spec") or {}).get("versions") or [] if isinstance(ver, dict) and ver.get("served")]


def storage_version(crd: dict) -> str:
    for ver in (crd.get("spec") or {}).get("versions") or []:
        if isinstance(ver, dict) and ver.get("storage"):
            return ver.get("name", "")
    return ""


def resource_info(crd: dict, version: dict) -> ResourceInfo:
    spec = crd["spec"]
    names = spec["names"]
    subresources = []
    if (version.get("subresources") or {}).get("status") is not None:
        subresources.append("status")
    if (version.get("subresources") or {}).get("scale") is not None:
        subresources.append("scale")
    return ResourceInfo(
        group=spec["group"],
        version=version["name"],
        kind=names["kind"],
        plural=names["plural"],
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        singular=names.get("singular") or names["kind"].lower(),
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        subresources=tuple(subresources),
    )


class CustomResourceDefinitionStrategy(Strategy):
    def prepare_for_create(self, obj: dict) -> None:
        super().prepare_for_create(obj)
        self._defaults(obj)
        obj["status"] = self._status(obj)

    def prepare_for_update(self, obj: dict, old: dict) -> None:
        super().prepare_for_update(obj, old)
        self._defaults(obj)
        status = self._status(obj)
        stored = set((old.get("status") or {}).get("storedVersions") or []) | set(status["storedVersions"])
        status["storedVersions"] = sorted(stored)
        obj["status"] = status

    @staticmethod
    def _defaults(obj: dict) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        spec.setdefault("scope", "Namespaced")
        spec.setdefault("conversion", {"strategy": "None"})
        names = spec.get("names")
        if isinstance(names, dict) and isinstance(names.get("kind"), str):
            names.setdefault("singular", names["kind"].lower())
            names.setdefault("listKind", names["kind"] + "List")

    @staticmethod
    def _status(obj: dict) -> dict:
        # apiextensions-apiserver's naming and establishing controllers, done at write time.
        names = json_copy((obj.get("spec") or {}).get("names") or {})
        conditions = [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": obj["metadata"].get("creationTimestamp")},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted",
             "lastTransitionTime": obj["metadata"].get("creationTimestamp")},
        ]
        version = storage_version(obj)
        return {"acceptedNames": names, "conditions": conditions, "storedVersions": [version] if version else []}

    def validate(self, obj: dict) -> list[v.Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [v.required("spec")]
        causes: list[v.Cause] = []
        group = spec.get("group") or ""
        names = spec.get("names") or {}
        if not group:
            causes.append(v.required("spec.group"))
        elif "." not in group:
            causes.append(v.invalid("spec.group", group, "should be a domain with at least one dot"))
        for key in ("plural", "kind"):
            if not names.get(key):
                causes.append(v.required(f"spec.names.{key}"))
        plural = names.get("plural") or ""
        if plural:
            causes += [v.invalid("spec.names.plural", plural, m) for m in v.dns1035_label(plural)]
        if obj["metadata"].get("name") != f"{plural}.{group}":
            causes.append(v.invalid("metadata.name", obj["metadata"].get("name"),
                                    "must be spec.names.plural+\".\"+spec.group"))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            causes.append(v.not_supported("spec.scope", spec.get("scope"), ("Cluster", "Namespaced")))
        versions = spec.get("versions")
        if not isinstance(versions, list) or not versions:
            return causes + [v.required("spec.versions", "must have exactly one version marked as storage version")]
        storage = [ver for ver in versions if isinstance(ver, dict) and ver.get("storage")]
        if len(storage) != 1:
            causes.append(v.invalid("spec.versions", versions, "must have exactly one version marked as storage version"))
        for i, ver in enumerate(versions):
            path = f"spec.versions[{i}]"
            if not isinstance(ver, dict) or not ver.get("name"):
                causes.append(v.required(f"{path}.name"))
                continue
            schema = (ver.get("schema") or {}).get("openAPIV3Schema")
            if schema is None:
                causes.append(v.required(f"{path}.schema.openAPIV3Schema", "schemas are required"))
            else:
                causes += openapi_schema.validate_schema_definition(schema, f"{path}.schema.openAPIV3Schema")
            for j, column in enumerate(ver.get("additionalPrinterColumns") or []):
                causes += _printer_column_causes(column, f"{path}.additionalPrinterColumns[{j}]")
        if (spec.get("conversion") or {}).get("strategy", "None") != "None":
            causes.append(v.not_supported("spec.conversion.strategy", spec["conversion"]["strategy"], ("None",)))
        return causes

    def validate_update(self, obj: dict, old: dict) -> list[v.Cause]:
        causes = self.validate(obj)
        for key in ("group", "scope"):
            if (obj.get("spec") or {}).get(key) != (old.get("spec") or {}).get(key):
                causes.append(v.invalid(f"spec.{key}", (obj.get("spec") or {}).get(key), "field is immutable"))
        return causes

    # --- serving the custom resources ---

    async def after_create(self, obj: dict) -> None:
        self._serve(obj)

    async def after_update(self, obj: dict, old: dict) -> None:
        served = {ver["name"] for ver in _served_versions(obj)}
        for ver in _served_versions(old):
            if ver["name"] not in served:
                self.registry.remove_custom_resource(resource_info(old, ver))
        self._serve(obj)

    def _serve(self, crd: dict) -> None:
        stored = storage_version(crd)
        for ver in _served_versions(crd):
            info = resource_info(crd, ver)
            self.registry.add_custom_resource(info, CustomResourceStrategy(info, self.registry, ver, stored))

    async def after_delete(self, obj: dict) -> None:
        versions = _served_versions(obj)
        if versions:
            prefix = resource_info(obj, versions[0]).storage_prefix()
            storage = self.registry.storage
            for kv in (await storage.list(prefix)).items:
                try:
                    await storage.delete(kv.key)
                except NotFoundError:  # already gone
                    pass
        for ver in versions:
            self.registry.remove_custom_resource(resource_info(obj, ver))


def _printer_column_causes(column: dict, path: str) -> list[v.Cause]:
    from ...api.jsonpath import JsonPathError, compile_jsonpath

    causes = []
    for key in ("name", "type", "jsonPath"):
        if not (column or {}).get(key):
            causes.append(v.required(f"{path}.{key}"))
    kind = (column or {}).get("type")
    if kind and kind not in ("integer", "number", "string", "boolean", "date"):
        causes.append(v.not_supported(f"{path}.type", kind, ("boolean", "date", "integer", "number", "string")))
    if (column or {}).get("jsonPath"):
        try:
            compile_jsonpath(column["jsonPath"])
        except JsonPathError as exc:
            causes.append(v.invalid(f"{path}.jsonPath", column["jsonPath"], f"must be a simple json path: {exc}"))
    return causes


class CustomResourceStrategy(Strategy):
    tracks_generation = True

    def __init__(self, info: ResourceInfo, registry, version: dict, stored_version: str):
        super().__init__(info, registry)
        self.version = version
        self.schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
        self.storage_api_version = f"{info.group}/{stored_version}"
        scale = (version.get("subresources") or {}).get("scale") or None
        self._scale = scale

    def printer_columns(self) -> list[dict]:
        return self.version.get("additionalPrinterColumns") or []

    def validate_name(self, name: str) -> list[str]:
        return v.dns1123_subdomain(name)

    def _shape(self, obj: dict) -> None:
        pruned = openapi_schema.prune(obj, self.schema)
        defaulted = openapi_schema.default(pruned, self.schema)
        obj.clear()
        obj.update(defaulted)

    def prepare_for_create(self, obj: dict) -> None:
        super().prepare_for_create(obj)
        self._shape(obj)

    def prepare_for_update(self, obj: dict, old: dict) -> None:
        super().prepare_for_update(obj, old)
        self._shape(obj)

    def prepare_for_status_update(self, obj: dict, old: dict) -> None:
        super().prepare_for_status_update(obj, old)
        self._shape(obj)

    def validate(self, obj: dict) -> list[v.Cause]:
        body = {k: x for k, x in obj.items() if k != "metadata"}
        return openapi_schema.validate(body, {**self.schema, "properties": {
            k: x for k, x in (self.schema.get("properties") or {}).items() if k != "metadata"}})

    def validate_subresource_update(self, subresource: str, obj: dict, old: dict) -> list[v.Cause]:
        return self.validate(obj)

    def scale_paths(self) -> tuple[str, str, str] | None:
        if self._scale is None:
            return None
        return tuple(str(self._scale.get(key) or "").lstrip(".") for key in
                     ("specReplicasPath", "statusReplicasPath", "labelSelectorPath"))

    def scale_selector(self, obj: dict) -> str:
        from ..strategy import get_path

        paths = self.scale_paths()
        if not paths or not paths[2]:
            return ""
        value = get_path(obj, paths[2])
        return value if isinstance(value, str) else ""
