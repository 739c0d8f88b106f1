"""Pod helpers shared by controllers: readiness, availability, ownership, pods from templates.

Part of the controllers layer. These are the rules kube-controller-manager applies in many places
(k8s.io/kubernetes/pkg/api/v1/pod, pkg/controller/controller_utils.go), kept in one module so every
controller counts "ready" and "available" the same way.
"""

from __future__ import annotations

import datetime as dt

from ..api.meta import json_copy, owner_reference, parse_time

TERMINAL_PHASES = ("Succeeded", "Failed")


def condition_status(obj: dict, condition_type: str) -> str:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == condition_type:
            return cond.get("status", "")
    return ""


def is_pod_ready(pod: dict) -> bool:
    return condition_status(pod, "Ready") == "True"


def ready_since(pod: dict) -> dt.datetime | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            return parse_time(cond.get("lastTransitionTime"))
    return None


def is_pod_available(pod: dict, min_ready_seconds: int, now: dt.datetime) -> bool:
    """Ready for at least minReadySeconds (podutil.IsPodAvailable)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + dt.timedelta(seconds=min_ready_seconds) < now


def is_terminal(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") in TERMINAL_PHASES


def is_active(pod: dict) -> bool:
    """Counts toward a controller's replicas: not finished and not being deleted."""
    return not is_terminal(pod) and not (pod.get("metadata") or {}).get("deletionTimestamp")


def controller_uid(obj: dict) -> str:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid", "")
    return ""


def is_controlled_by(obj: dict, owner: dict) -> bool:
    return controller_uid(obj) == owner["metadata"]["uid"]


def pod_from_template(template: dict, owner: dict, *, name: str = "", generate_name: str = "",
                      extra_labels: dict | None = None) -> dict:
    """A Pod for `owner` from its pod template (controller_utils.GetPodFromTemplate)."""
    template = template or {}
    meta = json_copy(template.get("metadata") or {})
    meta.pop("creationTimestamp", None)
    labels = dict(meta.get("labels") or {})
    labels.update(extra_labels or {})
    pod_meta = {"namespace": owner["metadata"]["namespace"], "labels": labels,
                "ownerReferences": [owner_reference(owner)]}
    if meta.get("annotations"):
        pod_meta["annotations"] = dict(meta["annotations"])
    if meta.get("finalizers"):
        pod_meta["finalizers"] = list(meta["finalizers"])
    if name:
        pod_meta["name"] = name
    else:
        pod_meta["generateName"] = generate_name or f"{owner['metadata']['name']}-"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": json_copy(template.get("spec") or {})}
