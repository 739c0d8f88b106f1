"""GenericStore: create, read, update, delete, list and watch for any kind, over the storage layer.

Part of the registry layer (storage → **registry** → API). One instance per served resource, all running
the same pipeline (see `strategy.py` for the per-kind hooks). It owns what Kubernetes' generic registry
owns: object metadata (uid, creationTimestamp, resourceVersion, generation), optimistic concurrency,
status-subresource separation, finalizers and graceful deletion, label/field filtering of lists and
watches, consistent pagination. Stored values are the object's JSON with its resourceVersion inside, so
gets and lists can serve the stored bytes without re-encoding.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import orjson

from ..api.meta import decode, encode_compact, format_time, generate_name, json_copy, metadata, new_uid, now, now_rfc3339
from ..api import errors, validation as v
from ..api.resources import ResourceInfo
from ..api.selectors import FieldSelector, LabelSelector, SelectorError, parse_field_selector, parse_label_selector
from ..storage import (
    CompactedError,
    ConflictError,
    Event,
    FutureRevisionError,
    KeyExistsError,
    KeyValue,
    NotFoundError,
    Storage,
)
from .strategy import Strategy

if TYPE_CHECKING:
    from .registry import Registry

GUARANTEED_UPDATE_RETRIES = 8
GENERATE_NAME_RETRIES = 8


@dataclasses.dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return "system:masters" in self.groups


SYSTEM = User("system:minik", ("system:masters",))


@dataclasses.dataclass
class Context:
    """Who asks, and how (the parts of a request every write needs)."""

    user: User = SYSTEM
    dry_run: bool = False
    field_manager: str = ""
    apply: bool = False  # server-side apply: ownership was computed by the apply itself


@dataclasses.dataclass
class ListOptions:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""
    resource_version_match: str = ""


@dataclasses.dataclass
class Page:
    items: list[bytes]
    revision: int
    continue_token: str = ""
    remaining: int | None = None


@dataclasses.dataclass
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str = ""  # "", Orphan, Background, Foreground
    orphan_dependents: bool | None = None
    precondition_uid: str = ""
    precondition_resource_version: str = ""

    @classmethod
    def from_dict(cls, body: dict | None) -> "DeleteOptions":
        body = body or {}
        pre = body.get("preconditions") or {}
        grace = body.get("gracePeriodSeconds")
        if grace is not None and not isinstance(grace, int):
            raise errors.bad_request(f"gracePeriodSeconds: invalid value {grace!r}: must be an integer")
        policy = body.get("propagationPolicy") or ""
        if policy not in ("", "Orphan", "Background", "Foreground"):
            raise errors.bad_request(
                f'propagationPolicy: Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan"'
            )
        orphan = body.get("orphanDependents")
        if orphan is not None and policy:
            raise errors.bad_request("orphanDependents and propagationPolicy cannot both be set")
        return cls(grace, policy, orphan, pre.get("uid") or "", pre.get("resourceVersion") or "")


@dataclasses.dataclass
class WatchEvent:
    type: str  # ADDED MODIFIED DELETED (BOOKMARK and ERROR are made by the API layer)
    raw: bytes  # the object's JSON
    revision: int


class GenericStore:
    def __init__(self, info: ResourceInfo, strategy: Strategy, storage: Storage, registry: "Registry"):
        self.info = info
        self.strategy = strategy
        self.storage = storage
        self.registry = registry
        # key → (mod_revision, labels, fields): what selectors need, decoded once per object version
        self._attrs: dict[str, tuple[int, dict, dict]] = {}
        # Custom resources served in several versions are stored in one (conversion "None" rewrites only
        # apiVersion, as apiextensions-apiserver does); None when this resource is the stored version.
        stored = getattr(strategy, "storage_api_version", info.api_version)
        self._stored_api_version = stored if stored != info.api_version else None

    # --- keys and decoding ---

    def key(self, namespace: str, name: str) -> str:
        return self.info.storage_key(namespace, name)

    def prefix(self, namespace: str) -> str:
        return self.info.storage_prefix(namespace if self.info.namespaced else None)

    def _stamp(self, obj: dict) -> Callable[[int], bytes]:
        """The value function for storage: writes the revision into metadata.resourceVersion, then encodes."""

        def encode(revision: int) -> bytes:
            obj["metadata"]["resourceVersion"] = str(revision)
            if self._stored_api_version:
                return encode_compact({**obj, "apiVersion": self._stored_api_version})
            return encode_compact(obj)

        return encode

    def out(self, raw: bytes) -> bytes:
        """Stored bytes as this resource's version serves them."""
        if self._stored_api_version is None:
            return raw
        obj = decode(raw)
        obj["apiVersion"] = self.info.api_version
        return orjson.dumps(obj)

    # --- reads ---

    async def get(self, namespace: str, name: str) -> KeyValue:
        kv = await self.storage.get(self.key(namespace, name))
        if kv is None:
            raise errors.not_found(self.info, name)
        if self._stored_api_version is not None:
            return KeyValue(kv.key, self.out(kv.value), kv.create_revision, kv.mod_revision)
        return kv

    async def get_object(self, namespace: str, name: str) -> dict:
        return decode((await self.get(namespace, name)).value)

    def _decode(self, kv: KeyValue) -> dict:
        obj = decode(kv.value)
        if self._stored_api_version is not None:
            obj["apiVersion"] = self.info.api_version
        return obj

    def _selectors(self, options: ListOptions) -> tuple[LabelSelector | None, FieldSelector | None]:
        try:
            labels = parse_label_selector(options.label_selector) if options.label_selector else None
            fields = parse_field_selector(options.field_selector) if options.field_selector else None
        except SelectorError as exc:
            raise errors.bad_request(str(exc)) from None
        if labels is not None and labels.empty:
            labels = None
        if fields is not None:
            supported = self.strategy.supported_field_labels()
            for field in fields.fields():
                if field not in supported:
                    raise errors.bad_request(f'field label not supported: {field}')
            if not fields.requirements:
                fields = None
        return labels, fields

    def _attributes(self, kv: KeyValue, *, cache: bool = True) -> tuple[dict, dict]:
        cached = self._attrs.get(kv.key)
        if cached is not None and cached[0] == kv.mod_revision:
            return cached[1], cached[2]
        obj = decode(kv.value)
        labels = (obj.get("metadata") or {}).get("labels") or {}
        fields = self.strategy.selectable_fields(obj)
        if cache:
            self._attrs[kv.key] = (kv.mod_revision, labels, fields)
        return labels, fields

    def _matches(self, kv: KeyValue, labels: LabelSelector | None, fields: FieldSelector | None,
                 *, cache: bool = True) -> bool:
        object_labels, object_fields = self._attributes(kv, cache=cache)
        if labels is not None and not labels.matches(object_labels):
            return False
        return fields is None or fields.matches(object_fields)

    async def list(self, namespace: str, options: ListOptions = ListOptions()) -> Page:
        labels, fields = self._selectors(options)
        prefix = self.prefix(namespace)
        revision, start_after = self._list_position(prefix, options)
        limit = max(0, options.limit)

        name = fields.exact_value("metadata.name") if fields is not None else None
        if name is not None and not start_after and not revision and (namespace or not self.info.namespaced):
            # A point lookup (kubectl wait and delete list by metadata.name): no scan.
            kv = await self.storage.get(self.key(namespace, name))
            items = [self.out(kv.value)] if kv is not None and self._matches(kv, labels, fields) else []
            return Page(items, self.storage.current_revision)

        try:
            if labels is None and fields is None:
                result = await self.storage.list(prefix, revision=revision, limit=limit, start_after=start_after)
                token = self._continue(result.revision, prefix, result.items[-1].key) if result.more else ""
                return Page([self.out(kv.value) for kv in result.items], result.revision, token,
                            result.remaining if result.more else None)
            result = await self.storage.list(prefix, revision=revision, start_after=start_after)
        except CompactedError:
            raise errors.gone(EXPIRED_CONTINUE if start_after else f"too old resource version: {revision}") from None
        except FutureRevisionError as exc:
            raise errors.timeout(f"Too large resource version: {exc.requested}, current: {exc.current}") from None
        items, token = [], ""
        for index, kv in enumerate(result.items):
            if self._matches(kv, labels, fields):
                items.append(self.out(kv.value))
                if limit and len(items) == limit:
                    if index + 1 < len(result.items):
                        token = self._continue(result.revision, prefix, kv.key)
                    break
        return Page(items, result.revision, token)

    def _list_position(self, prefix: str, options: ListOptions) -> tuple[int, str]:
        if options.continue_token:
            if options.resource_version not in ("", "0"):
                raise errors.bad_request("specifying resource version is not allowed when using continue")
            return decode_continue(options.continue_token, prefix)
        rv = parse_resource_version(options.resource_version)
        match = options.resource_version_match
        if match not in ("", "Exact", "NotOlderThan"):
            raise errors.bad_request(f'resourceVersionMatch: Unsupported value: "{match}"')
        if match == "Exact":
            if not rv:
                raise errors.bad_request("resourceVersionMatch \"Exact\" requires a resourceVersion")
            return rv, ""
        if rv > self.storage.current_revision:
            raise errors.timeout(
                f"Too large resource version: {rv}, current: {self.storage.current_revision}"
            )
        return 0, ""  # unset, "0" and NotOlderThan are all served from the current state

    def _continue(self, revision: int, prefix: str, last_key: str) -> str:
        token = {"v": "meta.k8s.io/v1", "rv": revision, "start": last_key[len(prefix):] + "\x00"}
        return base64.urlsafe_b64encode(orjson.dumps(token)).decode().rstrip("=")

    # --- watch ---

    async def watch(self, namespace: str, options: ListOptions, *, send_initial_events: bool | None = None) -> "ObjectWatch":
        labels, fields = self._selectors(options)
        prefix = self.prefix(namespace)
        rv = parse_resource_version(options.resource_version)
        initial: list[WatchEvent] = []
        # rv unset or "0": start with the current state as synthetic ADDED events (Kubernetes semantics);
        # sendInitialEvents=true asks for the same on any rv (watch-list streaming).
        if send_initial_events or (send_initial_events is None and rv == 0):
            page = await self.storage.list(prefix)
            rv = page.revision
            initial = [WatchEvent("ADDED", self.out(kv.value), kv.mod_revision) for kv in page.items
                       if self._matches(kv, labels, fields)]
        try:
            watch = self.storage.watch(prefix, rv)
        except CompactedError as exc:
            raise errors.gone(f"too old resource version: {rv} ({exc.oldest + 1})") from None
        return ObjectWatch(self, watch, initial, labels, fields, rv)

    # --- create ---

    async def create(self, namespace: str, obj: dict, ctx: Context = Context()) -> dict:
        info = self.info
        self._check_type(obj)
        meta = metadata(obj)
        self._check_namespace(meta, namespace)
        if meta.get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        for field in ("uid", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(field, None)
        meta["creationTimestamp"] = now_rfc3339()
        meta["uid"] = new_uid()
        if self.strategy.tracks_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        self.strategy.prepare_for_create(obj)
        await self.strategy.before_create(obj)
        await self.registry.admit("create", self, obj, None, ctx)
        generated = not meta.get("name") and bool(meta.get("generateName"))
        if generated:
            meta["name"] = generate_name(meta["generateName"])
        causes = v.validate_object_meta(meta, namespaced=info.namespaced, name_validator=self.strategy.validate_name)
        causes += self.strategy.validate(obj)
        if causes:
            raise errors.invalid(info, meta.get("name") or meta.get("generateName", ""), causes)
        await self.registry.validate_admission("create", self, obj, None, ctx)
        self.registry.record_managed_fields(self, None, obj, ctx, "Update")
        if ctx.dry_run:
            return obj
        for _ in range(GENERATE_NAME_RETRIES):
            try:
                await self.storage.create(self.key(namespace, meta["name"]), self._stamp(obj))
                break
            except KeyExistsError:
                if not generated:
                    raise errors.already_exists(info, meta["name"]) from None
                meta["name"] = generate_name(meta["generateName"])
        else:
            raise errors.already_exists(info, meta["name"])
        await self.strategy.after_create(obj)
        return obj

    def _check_type(self, obj: Any) -> None:
        info = self.info
        if not isinstance(obj, dict):
            raise errors.bad_request(f"the body of the request must be a {info.kind} object")
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version and api_version != info.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version ({info.api_version})"
            )
        if kind and kind != info.kind:
            raise errors.bad_request(
                f'{kind} in version "{info.version}" cannot be handled as a {info.kind}: '
                f"the kind in the data ({kind}) does not match the expected kind ({info.kind})"
            )
        if next(iter(obj), None) != "apiVersion":  # keep Kubernetes' field order: apiVersion, kind, metadata...
            rest = {k: obj.pop(k) for k in list(obj) if k not in ("apiVersion", "kind")}
            obj.pop("apiVersion", None), obj.pop("kind", None)
            obj.update({"apiVersion": info.api_version, "kind": info.kind}, **rest)
        else:
            obj["apiVersion"], obj["kind"] = info.api_version, info.kind
        if "metadata" in obj and not isinstance(obj["metadata"], dict):
            raise errors.bad_request(f"metadata: expected an object, got {type(obj['metadata']).__name__}")

    def _check_namespace(self, meta: dict, namespace: str) -> None:
        if not self.info.namespaced:
            meta.pop("namespace", None)
            return
        given = meta.get("namespace")
        if given and namespace and given != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = namespace or given or ""
        if not meta["namespace"]:
            raise errors.bad_request("a namespace is required for namespaced resources")

    # --- update ---

    async def update(self, namespace: str, name: str, obj: dict, ctx: Context = Context(), *,
                     subresource: str = "") -> dict:
        """PUT: replace the object (or its status). A resourceVersion in `obj` is a precondition."""
        self._check_type(obj)
        meta = metadata(obj)
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        meta["name"] = name
        self._check_namespace(meta, namespace)
        kv = await self.storage.get_latest(self.key(namespace, name))
        if kv is None:
            if self.strategy.allow_create_on_update and not subresource:
                meta.pop("resourceVersion", None)
                return await self.create(namespace, obj, ctx)
            raise errors.not_found(self.info, name)
        return await self._update_from(kv, obj, ctx, subresource=subresource)

    async def guaranteed_update(
        self,
        namespace: str,
        name: str,
        mutate: Callable[[dict], Awaitable[dict] | dict],
        ctx: Context = Context(),
        *,
        subresource: str = "",
        create: Callable[[], Awaitable[dict] | dict] | None = None,
    ) -> dict:
        """Read, mutate, write; retried on conflicts unless the mutation pinned a resourceVersion (PATCH)."""
        for attempt in range(GUARANTEED_UPDATE_RETRIES):
            kv = await self.storage.get_latest(self.key(namespace, name))
            if kv is None:
                if create is None:
                    raise errors.not_found(self.info, name)
                obj = create()
                if isinstance(obj, Awaitable):
                    obj = await obj
                try:
                    return await self.create(namespace, obj, ctx)
                except errors.APIError as exc:
                    if exc.reason == "AlreadyExists" and attempt + 1 < GUARANTEED_UPDATE_RETRIES:
                        continue
                    raise
            current = self._decode(kv)
            new = mutate(current)
            if isinstance(new, Awaitable):
                new = await new
            pinned = (new.get("metadata") or {}).get("resourceVersion") not in (None, "", kv_rv(kv))
            if not pinned:
                metadata(new)["resourceVersion"] = kv_rv(kv)
            try:
                return await self._update_from(kv, new, ctx, subresource=subresource)
            except _StaleWrite:
                if pinned or attempt + 1 == GUARANTEED_UPDATE_RETRIES:
                    raise errors.conflict(self.info, name, errors.MODIFIED) from None
        raise errors.conflict(self.info, name, errors.MODIFIED)

    async def _update_from(self, kv: KeyValue, obj: dict, ctx: Context, *, subresource: str) -> dict:
        info, strategy = self.info, self.strategy
        old = self._decode(kv)
        self._check_type(obj)
        meta, old_meta = metadata(obj), old["metadata"]
        rv = meta.get("resourceVersion")
        if rv and rv != kv_rv(kv):
            parse_resource_version(rv)  # a malformed one is a 400, not a conflict
            raise _StaleWrite(info, meta.get("name", ""))
        meta["resourceVersion"] = kv_rv(kv)  # an unconditional update is against what is stored now
        if meta.get("uid") and meta["uid"] != old_meta.get("uid"):
            raise errors.conflict(
                info, old_meta["name"],
                f"Precondition failed: UID in precondition: {meta['uid']}, UID in object meta: {old_meta.get('uid')}",
            )
        if subresource:
            strategy.prepare_for_subresource(subresource, obj, old)
            meta = obj["metadata"]
        else:
            # System fields come from the stored object, whatever the client sent.
            for field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                          "generation", "namespace", "name"):
                if field in old_meta:
                    meta[field] = old_meta[field]
                else:
                    meta.pop(field, None)
            meta.pop("selfLink", None)
            strategy.prepare_for_update(obj, old)
            if strategy.tracks_generation and strategy.spec_changed(obj, old):
                meta["generation"] = old_meta.get("generation", 0) + 1
            if old_meta.get("deletionTimestamp"):
                _check_finalizers_after_deletion(info, meta, old_meta)
        await strategy.before_update(obj, old)
        await self.registry.admit("update", self, obj, old, ctx)
        causes = v.validate_object_meta_update(meta, old_meta) + v.validate_object_meta(
            meta, namespaced=info.namespaced, name_validator=strategy.validate_name
        )
        if subresource:
            causes += strategy.validate_subresource_update(subresource, obj, old)
        else:
            causes += strategy.validate_update(obj, old)
        if causes:
            raise errors.invalid(info, old_meta["name"], causes)
        await self.registry.validate_admission("update", self, obj, old, ctx)
        self.registry.record_managed_fields(self, old, obj, ctx, "Update", subresource=subresource)
        obj["metadata"]["resourceVersion"] = kv_rv(kv)
        if obj == old:
            return obj  # nothing changed: no write, no new resourceVersion (as Kubernetes)
        if ctx.dry_run:
            return obj
        if (meta.get("deletionTimestamp") and not meta.get("finalizers") and not meta.get("deletionGracePeriodSeconds")
                and not strategy.blocks_removal(obj)):
            # The last finalizer is gone from an object already being deleted: it goes now.
            return await self._remove(kv, obj)
        try:
            await self.storage.update(kv.key, self._stamp(obj), expected_revision=kv.mod_revision)
        except ConflictError:
            raise _StaleWrite(info, old_meta["name"]) from None
        except NotFoundError:
            raise errors.not_found(info, old_meta["name"]) from None
        await strategy.after_update(obj, old)
        return obj

    # --- delete ---

    async def delete(self, namespace: str, name: str, options: DeleteOptions = DeleteOptions(),
                     ctx: Context = Context()) -> tuple[dict, bool]:
        """Returns (object, deleted now). Not deleted now: it waits for finalizers or a graceful period."""
        for _ in range(GUARANTEED_UPDATE_RETRIES):
            kv = await self.storage.get_latest(self.key(namespace, name))
            if kv is None:
                raise errors.not_found(self.info, name)
            obj = self._decode(kv)
            meta = obj["metadata"]
            if options.precondition_uid and options.precondition_uid != meta.get("uid"):
                raise errors.conflict(
                    self.info, name,
                    f"Precondition failed: UID in precondition: {options.precondition_uid}, UID in object meta: {meta.get('uid')}",
                )
            if options.precondition_resource_version and options.precondition_resource_version != kv_rv(kv):
                raise errors.conflict(
                    self.info, name,
                    f"Precondition failed: ResourceVersion in precondition: {options.precondition_resource_version}, "
                    f"ResourceVersion in object meta: {kv_rv(kv)}",
                )
            await self.registry.admit("delete", self, None, obj, ctx)
            try:
                return await self._delete(kv, obj, options, ctx)
            except _StaleWrite:
                continue
        raise errors.conflict(self.info, name, errors.MODIFIED)

    async def _delete(self, kv: KeyValue, obj: dict, options: DeleteOptions, ctx: Context) -> tuple[dict, bool]:
        meta = obj["metadata"]
        old = json_copy(obj)
        finalizers = list(meta.get("finalizers") or [])
        policy = options.propagation_policy or (
            "Orphan" if options.orphan_dependents else ("Background" if options.orphan_dependents is False else "")
        )
        if policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        elif policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if policy in ("Orphan", "Foreground"):
            other = "foregroundDeletion" if policy == "Orphan" else "orphan"
            if other in finalizers:
                finalizers.remove(other)
        grace = self.strategy.graceful_period(obj, options.grace_period_seconds)
        timestamp = meta.get("deletionTimestamp")
        if timestamp:
            # Already being deleted: a shorter grace period may speed it up; finalizers still hold it.
            current = meta.get("deletionGracePeriodSeconds") or 0
            if grace < current:
                meta["deletionGracePeriodSeconds"] = grace
                meta["deletionTimestamp"] = format_time(now() + dt.timedelta(seconds=grace))
        elif grace > 0 or finalizers or self.strategy.blocks_removal(obj):
            meta["deletionTimestamp"] = format_time(now() + dt.timedelta(seconds=grace))
            meta["deletionGracePeriodSeconds"] = grace
        if finalizers:
            meta["finalizers"] = finalizers
        lingering = (bool(finalizers) or (meta.get("deletionGracePeriodSeconds") or 0) > 0
                     or self.strategy.blocks_removal(obj))
        if lingering:
            self.strategy.prepare_for_delete(obj)
        if ctx.dry_run:
            return obj, not lingering
        if not lingering:
            return await self._remove(kv, obj), True
        if obj == old:
            return obj, False
        try:
            await self.storage.update(kv.key, self._stamp(obj), expected_revision=kv.mod_revision)
        except (ConflictError, NotFoundError):
            raise _StaleWrite(self.info, meta["name"]) from None
        await self.strategy.after_update(obj, old)
        return obj, False

    async def _remove(self, kv: KeyValue, obj: dict) -> dict:
        try:
            deleted = await self.storage.delete(kv.key, expected_revision=kv.mod_revision)
        except ConflictError:
            raise _StaleWrite(self.info, obj["metadata"]["name"]) from None
        except NotFoundError:
            raise errors.not_found(self.info, obj["metadata"]["name"]) from None
        self._attrs.pop(kv.key, None)
        obj["metadata"]["resourceVersion"] = str(deleted.mod_revision)
        await self.strategy.after_delete(obj)
        return obj

    async def delete_collection(self, namespace: str, list_options: ListOptions, options: DeleteOptions,
                                ctx: Context = Context()) -> list[dict]:
        page = await self.list(namespace, dataclasses.replace(list_options, limit=0, continue_token=""))
        deleted = []
        for raw in page.items:
            item = decode(raw)
            try:
                obj, _ = await self.delete(item["metadata"].get("namespace", ""), item["metadata"]["name"], options, ctx)
                deleted.append(obj)
            except errors.APIError as exc:
                if exc.code != 404:
                    raise
        return deleted


