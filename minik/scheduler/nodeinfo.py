"""The scheduler's cache of node allocations: parsed pods, per-node totals, and per-cycle snapshots.

Role in the flow: the scheduler loop feeds pod and node watch events (and its own assumed bindings) into
`Cache`; every scheduling cycle takes `Cache.snapshot()` and hands it to `framework.schedule()`, whose
plugins read the `NodeInfo`s and `PodInfo`s without ever parsing a quantity or a selector again.
Mirrors kube-scheduler's pkg/scheduler/framework/types.go (NodeInfo, PodInfo, Resource),
pkg/scheduler/backend/cache (cache.go, snapshot.go, node_tree.go) and
k8s.io/component-helpers/resource (PodRequests).

Everything is parsed once: a pod becomes an immutable `PodInfo` when it enters the cache, a node's
labels, taints and allocatable are read once per node update. A change touches one NodeInfo in O(1);
`snapshot()` then re-clones only the NodeInfos that changed since the previous snapshot (O(pods on
that node) each) and shares the others; the per-workload index is copied on write, one workload at a
time. Apart from listing the nodes (a C-speed list and dict copy), scheduling one pod and assuming it
costs a handful of small copies, not a rescan of the cluster.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from minik.api.quantity import QuantityError, parse_quantity, to_int, to_milli
from minik.api.selectors import LabelSelector, SelectorError, label_selector_from_dict

# schedutil.DefaultMilliCPURequest / DefaultMemoryRequest: what a container without requests counts
# as when scoring, so that many request-less pods do not all land on one node.
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_TOPOLOGY_ZONE = "topology.kubernetes.io/zone"
LABEL_TOPOLOGY_REGION = "topology.kubernetes.io/region"
LABEL_FAILURE_DOMAIN_BETA_ZONE = "failure-domain.beta.kubernetes.io/zone"
LABEL_FAILURE_DOMAIN_BETA_REGION = "failure-domain.beta.kubernetes.io/region"

TAINT_EFFECT_NO_SCHEDULE = "NoSchedule"
TAINT_EFFECT_PREFER_NO_SCHEDULE = "PreferNoSchedule"
TAINT_EFFECT_NO_EXECUTE = "NoExecute"

DEFAULT_BIND_ALL_HOST_IP = "0.0.0.0"

_DEFAULT_NON_MISSING = {
    "cpu": Fraction(DEFAULT_MILLI_CPU_REQUEST, 1000),
    "memory": Fraction(DEFAULT_MEMORY_REQUEST),
}


# --------------------------------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Resources:
    """framework.Resource: integer amounts (milli-cpu, bytes, counts), as the scheduler compares them."""

    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    pods: int = 0  # AllowedPodNumber: only meaningful for a node's allocatable
    scalar: dict[str, int] = field(default_factory=dict)

    def copy(self) -> Resources:
        return Resources(self.milli_cpu, self.memory, self.ephemeral_storage, self.pods, dict(self.scalar))


def is_scalar_resource_name(name: str) -> bool:
    """schedutil.IsScalarResourceName: extended, hugepages-*, kubernetes.io/-prefixed, attachable-volumes-*."""
    if name.startswith("hugepages-") or name.startswith("attachable-volumes-"):
        return True
    if "kubernetes.io/" in name:
        return True  # IsPrefixedNativeResource
    # IsExtendedResourceName: a domain-prefixed name outside kubernetes.io, not a quota "requests." name
    return "/" in name and not name.startswith("requests.")


@functools.lru_cache(maxsize=8192)
def _quantity(raw: object) -> Fraction | None:
    """Quantities repeat ("100m", "128Mi"): parse each spelling once. The API validated them already,
    so an unparsable one is ignored rather than failing the whole scheduler."""
    try:
        return parse_quantity(raw)  # type: ignore[arg-type]
    except (QuantityError, TypeError, ValueError):
        return None


def _resource_list(raw: object) -> dict[str, Fraction]:
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, Fraction] = {}
    for name, value in raw.items():
        try:
            q = _quantity(value)
        except TypeError:  # unhashable garbage
            q = None
        if q is not None:
            out[name] = q
    return out


def resources_from_list(resource_list: Mapping[str, Fraction]) -> Resources:
    """Resource.Add(ResourceList): cpu in milli (rounded up), the rest as Value() (rounded up)."""
    res = Resources()
    for name, q in resource_list.items():
        if name == "cpu":
            res.milli_cpu += to_milli(q)
        elif name == "memory":
            res.memory += to_int(q)
        elif name == "pods":
            res.pods += to_int(q)
        elif name == "ephemeral-storage":
            res.ephemeral_storage += to_int(q)
        elif is_scalar_resource_name(name):
            res.scalar[name] = res.scalar.get(name, 0) + to_int(q)
    return res


def _add_into(total: dict[str, Fraction], extra: Mapping[str, Fraction]) -> None:
    for name, q in extra.items():
        total[name] = total.get(name, 0) + q


def _max_into(total: dict[str, Fraction], other: Mapping[str, Fraction]) -> None:
    for name, q in other.items():
        if name not in total or q > total[name]:
            total[name] = q


def _container_requests(container: Mapping, non_missing: Mapping[str, Fraction] | None) -> dict[str, Fraction]:
    resources = container.get("resources") or {}
    raw = resources.get("requests") if isinstance(resources, Mapping) else None
    reqs = _resource_list(raw)
    if non_missing:
        # applyNonMissing: only requests that are absent get the default; an explicit 0 stays 0
        for name, q in non_missing.items():
            if name not in reqs:
                reqs[name] = q
    return reqs


def aggregate_pod_requests(pod: Mapping, *, non_missing: Mapping[str, Fraction] | None = None) -> dict[str, Fraction]:
    """resourcehelper.PodRequests as exact quantities (before any rounding).

    Regular containers run together, so they add up; init containers run one at a time, so the pod
    needs the largest of them; sidecars (init containers with restartPolicy Always) keep running, so
    each one adds to the pod and to every init container started after it; the overhead is added last.
    """
    spec = pod.get("spec") or {}
    result: dict[str, Fraction] = {}
    for container in spec.get("containers") or ():
        _add_into(result, _container_requests(container, non_missing))
    restartable: dict[str, Fraction] = {}
    init_max: dict[str, Fraction] = {}
    for container in spec.get("initContainers") or ():
        reqs = _container_requests(container, non_missing)
        if container.get("restartPolicy") == "Always":
            _add_into(result, reqs)
            _add_into(restartable, reqs)
            in_use = restartable
        else:
            in_use = dict(reqs)
            _add_into(in_use, restartable)
        _max_into(init_max, in_use)
    _max_into(result, init_max)
    _add_into(result, _resource_list(spec.get("overhead")))
    return result


def pod_requests(pod: Mapping) -> Resources:
    """The pod's effective requests as NodeResourcesFit counts them (computePodResourceRequest)."""
    return resources_from_list(aggregate_pod_requests(pod))


