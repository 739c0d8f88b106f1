"""Informers: a local, indexed copy of a resource kept current by list + watch (client-go's shapes).

Part of the clients layer. A `Reflector` lists a resource, then watches from the list's resourceVersion,
re-watches when a stream ends, relists on 410 Gone, and backs off on errors. It feeds an `Indexer` (the
cache, with secondary indexes such as namespace or spec.nodeName). A `SharedInformer` runs one reflector
per resource and selector and fans changes out to handlers; the `InformerFactory` makes sure a process has
one informer per (resource, namespace, selectors), however many components ask for it.

Cached objects are shared between all readers: treat them as read-only (copy before changing).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from typing import Callable, Coroutine, Iterable

import orjson

from ..api.errors import APIError
from ..api.meta import key_of
from ..api.resources import ResourceInfo
from .clock import Clock
from .interface import RAW_ITEMS, Client

log = logging.getLogger(__name__)

IndexFunc = Callable[[dict], Iterable[str]]
LIST_PAGE = 500  # objects per list request, as client-go's reflector pages its lists
Handler = Callable[..., None]


def namespace_index(obj: dict) -> list[str]:
    return [(obj.get("metadata") or {}).get("namespace", "")]


def node_name_index(obj: dict) -> list[str]:
    node = (obj.get("spec") or {}).get("nodeName")
    return [node] if node else []


def owner_uid_index(obj: dict) -> list[str]:
    return [ref["uid"] for ref in (obj.get("metadata") or {}).get("ownerReferences") or [] if ref.get("uid")]


def controller_uid_index(obj: dict) -> list[str]:
    return [ref["uid"] for ref in (obj.get("metadata") or {}).get("ownerReferences") or []
            if ref.get("controller") and ref.get("uid")]


class Indexer:
    """Objects by `namespace/name`, plus named secondary indexes.

    Objects are kept the way the server's store keeps them: as compact JSON bytes, decoded when read (a
    decoded pod is ~9 KiB of Python dicts against ~2 KiB of JSON; a cache of 10,000 pods would otherwise
    dominate the process). Recently used objects stay decoded in a small LRU. Index values are computed
    once, when an object is put. Every read returns an object the caller must not change.
    """

    DECODED = 512  # objects kept decoded (the LRU)

    def __init__(self, indexers: dict[str, IndexFunc] | None = None,
                 transform: Callable[[dict], dict] | None = None):
        self._raw: dict[str, bytes] = {}
        self._transform = transform  # applied to objects decoded from raw bytes
        self._decoded: OrderedDict[str, dict] = OrderedDict()
        self._index_funcs: dict[str, IndexFunc] = {"namespace": namespace_index, **(indexers or {})}
        self._indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._index_funcs}
        self._index_values: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {}

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        if name in self._index_funcs:
            return
        self._index_funcs[name] = func
        index = self._indices[name] = {}
        for key in self._raw:
            values = tuple(func(self.get(key)))
            self._index_values[key] += ((name, values),)
            for value in values:
                index.setdefault(value, set()).add(key)

    def get(self, key: str) -> dict | None:
        obj = self._decoded.get(key)
        if obj is not None:
            self._decoded.move_to_end(key)
            return obj
        raw = self._raw.get(key)
        if raw is None:
            return None
        obj = orjson.loads(raw)
        return self._remember(key, self._transform(obj) if self._transform else obj)

    def _remember(self, key: str, obj: dict) -> dict:
        self._decoded[key] = obj
        if len(self._decoded) > self.DECODED:
            self._decoded.popitem(last=False)
        return obj

    def list(self) -> list[dict]:
        return [self.get(key) for key in self._raw]

    def keys(self) -> list[str]:
        return list(self._raw)

    def __contains__(self, key: str) -> bool:
        return key in self._raw

    def __len__(self) -> int:
        return len(self._raw)

    def by_index(self, name: str, value: str) -> list[dict]:
        return [self.get(k) for k in self._indices[name].get(value, ())]

    def index_values(self, name: str) -> list[str]:
        """The values an index currently holds (e.g. every node name that has pods)."""
        return list(self._indices[name])

    def put(self, obj: dict, raw: bytes | None = None) -> None:
        """Add or replace (the caller keeps `obj` unchanged afterwards: it may be cached as is). `raw` is
        the object's JSON when the caller has it (in-process: the very bytes the store keeps, shared)."""
        key = key_of(obj)
        if key in self._raw:
            self._unindex(key)
        # exact size: see minik.api.meta.encode_compact
        self._raw[key] = raw if raw is not None else bytes(memoryview(orjson.dumps(obj)))
        self._remember(key, obj)
        values = tuple((name, tuple(func(obj))) for name, func in self._index_funcs.items())
        self._index_values[key] = values
        for name, keys in values:
            index = self._indices[name]
            for value in keys:
                index.setdefault(value, set()).add(key)

    def remove(self, key: str) -> None:
        if self._raw.pop(key, None) is not None:
            self._decoded.pop(key, None)
            self._unindex(key)

    def _unindex(self, key: str) -> None:
        for name, values in self._index_values.pop(key, ()):
            index = self._indices[name]
            for value in values:
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]


