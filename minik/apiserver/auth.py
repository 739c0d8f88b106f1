"""Authentication: who is asking. Client certificates (verified by TLS) and static bearer tokens.

Part of the API layer's HTTP side. The TLS layer has already verified a client certificate against the
client CA; its CN is the user and its O entries the groups, as in Kubernetes. Scripts may use a bearer
token instead (the admin token file). Every authenticated user is authorized fully for now: RBAC is not
implemented, and said so in the README.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from ..api import errors
from ..pki import identity_from_peercert
from ..registry.store import User

# The authenticated user of a request (set by the middleware, read by the handlers).
USER = web.RequestKey("minik_user", User)

# Paths anyone may read (kube-apiserver grants these to system:unauthenticated too).
ANONYMOUS_PATHS = frozenset(("/version", "/healthz", "/livez", "/readyz"))


class Authenticator:
    def __init__(self, tokens: dict[str, User] | None = None):
        self._tokens = dict(tokens or {})

    def add_token(self, token: str, user: User) -> None:
        self._tokens[token] = user

    def identify(self, request: web.Request) -> User | None:
        transport = request.transport
        peercert = transport.get_extra_info("peercert") if transport is not None else None
        if peercert:
            identity = identity_from_peercert(peercert)
            if identity is not None:
                name, groups = identity
                return User(name, tuple(groups) + ("system:authenticated",))
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            presented = header[7:].strip()
            for token, user in self._tokens.items():
                if hmac.compare_digest(token.encode(), presented.encode()):
                    return user
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        if request.path in ANONYMOUS_PATHS:
            return await handler(request)
        user = self.identify(request)
        if user is None:
            raise errors.unauthorized()
        request[USER] = user
        return await handler(request)
