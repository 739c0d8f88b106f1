"""ResourceQuota admission, and the quota evaluators it shares with the ResourceQuota controller.

Part of the registry layer's admission chain (plugin/pkg/admission/resourcequota and pkg/quota/v1). A
create in a namespace with ResourceQuotas is measured (the object's usage: `count/<resource>.<group>`
for everything, plus pods, cpu, memory, requests.*, limits.* for pods, services.* for Services,
persistentvolumeclaims and requests.storage for claims) and refused with 403 Forbidden when a quota
that tracks what it uses would go over its hard limit, with kube-apiserver's messages:

    pods "x" is forbidden: exceeded quota: q1, requested: pods=1, used: pods=2, limited: pods=2
    pods "x" is forbidden: failed quota: q1: must specify limits.cpu for: c; requests.cpu for: c

Where Kubernetes trusts the quota's status.used (kept by the controller and bumped by admission itself),
this plugin counts the namespace's objects live from the store at each admission: exact, and independent
of whether the controller has caught up. Creates that passed but are not stored yet are held as short
reservations under a per-namespace lock, so concurrent creates cannot both take the last unit.
Only creates are charged (Kubernetes also re-charges some updates, e.g. a Service turning NodePort).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from fractions import Fraction

from ...api import errors
from ...api.meta import decode, parse_time
from ...api.quantity import DECIMAL_SI, QuantityError, format_quantity, parse_quantity_with_format
from ..kinds.pods import qos_class

Quantity = tuple[Fraction, str]  # exact value, and the format Kubernetes prints it in
ResourceList = dict[str, Quantity]

ONE: Quantity = (Fraction(1), DECIMAL_SI)
ZERO: Quantity = (Fraction(0), DECIMAL_SI)
RESERVATION_SECONDS = 10.0
IGNORED_RESOURCES = {("", "events"), ("events.k8s.io", "events")}

# --- quantities and resource lists (k8s.io/apiserver/pkg/quota/v1/resources.go) ---


def quantity(text) -> Quantity | None:
    try:
        return parse_quantity_with_format(text)
    except (QuantityError, TypeError, ValueError):
        return None


def add(a: Quantity, b: Quantity) -> Quantity:
    """Quantity.Add: a zero sum takes the format of what is added to it."""
    return (a[0] + b[0], b[1] if a[0] == 0 else a[1])


def to_text(q: Quantity) -> str:
    return format_quantity(q[0], q[1])


def parse_list(resources: dict | None) -> ResourceList:
    out: ResourceList = {}
    for name, text in (resources or {}).items() if isinstance(resources, dict) else ():
        q = quantity(text)
        if q is not None:
            out[name] = q
    return out


def add_lists(a: ResourceList, b: ResourceList) -> ResourceList:
    out = dict(a)
    for name, q in b.items():
        out[name] = add(out[name], q) if name in out else q
    return out


def format_list(resources: ResourceList) -> dict[str, str]:
    return {name: to_text(q) for name, q in sorted(resources.items())}


def pretty(resources: ResourceList) -> str:
    """prettyPrint: `name=value` sorted by name, comma-separated."""
    return ",".join(f"{name}={to_text(q)}" for name, q in sorted(resources.items()))


# --- which resource an entry of spec.hard counts ---

POD_RESOURCES = frozenset({
    "pods", "count/pods", "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage",
})
POD_PREFIXES = ("hugepages-", "requests.hugepages-")
SERVICE_RESOURCES = frozenset({"services", "count/services", "services.nodeports", "services.loadbalancers"})
PVC_RESOURCES = frozenset({"persistentvolumeclaims", "count/persistentvolumeclaims", "requests.storage"})
STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
# Object counts with their pre-`count/` names (the legacy ObjectCountEvaluators' aliases).
LEGACY_COUNTS = frozenset({"configmaps", "secrets", "resourcequotas", "replicationcontrollers"})
# "if we quota cpu or memory, then each container must make an explicit request" (pods.go validationSet)
VALIDATION_SET = frozenset({"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"})


def count_name(group: str, plural: str) -> str:
    return f"count/{plural}.{group}" if group else f"count/{plural}"


def _is_native(name: str) -> bool:
    return "/" not in name or name.split("/", 1)[0].endswith("kubernetes.io")


def resource_of(name: str) -> tuple[str, str] | None:
    """(group, plural) whose objects a quota entry counts, or None when nothing counts it."""
    if name in PVC_RESOURCES or STORAGE_CLASS_SUFFIX in name:
        return ("", "persistentvolumeclaims")
    if name in POD_RESOURCES or name.startswith(POD_PREFIXES):
        return ("", "pods")
    if name.startswith("requests.") and not _is_native(name[len("requests."):]):
        return ("", "pods")  # extended resources: only requests.<name> can be quota'd
    if name in SERVICE_RESOURCES:
        return ("", "services")
    if name in LEGACY_COUNTS:
        return ("", name)
    if name.startswith("count/"):
        plural, _, group = name[len("count/"):].partition(".")
        return (group, plural) if plural else None
    return None


def tracked_names(hard: ResourceList | dict, group: str, plural: str) -> list[str]:
    """MatchingResources: the entries of `hard` that objects of this resource count toward."""
    return sorted(name for name in hard if resource_of(name) == (group, plural))


# --- usage of one object (the evaluators) ---


def pod_counts(pod: dict, now: dt.datetime) -> bool:
    """QuotaV1Pod: finished pods, and pods stuck terminating past their grace period, are not charged."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    meta = pod.get("metadata") or {}
    deleted_at = parse_time(meta.get("deletionTimestamp"))
    grace = meta.get("deletionGracePeriodSeconds")
    if deleted_at is not None and grace is not None:
        return now <= deleted_at + dt.timedelta(seconds=grace)
    return True


