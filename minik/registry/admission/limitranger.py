"""LimitRanger admission: a namespace's LimitRanges default and bound what pods and claims ask for.

Part of the registry layer's admission chain (plugin/pkg/admission/limitranger). On pod creation the
mutating half fills each container's missing requests and limits from the `Container` items' default
(limits) and defaultRequest (requests), noting what it set in the `kubernetes.io/limit-ranger`
annotation; the validating half enforces min, max and maxLimitRequestRatio per Container, per Pod (the
pod's summed requests and limits) and per PersistentVolumeClaim (storage requests), refusing with 403
Forbidden and Kubernetes' messages, e.g.

    pods "x" is forbidden: maximum cpu usage per Container is 1, but limit is 2

LimitRange items are read with the API's defaulting applied (SetDefaults_LimitRangeItem: default from
max, defaultRequest from default, then from min), since minik's LimitRange strategy does not store them.
A container that states limits but no requests is first given requests equal to its limits, as
Kubernetes' pod defaulting does before admission.
"""

from __future__ import annotations

from fractions import Fraction

from ...api import errors
from ...api.meta import decode
from ...api.quantity import QuantityError, canonicalize, parse_quantity, to_milli
from ..kinds.pods import qos_class
from .quota import pod_resources, to_text

LIMIT_RANGER_ANNOTATION = "kubernetes.io/limit-ranger"


def _q(text) -> Fraction | None:
    try:
        return parse_quantity(text)
    except (QuantityError, TypeError, ValueError):
        return None


def _text(text) -> str:
    """Quantity.String() of a stored quantity."""
    try:
        return canonicalize(text)
    except (QuantityError, TypeError, ValueError):
        return str(text)


def _milli(q: Fraction | None) -> int:
    """requestLimitEnforcedValues compares at milli precision (MilliValue rounds up)."""
    return 0 if q is None else to_milli(q)


def defaulted_item(item: dict) -> dict:
    """SetDefaults_LimitRangeItem for Container items."""
    item = dict(item)
    if item.get("type") != "Container":
        return item
    default = dict(item.get("default") or {})
    request = dict(item.get("defaultRequest") or {})
    for name, value in (item.get("max") or {}).items():
        default.setdefault(name, value)
    for name, value in default.items():
        request.setdefault(name, value)
    for name, value in (item.get("min") or {}).items():
        request.setdefault(name, value)
    item["default"], item["defaultRequest"] = default, request
    return item


def _items(limit_range: dict) -> list[dict]:
    return [defaulted_item(i) for i in (limit_range.get("spec") or {}).get("limits") or [] if isinstance(i, dict)]


# --- defaults (mutating) ---


def _merge_container(container: dict, *, limits: dict, requests: dict, prefix: str, notes: list[str]) -> None:
    resources = container.setdefault("resources", {})
    own_limits = resources.setdefault("limits", {})
    own_requests = resources.setdefault("requests", {})
    for name, value in own_limits.items():  # SetDefaults_Pod: requests default to limits
        own_requests.setdefault(name, value)
    set_limits = sorted(n for n in limits if n not in own_limits)
    set_requests = sorted(n for n in requests if n not in own_requests)
    for name in set_limits:
        own_limits[name] = limits[name]
    for name in set_requests:
        own_requests[name] = requests[name]
    if set_requests:
        notes.append(f"{', '.join(set_requests)} request for {prefix} {container.get('name', '')}")
    if set_limits:
        notes.append(f"{', '.join(set_limits)} limit for {prefix} {container.get('name', '')}")
    if not own_limits:
        resources.pop("limits")
    if not own_requests:
        resources.pop("requests")


def default_pod(limit_range: dict, pod: dict) -> bool:
    """PodMutateLimitFunc; returns whether anything was set."""
    limits: dict = {}
    requests: dict = {}
    for item in _items(limit_range):
        if item.get("type") == "Container":
            requests.update(item.get("defaultRequest") or {})
            limits.update(item.get("default") or {})
    spec = pod.get("spec") or {}
    notes: list[str] = []
    for container in spec.get("containers") or []:
        if isinstance(container, dict):
            _merge_container(container, limits=limits, requests=requests, prefix="container", notes=notes)
    for container in spec.get("initContainers") or []:
        if isinstance(container, dict):
            _merge_container(container, limits=limits, requests=requests, prefix="init container", notes=notes)
    if notes:
        annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[LIMIT_RANGER_ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)
    return bool(notes)


# --- constraints (validating) ---


def min_constraint(kind: str, name: str, enforced, *, requests: dict, limits: dict) -> str:
    if name not in requests:
        return f"minimum {name} usage per {kind} is {_text(enforced)}.  No request is specified"
    if _milli(_q(requests[name])) < _milli(_q(enforced)):
        return f"minimum {name} usage per {kind} is {_text(enforced)}, but request is {_text(requests[name])}"
    if name in limits and _milli(_q(limits[name])) < _milli(_q(enforced)):
        return f"minimum {name} usage per {kind} is {_text(enforced)}, but limit is {_text(limits[name])}"
    return ""