class _StaleWrite(errors.APIError):
    """A compare-and-swap lost a race; retried where the caller may retry, else a 409."""

    def __init__(self, info: ResourceInfo, name: str):
        conflict = errors.conflict(info, name, errors.MODIFIED)
        super().__init__(conflict.code, conflict.reason, conflict.message, conflict.details)


def _check_finalizers_after_deletion(info: ResourceInfo, meta: dict, old_meta: dict) -> None:
    """Once deletion started, finalizers may only be removed (Kubernetes: no new finalizers then)."""
    added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
    if added:
        raise errors.invalid(info, old_meta["name"], [
            v.forbidden("metadata.finalizers", f"no new finalizers can be added if the object is being deleted, found new finalizers {sorted(added)}")
        ])


def kv_rv(kv: KeyValue) -> str:
    return str(kv.mod_revision)


def parse_resource_version(text: str | None) -> int:
    if not text:
        return 0
    try:
        value = int(text)
        if value < 0:
            raise ValueError
        return value
    except ValueError:
        raise errors.bad_request(f'invalid resource version "{text}": must be a non-negative integer') from None


EXPIRED_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter."
)


def decode_continue(token: str, prefix: str) -> tuple[int, str]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        revision, start = int(data["rv"]), str(data["start"])
        if data.get("v") != "meta.k8s.io/v1" or revision <= 0:
            raise ValueError
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise errors.bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)") from None
    if start.startswith("/") or ".." in start.split("/"):
        raise errors.bad_request("continue key is not valid: key must be relative")
    return revision, prefix + start.rstrip("\x00")