def pod_non_zero_requests(pod: Mapping) -> tuple[int, int]:
    """(milli-cpu, memory) with 100m / 200Mi for each container that requests none, for scoring."""
    reqs = aggregate_pod_requests(pod, non_missing=_DEFAULT_NON_MISSING)
    cpu = reqs.get("cpu")
    mem = reqs.get("memory")
    return (to_milli(cpu) if cpu is not None else 0, to_int(mem) if mem is not None else 0)


# --------------------------------------------------------------------------------------------------
# Pods
# --------------------------------------------------------------------------------------------------


class AffinityTerm:
    """framework.AffinityTerm: a parsed PodAffinityTerm (namespaces, selectors, topology key)."""

    __slots__ = ("namespaces", "selector", "topology_key", "namespace_selector", "weight")

    def __init__(
        self,
        namespaces: frozenset[str],
        selector: LabelSelector,
        topology_key: str,
        namespace_selector: LabelSelector,
        weight: int = 0,
    ) -> None:
        self.namespaces = namespaces
        self.selector = selector
        self.topology_key = topology_key
        self.namespace_selector = namespace_selector
        self.weight = weight

    def matches(self, pod: PodInfo, namespace_labels: Mapping[str, str] | None) -> bool:
        """AffinityTerm.Matches: the pod is in one of the term's namespaces and its labels match."""
        if pod.namespace in self.namespaces or self.namespace_selector.matches(namespace_labels or {}):
            return self.selector.matches(pod.labels)
        return False

    def __repr__(self) -> str:
        return f"AffinityTerm({self.selector!r}, topology_key={self.topology_key!r}, weight={self.weight})"


