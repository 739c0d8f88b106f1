"""HttpClient: the Client protocol over HTTPS, for components on other hosts (agents) and for tests.

Part of the clients layer. Credentials and the server's CA come from a kubeconfig (client certificate or
bearer token); requests and responses are JSON; watches are streamed line by line. Errors are the server's
`Status` objects, raised as `APIError`.
"""

from __future__ import annotations

import base64
import ssl
import tempfile
from pathlib import Path
from typing import AsyncIterator
from urllib.parse import quote

import aiohttp
import orjson
import yaml

from ..api.errors import APIError
from ..api.resources import ResourceInfo
from .interface import WatchEvent, delete_options


class KubeconfigError(ValueError):
    pass


def load_kubeconfig(path: Path) -> tuple[str, ssl.SSLContext, dict[str, str]]:
    """(server URL, TLS context with CA and client certificate, extra headers) of the current context."""
    try:
        config = yaml.safe_load(Path(path).read_text())
        context_name = config.get("current-context")
        context = next(c["context"] for c in config["contexts"] if c["name"] == context_name) \
            if context_name else config["contexts"][0]["context"]
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    except (OSError, yaml.YAMLError, KeyError, StopIteration, TypeError, IndexError) as exc:
        raise KubeconfigError(f"cannot use kubeconfig {path}: {exc!r}") from None
    tls = ssl.create_default_context()
    if "certificate-authority-data" in cluster:
        tls.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    elif "certificate-authority" in cluster:
        tls.load_verify_locations(cafile=cluster["certificate-authority"])
    headers = {}
    if "client-certificate-data" in user:
        tmp = Path(tempfile.mkdtemp(prefix="minik-client-"))
        cert, key = tmp / "client.crt", tmp / "client.key"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.touch(mode=0o600)
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        try:
            tls.load_cert_chain(cert, key)
        finally:
            cert.unlink()
            key.unlink()
            tmp.rmdir()
    if user.get("token"):
        headers["Authorization"] = f"Bearer {user['token']}"
    return cluster["server"].rstrip("/"), tls, headers