def _max(a: Quantity | None, b: Quantity) -> Quantity:
    return b if a is None or b[0] > a[0] else a


def pod_resources(spec: dict, kind: str) -> ResourceList:
    """PodRequests / PodLimits: containers summed, each init container a floor, plus pod overhead."""
    total: ResourceList = {}
    for container in spec.get("containers") or []:
        total = add_lists(total, parse_list(((container or {}).get("resources") or {}).get(kind)))
    for container in spec.get("initContainers") or []:
        amounts = parse_list(((container or {}).get("resources") or {}).get(kind))
        if (container or {}).get("restartPolicy") == "Always":  # a sidecar runs beside the others
            total = add_lists(total, amounts)
            continue
        for name, q in amounts.items():
            total[name] = _max(total.get(name), q)
    overhead = parse_list(spec.get("overhead"))
    if kind == "requests":
        total = add_lists(total, overhead)
    else:
        total = add_lists(total, {n: q for n, q in overhead.items() if n in total})
    return total


def compute_usage(requests: ResourceList, limits: ResourceList) -> ResourceList:
    """podComputeUsageHelper."""
    result: ResourceList = {"pods": ONE}
    for name in ("cpu", "memory", "ephemeral-storage"):
        if name in requests:
            result[name] = requests[name]
            result[f"requests.{name}"] = requests[name]
        if name in limits:
            result[f"limits.{name}"] = limits[name]
    for name, q in requests.items():
        if name.startswith("hugepages-"):
            result[name] = q
            result[f"requests.{name}"] = q
        elif not _is_native(name):
            result[f"requests.{name}"] = q
    return result


def pod_usage(pod: dict, now: dt.datetime) -> ResourceList:
    usage: ResourceList = {"count/pods": ONE}
    if not pod_counts(pod, now):
        return usage
    spec = pod.get("spec") or {}
    return add_lists(usage, compute_usage(pod_resources(spec, "requests"), pod_resources(spec, "limits")))


def service_usage(service: dict) -> ResourceList:
    spec = service.get("spec") or {}
    usage: ResourceList = {"count/services": ONE, "services": ONE}
    ports = (Fraction(len(spec.get("ports") or [])), DECIMAL_SI)
    kind = spec.get("type")
    if kind == "NodePort":
        usage["services.nodeports"] = ports
    elif kind == "LoadBalancer":
        if spec.get("allocateLoadBalancerNodePorts") is False:
            ports = (Fraction(sum(1 for p in spec.get("ports") or [] if (p or {}).get("nodePort"))), DECIMAL_SI)
        usage["services.nodeports"] = ports
        usage["services.loadbalancers"] = ONE
    return usage