def _parse_affinity_term(namespace: str, term: Mapping, weight: int = 0) -> AffinityTerm:
    selector = label_selector_from_dict(term.get("labelSelector"))
    namespaces = term.get("namespaces") or []
    ns_selector_raw = term.get("namespaceSelector")
    if not namespaces and ns_selector_raw is None:
        names = frozenset((namespace,))  # getNamespacesFromPodAffinityTerm: the pod's own namespace
    else:
        names = frozenset(namespaces)
    namespace_selector = label_selector_from_dict(ns_selector_raw)
    return AffinityTerm(names, selector, term.get("topologyKey") or "", namespace_selector, weight)


def _parse_terms(namespace: str, raw: object, errors: list[str]) -> tuple[AffinityTerm, ...]:
    terms = []
    for term in raw or ():
        try:
            terms.append(_parse_affinity_term(namespace, term))
        except SelectorError as exc:
            errors.append(str(exc))
    return tuple(terms)


def _parse_weighted_terms(namespace: str, raw: object, errors: list[str]) -> tuple[AffinityTerm, ...]:
    terms = []
    for weighted in raw or ():
        try:
            weight = int(weighted.get("weight") or 0)
            term = _parse_affinity_term(namespace, weighted.get("podAffinityTerm") or {}, weight)
        except SelectorError as exc:
            errors.append(str(exc))
            continue
        terms.append(term)
    return tuple(terms)


def _host_ports(spec: Mapping) -> tuple[tuple[str, str, int], ...]:
    """schedutil.GetHostPorts: (hostIP, protocol, hostPort) of containers and sidecar init containers."""
    ports = []
    containers = [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    containers += list(spec.get("containers") or ())
    for container in containers:
        for port in container.get("ports") or ():
            host_port = port.get("hostPort") or 0
            if isinstance(host_port, int) and host_port > 0:
                ports.append((port.get("hostIP") or DEFAULT_BIND_ALL_HOST_IP, port.get("protocol") or "TCP", host_port))
    return tuple(ports)


_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
_PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def pod_key(pod: Mapping) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


def _controller_uid(meta: Mapping) -> str | None:
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller"):
            return ref.get("uid") or None
    return None


class PodInfo:
    """framework.PodInfo: a pod parsed once (requests, ports, affinity terms) and never mutated.

    `uid` is the cache key (metadata.uid, or namespace/name for a pod without one); `key` is
    namespace/name. `parse_errors` collects affinity selectors that failed to parse (the API server
    validates them, so this is only for objects that bypassed validation).
    """

    __slots__ = (
        "pod", "key", "uid", "namespace", "name", "labels", "node_name", "priority", "requests",
        "non0_cpu", "non0_mem", "host_ports", "required_affinity_terms", "required_anti_affinity_terms",
        "preferred_affinity_terms", "preferred_anti_affinity_terms", "has_affinity",
        "has_required_anti_affinity", "terminating", "controller_uid", "parse_errors",
    )

    pod: dict
    key: str
    uid: str
    namespace: str
    name: str
    labels: Mapping[str, str]
    node_name: str
    priority: int
    requests: Resources
    non0_cpu: int
    non0_mem: int
    host_ports: tuple[tuple[str, str, int], ...]
    required_affinity_terms: tuple[AffinityTerm, ...]
    required_anti_affinity_terms: tuple[AffinityTerm, ...]
    preferred_affinity_terms: tuple[AffinityTerm, ...]
    preferred_anti_affinity_terms: tuple[AffinityTerm, ...]
    has_affinity: bool
    has_required_anti_affinity: bool
    terminating: bool
    controller_uid: str | None
    parse_errors: tuple[str, ...]

    def __init__(self, pod: Mapping) -> None:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        self.pod = pod  # type: ignore[assignment]
        self.namespace = meta.get("namespace") or ""
        self.name = meta.get("name") or ""
        self.key = f"{self.namespace}/{self.name}"
        self.uid = meta.get("uid") or self.key
        self.labels = meta.get("labels") or {}
        self.node_name = spec.get("nodeName") or ""
        priority = spec.get("priority")
        self.priority = priority if isinstance(priority, int) else 0  # corev1helpers.PodPriority
        self.requests = pod_requests(pod)
        self.non0_cpu, self.non0_mem = pod_non_zero_requests(pod)
        self.host_ports = _host_ports(spec)
        self.terminating = meta.get("deletionTimestamp") is not None
        self.controller_uid = _controller_uid(meta)
        errors: list[str] = []
        affinity = spec.get("affinity") or {}
        pod_affinity = affinity.get("podAffinity")
        pod_anti_affinity = affinity.get("podAntiAffinity")
        pa = pod_affinity or {}
        paa = pod_anti_affinity or {}
        ns = self.namespace
        self.required_affinity_terms = _parse_terms(ns, pa.get(_REQUIRED), errors)
        self.required_anti_affinity_terms = _parse_terms(ns, paa.get(_REQUIRED), errors)
        self.preferred_affinity_terms = _parse_weighted_terms(ns, pa.get(_PREFERRED), errors)
        self.preferred_anti_affinity_terms = _parse_weighted_terms(ns, paa.get(_PREFERRED), errors)
        # podWithAffinity / podWithRequiredAntiAffinity look at the API fields, not the parsed terms
        self.has_affinity = pod_affinity is not None or pod_anti_affinity is not None
        self.has_required_anti_affinity = bool(paa.get(_REQUIRED))
        self.parse_errors = tuple(errors)

    def with_node(self, node_name: str) -> PodInfo:
        """The same parsed pod bound to `node_name` (what AssumePod stores), without re-parsing."""
        clone = object.__new__(PodInfo)
        for slot in PodInfo.__slots__:
            setattr(clone, slot, getattr(self, slot))
        spec = dict(self.pod.get("spec") or {})
        spec["nodeName"] = node_name
        clone.pod = {**self.pod, "spec": spec}
        clone.node_name = node_name
        return clone

    def compact(self) -> PodInfo:
        """This PodInfo holding only a skeleton of its pod: what the cache keeps for placed pods.

        Everything the plugins read of other pods is parsed into the fields above; keeping each cached
        pod's whole dict would cost ~9 KiB per pod (90 MiB for 10,000 pods).
        """
        pod = self.pod
        meta = pod.get("metadata") or {}
        skeleton = {
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "labels", "deletionTimestamp") if k in meta},
            "spec": {"nodeName": self.node_name},
            "status": {"phase": (pod.get("status") or {}).get("phase", "")},
        }
        slim = object.__new__(PodInfo)
        for slot in PodInfo.__slots__:
            setattr(slim, slot, getattr(self, slot))
        slim.pod = skeleton
        return slim

    def __repr__(self) -> str:
        return f"PodInfo({self.key!r}, node={self.node_name!r})"