class HttpClient:
    def __init__(self, server: str, tls: ssl.SSLContext | None = None, headers: dict | None = None, *,
                 field_manager: str = "minik", user_agent: str = "minik"):
        self._server = server.rstrip("/")
        self._tls = tls
        self._headers = {"User-Agent": user_agent, **(headers or {})}
        self._field_manager = field_manager
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_kubeconfig(cls, path: Path, **kw) -> "HttpClient":
        server, tls, headers = load_kubeconfig(path)
        return cls(server, tls, headers, **kw)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, connector=aiohttp.TCPConnector(limit=64))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    # --- paths ---

    @staticmethod
    def path(info: ResourceInfo, namespace: str = "", name: str = "", subresource: str = "") -> str:
        base = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
        if info.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{info.plural}"
        if name:
            base += f"/{quote(name)}"
        if subresource:
            base += f"/{subresource}"
        return base

    async def _request(self, method: str, path: str, *, body=None, params: dict | None = None,
                       content_type: str = "application/json", accept: str = "application/json") -> dict:
        headers = {"Accept": accept}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else orjson.dumps(body)
            headers["Content-Type"] = content_type
        async with self.session.request(method, self._server + path, data=data, params=params,
                                        headers=headers, ssl=self._tls) as resp:
            raw = await resp.read()
            if resp.status >= 400:
                raise _error(resp.status, raw)
            return orjson.loads(raw) if raw else {}

    # --- verbs ---

    async def get(self, info: ResourceInfo, name: str, namespace: str = "", *, subresource: str = "") -> dict:
        return await self._request("GET", self.path(info, namespace, name, subresource))

    async def list(self, info: ResourceInfo, namespace: str = "", *, label_selector: str = "",
                   field_selector: str = "", limit: int = 0, continue_token: str = "",
                   resource_version: str = "", metadata_only: bool = False) -> dict:
        params = _params(labelSelector=label_selector, fieldSelector=field_selector, limit=limit or "",
                         resourceVersion=resource_version, **{"continue": continue_token})
        listed = await self._request("GET", self.path(info, namespace), params=params,
                                     accept=METADATA_LIST if metadata_only else "application/json")
        if metadata_only:
            listed["items"] = [_as_kind(item, info) for item in listed.get("items") or []]
        return listed

    async def watch(self, info: ResourceInfo, namespace: str = "", *, resource_version: str = "",
                    label_selector: str = "", field_selector: str = "", timeout_seconds: int = 0,
                    allow_bookmarks: bool = True, metadata_only: bool = False) -> AsyncIterator[WatchEvent]:
        params = _params(watch="true", resourceVersion=resource_version, labelSelector=label_selector,
                         fieldSelector=field_selector, timeoutSeconds=timeout_seconds or "",
                         allowWatchBookmarks="true" if allow_bookmarks else "")
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        accept = METADATA if metadata_only else "application/json"
        async with self.session.get(self._server + self.path(info, namespace), params=params, ssl=self._tls,
                                    timeout=timeout, headers={"Accept": accept}) as resp:
            if resp.status >= 400:
                raise _error(resp.status, await resp.read())
            async for line in resp.content:
                if not line.strip():
                    continue
                event = orjson.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise APIError.from_status(status, status.get("code", 500))
                obj = event["object"]
                yield WatchEvent(event["type"], _as_kind(obj, info) if metadata_only else obj)

    async def create(self, info: ResourceInfo, obj: dict, namespace: str = "", *, field_manager: str = "",
                     subresource: str = "", name: str = "") -> dict:
        namespace = namespace or (obj.get("metadata") or {}).get("namespace", "")
        name = name if subresource else ""
        return await self._request("POST", self.path(info, namespace, name, subresource), body=obj,
                                   params={"fieldManager": field_manager or self._field_manager})

    async def update(self, info: ResourceInfo, obj: dict, *, subresource: str = "", field_manager: str = "") -> dict:
        meta = obj.get("metadata") or {}
        return await self._request("PUT", self.path(info, meta.get("namespace", ""), meta.get("name", ""), subresource),
                                   body=obj, params={"fieldManager": field_manager or self._field_manager})

    async def patch(self, info: ResourceInfo, name: str, patch, namespace: str = "", *,
                    patch_type: str = "application/merge-patch+json", subresource: str = "",
                    field_manager: str = "", force: bool | None = None) -> dict:
        params = {"fieldManager": field_manager or self._field_manager}
        if force is not None:
            params["force"] = "true" if force else "false"
        return await self._request("PATCH", self.path(info, namespace, name, subresource), body=patch,
                                   params=params, content_type=patch_type)

    async def delete(self, info: ResourceInfo, name: str, namespace: str = "", *,
                     grace_period_seconds: int | None = None, propagation_policy: str = "",
                     preconditions: dict | None = None) -> dict:
        body = {"kind": "DeleteOptions", "apiVersion": "v1",
                **delete_options(grace_period_seconds, propagation_policy, preconditions)}
        return await self._request("DELETE", self.path(info, namespace, name), body=body)


METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"


def _as_kind(obj: dict, info: ResourceInfo) -> dict:
    """A PartialObjectMetadata item, named by its real kind (as LocalClient's metadata-only items are)."""
    return {"apiVersion": info.api_version, "kind": info.kind, "metadata": obj.get("metadata") or {}}


def _params(**values) -> dict:
    return {k: str(v) for k, v in values.items() if v not in ("", None)}


def _error(status: int, raw: bytes) -> APIError:
    try:
        body = orjson.loads(raw)
        if isinstance(body, dict) and body.get("kind") == "Status":
            return APIError.from_status(body, status)
    except orjson.JSONDecodeError:
        pass
    return APIError(status, "", raw.decode(errors="replace")[:500])
