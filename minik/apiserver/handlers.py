"""HTTP handlers: one generic set for every resource, as kube-apiserver's endpoint installer builds.

Part of the API layer's HTTP side. A request path is parsed into (group, version, namespace, resource,
name, subresource), the verb follows from the method, and `Operations` does the work. Responses are the
stored JSON bytes where possible (gets and lists never re-encode objects), Tables for `kubectl get`,
metadata-only forms for metadata informers, YAML when asked. Watches stream one JSON line per event.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from dataclasses import dataclass

import orjson
import yaml
from aiohttp import web

from ..api import errors
from ..api.meta import decode
from ..registry.store import GenericStore, ListOptions, ObjectWatch, User
from ..storage import CompactedError
from .auth import USER
from .discovery import Discovery
from .negotiation import Output, content_type_of, negotiate
from .openapi import OpenAPI, negotiate_v2, negotiate_v3
from .operations import Operations, WriteOptions, decode_body
from .tables import TablePrinter, crd_printer, printer_for

log = logging.getLogger(__name__)

JSON_TYPE = "application/json"
NAMESPACE_SUBRESOURCES = ("status", "finalize")
NODE_AGENT_SUBRESOURCES = ("log", "exec", "attach", "portforward", "proxy")


@dataclass(frozen=True)
class WatchSettings:
    bookmark_interval: float = 60.0  # Kubernetes sends a bookmark about once a minute
    min_request_timeout: float = 1800.0  # a watch without timeoutSeconds lasts 1-2× this (kube-apiserver)
    liveness_interval: float = 5.0  # how often an idle stream checks that its client is still there


@dataclass
class Target:
    group: str
    version: str
    namespace: str
    plural: str
    name: str
    subresource: str


class Handlers:
    def __init__(self, ops: Operations, discovery: Discovery, openapi: OpenAPI, *,
                 watch: WatchSettings = WatchSettings(), ready: asyncio.Event | None = None,
                 node_agents=None):
        self.ops = ops
        self.discovery = discovery
        self.openapi = openapi
        self.watch_settings = watch
        self.ready = ready or asyncio.Event()
        # Answers pods/log, exec, portforward once a node agent exists (the kubelet's streaming server);
        # None: the request gets a clear error.
        self.node_agents = node_agents

    # --- meta endpoints ---

    async def version(self, request: web.Request) -> web.Response:
        from ..api.version import version_info

        return json_response(orjson.dumps(version_info()))

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok", content_type="text/plain")

    async def readyz(self, request: web.Request) -> web.Response:
        if not self.ready.is_set():
            return web.Response(status=500, text="[-]storage not ready\nreadyz check failed",
                                content_type="text/plain")
        return web.Response(text="ok", content_type="text/plain")

    async def openapi_v2(self, request: web.Request) -> web.Response:
        chosen = negotiate_v2(request.headers.get("Accept"))
        if chosen is None:
            raise errors.not_acceptable("application/json, application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
        if chosen == JSON_TYPE:
            data, digest = self.openapi.v2_document_bytes()
            return web.Response(body=data, content_type=JSON_TYPE, headers={"ETag": f'"{digest}"'})
        # kubectl 1.27/1.28 read only the protobuf form (and fail on anything else, 404 included).
        return web.Response(body=self.openapi.v2_protobuf_bytes(), headers={"Content-Type": chosen})

    async def openapi_v3(self, request: web.Request) -> web.Response:
        if negotiate_v3(request.headers.get("Accept")) is None:
            raise errors.not_acceptable("application/json")
        path = request.match_info.get("path", "")
        if not path:
            return json_response(self.openapi.v3_root_bytes())
        found = self.openapi.v3_document_bytes(path)
        if found is None:
            raise errors.APIError(404, "NotFound", f"the server could not find the requested resource (openapi/v3/{path})")
        data, digest = found
        asked = request.query.get("hash")
        if asked and asked != digest:  # a stale link: kube-openapi redirects to the current document
            raise web.HTTPMovedPermanently(self.openapi.v3_url(path))
        headers = {"ETag": f'"{digest}"'}
        if asked:  # immutable under this hash, as kube-apiserver says
            headers["Cache-Control"] = "public, immutable"
        return web.Response(body=data, content_type=JSON_TYPE, headers=headers)

    # --- discovery ---

    async def api_root(self, request: web.Request) -> web.Response:
        return self._discovery_response(request, core=True, legacy=self.discovery.api_versions())

    async def apis_root(self, request: web.Request) -> web.Response:
        return self._discovery_response(request, core=False, legacy=self.discovery.group_list())

    def _discovery_response(self, request: web.Request, *, core: bool, legacy: bytes) -> web.Response:
        output = negotiate(request.headers.get("Accept", ""), discovery=True)
        if output.as_ == "APIGroupDiscoveryList":
            data = self.discovery.aggregated(core, output.version)
            content_type = f"application/json;g=apidiscovery.k8s.io;v={output.version};as=APIGroupDiscoveryList"
            return web.Response(body=data, headers={"Content-Type": content_type})
        return json_response(legacy)

    # --- resources ---

    async def resource(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.match_info["tail"].split("/") if p]
        core = request.path.startswith("/api/") or request.path == "/api"
        if core:
            if not parts:
                return await self.api_root(request)
            group, version, rest = "", parts[0], parts[1:]
        else:
            if not parts:
                return await self.apis_root(request)
            if len(parts) == 1:
                data = self.discovery.group(parts[0])
                if data is None:
                    raise not_found_path(request)
                return json_response(data)
            group, version, rest = parts[0], parts[1], parts[2:]
        if not rest:
            if request.method != "GET":
                raise errors.method_not_allowed()
            data = self.discovery.resource_list(group, version)
            if data is None:
                raise not_found_path(request)
            return json_response(data)
        watch_path = rest[0] == "watch"  # the deprecated /watch/ prefix
        target = self._target(group, version, rest[1:] if watch_path else rest, request)
        store = self.ops.store(target.group, target.version, target.plural)
        return await self._dispatch(request, store, target, watch_path)

    def _target(self, group: str, version: str, rest: list[str], request: web.Request) -> Target:
        if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in NAMESPACE_SUBRESOURCES
                                                                and not group):
            namespace, rest = rest[1], rest[2:]
            if len(rest) > 3:
                raise not_found_path(request)
            store = self.ops.store(group, version, rest[0])
            if not store.info.namespaced:
                raise not_found_path(request)
            return Target(group, version, namespace, rest[0], *(rest[1:] + ["", ""])[:2])
        if len(rest) > 3:
            raise not_found_path(request)
        return Target(group, version, "", rest[0], *(rest[1:] + ["", ""])[:2])

    async def _dispatch(self, request: web.Request, store: GenericStore, target: Target,
                        watch_path: bool) -> web.StreamResponse:
        method = request.method
        info = store.info
        if target.subresource and target.subresource not in info.subresources:
            raise not_found_path(request)
        if not target.name:
            if method == "GET":
                options = list_options(request)
                if watch_path or request.query.get("watch") in ("true", "1"):
                    return await self.watch(request, store, target, options)
                return await self.list(request, store, target, options)
            if method == "POST":
                if not info.namespaced or target.namespace:
                    return await self.create(request, store, target)
                raise errors.method_not_allowed()
            if method == "DELETE" and "deletecollection" in info.verbs:
                return await self.delete_collection(request, store, target)
            raise errors.method_not_allowed()
        if info.namespaced and not target.namespace:
            raise not_found_path(request)
        sub = target.subresource
        if sub in NODE_AGENT_SUBRESOURCES:
            return await self.node_agent(request, store, target)
        if method == "GET" and not sub and (watch_path or request.query.get("watch") in ("true", "1")):
            # Watching one object by its path: a watch with fieldSelector metadata.name=<name>.
            options = list_options(request)
            selector = f"metadata.name={target.name}"
            options.field_selector = f"{options.field_selector},{selector}" if options.field_selector else selector
            return await self.watch(request, store, target, options)
        if method == "GET":
            return await self.get(request, store, target)
        if method == "PUT":
            return await self.update(request, store, target)
        if method == "PATCH":
            return await self.patch(request, store, target)
        if method == "DELETE" and not sub:
            return await self.delete(request, store, target)
        if method == "POST" and sub == "binding":
            return await self.post_subresource(request, store, target, self.ops.bind)
        if method == "POST" and sub == "eviction":
            return await self.post_subresource(request, store, target, self.ops.evict)
        raise errors.method_not_allowed()

    # --- reads ---

    async def get(self, request: web.Request, store: GenericStore, target: Target) -> web.Response:
        output = negotiate(request.headers.get("Accept", ""))
        if target.subresource == "scale":
            return self._respond(request, output, orjson.dumps(await self.ops.get_scale(store, target.namespace, target.name)))
        kv = await store.get(target.namespace, target.name)
        if output.as_ == "Table":
            table = self._table(store, [kv.value], str(kv.mod_revision), "", request, output)
            return json_response(orjson.dumps(table))
        if output.as_ == "PartialObjectMetadata":
            return json_response(orjson.dumps(partial_metadata(decode(kv.value), output.version)))
        return self._respond(request, output, kv.value)

    async def list(self, request: web.Request, store: GenericStore, target: Target,
                   options: ListOptions) -> web.Response:
        output = negotiate(request.headers.get("Accept", ""))
        page = await store.list(target.namespace, options)
        if output.as_ == "Table":
            table = self._table(store, page.items, str(page.revision), page.continue_token, request, output)
            if page.remaining is not None:
                table["metadata"]["remainingItemCount"] = page.remaining
            return json_response(orjson.dumps(table))
        meta = {"resourceVersion": str(page.revision)}
        if page.continue_token:
            meta["continue"] = page.continue_token
        if page.remaining is not None:
            meta["remainingItemCount"] = page.remaining
        if output.as_ == "PartialObjectMetadata":
            body = {"kind": "PartialObjectMetadataList", "apiVersion": f"meta.k8s.io/{output.version}",
                    "metadata": meta, "items": [partial_metadata(decode(raw), output.version) for raw in page.items]}
            return json_response(orjson.dumps(body))
        info = store.info
        head = orjson.dumps({"kind": info.list_kind, "apiVersion": info.api_version, "metadata": meta})
        head = head[:-1] + b',"items":['
        if output.format != "json":
            return self._respond(request, output, head + b",".join(page.items) + b"]}")
        return await stream_list(request, head, page.items)

    def _printer(self, store: GenericStore) -> TablePrinter:
        columns = getattr(store.strategy, "printer_columns", None)
        if columns is not None:
            return crd_printer(columns())
        return printer_for(store.info.group, store.info.plural)

    def _table(self, store: GenericStore, items: list[bytes], revision: str, continue_token: str,
               request: web.Request, output: Output, *, with_columns: bool = True) -> dict:
        printer = self._printer(store)
        include = request.query.get("includeObject", "Metadata")
        if include not in ("None", "Metadata", "Object"):
            raise errors.bad_request(f'includeObject: Unsupported value: "{include}": supported values: '
                                     '"None", "Metadata", "Object"')
        now = dt.datetime.now(dt.timezone.utc)
        rows = []
        for raw in items:
            obj = decode(raw)
            row = {"cells": printer.cells(obj, now)}
            if include == "Object":
                row["object"] = obj
            elif include == "Metadata":
                row["object"] = partial_metadata(obj, output.version)
            rows.append(row)
        meta = {"resourceVersion": revision}
        if continue_token:
            meta["continue"] = continue_token
        return {"kind": "Table", "apiVersion": f"meta.k8s.io/{output.version}", "metadata": meta,
                "columnDefinitions": printer.column_definitions if with_columns else [], "rows": rows}

    def _respond(self, request: web.Request, output: Output, data: bytes, status: int = 200,
                 warnings: list[str] = ()) -> web.Response:
        headers = {"Warning": ", ".join(f'299 - "{w}"' for w in warnings)} if warnings else None
        if output.format == "yaml":
            text = yaml.safe_dump(orjson.loads(data), sort_keys=False)
            return web.Response(body=text.encode(), status=status, content_type="application/yaml", headers=headers)
        return web.Response(body=data, status=status, content_type=JSON_TYPE, headers=headers)

    # --- watch ---

    async def watch(self, request: web.Request, store: GenericStore, target: Target,
                    options: ListOptions) -> web.StreamResponse:
        output = negotiate(request.headers.get("Accept", ""))
        query = request.query
        settings = self.watch_settings
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        timeout = parse_int(query.get("timeoutSeconds"), "timeoutSeconds")
        if timeout is None or timeout <= 0:
            timeout = settings.min_request_timeout * (1 + random.random())
        send_initial = query.get("sendInitialEvents")
        initial = None if send_initial is None else send_initial == "true"
        if initial and options.resource_version_match != "NotOlderThan":
            raise errors.bad_request("sendInitialEvents is only supported with resourceVersionMatch=NotOlderThan")
        response = web.StreamResponse(headers={"Content-Type": JSON_TYPE, "Cache-Control": "no-cache"})
        try:
            watch = await store.watch(target.namespace, options, send_initial_events=initial)
        except errors.APIError as exc:
            if exc.code != 410:
                raise
            # Too old: like the watch cache, answer 200 and a single ERROR event; the client relists.
            await response.prepare(request)
            await response.write(orjson.dumps({"type": "ERROR", "object": exc.status()}) + b"\n")
            return response
        await response.prepare(request)
        stream = WatchStream(self, request, response, store, watch, output, bookmarks, initial)
        try:
            await stream.run(timeout)
        finally:
            watch.close()
        return response

    # --- writes ---

    async def _body(self, request: web.Request) -> tuple[bytes, str]:
        body = await request.read()
        return body, content_type_of(request.headers.get("Content-Type"))

    def _write_options(self, request: web.Request) -> WriteOptions:
        query = request.query
        manager = query.get("fieldManager", "")
        if not manager and request.method != "PATCH":
            agent = request.headers.get("User-Agent", "")
            manager = agent.split("/", 1)[0][:128] if agent else ""
        return WriteOptions.parse(query.getall("dryRun", []), manager, query.get("fieldValidation", ""))

    async def create(self, request: web.Request, store: GenericStore, target: Target) -> web.Response:
        output = negotiate(request.headers.get("Accept", ""))
        body, content_type = await self._body(request)
        check_body_type(content_type)
        options = self._write_options(request)
        obj = await self.ops.create(store, target.namespace, decode_body(body, content_type), user_of(request), options)
        return self._respond(request, output, orjson.dumps(obj), 201, options.warnings)

    async def update(self, request: web.Request, store: GenericStore, target: Target) -> web.Response:
        output = negotiate(request.headers.get("Accept", ""))
        body, content_type = await self._body(request)
        check_body_type(content_type)
        options = self._write_options(request)
        obj = await self.ops.update(store, target.namespace, target.name, decode_body(body, content_type),
                                    user_of(request), options, subresource=target.subresource)
        return self._respond(request, output, orjson.dumps(obj), 200, options.warnings)

    async def patch(self, request: web.Request, store: GenericStore, target: Target) -> web.Response:
        output = negotiate(request.headers.get("Accept", ""))
        body, content_type = await self._body(request)
        if not body:
            raise errors.bad_request("the body of the request must not be empty for a patch")
        options = self._write_options(request)
        force = request.query.get("force")
        if force not in (None, "true", "false"):
            raise errors.bad_request(f'force: Invalid value: "{force}": must be true or false')
        obj = await self.ops.patch(
            store, target.namespace, target.name, content_type, body, user_of(request), options,
            subresource=target.subresource, force=None if force is None else force == "true",
        )
        return self._respond(request, output, orjson.dumps(obj), 200, options.warnings)

    async def delete(self, request: web.Request, store: GenericStore, target: Target) -> web.Response:
        output = negotiate(request.headers.get("Accept", ""))
        body, content_type = await self._body(request)
        options = self._write_options(request)
        delete_body = decode_body(body, content_type) if body else delete_options_from_query(request)
        obj, deleted = await self.ops.delete(store, target.namespace, target.name, delete_body, user_of(request),
                                             options)
        orphan = (delete_body or {}).get("orphanDependents") if isinstance(delete_body, dict) else None
        status = 202 if not deleted and orphan is False else 200
        if deleted and not store.strategy.return_deleted_object:
            result = errors.success_status(store.info, target.name, obj["metadata"].get("uid", ""))
            return self._respond(request, output, orjson.dumps(result), status)
        return self._respond(request, output, orjson.dumps(obj), status)

    async def delete_collection(self, request: web.Request, store: GenericStore, target: Target) -> web.Response:
        output = negotiate(request.headers.get("Accept", ""))
        body, content_type = await self._body(request)
        options = self._write_options(request)
        delete_body = decode_body(body, content_type) if body else delete_options_from_query(request)
        deleted = await self.ops.delete_collection(store, target.namespace, list_options(request), delete_body,
                                                   user_of(request), options)
        info = store.info
        result = {"kind": info.list_kind, "apiVersion": info.api_version, "metadata": {}, "items": deleted}
        return self._respond(request, output, orjson.dumps(result))

    async def post_subresource(self, request: web.Request, store: GenericStore, target: Target, operation):
        body, content_type = await self._body(request)
        check_body_type(content_type)
        options = self._write_options(request)
        result = await operation(store, target.namespace, target.name, decode_body(body, content_type),
                                 user_of(request), options)
        return json_response(orjson.dumps(result), status=201)

    async def node_agent(self, request: web.Request, store: GenericStore, target: Target) -> web.StreamResponse:
        pod = await store.get_object(target.namespace, target.name)
        if self.node_agents is not None:
            return await self.node_agents.serve(request, pod, target.subresource)
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            raise errors.bad_request(f"pod {target.name} does not have a host assigned")
        raise errors.bad_request(
            f"pods/{target.subresource} is not available: node {node} has no node agent that can serve it "
            f"(minik's kubelet is not running on this server)"
        )


class WatchStream:
    """One watch response: events as JSON lines, bookmarks, timeout, and a dead client noticed quickly."""

    def __init__(self, handlers: Handlers, request: web.Request, response: web.StreamResponse,
                 store: GenericStore, watch: ObjectWatch, output: Output, bookmarks: bool, initial: bool | None):
        self.handlers = handlers
        self.request = request
        self.response = response
        self.store = store
        self.watch = watch
        self.output = output
        self.bookmarks = bookmarks
        self.initial = initial
        self.sent_columns = False

    async def run(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        settings = self.handlers.watch_settings
        deadline = loop.time() + timeout
        next_bookmark = loop.time() + settings.bookmark_interval
        first = True
        while True:
            now = loop.time()
            if now >= deadline:
                return
            wait = min(deadline - now, settings.liveness_interval)
            if self.bookmarks:
                wait = max(0.0, min(wait, next_bookmark - now))
            try:
                batch = await self.watch.next_batch(timeout=wait)
            except CompactedError as exc:
                status = errors.gone(f"too old resource version: {exc.requested} ({exc.oldest})").status()
                await self.response.write(orjson.dumps({"type": "ERROR", "object": status}) + b"\n")
                return
            if batch is None:  # the store is shutting down
                return
            if batch:
                await self.response.write(b"".join(self._frame(e.type, e.raw) for e in batch))
            if first and self.initial:
                await self.response.write(self._bookmark(initial_events_end=True))
            first = False
            if self.bookmarks and loop.time() >= next_bookmark:
                await self.response.write(self._bookmark())
                next_bookmark = loop.time() + settings.bookmark_interval
            transport = self.request.transport
            if transport is None or transport.is_closing():
                return  # the client went away: do not keep a dead stream (and its queue) alive

    def _frame(self, kind: str, raw: bytes) -> bytes:
        if self.output.as_ == "Table":
            table = self.handlers._table(self.store, [raw], "", "", self.request, self.output,
                                         with_columns=not self.sent_columns)
            table["metadata"]["resourceVersion"] = str((decode(raw).get("metadata") or {}).get("resourceVersion", ""))
            self.sent_columns = True
            return orjson.dumps({"type": kind, "object": table}) + b"\n"
        if self.output.as_ == "PartialObjectMetadata":
            return orjson.dumps({"type": kind, "object": partial_metadata(decode(raw), self.output.version)}) + b"\n"
        return b'{"type":"' + kind.encode() + b'","object":' + raw + b"}\n"

    def _bookmark(self, *, initial_events_end: bool = False) -> bytes:
        info = self.store.info
        meta: dict = {"resourceVersion": str(self.watch.revision), "creationTimestamp": None}
        if initial_events_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return orjson.dumps({"type": "BOOKMARK",
                             "object": {"kind": info.kind, "apiVersion": info.api_version, "metadata": meta}}) + b"\n"


# --- helpers ---

LIST_CHUNK = 256 * 1024


async def stream_list(request: web.Request, head: bytes, items: list[bytes]) -> web.StreamResponse:
    """Write a list as head + items + tail in chunks of ~256 KiB, never as one joined body.

    The stored bytes of each item go out as they are; TLS encrypts a chunk at a time (one 12 MB write
    through asyncio's SSL transport costs several times more), and no full copy of the body is built or
    kept by the connection afterwards.
    """
    length = len(head) + sum(map(len, items)) + max(0, len(items) - 1) + 2
    response = web.StreamResponse(headers={"Content-Type": JSON_TYPE})
    response.content_length = length
    await response.prepare(request)
    chunk: list[bytes] = [head]
    size = len(head)
    for index, item in enumerate(items):
        if index:
            chunk.append(b",")
        chunk.append(item)
        size += len(item) + 1
        if size >= LIST_CHUNK:
            await response.write(b"".join(chunk))
            chunk, size = [], 0
    chunk.append(b"]}")
    await response.write(b"".join(chunk))
    await response.write_eof()
    return response


def json_response(data: bytes, status: int = 200) -> web.Response:
    return web.Response(body=data, status=status, content_type=JSON_TYPE)


def not_found_path(request: web.Request) -> errors.APIError:
    return errors.APIError(404, "NotFound", "the server could not find the requested resource")


def user_of(request: web.Request) -> User:
    return request.get(USER) or User("system:anonymous", ("system:unauthenticated",))


BODY_TYPES = ("application/json", "application/yaml", "application/x-yaml", "text/yaml",
              "application/vnd.kubernetes.protobuf")


def check_body_type(content_type: str) -> None:
    if content_type not in BODY_TYPES:
        raise errors.unsupported_media_type(
            content_type, "application/json, application/yaml, application/vnd.kubernetes.protobuf")


def parse_int(text: str | None, name: str) -> int | None:
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise errors.bad_request(f'{name}: Invalid value: "{text}": must be an integer') from None


def list_options(request: web.Request) -> ListOptions:
    query = request.query
    limit = parse_int(query.get("limit"), "limit") or 0
    if limit < 0:
        raise errors.bad_request(f"limit: Invalid value: {limit}: must be greater than or equal to 0")
    return ListOptions(
        label_selector=query.get("labelSelector", ""),
        field_selector=query.get("fieldSelector", ""),
        limit=limit,
        continue_token=query.get("continue", ""),
        resource_version=query.get("resourceVersion", ""),
        resource_version_match=query.get("resourceVersionMatch", ""),
    )


def delete_options_from_query(request: web.Request) -> dict | None:
    query = request.query
    body: dict = {}
    if "gracePeriodSeconds" in query:
        body["gracePeriodSeconds"] = parse_int(query["gracePeriodSeconds"], "gracePeriodSeconds")
    if "propagationPolicy" in query:
        body["propagationPolicy"] = query["propagationPolicy"]
    if "orphanDependents" in query:
        body["orphanDependents"] = query["orphanDependents"] == "true"
    return body or None


def partial_metadata(obj: dict, version: str = "v1") -> dict:
    return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}",
            "metadata": obj.get("metadata") or {}}