def max_constraint(kind: str, name: str, enforced, *, requests: dict, limits: dict) -> str:
    if name not in limits:
        return f"maximum {name} usage per {kind} is {_text(enforced)}.  No limit is specified"
    if _milli(_q(limits[name])) > _milli(_q(enforced)):
        return f"maximum {name} usage per {kind} is {_text(enforced)}, but limit is {_text(limits[name])}"
    if name in requests and _milli(_q(requests[name])) > _milli(_q(enforced)):
        return f"maximum {name} usage per {kind} is {_text(enforced)}, but request is {_text(requests[name])}"
    return ""


def max_request_constraint(kind: str, name: str, enforced, *, requests: dict) -> str:
    if name not in requests:
        return f"maximum {name} usage per {kind} is {_text(enforced)}.  No request is specified"
    if _milli(_q(requests[name])) > _milli(_q(enforced)):
        return f"maximum {name} usage per {kind} is {_text(enforced)}, but request is {_text(requests[name])}"
    return ""


def ratio_constraint(kind: str, name: str, enforced, *, requests: dict, limits: dict) -> str:
    request = _milli(_q(requests.get(name))) if name in requests else 0
    limit = _milli(_q(limits.get(name))) if name in limits else 0
    if request == 0:
        return (f"{name} max limit to request ratio per {kind} is {_text(enforced)}, "
                "but no request is specified or request is 0")
    if limit == 0:
        return (f"{name} max limit to request ratio per {kind} is {_text(enforced)}, "
                "but no limit is specified or limit is 0")
    observed = limit / request
    if observed * 1000 > _milli(_q(enforced)):
        return (f"{name} max limit to request ratio per {kind} is {_text(enforced)}, "
                f"but provided ratio is {observed:f}")
    return ""


def _check(kind: str, item: dict, *, requests: dict, limits: dict) -> list[str]:
    problems = []
    for name, value in sorted((item.get("min") or {}).items()):
        problems.append(min_constraint(kind, name, value, requests=requests, limits=limits))
    for name, value in sorted((item.get("max") or {}).items()):
        problems.append(max_constraint(kind, name, value, requests=requests, limits=limits))
    for name, value in sorted((item.get("maxLimitRequestRatio") or {}).items()):
        problems.append(ratio_constraint(kind, name, value, requests=requests, limits=limits))
    return [p for p in problems if p]


def _pod_totals(spec: dict, key: str) -> dict:
    """podRequests/podLimits: containers summed, init containers as a floor, printed back as quantities."""
    return {name: to_text(q) for name, q in pod_resources(spec, key).items()}


def validate_pod(limit_range: dict, pod: dict) -> list[str]:
    """PodValidateLimitFunc."""
    spec = pod.get("spec") or {}
    problems: list[str] = []
    for item in _items(limit_range):
        if item.get("type") == "Container":
            for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
                resources = (container or {}).get("resources") or {}
                problems += _check("Container", item, requests=resources.get("requests") or {},
                                   limits=resources.get("limits") or {})
        elif item.get("type") == "Pod":
            problems += _check("Pod", item, requests=_pod_totals(spec, "requests"), limits=_pod_totals(spec, "limits"))
    return problems


def validate_claim(limit_range: dict, claim: dict) -> list[str]:
    """PersistentVolumeClaimValidateLimitFunc: only spec.resources.requests counts."""
    requests = ((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
    problems: list[str] = []
    for item in _items(limit_range):
        if item.get("type") != "PersistentVolumeClaim":
            continue
        for name, value in sorted((item.get("min") or {}).items()):
            problems.append(min_constraint("PersistentVolumeClaim", name, value, requests=requests, limits={}))
        for name, value in sorted((item.get("max") or {}).items()):
            problems.append(max_request_constraint("PersistentVolumeClaim", name, value, requests=requests))
    return [p for p in problems if p]


def aggregate(messages: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message as is, several de-duplicated in brackets."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


class LimitRanger:
    async def admit(self, operation, store, obj, old, ctx) -> None:
        if operation != "create" or not _is_pod(store.info) or obj is None:
            return
        changed = False
        for limit_range in await self._limit_ranges(store, obj):
            changed = default_pod(limit_range, obj) or changed
        if changed and isinstance(obj.get("spec"), dict):
            # Kubernetes computes qosClass after admission; minik's pod strategy ran before it.
            obj.setdefault("status", {})["qosClass"] = qos_class(obj["spec"])

    async def validate(self, operation, store, obj, old, ctx) -> None:
        info = store.info
        if obj is None or (obj.get("metadata") or {}).get("deletionTimestamp"):
            return
        if _is_pod(info) and operation == "create":
            check = validate_pod
        elif not info.group and info.plural == "persistentvolumeclaims" and operation in ("create", "update"):
            check = validate_claim
        else:
            return
        for limit_range in await self._limit_ranges(store, obj):
            problems = check(limit_range, obj)
            if problems:
                name = (obj.get("metadata") or {}).get("name") or (obj.get("metadata") or {}).get("generateName", "")
                raise errors.forbidden(f'{info.group_resource} "{name}" is forbidden: {aggregate(problems)}',
                                       info, name)

    @staticmethod
    async def _limit_ranges(store, obj: dict) -> list[dict]:
        ranges = store.registry.store("", "v1", "limitranges")
        page = await ranges.list((obj.get("metadata") or {}).get("namespace", ""))
        return sorted((decode(raw) for raw in page.items), key=lambda lr: lr["metadata"]["name"])


def _is_pod(info) -> bool:
    return not info.group and info.plural == "pods"
