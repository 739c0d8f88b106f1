"""Test helpers shared by integration and end-to-end tests: a real HTTPS client from a kubeconfig."""

from __future__ import annotations

import base64
import io
import socket
import ssl
import tempfile
from pathlib import Path

import aiohttp
import orjson
import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ssl_context_from_kubeconfig(path: Path, *, client_cert: bool = True) -> ssl.SSLContext:
    config = yaml.safe_load(Path(path).read_text())
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    context = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    if client_cert:
        tmp = Path(tempfile.mkdtemp())
        (tmp / "c.pem").write_bytes(base64.b64decode(user["client-certificate-data"]))
        (tmp / "k.pem").write_bytes(base64.b64decode(user["client-key-data"]))
        context.load_cert_chain(tmp / "c.pem", tmp / "k.pem")
    return context


class Api:
    """A minimal HTTPS client for tests: returns (status, decoded JSON or text)."""

    def __init__(self, url: str, kubeconfig: Path, *, client_cert: bool = True, token: str | None = None):
        self.url = url
        self._ssl = ssl_context_from_kubeconfig(kubeconfig, client_cert=client_cert)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.session = aiohttp.ClientSession(headers=headers)

    async def close(self) -> None:
        await self.session.close()

    async def request(self, method: str, path: str, body=None, *, content_type: str = "application/json",
                      headers: dict | None = None, raw: bytes | None = None, params=None):
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        if data is not None and len(data) > 1024 * 1024:
            data = io.BytesIO(data)  # aiohttp warns about large raw bodies
        hdrs = dict(headers or {})
        if data is not None:
            hdrs.setdefault("Content-Type", content_type)
        async with self.session.request(method, self.url + path, data=data, headers=hdrs, ssl=self._ssl,
                                        params=params) as resp:
            text = await resp.read()
            ctype = resp.headers.get("Content-Type", "")
            value = orjson.loads(text) if text and ctype.startswith("application/json") else text.decode()
            return resp.status, value

    async def get(self, path: str, **kw):
        return await self.request("GET", path, **kw)

    async def post(self, path: str, body, **kw):
        return await self.request("POST", path, body, **kw)

    async def put(self, path: str, body, **kw):
        return await self.request("PUT", path, body, **kw)

    async def patch(self, path: str, body, content_type: str, **kw):
        return await self.request("PATCH", path, body, content_type=content_type, **kw)

    async def delete(self, path: str, body=None, **kw):
        return await self.request("DELETE", path, body, **kw)

    async def watch(self, path: str, *, timeout: float = 5.0, headers: dict | None = None):
        """Yield watch events (decoded JSON lines) until the server closes the stream or `timeout` passes."""
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with self.session.get(self.url + path, ssl=self._ssl, timeout=client_timeout,
                                    headers=headers or {}) as resp:
            assert resp.status == 200, await resp.text()
            async for line in resp.content:
                if line.strip():
                    yield orjson.loads(line)