def claim_usage(claim: dict) -> ResourceList:
    spec = claim.get("spec") or {}
    usage: ResourceList = {"count/persistentvolumeclaims": ONE, "persistentvolumeclaims": ONE}
    storage = quantity(((spec.get("resources") or {}).get("requests") or {}).get("storage"))
    if storage is not None:
        usage["requests.storage"] = storage
    storage_class = spec.get("storageClassName")
    if storage_class:
        prefix = f"{storage_class}{STORAGE_CLASS_SUFFIX}"
        usage[f"{prefix}persistentvolumeclaims"] = ONE
        if storage is not None:
            usage[f"{prefix}requests.storage"] = storage
    return usage


def object_usage(group: str, plural: str, obj: dict, *, now: dt.datetime) -> ResourceList:
    """What one object of `plural.group` uses, in every quota resource name that counts it."""
    if not group and plural == "pods":
        return pod_usage(obj, now)
    if not group and plural == "services":
        return service_usage(obj)
    if not group and plural == "persistentvolumeclaims":
        return claim_usage(obj)
    usage: ResourceList = {count_name(group, plural): ONE}
    if not group and plural in LEGACY_COUNTS:
        usage[plural] = ONE
    return usage


# --- scopes (pods only: Terminating, NotTerminating, BestEffort, NotBestEffort, PriorityClass) ---


def _scope_selectors(quota: dict) -> list[tuple[str, str, list]]:
    spec = quota.get("spec") or {}
    selectors = [(scope, "Exists", []) for scope in spec.get("scopes") or []]
    for expression in ((spec.get("scopeSelector") or {}).get("matchExpressions") or []):
        if isinstance(expression, dict):
            selectors.append((expression.get("scopeName", ""), expression.get("operator", ""),
                              expression.get("values") or []))
    return selectors


