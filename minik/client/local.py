"""LocalClient: the Client protocol in-process, through the API layer's `Operations`.

Part of the clients layer. Controllers, the scheduler and simulated nodes inside `minik server` use it:
no HTTP, no TLS, no JSON round trip for requests, but the very same pipeline (defaulting, validation,
admission, patch semantics, field ownership, watch filtering) as a kubectl request.
"""

from __future__ import annotations

from typing import AsyncIterator

import orjson

from ..api import errors
from ..api.meta import decode
from ..api.resources import ResourceInfo
from ..apiserver.operations import JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH, Operations, WriteOptions
from ..registry.store import ListOptions, User
from ..storage import CompactedError
from .interface import RAW_ITEMS, WatchEvent, delete_options

CONTROLLER = User("system:minik-controller-manager", ("system:masters",))


class LocalClient:
    def __init__(self, operations: Operations, *, user: User = CONTROLLER, field_manager: str = "minik"):
        self._ops = operations
        self._user = user
        self._field_manager = field_manager

    def _store(self, info: ResourceInfo):
        return self._ops.store(info.group, info.version, info.plural)

    def _options(self, field_manager: str) -> WriteOptions:
        return WriteOptions(field_manager=field_manager or self._field_manager, trusted=True)

    async def get(self, info: ResourceInfo, name: str, namespace: str = "", *, subresource: str = "") -> dict:
        store = self._store(info)
        if subresource == "scale":
            return await self._ops.get_scale(store, namespace, name)
        if subresource and subresource != "status":
            raise errors.bad_request(f"subresource {subresource} cannot be read in-process")
        return await store.get_object(namespace, name)

    async def list(self, info: ResourceInfo, namespace: str = "", *, label_selector: str = "",
                   field_selector: str = "", limit: int = 0, continue_token: str = "",
                   resource_version: str = "", metadata_only: bool = False) -> dict:
        page = await self._store(info).list(namespace, ListOptions(
            label_selector=label_selector, field_selector=field_selector, limit=limit,
            continue_token=continue_token, resource_version=resource_version,
        ))
        meta = {"resourceVersion": str(page.revision)}
        if page.continue_token:
            meta["continue"] = page.continue_token
        load = _metadata_of if metadata_only else decode
        listed = {"kind": info.list_kind, "apiVersion": info.api_version, "metadata": meta,
                  "items": [load(raw) for raw in page.items]}
        if not metadata_only:
            listed[RAW_ITEMS] = page.items  # the store's own bytes, which informers keep instead of a copy
        return listed

    async def watch(self, info: ResourceInfo, namespace: str = "", *, resource_version: str = "",
                    label_selector: str = "", field_selector: str = "", timeout_seconds: int = 0,
                    allow_bookmarks: bool = True, metadata_only: bool = False) -> AsyncIterator[WatchEvent]:
        load = _metadata_of if metadata_only else decode
        watch = await self._store(info).watch(namespace, ListOptions(
            label_selector=label_selector, field_selector=field_selector, resource_version=resource_version,
        ))
        try:
            while True:
                try:
                    batch = await watch.next_batch(timeout=timeout_seconds or 60.0)
                except CompactedError as exc:  # this watcher fell too far behind
                    raise errors.gone(f"too old resource version: {exc.requested} ({exc.oldest})") from None
                if batch is None:
                    return  # the store is closing
                if not batch:
                    if timeout_seconds:
                        return  # like a server-side timeout: the caller re-watches
                    if allow_bookmarks:
                        yield WatchEvent("BOOKMARK", {"kind": info.kind, "apiVersion": info.api_version,
                                                      "metadata": {"resourceVersion": str(watch.revision)}})
                    continue
                for event in batch:
                    yield WatchEvent(event.type, load(event.raw), None if metadata_only else event.raw)
        finally:
            watch.close()

    async def create(self, info: ResourceInfo, obj: dict, namespace: str = "", *, field_manager: str = "",
                     subresource: str = "", name: str = "") -> dict:
        store = self._store(info)
        namespace = namespace or (obj.get("metadata") or {}).get("namespace", "")
        options = self._options(field_manager)
        if subresource == "binding":
            return await self._ops.bind(store, namespace, name, obj, self._user, options)
        if subresource == "eviction":
            return await self._ops.evict(store, namespace, name, obj, self._user, options)
        if subresource:
            raise errors.method_not_allowed()
        return await self._ops.create(store, namespace, _copy(obj), self._user, options)

    async def update(self, info: ResourceInfo, obj: dict, *, subresource: str = "", field_manager: str = "") -> dict:
        meta = obj.get("metadata") or {}
        return await self._ops.update(self._store(info), meta.get("namespace", ""), meta.get("name", ""), _copy(obj),
                                      self._user, self._options(field_manager), subresource=subresource)

    async def patch(self, info: ResourceInfo, name: str, patch, namespace: str = "", *,
                    patch_type: str = MERGE_PATCH, subresource: str = "", field_manager: str = "",
                    force: bool | None = None) -> dict:
        if patch_type not in (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH):
            raise errors.unsupported_media_type(patch_type, "patch types")
        body = patch if isinstance(patch, bytes) else orjson.dumps(patch)
        return await self._ops.patch(self._store(info), namespace, name, patch_type, body, self._user,
                                     self._options(field_manager), subresource=subresource, force=force)

    async def delete(self, info: ResourceInfo, name: str, namespace: str = "", *,
                     grace_period_seconds: int | None = None, propagation_policy: str = "",
                     preconditions: dict | None = None) -> dict:
        body = delete_options(grace_period_seconds, propagation_policy, preconditions)
        obj, _ = await self._ops.delete(self._store(info), namespace, name, body or None, self._user,
                                        self._options(""))
        return obj


def _metadata_of(raw: bytes) -> dict:
    obj = decode(raw)
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": obj.get("metadata") or {}}


def _copy(obj: dict) -> dict:
    """The registry mutates what it is given; callers keep theirs (often an informer's cached object)."""
    return orjson.loads(orjson.dumps(obj))
