"""ControllerRevisions: the template history of DaemonSets and StatefulSets (pkg/controller/history).

Part of the controllers layer, shared by the DaemonSet and StatefulSet controllers. Each distinct pod
template an owner has had is stored as an apps/v1 ControllerRevision whose `data` is the patch that
restores it (`{"spec": {"template": {..., "$patch": "replace"}}}`, as Kubernetes' getPatch builds it) and
whose `revision` number orders the history; `kubectl rollout history/undo` read them. Pods carry the
`controller-revision-hash` label of the revision they were made from, which is how both controllers tell
updated pods from old ones.

The two owners name revisions alike (`<owner>-<hash>`) but hash differently, as Kubernetes does:
DaemonSets hash the template (controller.ComputeHash, FNV-1a, label value = the hash); StatefulSets hash
the revision data (history.HashControllerRevision, FNV-1, label value = the revision name).
"""

from __future__ import annotations

import orjson

from ..api.meta import json_copy, owner_reference
from ..api.errors import APIError
from ..client.informer import SharedInformer, controller_uid_index
from ..client.interface import Client, is_already_exists, is_not_found, resource
from .hashing import fnv32, safe_encode_string

CONTROLLER_REVISIONS = resource("controllerrevisions", "apps")
REVISION_HASH_LABEL = "controller-revision-hash"  # apps.ControllerRevisionHashLabelKey
HISTORY_HASH_LABEL = "controller.kubernetes.io/hash"  # history.ControllerRevisionHashLabel
CONTROLLER_UID_INDEX = "controller-uid"

# --- hashing ---


def canonical_json(value) -> bytes:
    # Kubernetes marshals maps with sorted keys; sorting makes the hash independent of key order.
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def data_hash(data: dict, collision_count: int | None) -> str:
    """history.HashControllerRevision(revision, collisionCount) over the revision's data."""
    raw = canonical_json(data)
    if collision_count is not None:
        raw += str(collision_count).encode()
    return safe_encode_string(str(fnv32(raw)))


def revision_name(prefix: str, hash_: str) -> str:
    """history.ControllerRevisionName: the prefix is cut so the name stays within 253 characters."""
    return f"{prefix[:223]}-{hash_}"


# --- revision contents ---


def template_patch(owner: dict) -> dict:
    """The revision data that restores `owner`'s pod template (getPatch)."""
    template = json_copy((owner.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def template_of(revision: dict) -> dict:
    """The pod template a revision records (ApplyRevision, for the template part)."""
    template = json_copy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def with_template(owner: dict, revision: dict) -> dict:
    """A copy of `owner` whose template is the one `revision` recorded (ApplyRevision)."""
    applied = json_copy(owner)
    applied.setdefault("spec", {})["template"] = template_of(revision)
    return applied


def matches(revision: dict, owner: dict) -> bool:
    """Whether `revision` records `owner`'s current template (daemon.Match / history.EqualRevision)."""
    return (revision.get("data") or {}) == template_patch(owner)


def revision_number(revision: dict) -> int:
    return int(revision.get("revision") or 0)


def sort_revisions(revisions: list[dict]) -> list[dict]:
    """By revision number, then creation time and name (history.SortControllerRevisions)."""
    return sorted(revisions, key=lambda r: (revision_number(r), r["metadata"].get("creationTimestamp") or "",
                                            r["metadata"]["name"]))


def next_revision_number(revisions: list[dict]) -> int:
    return max((revision_number(r) for r in revisions), default=0) + 1


def new_revision(owner: dict, number: int, *, labels: dict, annotations: dict | None = None) -> dict:
    """A ControllerRevision (without its name) owned by `owner`, recording its current template."""
    meta = {"namespace": owner["metadata"]["namespace"], "labels": dict(labels),
            "ownerReferences": [owner_reference(owner)]}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": meta,
            "data": template_patch(owner), "revision": number}


# --- the history store ---


class History:
    """An owner's ControllerRevisions, read from an informer cache and written through the client."""

    def __init__(self, client: Client, informer: SharedInformer):
        self.client = client
        self.informer = informer
        informer.indexer.add_indexer(CONTROLLER_UID_INDEX, controller_uid_index)

    def owned(self, owner: dict) -> list[dict]:
        """Revisions whose controller is `owner`, sorted oldest first."""
        uid = owner["metadata"]["uid"]
        return sort_revisions(self.informer.indexer.by_index(CONTROLLER_UID_INDEX, uid))

    async def get(self, namespace: str, name: str) -> dict | None:
        try:
            return await self.client.get(CONTROLLER_REVISIONS, name, namespace)
        except APIError as exc:
            if is_not_found(exc):
                return None
            raise

    async def create_hashed(self, revision: dict, owner_name: str, collision_count: int) -> tuple[dict, int]:
        """Create `revision` named `<owner>-<data hash>`, probing past name collisions.

        history.CreateControllerRevision: an existing revision with the same name and data is ours
        already; one with other data is a hash collision, and the collision count goes up until a free
        name is found. Returns the revision and the (possibly raised) collision count.
        """
        while True:
            hash_ = data_hash(revision["data"], collision_count)
            candidate = json_copy(revision)
            candidate["metadata"]["name"] = revision_name(owner_name, hash_)
            candidate["metadata"]["labels"][HISTORY_HASH_LABEL] = hash_
            try:
                return await self.client.create(CONTROLLER_REVISIONS, candidate), collision_count
            except APIError as exc:
                if not is_already_exists(exc):
                    raise
            existing = await self.get(candidate["metadata"]["namespace"], candidate["metadata"]["name"])
            if existing is not None and existing.get("data") == candidate["data"]:
                return existing, collision_count
            collision_count += 1

    async def create(self, revision: dict) -> dict | None:
        """Create a fully named revision; None when the name is taken by other data (a collision)."""
        try:
            return await self.client.create(CONTROLLER_REVISIONS, revision)
        except APIError as exc:
            if not is_already_exists(exc):
                raise
        meta = revision["metadata"]
        existing = await self.get(meta["namespace"], meta["name"])
        if existing is not None and existing.get("data") == revision["data"]:
            return existing
        return None

    async def set_revision_number(self, revision: dict, number: int) -> dict:
        """Give an existing revision a new number (a rollback makes an old template current again)."""
        if revision_number(revision) == number:
            return revision
        updated = json_copy(revision)
        updated["revision"] = number
        return await self.client.update(CONTROLLER_REVISIONS, updated)

    async def delete(self, revision: dict) -> None:
        meta = revision["metadata"]
        try:
            await self.client.delete(CONTROLLER_REVISIONS, meta["name"], meta["namespace"])
        except APIError as exc:
            if not is_not_found(exc):
                raise
