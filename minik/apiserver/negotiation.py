"""Content negotiation: which representation a request asks for, and what its body is.

Part of the API layer's HTTP side. Kubernetes clients ask for JSON, for server-side Tables
(`as=Table;g=meta.k8s.io`), for metadata only (`as=PartialObjectMetadata`), or for aggregated discovery
(`as=APIGroupDiscoveryList;g=apidiscovery.k8s.io`), always with a plain-JSON fallback; protobuf is skipped
because every client that asks for it also accepts JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..api import errors

ACCEPTED = "application/json, application/yaml"


@dataclass(frozen=True)
class MediaType:
    type: str  # "application/json"
    params: tuple[tuple[str, str], ...] = ()

    def param(self, name: str) -> str:
        for key, value in self.params:
            if key == name:
                return value
        return ""


@dataclass(frozen=True)
class Output:
    """What to send back: format "json" | "yaml", and `as_` "" | "Table" | "PartialObjectMetadata"."""

    format: str = "json"
    as_: str = ""
    version: str = "v1"  # of the meta.k8s.io or apidiscovery.k8s.io representation
    group: str = ""


def parse_media_types(header: str) -> list[MediaType]:
    types = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0]:
            continue
        params = []
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            params.append((key.strip().lower(), value.strip().strip('"')))
        types.append(MediaType(pieces[0].lower(), tuple(params)))
    return types


def negotiate(accept: str, *, discovery: bool = False) -> Output:
    """The first representation in the Accept header that minik can produce; 406 when there is none."""
    if not accept:
        return Output()
    for media in parse_media_types(accept):
        if media.param("q") == "0":
            continue
        kind = media.type
        if kind in ("*/*", "application/*"):
            return Output()
        if kind == "application/yaml":
            return Output("yaml")
        if kind != "application/json":
            continue  # protobuf, cbor, ...: the client always lists a JSON fallback
        as_, group, version = media.param("as"), media.param("g"), media.param("v")
        if not as_:
            return Output()
        if as_ in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList") and group == "meta.k8s.io" \
                and version in ("v1", "v1beta1"):
            return Output("json", "Table" if as_ == "Table" else "PartialObjectMetadata", version, group)
        if discovery and as_ == "APIGroupDiscoveryList" and group == "apidiscovery.k8s.io" \
                and version in ("v2", "v2beta1"):
            return Output("json", as_, version, group)
    raise errors.not_acceptable(ACCEPTED)


def content_type_of(header: str | None) -> str:
    """The media type of a request body; a missing Content-Type means JSON (as in kube-apiserver)."""
    if not header:
        return "application/json"
    return header.split(";", 1)[0].strip().lower()
