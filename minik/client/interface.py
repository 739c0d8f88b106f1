"""The Client protocol: the Kubernetes API verbs as the components above the API layer use them.

Part of the clients layer (storage → registry → API → **clients** → controllers/scheduler/kubelet/proxy).
Two implementations satisfy it and run the same tests: `LocalClient` (in-process, through the same
`Operations` the HTTP handlers use, so defaulting, validation, admission and watch events are identical)
and `HttpClient` (HTTPS, for agents on other hosts). Objects are plain dicts; errors are `APIError`
(code, reason) exactly as the server answered them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Protocol

from ..api.errors import APIError
from ..api.resources import BUILTIN_RESOURCES, ResourceInfo

__all__ = ["APIError", "Client", "WatchEvent", "resource", "is_conflict", "is_not_found", "is_already_exists"]


# Key of the items' JSON bytes in an in-process list result (LocalClient puts the store's own bytes there;
# informers keep those instead of a copy).
RAW_ITEMS = "minik.raw"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str  # ADDED MODIFIED DELETED BOOKMARK
    object: dict
    raw: bytes | None = None  # the object's JSON when the client has it anyway (LocalClient: the store's bytes)


class Client(Protocol):
    async def get(self, info: ResourceInfo, name: str, namespace: str = "", *, subresource: str = "") -> dict: ...

    async def list(self, info: ResourceInfo, namespace: str = "", *, label_selector: str = "",
                   field_selector: str = "", limit: int = 0, continue_token: str = "",
                   resource_version: str = "", metadata_only: bool = False) -> dict:
        """A List object: `items`, `metadata.resourceVersion`, `metadata.continue`.

        `metadata_only`: items carry only apiVersion, kind and metadata (PartialObjectMetadata), as
        metadata informers use them (the garbage collector).
        """

    def watch(self, info: ResourceInfo, namespace: str = "", *, resource_version: str = "",
              label_selector: str = "", field_selector: str = "", timeout_seconds: int = 0,
              allow_bookmarks: bool = True, metadata_only: bool = False) -> AsyncIterator[WatchEvent]:
        """Events until the server ends the stream. A too-old resourceVersion raises APIError 410."""

    async def create(self, info: ResourceInfo, obj: dict, namespace: str = "", *, field_manager: str = "",
                     subresource: str = "", name: str = "") -> dict:
        """POST; with `subresource` (and `name`) a subresource create, e.g. pods/binding."""

    async def update(self, info: ResourceInfo, obj: dict, *, subresource: str = "", field_manager: str = "") -> dict: ...

    async def patch(self, info: ResourceInfo, name: str, patch, namespace: str = "", *,
                    patch_type: str = "application/merge-patch+json", subresource: str = "",
                    field_manager: str = "", force: bool | None = None) -> dict: ...

    async def delete(self, info: ResourceInfo, name: str, namespace: str = "", *,
                     grace_period_seconds: int | None = None, propagation_policy: str = "",
                     preconditions: dict | None = None) -> dict: ...


_BUILTIN = {(info.group, info.plural): info for info in BUILTIN_RESOURCES}


def resource(plural: str, group: str = "") -> ResourceInfo:
    """A built-in resource by plural and group: `resource("deployments", "apps")`."""
    return _BUILTIN[(group, plural)]


def delete_options(grace_period_seconds: int | None = None, propagation_policy: str = "",
                   preconditions: dict | None = None) -> dict:
    """The fields of a DeleteOptions body that `Client.delete` was given (empty when none)."""
    body: dict = {}
    if grace_period_seconds is not None:
        body["gracePeriodSeconds"] = grace_period_seconds
    if propagation_policy:
        body["propagationPolicy"] = propagation_policy
    if preconditions:
        body["preconditions"] = preconditions
    return body


def is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, APIError) and exc.code == 409 and exc.reason == "Conflict"


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, APIError) and exc.code == 404


def is_already_exists(exc: BaseException) -> bool:
    return isinstance(exc, APIError) and exc.reason == "AlreadyExists"