def _cross_namespace_affinity(spec: dict) -> bool:
    affinity = spec.get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        rules = affinity.get(kind) or {}
        terms = list(rules.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        terms += [(t or {}).get("podAffinityTerm") or {} for t in
                  rules.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
        if any((t or {}).get("namespaces") or (t or {}).get("namespaceSelector") is not None for t in terms):
            return True
    return False


def _pod_in_scope(pod: dict, selector: tuple[str, str, list]) -> bool:
    scope, operator, values = selector
    spec = pod.get("spec") or {}
    if scope == "PriorityClass":
        name = spec.get("priorityClassName") or ""
        if operator == "Exists":
            return bool(name)
        if operator == "DoesNotExist":
            return not name
        if operator == "In":
            return bool(name) and name in values
        return not name or name not in values  # NotIn
    deadline = spec.get("activeDeadlineSeconds")
    matched = {
        "Terminating": deadline is not None and deadline >= 0,
        "NotTerminating": deadline is None or deadline < 0,
        "BestEffort": qos_class(spec) == "BestEffort",
        "NotBestEffort": qos_class(spec) != "BestEffort",
        "CrossNamespacePodAffinity": _cross_namespace_affinity(spec),
    }.get(scope, False)
    return not matched if operator == "DoesNotExist" else matched


def quota_matches(quota: dict, obj: dict, *, group: str, plural: str) -> bool:
    """Whether the quota's scopes cover the object (quotas with scopes only track pod resources)."""
    selectors = _scope_selectors(quota)
    if not selectors:
        return True
    if group or plural != "pods":
        return False
    return all(_pod_in_scope(obj, selector) for selector in selectors)


# --- constraints: quota'd cpu/memory must be stated on every container ---


def pod_constraint_error(tracked: list[str], pod: dict) -> str:
    """podEvaluator.Constraints: "" when satisfied, else "must specify <resource> for: <containers>; ..."."""
    required = set(tracked) & VALIDATION_SET
    if not required:
        return ""
    missing: dict[str, set[str]] = {}
    spec = pod.get("spec") or {}
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        resources = (container or {}).get("resources") or {}
        present = compute_usage(parse_list(resources.get("requests")), parse_list(resources.get("limits")))
        for name in required - set(present):
            missing.setdefault(name, set()).add((container or {}).get("name", ""))
    if not missing:
        return ""
    return "must specify " + "; ".join(f"{name} for: {','.join(sorted(missing[name]))}" for name in sorted(missing))


# --- the plugin ---


@dataclasses.dataclass
class _Reservation:
    obj: dict
    usage: ResourceList
    expires: float


def _name(meta: dict) -> str:
    return meta.get("name") or meta.get("generateName") or "Unknown"


async def _list(store, namespace: str) -> list[dict]:
    return [decode(raw) for raw in (await store.list(namespace)).items]


class ResourceQuotaAdmission:
    def __init__(self, *, reservation_seconds: float = RESERVATION_SECONDS):
        self.reservation_seconds = reservation_seconds
        self._locks: dict[str, asyncio.Lock] = {}
        self._reserved: dict[tuple[str, str, str], list[_Reservation]] = {}

    async def admit(self, operation, store, obj, old, ctx) -> None:
        pass

    async def validate(self, operation, store, obj, old, ctx) -> None:
        info = store.info
        if operation != "create" or not info.namespaced or (info.group, info.plural) in IGNORED_RESOURCES:
            return
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace", "")
        quotas = await _list(store.registry.store("", "v1", "resourcequotas"), namespace)
        if not quotas:
            return
        now = dt.datetime.now(dt.timezone.utc)
        usage = object_usage(info.group, info.plural, obj, now=now)
        relevant = []
        for quota in sorted(quotas, key=lambda q: q["metadata"]["name"]):
            hard = parse_list((quota.get("spec") or {}).get("hard"))
            tracked = tracked_names(hard, info.group, info.plural)
            if not tracked or not quota_matches(quota, obj, group=info.group, plural=info.plural):
                continue
            if info.plural == "pods" and not info.group:
                problem = pod_constraint_error(tracked, obj)
                if problem:
                    raise self._forbidden(info, meta, f"failed quota: {quota['metadata']['name']}: {problem}")
            relevant.append((quota, hard, tracked))
        if not any(q[0] for q in usage.values()) or not relevant:
            return
        async with self._locks.setdefault(namespace, asyncio.Lock()):
            await self._check(store, obj, namespace=namespace, usage=usage, relevant=relevant, now=now)
            if not ctx.dry_run:
                key = (namespace, info.group, info.plural)
                self._reserved.setdefault(key, []).append(
                    _Reservation(obj, usage, time.monotonic() + self.reservation_seconds))

    async def _check(self, store, obj: dict, *, namespace: str, usage: ResourceList, relevant: list,
                     now: dt.datetime) -> None:
        info = store.info
        charged = [(o, object_usage(info.group, info.plural, o, now=now)) for o in await _list(store, namespace)]
        charged += [(r.obj, r.usage) for r in self._pending((namespace, info.group, info.plural), charged)]
        for quota, hard, tracked in relevant:
            requested = {n: usage[n] for n in tracked if n in usage and usage[n][0] != 0}
            if not requested:
                continue
            used: ResourceList = {n: ZERO for n in tracked}
            for other, other_usage in charged:
                if quota_matches(quota, other, group=info.group, plural=info.plural):
                    used = add_lists(used, {n: q for n, q in other_usage.items() if n in used})
            exceeded = sorted(n for n, q in requested.items() if add(used[n], q)[0] > hard[n][0])
            if exceeded:
                raise self._forbidden(info, obj.get("metadata") or {}, (
                    f"exceeded quota: {quota['metadata']['name']}, "
                    f"requested: {pretty({n: requested[n] for n in exceeded})}, "
                    f"used: {pretty({n: used[n] for n in exceeded})}, "
                    f"limited: {pretty({n: hard[n] for n in exceeded})}"))

    def _pending(self, key: tuple[str, str, str], stored: list[tuple[dict, ResourceList]]) -> list[_Reservation]:
        """Reservations of creates not yet visible in the store (a stored name or uid ends one)."""
        names = {o["metadata"].get("name") for o, _ in stored}
        uids = {o["metadata"].get("uid") for o, _ in stored}
        moment = time.monotonic()
        alive = [r for r in self._reserved.get(key, []) if r.expires > moment
                 and r.obj["metadata"].get("uid") not in uids and r.obj["metadata"].get("name") not in names]
        if alive:
            self._reserved[key] = alive
        else:
            self._reserved.pop(key, None)
        return alive

    @staticmethod
    def _forbidden(info, meta: dict, reason: str) -> errors.APIError:
        name = _name(meta)
        return errors.forbidden(f'{info.group_resource} "{name}" is forbidden: {reason}', info, name)
