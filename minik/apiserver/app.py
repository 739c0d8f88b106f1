"""The aiohttp application: routes, middlewares, and the TLS listener.

Part of the API layer's HTTP side; `minik.server` builds it. Every error leaves as a Kubernetes `Status`
(unexpected ones are logged with their traceback and answered 500 without it), every request can be
logged in one access line, and bodies over 3 MiB are refused with 413 before they are read.
"""

from __future__ import annotations

import logging
import ssl
import time

import orjson
from aiohttp import web

from ..api import errors
from .auth import USER, Authenticator
from .handlers import Handlers

log = logging.getLogger(__name__)
access_log = logging.getLogger("minik.access")

MAX_BODY = 3 * 1024 * 1024  # kube-apiserver's limit for a request body


def status_response(error: errors.APIError) -> web.Response:
    headers = {}
    retry = (error.details or {}).get("retryAfterSeconds")
    if retry:
        headers["Retry-After"] = str(retry)
    return web.Response(body=orjson.dumps(error.status()), status=error.code, content_type="application/json",
                        headers=headers)


_HTTP_REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
    406: "NotAcceptable", 409: "Conflict", 413: "RequestEntityTooLarge", 415: "UnsupportedMediaType",
    422: "Invalid", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


@web.middleware
async def errors_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except errors.APIError as exc:
        return status_response(exc)
    except web.HTTPRequestEntityTooLarge:
        return status_response(errors.too_large())
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = "the server could not find the requested resource" if exc.status == 404 else exc.reason
        return status_response(errors.APIError(exc.status, _HTTP_REASONS.get(exc.status, "Unknown"), message))
    except (ConnectionResetError, ConnectionError):
        raise
    except Exception:
        log.exception("internal error serving %s %s", request.method, request.path_qs)
        return status_response(errors.internal())


@web.middleware
async def access_middleware(request: web.Request, handler):
    if not access_log.isEnabledFor(logging.INFO):
        return await handler(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        user = request.get(USER)
        access_log.info("%s %s %d %.1fms %s", request.method, request.path_qs, status,
                        (time.perf_counter() - started) * 1000, user.name if user else "-")


def make_app(handlers: Handlers, authenticator: Authenticator) -> web.Application:
    app = web.Application(
        middlewares=[access_middleware, errors_middleware, authenticator.middleware],
        client_max_size=MAX_BODY,
    )
    r = app.router
    r.add_get("/version", handlers.version)
    for path in ("/healthz", "/livez"):
        r.add_get(path, handlers.healthz)
    r.add_get("/readyz", handlers.readyz)
    r.add_get("/openapi/v2", handlers.openapi_v2)
    r.add_get("/openapi/v3", handlers.openapi_v3)
    r.add_get("/openapi/v3/{path:.+}", handlers.openapi_v3)
    r.add_get("/api", handlers.api_root)
    r.add_get("/apis", handlers.apis_root)
    for prefix in ("/api", "/apis"):
        r.add_route("*", prefix + "/{tail:.+}", handlers.resource)
    return app


async def serve(app: web.Application, *, host: str, port: int, ssl_context: ssl.SSLContext | None) -> web.AppRunner:
    """Start listening; returns the runner (await runner.cleanup() to stop)."""
    # handler_cancellation: aiohttp otherwise keeps running a handler whose client has gone, so a watch
    # on a dead connection would linger until its next write.
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_address=True, backlog=1024)
    await site.start()
    return runner