class ObjectWatch:
    """A watch on one resource: initial events, then storage events filtered by the selectors.

    With a selector, an object that stops matching is reported DELETED and one that starts matching ADDED,
    as Kubernetes' watch cache does. DELETED carries the last state with the deletion's resourceVersion.
    """

    def __init__(self, store: GenericStore, watch, initial: list[WatchEvent], labels, fields, revision: int):
        self._store = store
        self._watch = watch
        self._initial = initial
        self._labels = labels
        self._fields = fields
        self.revision = revision  # the newest revision this stream has covered (for bookmarks)
        self.initial_count = len(initial)

    async def next_batch(self, timeout: float | None = None) -> list[WatchEvent] | None:
        if self._initial:
            batch, self._initial = self._initial, []
            return batch
        while True:
            events = await self._watch.next_batch(timeout)  # raises CompactedError when too slow
            if not events:
                return events
            self.revision = events[-1].revision
            converted = [c for c in map(self._convert, events) if c is not None]
            if converted or timeout is not None:
                return converted

    def _convert(self, event: Event) -> WatchEvent | None:
        filtered = self._labels is not None or self._fields is not None
        if event.type == "DELETED":
            if filtered and not self._match(event.kv):
                return None
            return WatchEvent("DELETED", self._store.out(deleted_value(event)), event.revision)
        out = self._store.out
        if not filtered:
            return WatchEvent(event.type, out(event.kv.value), event.revision)
        now_matches = self._match(event.kv)
        before = event.prev_kv is not None and self._store._matches(event.prev_kv, self._labels, self._fields,
                                                                    cache=False)
        if now_matches:
            return WatchEvent("MODIFIED" if before else "ADDED", out(event.kv.value), event.revision)
        if before:
            return WatchEvent("DELETED", out(event.kv.value), event.revision)
        return None

    def _match(self, kv: KeyValue) -> bool:
        return self._store._matches(kv, self._labels, self._fields)

    def close(self) -> None:
        self._watch.close()


def deleted_value(event: Event) -> bytes:
    """The last state of a deleted object, stamped with the deletion's resourceVersion (encoded once)."""
    memo = event.memo
    if memo is None:
        memo = event.memo = {}
    raw = memo.get("deleted")
    if raw is None:
        obj = decode(event.kv.value)
        obj["metadata"]["resourceVersion"] = str(event.revision)
        raw = memo["deleted"] = encode_compact(obj)  # kept with the event in the store's history
    return raw