def as_pod_info(pod: Mapping | PodInfo) -> PodInfo:
    return pod if isinstance(pod, PodInfo) else PodInfo(pod)


# --------------------------------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: str


def _parse_taints(spec: Mapping) -> tuple[Taint, ...]:
    return tuple(
        Taint(t.get("key") or "", t.get("value") or "", t.get("effect") or "") for t in spec.get("taints") or ()
    )


def zone_key(labels: Mapping[str, str]) -> str:
    """utilnode.GetZoneKey: region + ":\\x00:" + zone, or "" for a node in no zone."""
    zone = labels.get(LABEL_TOPOLOGY_ZONE, labels.get(LABEL_FAILURE_DOMAIN_BETA_ZONE, ""))
    region = labels.get(LABEL_TOPOLOGY_REGION, labels.get(LABEL_FAILURE_DOMAIN_BETA_REGION, ""))
    if not region and not zone:
        return ""
    return f"{region}:\x00:{zone}"


class NodeInfo:
    """framework.NodeInfo: a node with the pods on it and what they request.

    `node` is None for a "ghost": pods the cache saw bound to a node it does not (yet or any more)
    know; such NodeInfos never reach a snapshot. NodeInfos inside a Snapshot are frozen copies: do
    not mutate them.
    """

    __slots__ = (
        "node", "name", "labels", "taints", "no_schedule_taints", "prefer_no_schedule_taints",
        "unschedulable", "allocatable", "requested", "non_zero_requested", "pods", "pods_with_affinity",
        "pods_with_required_anti_affinity", "used_ports", "used_ports_any_ip", "owner_counts",
        "generation", "image_states",
    )

    node: dict | None
    name: str
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    no_schedule_taints: tuple[Taint, ...]
    prefer_no_schedule_taints: tuple[Taint, ...]
    unschedulable: bool
    allocatable: Resources
    requested: Resources
    non_zero_requested: Resources
    pods: dict[str, PodInfo]
    pods_with_affinity: dict[str, PodInfo]
    pods_with_required_anti_affinity: dict[str, PodInfo]
    used_ports: dict[tuple[str, str, int], int]
    used_ports_any_ip: dict[tuple[str, int], int]
    owner_counts: dict[str, int]
    generation: int
    image_states: dict[str, int]

    def __init__(self, name: str, node: Mapping | None = None) -> None:
        self.name = name
        self.requested = Resources()
        self.non_zero_requested = Resources()
        self.pods = {}
        self.pods_with_affinity = {}
        self.pods_with_required_anti_affinity = {}
        self.used_ports = {}
        self.used_ports_any_ip = {}
        self.owner_counts = {}
        self.generation = 0
        self.set_node(node)

    def set_node(self, node: Mapping | None) -> None:
        """NodeInfo.SetNode: labels, taints and allocatable are read here, once per node version."""
        self.node = node  # type: ignore[assignment]
        meta = (node or {}).get("metadata") or {}
        spec = (node or {}).get("spec") or {}
        status = (node or {}).get("status") or {}
        self.labels = meta.get("labels") or {}
        self.taints = _parse_taints(spec)
        self.no_schedule_taints = tuple(
            t for t in self.taints if t.effect in (TAINT_EFFECT_NO_SCHEDULE, TAINT_EFFECT_NO_EXECUTE)
        )
        self.prefer_no_schedule_taints = tuple(t for t in self.taints if t.effect == TAINT_EFFECT_PREFER_NO_SCHEDULE)
        self.unschedulable = bool(spec.get("unschedulable"))
        self.allocatable = resources_from_list(_resource_list(status.get("allocatable")))
        # image sizes by name, for an ImageLocality score (not part of the default score yet)
        self.image_states = {
            name: int(image.get("sizeBytes") or 0)
            for image in status.get("images") or ()
            for name in image.get("names") or ()
        }

    def add_pod(self, pod: PodInfo) -> None:
        self.pods[pod.uid] = pod
        if pod.has_affinity:
            self.pods_with_affinity[pod.uid] = pod
        if pod.has_required_anti_affinity:
            self.pods_with_required_anti_affinity[pod.uid] = pod
        self._account(pod, 1)

    def remove_pod(self, pod: PodInfo) -> None:
        if self.pods.pop(pod.uid, None) is None:
            return
        self.pods_with_affinity.pop(pod.uid, None)
        self.pods_with_required_anti_affinity.pop(pod.uid, None)
        self._account(pod, -1)

    def _account(self, pod: PodInfo, sign: int) -> None:
        """NodeInfo.update: requested, non-zero requested, host ports; plus an index of controller owners
        so default spreading counts a node's pods of one workload in O(1)."""
        req, r = self.requested, pod.requests
        req.milli_cpu += sign * r.milli_cpu
        req.memory += sign * r.memory
        req.ephemeral_storage += sign * r.ephemeral_storage
        for name, amount in r.scalar.items():
            req.scalar[name] = req.scalar.get(name, 0) + sign * amount
        nz = self.non_zero_requested
        nz.milli_cpu += sign * pod.non0_cpu
        nz.memory += sign * pod.non0_mem
        for ip, protocol, port in pod.host_ports:
            _bump(self.used_ports, (ip, protocol, port), sign)
            _bump(self.used_ports_any_ip, (protocol, port), sign)
        if pod.controller_uid is not None and not pod.terminating:
            _bump(self.owner_counts, pod.controller_uid, sign)

    def port_conflict(self, ip: str, protocol: str, port: int) -> bool:
        """HostPortInfo.CheckConflict: 0.0.0.0 conflicts with the port on any IP, and vice versa."""
        if ip == DEFAULT_BIND_ALL_HOST_IP:
            return (protocol, port) in self.used_ports_any_ip
        return (DEFAULT_BIND_ALL_HOST_IP, protocol, port) in self.used_ports or (ip, protocol, port) in self.used_ports

    def clone(self) -> NodeInfo:
        """SnapshotConcrete: containers copied, PodInfos (immutable) shared."""
        c = object.__new__(NodeInfo)
        c.node = self.node
        c.name = self.name
        c.labels = self.labels
        c.taints = self.taints
        c.no_schedule_taints = self.no_schedule_taints
        c.prefer_no_schedule_taints = self.prefer_no_schedule_taints
        c.unschedulable = self.unschedulable
        c.allocatable = self.allocatable  # replaced, never mutated, by set_node
        c.requested = self.requested.copy()
        c.non_zero_requested = self.non_zero_requested.copy()
        c.pods = dict(self.pods)
        c.pods_with_affinity = dict(self.pods_with_affinity)
        c.pods_with_required_anti_affinity = dict(self.pods_with_required_anti_affinity)
        c.used_ports = dict(self.used_ports)
        c.used_ports_any_ip = dict(self.used_ports_any_ip)
        c.owner_counts = dict(self.owner_counts)
        c.generation = self.generation
        c.image_states = self.image_states
        return c

    def __repr__(self) -> str:
        return f"NodeInfo({self.name!r}, pods={len(self.pods)})"


