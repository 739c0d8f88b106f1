"""The Kubernetes API verbs over the registry, without HTTP: what a request means once it is parsed.

Part of the API layer (storage → registry → **API** → clients). The aiohttp handlers parse a request and
call one of these; the in-process `LocalClient` calls the same functions, so controllers get exactly the
defaulting, validation, admission, patch semantics and field ownership that kubectl gets. This is where
the verbs the registry does not know live: PATCH in its four flavours (JSON patch, merge patch, strategic
merge patch, server-side apply), strict field validation, the scale/binding/eviction subresources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..api.meta import json_copy, now_rfc3339
from ..api import errors, schema as openapi_schema
from ..api.resources import ResourceInfo
from ..registry.registry import Registry
from ..registry.store import Context, DeleteOptions, GenericStore, ListOptions
from ..registry.strategy import get_path, set_path
from . import fieldmanager, patch as patching
from .openapi import OpenAPI, strict_decoding_error, unknown_field_warnings
from .patchmeta import schema_for

JSON = "application/json"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)
FIELD_VALIDATION = ("", "Ignore", "Warn", "Strict")


@dataclass
class WriteOptions:
    """Query parameters every write shares (dryRun, fieldManager, fieldValidation)."""

    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = ""  # "" = Kubernetes' default for the request (Warn)
    warnings: list[str] = field(default_factory=list)  # filled in: sent back as Warning headers
    # In-process callers (controllers) build objects in code, as Go components use typed structs: there
    # are no unknown fields to find, so their writes skip the search (it walks the whole object).
    trusted: bool = False

    @classmethod
    def parse(cls, dry_run: list[str], field_manager: str, field_validation: str) -> "WriteOptions":
        for value in dry_run:
            if value != "All":
                raise errors.bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
        if field_validation not in FIELD_VALIDATION:
            raise errors.bad_request(
                f'fieldValidation: Unsupported value: "{field_validation}": supported values: "Ignore", "Strict", "Warn"'
            )
        if len(field_manager) > 128:
            raise errors.bad_request("fieldManager: Too long: may not be more than 128 bytes")
        return cls(bool(dry_run), field_manager, field_validation)


class Operations:
    def __init__(self, registry: Registry, openapi: OpenAPI):
        self.registry = registry
        self.openapi = openapi

    # --- resolution ---

    def store(self, group: str, version: str, plural: str) -> GenericStore:
        store = self.registry.store(group, version, plural)
        if store is None:
            gv = f"{group}/{version}" if group else version
            raise errors.APIError(404, "NotFound", f"the server could not find the requested resource ({plural} in {gv})")
        return store

    def context(self, user, options: WriteOptions) -> Context:
        return Context(user=user, dry_run=options.dry_run, field_manager=options.field_manager)

    # --- field validation ---

    def check_fields(self, info: ResourceInfo, obj: dict, options: WriteOptions, *, patch: bool = False) -> None:
        """Unknown fields: dropped (as decoding into Go types drops them); Strict refuses, Warn warns.

        Custom resources are pruned by their strategy; here they are only reported.
        """
        if not isinstance(obj, dict) or options.trusted:
            return
        schema = getattr(self.registry.store_for(info).strategy, "schema", None)
        if schema is not None:
            if options.field_validation == "Ignore":
                return
            unknown = openapi_schema.unknown_fields(obj, schema)
        else:
            unknown = self.openapi.unknown_fields(info.api_version, info.kind, obj)
            for path in unknown:
                remove_path(obj, path)
        if not unknown or options.field_validation == "Ignore":
            return
        if options.field_validation == "Strict":
            message = strict_decoding_error(unknown)
            if not patch:
                message = f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: {message}'
            raise errors.bad_request(message)
        options.warnings.extend(unknown_field_warnings(unknown))

    # --- verbs ---

    async def create(self, store: GenericStore, namespace: str, body: Any, user, options: WriteOptions) -> dict:
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body of the request must be a {store.info.kind} object")
        self.check_fields(store.info, body, options)
        return await store.create(namespace, body, self.context(user, options))

    async def update(self, store: GenericStore, namespace: str, name: str, body: Any, user,
                     options: WriteOptions, *, subresource: str = "") -> dict:
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body of the request must be a {store.info.kind} object")
        if subresource == "scale":
            return await self.update_scale(store, namespace, name, body, user, options)
        self.check_fields(store.info, body, options)
        return await store.update(namespace, name, body, self.context(user, options), subresource=subresource)

    async def patch(self, store: GenericStore, namespace: str, name: str, content_type: str, body: bytes,
                    user, options: WriteOptions, *, subresource: str = "", force: bool | None = None) -> dict:
        info = store.info
        if content_type not in PATCH_TYPES:
            raise errors.unsupported_media_type(content_type, ", ".join(self.patch_types(info)))
        if force is not None and content_type != APPLY_PATCH:
            raise errors.bad_request("force: Forbidden: may not be specified for non-apply patch")
        ctx = self.context(user, options)
        if content_type == APPLY_PATCH:
            return await self._apply(store, namespace, name, body, ctx, options, subresource=subresource,
                                     force=bool(force))
        document = parse_json(body)
        if content_type == JSON_PATCH and not isinstance(document, list):
            raise errors.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        if content_type != JSON_PATCH and not isinstance(document, dict):
            raise errors.bad_request("json: cannot unmarshal into a patch: the patch must be a JSON object")
        schema = None
        if content_type == STRATEGIC_PATCH:
            schema = schema_for("autoscaling" if subresource == "scale" else info.group,
                                "Scale" if subresource == "scale" else info.kind)
            if schema is None:
                raise errors.unsupported_media_type(content_type, ", ".join(self.patch_types(info)))

        def apply(current: dict) -> dict:
            try:
                if content_type == JSON_PATCH:
                    patched = patching.apply_json_patch(current, document)
                elif content_type == MERGE_PATCH:
                    patched = patching.apply_merge_patch(current, document)
                else:
                    patched = patching.apply_strategic_merge_patch(current, document, schema)
            except patching.PatchError as exc:
                raise errors.APIError(exc.code, exc.reason, str(exc)) from None
            if not isinstance(patched, dict):
                raise errors.bad_request("the patched object is not a JSON object")
            return patched

        if subresource == "scale":
            return await self._patch_scale(store, namespace, name, apply, ctx)

        def mutate(current: dict) -> dict:
            patched = apply(current)
            self.check_fields(info, patched, options, patch=True)
            return patched

        return await store.guaranteed_update(namespace, name, mutate, ctx, subresource=subresource)

    def patch_types(self, info: ResourceInfo) -> list[str]:
        types = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
        if schema_for(info.group, info.kind) is not None:
            types.insert(2, STRATEGIC_PATCH)
        return types

    async def _apply(self, store: GenericStore, namespace: str, name: str, body: bytes, ctx: Context,
                     options: WriteOptions, *, subresource: str, force: bool) -> dict:
        info = store.info
        if not ctx.field_manager:
            raise errors.bad_request("PATCH /apply requests require a fieldManager (fieldManager: Required value: "
                                     "is required for apply patch)")
        try:
            applied = yaml.safe_load(body)
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"error decoding YAML: {exc}") from None
        if not isinstance(applied, dict):
            raise errors.bad_request("the apply configuration must be a YAML or JSON object")
        if applied.get("apiVersion") != info.api_version or applied.get("kind") != info.kind:
            raise errors.bad_request(
                f"the API version or kind in the apply configuration ({applied.get('apiVersion')}, "
                f"{applied.get('kind')}) does not match the resource ({info.api_version}, {info.kind})"
            )
        applied_name = (applied.get("metadata") or {}).get("name")
        if applied_name and applied_name != name:
            raise errors.bad_request(f"the name of the object ({applied_name}) does not match the name on the URL ({name})")
        self.check_fields(info, applied, options, patch=True)
        schema = schema_for(info.group, info.kind)
        apply_ctx = Context(ctx.user, ctx.dry_run, ctx.field_manager, apply=True)

        def run(live: dict | None) -> dict:
            try:
                return fieldmanager.server_side_apply(
                    live, json_copy(applied), manager=ctx.field_manager, force=force, schema=schema,
                    now=now_rfc3339(), subresource=subresource,
                    reset_fields=None if store.strategy.has_status else (),
                )
            except fieldmanager.ApplyConflict as exc:
                raise errors.APIError(409, "Conflict", str(exc), {
                    "name": name, "group": info.group, "kind": info.plural, "causes": exc.causes,
                }) from None
            except patching.PatchError as exc:
                raise errors.APIError(exc.code, exc.reason, str(exc)) from None

        def create() -> dict:
            obj = run(None)
            metadata = obj.setdefault("metadata", {})
            metadata.setdefault("name", name)
            if info.namespaced:
                metadata.setdefault("namespace", namespace)
            return obj

        return await store.guaranteed_update(namespace, name, run, apply_ctx, subresource=subresource,
                                             create=None if subresource else create)

    async def delete(self, store: GenericStore, namespace: str, name: str, body: Any, user,
                     options: WriteOptions) -> tuple[dict, bool]:
        delete_options = DeleteOptions.from_dict(body if isinstance(body, dict) else None)
        return await store.delete(namespace, name, delete_options, self.context(user, options))

    async def delete_collection(self, store: GenericStore, namespace: str, list_options: ListOptions, body: Any,
                                user, options: WriteOptions) -> list[dict]:
        delete_options = DeleteOptions.from_dict(body if isinstance(body, dict) else None)
        return await store.delete_collection(namespace, list_options, delete_options, self.context(user, options))

    # --- /scale (autoscaling/v1 Scale) ---

    def scale_of(self, store: GenericStore, obj: dict) -> dict:
        paths = store.strategy.scale_paths()
        if paths is None:
            raise errors.not_found(store.info, f"{obj['metadata']['name']}/scale")
        spec_path, status_path, _ = paths
        meta = obj["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": get_path(obj, spec_path) or 0},
            "status": {"replicas": get_path(obj, status_path) or 0, "selector": store.strategy.scale_selector(obj)},
        }

    async def get_scale(self, store: GenericStore, namespace: str, name: str) -> dict:
        return self.scale_of(store, await store.get_object(namespace, name))

    async def update_scale(self, store: GenericStore, namespace: str, name: str, body: dict, user,
                           options: WriteOptions) -> dict:
        return await self._patch_scale(store, namespace, name, lambda _: body, self.context(user, options))

    async def _patch_scale(self, store: GenericStore, namespace: str, name: str, change, ctx: Context) -> dict:
        paths = store.strategy.scale_paths()
        if paths is None:
            raise errors.not_found(store.info, f"{name}/scale")

        def mutate(current: dict) -> dict:
            scale = change(self.scale_of(store, current))
            replicas = (scale.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise errors.APIError(422, "Invalid",
                                      f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                                      f"{replicas}: must be greater than or equal to 0")
            updated = json_copy(current)
            set_path(updated, paths[0], replicas)
            rv = (scale.get("metadata") or {}).get("resourceVersion")
            if rv:
                updated["metadata"]["resourceVersion"] = rv  # a precondition, as with any update
            return updated

        obj = await store.guaranteed_update(namespace, name, mutate, ctx)
        return self.scale_of(store, obj)

    # --- pods/binding, pods/eviction ---

    async def bind(self, store: GenericStore, namespace: str, name: str, binding: Any, user,
                   options: WriteOptions) -> dict:
        if not isinstance(binding, dict) or not isinstance(binding.get("target"), dict):
            raise errors.bad_request("the body of the request must be a Binding with a target")
        target = binding["target"]
        if target.get("kind", "Node") != "Node" or not target.get("name"):
            raise errors.APIError(422, "Invalid", f'Binding "{name}" is invalid: target: Invalid value: '
                                                  f"must be a Node with a name")
        uid = ((binding.get("metadata") or {}).get("uid")) or ""

        def mutate(current: dict) -> dict:
            if uid and uid != current["metadata"].get("uid"):
                raise errors.conflict(store.info, name, "Precondition failed: UID in precondition: "
                                                        f"{uid}, UID in object meta: {current['metadata'].get('uid')}")
            if (current.get("spec") or {}).get("nodeName"):
                raise errors.conflict(store.info, name,
                                      f"pod {name} is already assigned to node \"{current['spec']['nodeName']}\"")
            bound = json_copy(current)
            bound["spec"]["nodeName"] = target["name"]
            return bound

        pod = await store.guaranteed_update(namespace, name, mutate, self.context(user, options),
                                            subresource="binding")
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201,
                "details": {"name": name, "kind": "pods"}} if pod else {}

    async def evict(self, store: GenericStore, namespace: str, name: str, eviction: Any, user,
                    options: WriteOptions) -> dict:
        body = eviction.get("deleteOptions") if isinstance(eviction, dict) else None
        await store.delete(namespace, name, DeleteOptions.from_dict(body), self.context(user, options))
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def record_field_ownership(info: ResourceInfo, old: dict | None, obj: dict, *, manager: str, operation: str,
                           subresource: str) -> None:
    """The registry's FieldManager: metadata.managedFields for a non-apply write, as Kubernetes keeps it."""
    try:
        updated = fieldmanager.record_update(
            old, obj, manager=manager, schema=schema_for(info.group, info.kind), now=now_rfc3339(),
            api_version=info.api_version, operation=operation, subresource=subresource,
        )
    except ValueError as exc:  # malformed managedFields sent by the client
        raise errors.bad_request(f"metadata.managedFields: Invalid value: {exc}") from None
    obj["metadata"] = updated["metadata"]


