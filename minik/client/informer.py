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
from typing import Callable, Coroutine, Iterable

from ..api.errors import APIError
from ..api.meta import key_of
from ..api.resources import ResourceInfo
from .clock import Clock
from .interface import Client

log = logging.getLogger(__name__)

IndexFunc = Callable[[dict], Iterable[str]]
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
    """Objects by `namespace/name`, plus named secondary indexes."""

    def __init__(self, indexers: dict[str, IndexFunc] | None = None):
        self._items: dict[str, dict] = {}
        self._index_funcs: dict[str, IndexFunc] = {"namespace": namespace_index, **(indexers or {})}
        self._indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._index_funcs}

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        if name in self._index_funcs:
            return
        self._index_funcs[name] = func
        index = self._indices[name] = {}
        for key, obj in self._items.items():
            for value in func(obj):
                index.setdefault(value, set()).add(key)

    def get(self, key: str) -> dict | None:
        return self._items.get(key)

    def list(self) -> list[dict]:
        return list(self._items.values())

    def keys(self) -> list[str]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def by_index(self, name: str, value: str) -> list[dict]:
        keys = self._indices[name].get(value, ())
        return [self._items[k] for k in keys]

    def put(self, obj: dict) -> dict | None:
        """Add or replace; returns the previous object."""
        key = key_of(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name, func in self._index_funcs.items():
            for value in func(obj):
                self._indices[name].setdefault(value, set()).add(key)
        return old

    def remove(self, obj: dict) -> dict | None:
        key = key_of(obj)
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _unindex(self, key: str, obj: dict) -> None:
        for name, func in self._index_funcs.items():
            index = self._indices[name]
            for value in func(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]


def _rv(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("resourceVersion", "")


class SharedInformer:
    def __init__(self, client: Client, info: ResourceInfo, *, namespace: str = "", label_selector: str = "",
                 field_selector: str = "", clock: Clock | None = None, indexers: dict[str, IndexFunc] | None = None,
                 watch_timeout: tuple[int, int] = (300, 600)):
        self.client = client
        self.info = info
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.indexer = Indexer(indexers)
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

    def _added(self, obj: dict) -> None:
        self.indexer.put(obj)
        for on_add, _, _ in self._handlers:
            if on_add is not None:
                self._call(on_add, obj)

    def _updated(self, old: dict, new: dict) -> None:
        self.indexer.put(new)
        for _, on_update, _ in self._handlers:
            if on_update is not None:
                self._call(on_update, old, new)

    def _deleted(self, obj: dict) -> None:
        old = self.indexer.remove(obj)
        for _, _, on_delete in self._handlers:
            if on_delete is not None:
                self._call(on_delete, old or obj)

    def _replace(self, items: list[dict]) -> None:
        """A (re)list: bring the cache and handlers in line with the listed state."""
        seen = set()
        for obj in items:
            key = key_of(obj)
            seen.add(key)
            old = self.indexer.get(key)
            if old is None:
                self._added(obj)
            elif _rv(old) != _rv(obj):
                self._updated(old, obj)
        for key in [k for k in self.indexer.keys() if k not in seen]:
            self._deleted(self.indexer.get(key))

    # --- the reflector ---

    async def run(self) -> None:
        """List, then watch forever: re-watch when a stream ends, relist on 410, back off on errors."""
        self.started = True
        backoff = 0.8
        while True:
            try:
                listed = await self.client.list(self.info, self.namespace, label_selector=self.label_selector,
                                                field_selector=self.field_selector)
                self._replace(listed.get("items") or [])
                self.resource_version = listed["metadata"]["resourceVersion"]
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
                timeout_seconds=timeout, allow_bookmarks=True,
            ):
                obj = event.object
                rv = _rv(obj)
                if event.type == "BOOKMARK":
                    self.resource_version = rv or self.resource_version
                    continue
                key = key_of(obj)
                if event.type == "ADDED":
                    old = self.indexer.get(key)
                    self._updated(old, obj) if old is not None else self._added(obj)
                elif event.type == "MODIFIED":
                    old = self.indexer.get(key)
                    self._updated(old, obj) if old is not None else self._added(obj)
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
                 field_selector: str = "", indexers: dict[str, IndexFunc] | None = None) -> SharedInformer:
        key = (info.group, info.version, info.plural, namespace, label_selector, field_selector)
        informer = self._informers.get(key)
        if informer is None:
            informer = self._informers[key] = SharedInformer(
                self.client, info, namespace=namespace, label_selector=label_selector,
                field_selector=field_selector, clock=self._clock,
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
                                     informer.label_selector, informer.field_selector) if s)
        name = f"informer:{informer.info.group_resource}" + (f"[{scope}]" if scope else "")
        self._spawn(name, informer.run())

    async def wait_for_sync(self) -> None:
        await asyncio.gather(*(i.wait_for_sync() for i in self._informers.values()))
