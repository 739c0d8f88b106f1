"""DefaultTolerationSeconds: pods tolerate not-ready/unreachable nodes for 300 s unless they say otherwise.

Part of the registry layer's admission chain (plugin/pkg/admission/defaulttolerationseconds). A pod
created without a toleration for the node lifecycle controller's NoExecute taints
`node.kubernetes.io/not-ready` and `node.kubernetes.io/unreachable` gets one with tolerationSeconds 300,
so the taint-eviction part of the node lifecycle controller evicts it five minutes after its node is
lost, not at once.
"""

from __future__ import annotations

TAINT_NODE_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_NODE_UNREACHABLE = "node.kubernetes.io/unreachable"
DEFAULT_NOT_READY_TOLERATION_SECONDS = 300  # --default-not-ready-toleration-seconds
DEFAULT_UNREACHABLE_TOLERATION_SECONDS = 300  # --default-unreachable-toleration-seconds


def _tolerates(tolerations: list, key: str) -> bool:
    # As the plugin checks it: an empty key or effect counts as matching (Exists-style wildcards).
    for toleration in tolerations:
        if not isinstance(toleration, dict):
            continue
        if toleration.get("key", "") in (key, "") and toleration.get("effect", "") in ("NoExecute", ""):
            return True
    return False


class DefaultTolerationSeconds:
    def __init__(self, *, not_ready_seconds: int = DEFAULT_NOT_READY_TOLERATION_SECONDS,
                 unreachable_seconds: int = DEFAULT_UNREACHABLE_TOLERATION_SECONDS):
        self.not_ready_seconds = not_ready_seconds
        self.unreachable_seconds = unreachable_seconds

    async def admit(self, operation, store, obj, old, ctx) -> None:
        info = store.info
        # Creates only: the plugin skips subresources, and an update here cannot tell a pods/status write
        # (whose spec must not change) from a write to the pod itself.
        if operation != "create" or info.group or info.plural != "pods" or obj is None:
            return
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        tolerations = spec.get("tolerations") or []
        if not isinstance(tolerations, list):
            return
        added = []
        if not _tolerates(tolerations, TAINT_NODE_NOT_READY):
            added.append({"key": TAINT_NODE_NOT_READY, "operator": "Exists", "effect": "NoExecute",
                          "tolerationSeconds": self.not_ready_seconds})
        if not _tolerates(tolerations, TAINT_NODE_UNREACHABLE):
            added.append({"key": TAINT_NODE_UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                          "tolerationSeconds": self.unreachable_seconds})
        if added:
            spec["tolerations"] = list(tolerations) + added

    async def validate(self, operation, store, obj, old, ctx) -> None:
        pass