def parse_json(body: bytes) -> Any:
    import orjson

    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.bad_request(f"error decoding JSON: {exc}") from None


_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def remove_path(obj: Any, path: str) -> None:
    """Delete `spec.template.spec.containers[0].imagee` from obj (no-op when absent)."""
    steps = [(m.group(1), int(m.group(2)) if m.group(2) is not None else None) for m in _SEGMENT.finditer(path)]
    if not steps:
        return
    for key, index in steps[:-1]:
        if key is not None:
            obj = obj.get(key) if isinstance(obj, dict) else None
        else:
            obj = obj[index] if isinstance(obj, list) and index < len(obj) else None
        if obj is None:
            return
    key, index = steps[-1]
    if key is not None and isinstance(obj, dict):
        obj.pop(key, None)
    elif index is not None and isinstance(obj, list) and index < len(obj):
        obj.pop(index)


PROTOBUF = "application/vnd.kubernetes.protobuf"


def decode_body(body: bytes, content_type: str) -> Any:
    """A request body: JSON (also when no Content-Type is given), YAML, or Kubernetes protobuf.

    client-go ≥ 1.32 typed clients (kubectl create configmap, drain, ...) send protobuf bodies.
    """
    if not body:
        return None
    if content_type == PROTOBUF:
        from .protobuf import ProtobufError, decode_object

        try:
            return decode_object(body)
        except ProtobufError as exc:
            raise errors.bad_request(f"error decoding protobuf: {exc}") from None
    if content_type in ("application/yaml", "application/x-yaml", "text/yaml"):
        try:
            return yaml.safe_load(body)
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"error decoding YAML: {exc}") from None
    return parse_json(body)