def strip_managed_fields(obj: dict) -> dict:
    """The default informer transform, as kube-scheduler and kube-controller-manager use one: cached
    objects drop metadata.managedFields, which no component reads and which is often the largest part."""
    meta = obj.get("metadata")
    if meta and "managedFields" in meta:
        del meta["managedFields"]
    return obj


def _rv(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("resourceVersion", "")


class SharedInformer:
    def __init__(self, client: Client, info: ResourceInfo, *, namespace: str = "", label_selector: str = "",
                 field_selector: str = "", clock: Clock | None = None, indexers: dict[str, IndexFunc] | None = None,
                 watch_timeout: tuple[int, int] = (300, 600), metadata_only: bool = False,
                 transform: Callable[[dict], dict] | None = strip_managed_fields):
        self.client = client
        self.info = info
        self.metadata_only = metadata_only  # cache only apiVersion/kind/metadata (a metadata informer)
        self._transform = transform
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.indexer = Indexer(indexers, transform)
        self._clock = clock or Clock()
        self._handlers: list[tuple[Handler | None, Handler | None, Handler | None]] = []
        self._synced = asyncio.Event()
        self._watch_timeout = watch_timeout
        self.resource_version = ""
        self.started = False

    # --- consumers ---

    def add_handler(self, on_add: Handler | None = None, on_update: Handler | None = None,
                    on_delete: Handler | None = None) -> None:
        """Handlers run in the informer's task: keep them quick (enqueue a key). A handler added late first
        gets on_add for everything already cached, as client-go does."""
        self._handlers.append((on_add, on_update, on_delete))
        if self._synced.is_set() and on_add is not None:
            for obj in self.indexer.list():
                self._call(on_add, obj)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for_sync(self) -> None:
        await self._synced.wait()

    def get(self, key: str) -> dict | None:
        return self.indexer.get(key)

    def list(self) -> list[dict]:
        return self.indexer.list()

    # --- dispatch ---

    def _call(self, handler: Handler, *args) -> None:
        try:
            handler(*args)
        except Exception:  # a handler bug must not stop the informer
            log.exception("%s informer handler failed", self.info.plural)

    def _added(self, obj: dict, raw: bytes | None = None) -> None:
        self.indexer.put(obj, raw)
        for on_add, _, _ in self._handlers:
            if on_add is not None:
                self._call(on_add, obj)

    def _updated(self, old: dict, new: dict, raw: bytes | None = None) -> None:
        self.indexer.put(new, raw)
        for _, on_update, _ in self._handlers:
            if on_update is not None:
                self._call(on_update, old, new)

    def _deleted(self, obj: dict) -> None:
        key = key_of(obj)
        old = self.indexer.get(key)
        self.indexer.remove(key)
        for _, _, on_delete in self._handlers:
            if on_delete is not None:
                self._call(on_delete, old or obj)

    def _apply_listed(self, obj: dict, seen: set[str], raw: bytes | None = None) -> None:
        key = key_of(obj)
        seen.add(key)
        old = self.indexer.get(key)
        if old is None:
            self._added(obj, raw)
        elif _rv(old) != _rv(obj):
            self._updated(old, obj, raw)

    def _remove_unseen(self, seen: set[str]) -> None:
        for key in [k for k in self.indexer.keys() if k not in seen]:
            self._deleted(self.indexer.get(key))

    async def _list(self) -> None:
        """A (re)list in pages of LIST_PAGE, all at the first page's revision (client-go's pager does
        the same): the cache and handlers end in line with the listed state, and at most one page is
        ever decoded at once."""
        seen: set[str] = set()
        token, revision = "", ""
        while True:
            listed = await self.client.list(self.info, self.namespace, label_selector=self.label_selector,
                                            field_selector=self.field_selector, metadata_only=self.metadata_only,
                                            limit=LIST_PAGE, continue_token=token)
            revision = revision or listed["metadata"]["resourceVersion"]
            raws = listed.get(RAW_ITEMS) or ()
            for index, obj in enumerate(listed.get("items") or []):
                raw = raws[index] if raws else None
                self._apply_listed(self._transform(obj) if self._transform else obj, seen, raw)
            token = listed["metadata"].get("continue", "")
            if not token:
                break
        self._remove_unseen(seen)
        self.resource_version = revision

    # --- the reflector ---

    async def run(self) -> None:
        """List, then watch forever: re-watch when a stream ends, relist on 410, back off on errors."""
        self.started = True
        backoff = 0.8
        while True:
            try:
                await self._list()
                self._synced.set()
                backoff = 0.8
                await self._watch_until_gone()
            except asyncio.CancelledError:
                raise
            except APIError as exc:
                if exc.code == 410:
                    log.debug("%s watch expired, relisting", self.info.plural)
                    continue
                log.warning("%s list/watch failed: %s; retrying in %.1fs", self.info.plural, exc, backoff)
            except Exception as exc:  # connection errors of a remote client
                log.warning("%s list/watch failed: %r; retrying in %.1fs", self.info.plural, exc, backoff)
            await self._clock.sleep(backoff * (1 + random.random() * 0.2))
            backoff = min(backoff * 2, 30.0)

    async def _watch_until_gone(self) -> None:
        while True:
            timeout = random.randint(*self._watch_timeout)
            async for event in self.client.watch(
                self.info, self.namespace, resource_version=self.resource_version,
                label_selector=self.label_selector, field_selector=self.field_selector,
                timeout_seconds=timeout, allow_bookmarks=True, metadata_only=self.metadata_only,
            ):
                obj = event.object
                if self._transform is not None and event.type != "BOOKMARK":
                    obj = self._transform(obj)
                rv = _rv(obj)
                if event.type == "BOOKMARK":
                    self.resource_version = rv or self.resource_version
                    continue
                key = key_of(obj)
                if event.type in ("ADDED", "MODIFIED"):
                    old = self.indexer.get(key)
                    if old is not None:
                        self._updated(old, obj, event.raw)
                    else:
                        self._added(obj, event.raw)
                elif event.type == "DELETED":
                    self._deleted(obj)
                self.resource_version = rv or self.resource_version


class InformerFactory:
    """One SharedInformer per (resource, namespace, selectors) in a process, started on demand."""

    def __init__(self, client: Client, *, clock: Clock | None = None):
        self.client = client
        self._clock = clock or Clock()
        self._informers: dict[tuple, SharedInformer] = {}
        self._spawn: Callable[[str, Coroutine], object] | None = None

    def informer(self, info: ResourceInfo, *, namespace: str = "", label_selector: str = "",
                 field_selector: str = "", indexers: dict[str, IndexFunc] | None = None,
                 metadata_only: bool = False) -> SharedInformer:
        key = (info.group, info.version, info.plural, namespace, label_selector, field_selector, metadata_only)
        informer = self._informers.get(key)
        if informer is None and metadata_only:
            # A full informer of the same resource serves metadata readers too, without a second copy.
            informer = self._informers.get(key[:-1] + (False,))
        if informer is None:
            informer = self._informers[key] = SharedInformer(
                self.client, info, namespace=namespace, label_selector=label_selector,
                field_selector=field_selector, clock=self._clock, metadata_only=metadata_only,
            )
            if self._spawn is not None:
                self._start(informer)
        for name, func in (indexers or {}).items():
            informer.indexer.add_indexer(name, func)
        return informer

    def start(self, spawn: Callable[[str, Coroutine], object]) -> None:
        """Start every informer (and later ones as they are asked for) with `spawn(name, coroutine)`."""
        self._spawn = spawn
        for informer in self._informers.values():
            if not informer.started:
                self._start(informer)

    def _start(self, informer: SharedInformer) -> None:
        informer.started = True
        scope = ",".join(s for s in (informer.namespace and f"namespace={informer.namespace}",
                                     informer.label_selector, informer.field_selector,
                                     informer.metadata_only and "metadata") if s)
        name = f"informer:{informer.info.group_resource}" + (f"[{scope}]" if scope else "")
        self._spawn(name, informer.run())

    async def wait_for_sync(self) -> None:
        await asyncio.gather(*(i.wait_for_sync() for i in self._informers.values()))
