"""The pod-template-hash: how a Deployment names its ReplicaSets and tells their templates apart.

Part of the controllers layer, used by the Deployment controller (the ReplicaSet controller only ever sees
the label it produces). Kubernetes' controller.ComputeHash feeds a pod template, printed by
hashutil.DeepHashObject (go-spew over the Go structs), into FNV-32a, appends `collisionCount` as 8
little-endian bytes when it is set, and renders the decimal Sum32 with rand.SafeEncodeString, so the label
is up to ten characters of "bcdfghjklmnpqrstvwxz2456789".

What we do: the same FNV-32a, collision-count suffix and encoding, but over a canonical JSON form of the
template instead of go-spew's dump of Go structs (which needs Go's type information, field order and zero
values). So the label is not bit-identical to the one kube-controller-manager would compute for the same
template; it is stable across restarts and processes (no randomness, sorted keys) and equal for equal
templates, which is what naming and adoption need. "Equal" is `equal_ignore_hash`'s notion (Kubernetes'
deploymentutil.EqualIgnoreHash with apimachinery's semantic equality): absent, null and empty maps or lists
are the same, so a template that went through `kubectl rollout undo` (which sends
`"creationTimestamp": null` and `"resources": {}`) hashes like the one it was copied from.
"""

from __future__ import annotations

import struct

import orjson
from ..api.meta import json_copy

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"  # apps.DefaultDeploymentUniqueLabelKey

# k8s.io/apimachinery/pkg/util/rand: no vowels (no words), no confusable 0/1/3
_SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def fnv32(data: bytes) -> int:
    """FNV-1 (hash/fnv.New32), as history.HashControllerRevision uses."""
    h = _FNV32_OFFSET
    for byte in data:
        h = (h * _FNV32_PRIME) & 0xFFFFFFFF
        h ^= byte
    return h


def fnv32a(data: bytes, h: int = _FNV32_OFFSET) -> int:
    """hash/fnv.New32a over `data`, continuing from `h`."""
    for byte in data:
        h ^= byte
        h = (h * _FNV32_PRIME) & 0xFFFFFFFF
    return h


def safe_encode_string(text: str) -> str:
    """rand.SafeEncodeString."""
    return "".join(_SAFE_ALPHANUMS[ord(ch) % len(_SAFE_ALPHANUMS)] for ch in text)


def normalized(value):
    """A copy without nulls and empty maps/lists inside maps: the JSON shape of semantic equality.

    Go decodes `null`, a missing field and (for maps and slices) an empty value to the same thing, and
    apimachinery's Semantic.DeepEqual treats nil and empty maps/slices as equal.
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = normalized(item)
            if item is None or (isinstance(item, (dict, list)) and not item):
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        return [normalized(item) for item in value]
    return value


def canonical_bytes(template: dict | None) -> bytes:
    return orjson.dumps(normalized(template or {}), option=orjson.OPT_SORT_KEYS)


def compute_hash(template: dict | None, collision_count: int | None = None) -> str:
    """controller.ComputeHash(template, collisionCount) (see the module docstring for how it differs)."""
    h = fnv32a(canonical_bytes(template))
    if collision_count is not None:
        # binary.LittleEndian.PutUint32 into an 8-byte slice, all of which is written
        h = fnv32a(struct.pack("<I", collision_count & 0xFFFFFFFF) + b"\0\0\0\0", h)
    return safe_encode_string(str(h))


def without_hash_label(template: dict | None) -> dict:
    """A copy of `template` whose labels lack pod-template-hash."""
    template = json_copy(template or {})
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH_LABEL, None)
    return template


def equal_ignore_hash(template1: dict | None, template2: dict | None) -> bool:
    """deploymentutil.EqualIgnoreHash: equal templates once the pod-template-hash label is ignored."""
    return normalized(without_hash_label(template1)) == normalized(without_hash_label(template2))
