"""API errors and their `Status` objects: every non-2xx answer minik gives is one of these.

Part of the API layer's bottom; the registry raises them, the HTTP layer serializes them, clients parse
them back (`APIError.from_status`). Messages follow k8s.io/apimachinery/pkg/api/errors word for word,
because users and tools match on them (kubectl prints them as they are).
"""

from __future__ import annotations

from typing import Any

from .resources import ResourceInfo


class APIError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            status["details"] = self.details
        return status

    @classmethod
    def from_status(cls, status: dict, code: int = 0) -> "APIError":
        return cls(
            status.get("code") or code or 500,
            status.get("reason", ""),
            status.get("message", ""),
            status.get("details"),
        )

    def __repr__(self) -> str:
        return f"APIError({self.code}, {self.reason!r}, {self.message!r})"


def _details(info: ResourceInfo | None, name: str = "", *, kind: str | None = None, **extra) -> dict:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if info is not None:
        if info.group:
            details["group"] = info.group
        details["kind"] = kind or info.plural
    details.update({k: v for k, v in extra.items() if v})
    return details


def not_found(info: ResourceInfo, name: str) -> APIError:
    return APIError(404, "NotFound", f'{info.group_resource} "{name}" not found', _details(info, name))


def already_exists(info: ResourceInfo, name: str) -> APIError:
    return APIError(409, "AlreadyExists", f'{info.group_resource} "{name}" already exists', _details(info, name))


def conflict(info: ResourceInfo, name: str, why: str) -> APIError:
    return APIError(
        409, "Conflict", f'Operation cannot be fulfilled on {info.group_resource} "{name}": {why}', _details(info, name)
    )


MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(info: ResourceInfo, name: str, causes: list) -> APIError:
    """422 with field causes; `causes` are `minik.api.validation.Cause` objects (or StatusCause dicts)."""
    as_dicts = [c if isinstance(c, dict) else c.to_dict() for c in causes]
    qualified = f"{info.kind}.{info.group}" if info.group else info.kind
    parts = [_cause_text(c) for c in as_dicts]
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return APIError(
        422,
        "Invalid",
        f'{qualified} "{name}" is invalid: {summary}',
        _details(info, name, kind=info.kind, causes=as_dicts),
    )


def _cause_text(cause: dict) -> str:
    field = cause.get("field", "")
    return f"{field}: {cause.get('message', '')}" if field else cause.get("message", "")


def bad_request(message: str) -> APIError:
    return APIError(400, "BadRequest", message)


def unauthorized(message: str = "Unauthorized") -> APIError:
    return APIError(401, "Unauthorized", message)


def forbidden(message: str, info: ResourceInfo | None = None, name: str = "") -> APIError:
    return APIError(403, "Forbidden", message, _details(info, name) or None)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> APIError:
    return APIError(405, "MethodNotAllowed", message)


def not_acceptable(accepted: str = "application/json, application/yaml") -> APIError:
    return APIError(406, "NotAcceptable", f"only the following media types are accepted: {accepted}")


def gone(message: str) -> APIError:
    """410 Expired: a resourceVersion or continue token older than the store's history."""
    return APIError(410, "Expired", message)


def too_large(message: str = "the request is too large") -> APIError:
    return APIError(413, "RequestEntityTooLarge", message)


def unsupported_media_type(content_type: str, accepted: str) -> APIError:
    return APIError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format ({content_type}) - accepted media types include: {accepted}",
    )


def too_many_requests(message: str, retry_after: int = 1) -> APIError:
    return APIError(429, "TooManyRequests", message, {"retryAfterSeconds": retry_after})


def internal(message: str = "an error on the server prevented the request from succeeding") -> APIError:
    return APIError(500, "InternalError", message)


def service_unavailable(message: str) -> APIError:
    return APIError(503, "ServiceUnavailable", message)


def timeout(message: str, retry_after: int = 1) -> APIError:
    return APIError(504, "Timeout", message, {"retryAfterSeconds": retry_after})


def success_status(info: ResourceInfo, name: str, uid: str = "") -> dict:
    """The Status returned by deletes of kinds that do not return the deleted object."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": _details(info, name, uid=uid),
    }