def _bump(counter: dict, key: object, delta: int) -> None:
    value = counter.get(key, 0) + delta
    if value:
        counter[key] = value
    else:
        counter.pop(key, None)


# --------------------------------------------------------------------------------------------------
# Snapshot
# --------------------------------------------------------------------------------------------------


class Rotation:
    """nextStartNodeIndex, shared by the snapshots of one cache so sampling resumes where it stopped."""

    __slots__ = ("next_start_index",)

    def __init__(self) -> None:
        self.next_start_index = 0


class Snapshot:
    """framework.Snapshot: what one scheduling cycle sees. Nodes are listed zone by zone, round robin
    (nodeTree.list), so that a sampled prefix of the list covers every zone."""

    __slots__ = (
        "node_infos", "node_info_map", "have_pods_with_affinity", "have_pods_with_required_anti_affinity",
        "namespace_labels", "generation", "rotation", "_owner_nodes",
    )

    def __init__(
        self,
        node_infos: list[NodeInfo],
        *,
        namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
        generation: int = 0,
        rotation: Rotation | None = None,
        node_info_map: dict[str, NodeInfo] | None = None,
        owner_nodes: Mapping[str, Mapping[str, int]] | None = None,
    ) -> None:
        self.node_infos = node_infos
        self.node_info_map = node_info_map if node_info_map is not None else {ni.name: ni for ni in node_infos}
        self.have_pods_with_affinity = [ni for ni in node_infos if ni.pods_with_affinity]
        self.have_pods_with_required_anti_affinity = [ni for ni in node_infos if ni.pods_with_required_anti_affinity]
        self.namespace_labels = namespace_labels or {}
        self.generation = generation
        self.rotation = rotation or Rotation()
        self._owner_nodes = owner_nodes if owner_nodes is not None else _owner_index(node_infos)

    @classmethod
    def from_objects(cls, nodes: Iterable[Mapping], pods: Iterable[Mapping] = ()) -> Snapshot:
        """A snapshot straight from API objects (tests, one-off simulations)."""
        cache = Cache()
        for node in nodes:
            cache.add_node(node)
        for pod in pods:
            cache.add_pod(pod)
        return cache.snapshot()

    def get(self, name: str) -> NodeInfo | None:
        return self.node_info_map.get(name)

    def owner_nodes(self, controller_uid: str) -> Mapping[str, int]:
        """Node name -> number of the controller's (non-terminating) pods there: default spreading
        visits these nodes instead of all of them."""
        return self._owner_nodes.get(controller_uid, {})

    def __len__(self) -> int:
        return len(self.node_infos)


def _owner_index(node_infos: Iterable[NodeInfo]) -> dict[str, dict[str, int]]:
    index: dict[str, dict[str, int]] = {}
    for ni in node_infos:
        for uid, count in ni.owner_counts.items():
            index.setdefault(uid, {})[ni.name] = count
    return index


# --------------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------------


class CacheError(Exception):
    """An inconsistent cache operation (assuming a pod twice, forgetting one that is not assumed)."""


@dataclass(slots=True)
class _PodState:
    info: PodInfo
    assumed: bool


class Cache:
    """The scheduler cache: every assigned pod (bound, or assumed by us and not yet seen bound) on its node.

    Pods are keyed by uid (namespace/name when there is none); `assume_pod` makes a binding count at
    once, `add_pod` of the same pod (the watch event for the bind) confirms it, `forget_pod` undoes a
    binding that failed. Assumed pods never expire (kube-scheduler's default TTL is 0 as well).
    """

    def __init__(self) -> None:
        self._nodes: dict[str, NodeInfo] = {}  # live NodeInfos, ghosts included
        self._pods: dict[str, _PodState] = {}
        self._dirty: set[str] = set()
        self._zones: dict[str, list[str]] = {}  # nodeTree: zone key -> node names, in arrival order
        self._zone_of: dict[str, str] = {}
        self._order: list[str] = []
        self._order_dirty = False
        self._published: dict[str, NodeInfo] = {}
        self._namespace_labels: dict[str, Mapping[str, str]] = {}
        self._generation = 0
        self._node_generation = 0
        self._last: Snapshot | None = None
        self._rotation = Rotation()
        # controller uid -> node name -> pod count; inner dicts handed to a snapshot are replaced,
        # not mutated, on the next change (copy-on-write), so snapshots stay consistent
        self._owner_nodes: dict[str, dict[str, int]] = {}
        self._owner_shared: set[str] = set()
        self._owner_published: dict[str, dict[str, int]] = {}
        self._owners_dirty = False
        # nodes holding pods with (anti-)affinity, so snapshots need not scan every node for them
        self._with_affinity: set[str] = set()
        self._with_anti_affinity: set[str] = set()

    # nodes ----------------------------------------------------------------------------------------

    def add_node(self, node: Mapping) -> None:
        name = (node.get("metadata") or {}).get("name") or ""
        ni = self._nodes.get(name)
        if ni is None:
            ni = self._nodes[name] = NodeInfo(name)
        ni.set_node(node)
        self._place_in_tree(name, zone_key(ni.labels))
        self._touch(name)

    def update_node(self, node: Mapping) -> None:
        self.add_node(node)

    def remove_node(self, node: Mapping | str) -> None:
        """RemoveNode: the node leaves the snapshot; its pods stay in a ghost until they are deleted."""
        name = node if isinstance(node, str) else (node.get("metadata") or {}).get("name") or ""
        ni = self._nodes.get(name)
        if ni is None:
            return
        if ni.pods:
            ni.set_node(None)
        else:
            del self._nodes[name]
        self._remove_from_tree(name)
        self._touch(name)

    def _place_in_tree(self, name: str, zone: str) -> None:
        old = self._zone_of.get(name)
        if old == zone:
            return
        if old is not None:
            self._remove_from_tree(name)
        self._zones.setdefault(zone, []).append(name)
        self._zone_of[name] = zone
        self._order_dirty = True

    def _remove_from_tree(self, name: str) -> None:
        zone = self._zone_of.pop(name, None)
        if zone is None:
            return
        names = self._zones[zone]
        names.remove(name)
        if not names:
            del self._zones[zone]
        self._order_dirty = True

    # pods -----------------------------------------------------------------------------------------

    def add_pod(self, pod: Mapping | PodInfo) -> None:
        """A bound pod seen in the watch; confirms it if we had assumed it.

        Pods without spec.nodeName and terminal pods (Succeeded/Failed, which kube-scheduler's pod
        informer filters out) hold nothing: they are dropped if the cache had them.
        """
        self.update_pod(None, pod)

    def update_pod(self, old_pod: Mapping | PodInfo | None, new_pod: Mapping | PodInfo) -> None:
        info = as_pod_info(new_pod)
        state = self._pods.get(info.uid)
        if state is None and old_pod is not None:
            state = self._pods.get(as_pod_info(old_pod).uid)
        terminal = _terminal(info.pod)
        if state is not None and state.assumed and not info.node_name and not terminal:
            return  # an update of the pod from before our binding: the assumption stands
        if state is not None:
            self._remove_state(state)
        if info.node_name and not terminal:
            self._insert(_PodState(info.compact(), assumed=False))

    def remove_pod(self, pod: Mapping | PodInfo) -> None:
        state = self._pods.get(as_pod_info(pod).uid)
        if state is not None:
            self._remove_state(state)

    def assume_pod(self, pod: Mapping | PodInfo, node_name: str) -> PodInfo:
        """AssumePod: count the pod on `node_name` now, before the binding is seen in the watch."""
        info = as_pod_info(pod)
        if info.uid in self._pods:
            raise CacheError(f"pod {info.key} (uid {info.uid}) is in the cache, so can't be assumed")
        assumed = info.with_node(node_name)
        self._insert(_PodState(assumed.compact(), assumed=True))
        return assumed

    def forget_pod(self, pod: Mapping | PodInfo) -> None:
        """ForgetPod: drop an assumed pod whose binding failed."""
        info = as_pod_info(pod)
        state = self._pods.get(info.uid)
        if state is None:
            return
        if not state.assumed:
            raise CacheError(f"pod {info.key} (uid {info.uid}) wasn't assumed so cannot be forgotten")
        self._remove_state(state)

    def is_assumed(self, pod: Mapping | PodInfo) -> bool:
        uid = pod.uid if isinstance(pod, PodInfo) else ((pod.get("metadata") or {}).get("uid") or pod_key(pod))
        state = self._pods.get(uid)
        return state is not None and state.assumed

    def get_pod(self, uid: str) -> PodInfo | None:
        state = self._pods.get(uid)
        return state.info if state is not None else None

    def _insert(self, state: _PodState) -> None:
        info = state.info
        self._pods[info.uid] = state
        ni = self._nodes.get(info.node_name)
        if ni is None:
            ni = self._nodes[info.node_name] = NodeInfo(info.node_name)  # ghost until the node arrives
        ni.add_pod(info)
        self._index(info, ni, 1)
        self._touch(info.node_name)

    def _index(self, info: PodInfo, ni: NodeInfo, sign: int) -> None:
        if info.controller_uid is not None and not info.terminating:
            uid = info.controller_uid
            inner = self._owner_nodes.get(uid)
            if inner is None:
                inner = self._owner_nodes[uid] = {}
            elif uid in self._owner_shared:
                inner = self._owner_nodes[uid] = dict(inner)
                self._owner_shared.discard(uid)
            _bump(inner, ni.name, sign)
            if not inner:
                del self._owner_nodes[uid]
            self._owners_dirty = True
        if info.has_affinity:
            (self._with_affinity.add if ni.pods_with_affinity else self._with_affinity.discard)(ni.name)
        if info.has_required_anti_affinity:
            anti = self._with_anti_affinity
            (anti.add if ni.pods_with_required_anti_affinity else anti.discard)(ni.name)

    def _remove_state(self, state: _PodState) -> None:
        info = state.info
        self._pods.pop(info.uid, None)
        ni = self._nodes.get(info.node_name)
        if ni is None:
            return
        ni.remove_pod(info)
        self._index(info, ni, -1)
        if ni.node is None and not ni.pods:
            del self._nodes[info.node_name]
        self._touch(info.node_name)

    # namespaces -----------------------------------------------------------------------------------

    def set_namespace(self, name: str, labels: Mapping[str, str] | None) -> None:
        """Namespace labels, for affinity terms with a namespaceSelector."""
        # copy-on-write: snapshots already handed out keep the labels they were taken with
        self._namespace_labels = {**self._namespace_labels, name: dict(labels or {})}
        self._generation += 1

    def remove_namespace(self, name: str) -> None:
        if name in self._namespace_labels:
            self._namespace_labels = {k: v for k, v in self._namespace_labels.items() if k != name}
            self._generation += 1

    # snapshots ------------------------------------------------------------------------------------

    def _touch(self, name: str) -> None:
        self._dirty.add(name)
        self._generation += 1
        ni = self._nodes.get(name)
        if ni is not None:
            self._node_generation += 1
            ni.generation = self._node_generation

    def snapshot(self) -> Snapshot:
        """UpdateSnapshot: a consistent, immutable view; unchanged nodes are shared with the last one."""
        last = self._last
        if last is not None and last.generation == self._generation:
            return last
        published = self._published
        for name in self._dirty:
            ni = self._nodes.get(name)
            if ni is not None and ni.node is not None:
                published[name] = ni.clone()
            else:
                published.pop(name, None)
        self._dirty.clear()
        if self._order_dirty:
            self._order = _round_robin(self._zones)
            self._order_dirty = False
        if self._owners_dirty:
            self._owner_published = dict(self._owner_nodes)
            self._owner_shared = set(self._owner_nodes)
            self._owners_dirty = False
        snap = Snapshot.__new__(Snapshot)
        snap.node_infos = [published[name] for name in self._order]
        snap.node_info_map = dict(published)
        snap.have_pods_with_affinity = [published[n] for n in self._with_affinity if n in published]
        snap.have_pods_with_required_anti_affinity = [published[n] for n in self._with_anti_affinity if n in published]
        snap.namespace_labels = self._namespace_labels
        snap.generation = self._generation
        snap.rotation = self._rotation
        snap._owner_nodes = self._owner_published
        self._last = snap
        return snap

    @property
    def node_count(self) -> int:
        return len(self._zone_of)

    @property
    def pod_count(self) -> int:
        return len(self._pods)


def _terminal(pod: Mapping) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _round_robin(zones: Mapping[str, list[str]]) -> list[str]:
    """nodeTree.list: the first node of every zone, then the second of every zone, and so on."""
    lists = list(zones.values())
    order: list[str] = []
    depth = max((len(names) for names in lists), default=0)
    for i in range(depth):
        for names in lists:
            if i < len(names):
                order.append(names[i])
    return order
