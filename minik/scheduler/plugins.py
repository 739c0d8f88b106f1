"""The default profile's plugins as pure functions: PreFilter, Filter, PreScore, Score, NormalizeScore.

Role in the flow: `framework.schedule()` parses the incoming pod once (`PodContext`), runs each plugin's
PreFilter over the snapshot once per cycle, then calls the filters and scorers below for each node.
Nothing here does I/O or keeps state between cycles. Mirrors kube-scheduler's
pkg/scheduler/framework/plugins/{nodename, nodeunschedulable, tainttoleration, nodeaffinity, nodeports,
noderesources, podtopologyspread, interpodaffinity, helper} and
k8s.io/component-helpers/scheduling/corev1 (taints, tolerations, node affinity).

A filter returns None when the pod fits, or a `Rejection` carrying the plugin name, the reason strings
worded exactly as kube-scheduler words them (they end up in "0/3 nodes are available: ..." messages)
and whether the rejection is unresolvable (no preemption could help). Scores are raw per-node numbers
that the plugin's normalizer maps to 0..100, as the framework's NormalizeScore does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from minik.api.selectors import (
    OP_DOES_NOT_EXIST,
    OP_EQUALS,
    OP_EXISTS,
    OP_GREATER_THAN,
    OP_IN,
    OP_LESS_THAN,
    OP_NOT_IN,
    LabelSelector,
    Requirement,
    SelectorError,
    label_selector_from_dict,
    label_selector_from_set,
    new_requirement,
)
from minik.scheduler.nodeinfo import (
    LABEL_HOSTNAME,
    LABEL_TOPOLOGY_ZONE,
    TAINT_EFFECT_NO_SCHEDULE,
    TAINT_EFFECT_PREFER_NO_SCHEDULE,
    AffinityTerm,
    NodeInfo,
    PodInfo,
    Snapshot,
    Taint,
    as_pod_info,
)

MAX_NODE_SCORE = 100

# Plugin names (pkg/scheduler/framework/plugins/names).
SCHEDULING_GATES = "SchedulingGates"
PRIORITY_SORT = "PrioritySort"
NODE_UNSCHEDULABLE = "NodeUnschedulable"
NODE_NAME = "NodeName"
TAINT_TOLERATION = "TaintToleration"
NODE_AFFINITY = "NodeAffinity"
NODE_PORTS = "NodePorts"
NODE_RESOURCES_FIT = "NodeResourcesFit"
POD_TOPOLOGY_SPREAD = "PodTopologySpread"
INTER_POD_AFFINITY = "InterPodAffinity"
DEFAULT_PREEMPTION = "DefaultPreemption"
NODE_RESOURCES_BALANCED_ALLOCATION = "NodeResourcesBalancedAllocation"
IMAGE_LOCALITY = "ImageLocality"

# Filters run in the default profile's order; the first rejection decides a node's status.
FILTER_ORDER = (
    NODE_UNSCHEDULABLE, NODE_NAME, TAINT_TOLERATION, NODE_AFFINITY, NODE_PORTS, NODE_RESOURCES_FIT,
    POD_TOPOLOGY_SPREAD, INTER_POD_AFFINITY,
)
# Score weights of the default profile (apis/config/v1/default_plugins.go). ImageLocality (weight 1) is
# not implemented: without image data every node scores the same, so it never changes the choice.
DEFAULT_SCORE_WEIGHTS: Mapping[str, int] = {
    TAINT_TOLERATION: 3,
    NODE_AFFINITY: 2,
    NODE_RESOURCES_FIT: 1,
    POD_TOPOLOGY_SPREAD: 2,
    INTER_POD_AFFINITY: 2,
    NODE_RESOURCES_BALANCED_ALLOCATION: 1,
}

# Filter reasons, word for word.
ERR_NODE_NAME = "node(s) didn't match the requested node name"
ERR_NODE_UNSCHEDULABLE = "node(s) were unschedulable"
ERR_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
ERR_NODE_AFFINITY_CONFLICT = "pod affinity terms conflict"
ERR_NODE_PORTS = "node(s) didn't have free ports for the requested pod ports"
ERR_TOO_MANY_PODS = "Too many pods"
ERR_INSUFFICIENT_CPU = "Insufficient cpu"
ERR_INSUFFICIENT_MEMORY = "Insufficient memory"
ERR_INSUFFICIENT_EPHEMERAL_STORAGE = "Insufficient ephemeral-storage"
ERR_SPREAD_CONSTRAINTS = "node(s) didn't match pod topology spread constraints"
ERR_SPREAD_MISSING_LABEL = ERR_SPREAD_CONSTRAINTS + " (missing required label)"
ERR_POD_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_POD_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
ERR_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"

TAINT_NODE_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"

# PodTopologySpread's system defaults: spread the pods of one workload over hosts and zones.
SYSTEM_DEFAULT_SPREAD = ((LABEL_HOSTNAME, 3), (LABEL_TOPOLOGY_ZONE, 5))
HARD_POD_AFFINITY_WEIGHT = 1  # InterPodAffinityArgs.hardPodAffinityWeight default


@dataclass(frozen=True, slots=True)
class Rejection:
    """A filter's Unschedulable / UnschedulableAndUnresolvable status."""

    plugin: str
    reasons: tuple[str, ...]
    unresolvable: bool = False

    @property
    def reason(self) -> str:
        return self.reasons[0] if self.reasons else ""

    def __str__(self) -> str:
        return ", ".join(self.reasons)


def _reject(plugin: str, reason: str, *, unresolvable: bool) -> Rejection:
    return Rejection(plugin, (reason,), unresolvable)


# Rejections with a fixed wording are built once: filters run for every node of every cycle.
REJECT_NODE_NAME = _reject(NODE_NAME, ERR_NODE_NAME, unresolvable=True)
REJECT_NODE_UNSCHEDULABLE = _reject(NODE_UNSCHEDULABLE, ERR_NODE_UNSCHEDULABLE, unresolvable=True)
REJECT_NODE_AFFINITY = _reject(NODE_AFFINITY, ERR_NODE_AFFINITY, unresolvable=True)
REJECT_NODE_PORTS = _reject(NODE_PORTS, ERR_NODE_PORTS, unresolvable=False)
REJECT_SPREAD = _reject(POD_TOPOLOGY_SPREAD, ERR_SPREAD_CONSTRAINTS, unresolvable=False)
REJECT_SPREAD_LABEL = _reject(POD_TOPOLOGY_SPREAD, ERR_SPREAD_MISSING_LABEL, unresolvable=True)
REJECT_POD_AFFINITY = _reject(INTER_POD_AFFINITY, ERR_POD_AFFINITY, unresolvable=True)
REJECT_POD_ANTI_AFFINITY = _reject(INTER_POD_AFFINITY, ERR_POD_ANTI_AFFINITY, unresolvable=False)
REJECT_EXISTING_ANTI_AFFINITY = _reject(INTER_POD_AFFINITY, ERR_EXISTING_ANTI_AFFINITY, unresolvable=False)


# --------------------------------------------------------------------------------------------------
# Taints and tolerations (k8s.io/api/core/v1 toleration.go, component-helpers corev1 helpers)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str
    operator: str
    value: str
    effect: str

    def tolerates(self, taint: Taint) -> bool:
        """Toleration.ToleratesTaint: empty effect and empty key are wildcards; "" operator is Equal."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator in ("", "Equal"):
            return self.value == taint.value
        return self.operator == "Exists"


def parse_tolerations(pod: Mapping) -> tuple[Toleration, ...]:
    spec = pod.get("spec") or {}
    return tuple(
        Toleration(t.get("key") or "", t.get("operator") or "", t.get("value") or "", t.get("effect") or "")
        for t in spec.get("tolerations") or ()
    )


def tolerations_tolerate_taint(tolerations: Sequence[Toleration], taint: Taint) -> bool:
    for toleration in tolerations:
        if toleration.tolerates(taint):
            return True
    return False


def find_untolerated_taint(taints: Sequence[Taint], tolerations: Sequence[Toleration]) -> Taint | None:
    """FindMatchingUntoleratedTaint over already-filtered taints: the first one no toleration covers."""
    for taint in taints:
        if not tolerations_tolerate_taint(tolerations, taint):
            return taint
    return None


# --------------------------------------------------------------------------------------------------
# Node affinity (component-helpers/scheduling/corev1/nodeaffinity)
# --------------------------------------------------------------------------------------------------

_NODE_SELECTOR_OPERATORS = {
    "In": OP_IN,
    "NotIn": OP_NOT_IN,
    "Exists": OP_EXISTS,
    "DoesNotExist": OP_DOES_NOT_EXIST,
    "Gt": OP_GREATER_THAN,
    "Lt": OP_LESS_THAN,
}
_NAME_FIELD = "metadata.name"


class NodeSelectorTerm:
    """nodeSelectorTerm: matchExpressions as a label selector, matchFields as (key, In?, value) tests.

    A term that fails to parse matches no node (LazyErrorNodeSelector ignores it), which is what
    kube-scheduler's filter does with the error it swallows.
    """

    __slots__ = ("labels", "fields", "error")

    def __init__(self, term: Mapping) -> None:
        self.labels: LabelSelector | None = None
        self.fields: tuple[tuple[str, bool, str], ...] = ()
        self.error: str | None = None
        expressions = term.get("matchExpressions") or ()
        match_fields = term.get("matchFields") or ()
        try:
            if expressions:
                self.labels = LabelSelector(_label_requirement(expr) for expr in expressions)
            if match_fields:
                self.fields = tuple(_field_requirement(expr) for expr in match_fields)
        except (SelectorError, ValueError) as exc:
            self.error = str(exc)

    def matches(self, node: NodeInfo) -> bool:
        if self.error is not None:
            return False
        if self.labels is not None and not self.labels.matches(node.labels):
            return False
        if node.name:  # nodeFields is empty for a nameless node, and then fields are not checked
            for key, is_in, value in self.fields:
                actual = node.name if key == _NAME_FIELD else ""
                if (actual == value) != is_in:
                    return False
        return True


def _label_requirement(expr: Mapping) -> Requirement:
    operator = _NODE_SELECTOR_OPERATORS.get(expr.get("operator", ""))
    if operator is None:
        raise ValueError(f'"{expr.get("operator", "")}" is not a valid node selector operator')
    return new_requirement(expr.get("key") or "", operator, expr.get("values"))


def _field_requirement(expr: Mapping) -> tuple[str, bool, str]:
    operator = expr.get("operator", "")
    values = expr.get("values") or []
    if operator not in ("In", "NotIn"):
        raise ValueError(f'"{operator}" is not a valid node field selector operator')
    if len(values) != 1:
        raise ValueError(f'unexpected number of value ({len(values)}) for node field selector operator "{operator}"')
    return (expr.get("key") or "", operator == "In", values[0])


def _is_empty_term(term: Mapping) -> bool:
    return not term.get("matchExpressions") and not term.get("matchFields")


class RequiredNodeAffinity:
    """nodeaffinity.RequiredNodeAffinity: spec.nodeSelector AND any of the required terms."""

    __slots__ = ("node_selector", "terms")

    def __init__(self, node_selector: LabelSelector | None, terms: tuple[NodeSelectorTerm, ...] | None) -> None:
        self.node_selector = node_selector
        self.terms = terms  # None: no required node affinity; (): one that matches nothing

    def matches(self, node: NodeInfo) -> bool:
        if self.node_selector is not None and not self.node_selector.matches(node.labels):
            return False
        if self.terms is None:
            return True
        for term in self.terms:
            if term.matches(node):
                return True
        return False


def _node_affinity(spec: Mapping) -> Mapping:
    return (spec.get("affinity") or {}).get("nodeAffinity") or {}


def required_node_affinity(pod: Mapping) -> RequiredNodeAffinity | None:
    """GetRequiredNodeAffinity, or None when the pod constrains nothing (the filter is skipped)."""
    spec = pod.get("spec") or {}
    node_selector = spec.get("nodeSelector")
    required = _node_affinity(spec).get("requiredDuringSchedulingIgnoredDuringExecution")
    if node_selector is None and required is None:
        return None
    selector = label_selector_from_set(node_selector) if node_selector is not None else None
    terms = None
    if required is not None:
        terms = tuple(NodeSelectorTerm(t) for t in required.get("nodeSelectorTerms") or () if not _is_empty_term(t))
    return RequiredNodeAffinity(selector, terms)


def preferred_node_affinity(pod: Mapping) -> tuple[tuple[int, NodeSelectorTerm], ...]:
    """NewPreferredSchedulingTerms: weighted terms; zero weights, empty and invalid terms are dropped."""
    spec = pod.get("spec") or {}
    preferred = _node_affinity(spec).get("preferredDuringSchedulingIgnoredDuringExecution")
    terms = []
    for item in preferred or ():
        weight = item.get("weight") or 0
        preference = item.get("preference") or {}
        if not weight or _is_empty_term(preference):
            continue
        term = NodeSelectorTerm(preference)
        if term.error is None:
            terms.append((int(weight), term))
    return tuple(terms)


def prefilter_node_names(pod: Mapping) -> tuple[frozenset[str] | None, Rejection | None]:
    """NodeAffinity.PreFilter: the only nodes a `matchFields metadata.name In` affinity allows.

    Returns (None, None) when every node stays eligible, (names, None) to restrict the search,
    or (None, rejection) when the terms contradict each other.
    """
    spec = pod.get("spec") or {}
    required = _node_affinity(spec).get("requiredDuringSchedulingIgnoredDuringExecution")
    terms = (required or {}).get("nodeSelectorTerms") or ()
    if not terms:
        return None, None
    names: set[str] | None = None
    for term in terms:
        term_names: set[str] | None = None
        for req in term.get("matchFields") or ():
            if req.get("key") == _NAME_FIELD and req.get("operator") == "In":
                values = set(req.get("values") or ())
                term_names = values if term_names is None else term_names & values
        if term_names is None:
            return None, None  # a term without a name restriction: terms are ORed, every node may match
        names = term_names if names is None else names | term_names
    if names is not None and not names:
        return None, _reject(NODE_AFFINITY, ERR_NODE_AFFINITY_CONFLICT, unresolvable=True)
    return (frozenset(names) if names else None), None


# --------------------------------------------------------------------------------------------------
# The incoming pod, parsed once per cycle
# --------------------------------------------------------------------------------------------------


class PodContext:
    """What the filters and scorers need from the pod being scheduled, computed once per cycle."""

    __slots__ = (
        "info", "pod", "node_name", "tolerations", "tolerates_unschedulable", "prefer_no_schedule_tolerations",
        "required_node_affinity", "preferred_node_affinity", "non_zero_cpu", "non_zero_mem",
    )

    def __init__(self, pod: Mapping | PodInfo) -> None:
        info = as_pod_info(pod)
        self.info = info
        self.pod = info.pod
        self.node_name = (info.pod.get("spec") or {}).get("nodeName") or ""
        self.tolerations = parse_tolerations(info.pod)
        # a pod that tolerates the unschedulable taint also tolerates spec.unschedulable
        self.tolerates_unschedulable = tolerations_tolerate_taint(
            self.tolerations, Taint(TAINT_NODE_UNSCHEDULABLE, "", TAINT_EFFECT_NO_SCHEDULE)
        )
        self.prefer_no_schedule_tolerations = tuple(
            t for t in self.tolerations if t.effect in ("", TAINT_EFFECT_PREFER_NO_SCHEDULE)
        )
        self.required_node_affinity = required_node_affinity(info.pod)
        self.preferred_node_affinity = preferred_node_affinity(info.pod)
        self.non_zero_cpu = info.non0_cpu
        self.non_zero_mem = info.non0_mem


# --------------------------------------------------------------------------------------------------
# Simple filters
# --------------------------------------------------------------------------------------------------


def filter_node_name(pod: PodContext, node: NodeInfo) -> Rejection | None:
    """NodeName: spec.nodeName, when set, must be this node."""
    if pod.node_name and pod.node_name != node.name:
        return REJECT_NODE_NAME
    return None


def filter_node_unschedulable(pod: PodContext, node: NodeInfo) -> Rejection | None:
    """NodeUnschedulable: cordoned nodes only take pods tolerating node.kubernetes.io/unschedulable."""
    if node.unschedulable and not pod.tolerates_unschedulable:
        return REJECT_NODE_UNSCHEDULABLE
    return None


def filter_taint_toleration(pod: PodContext, node: NodeInfo) -> Rejection | None:
    """TaintToleration: every NoSchedule/NoExecute taint must be tolerated; the first one that is not
    is named in the reason."""
    if not node.no_schedule_taints:
        return None
    taint = find_untolerated_taint(node.no_schedule_taints, pod.tolerations)
    if taint is None:
        return None
    return _reject(TAINT_TOLERATION, f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}", unresolvable=True)


def filter_node_affinity(pod: PodContext, node: NodeInfo) -> Rejection | None:
    """NodeAffinity: spec.nodeSelector and requiredDuringSchedulingIgnoredDuringExecution."""
    required = pod.required_node_affinity
    if required is not None and not required.matches(node):
        return REJECT_NODE_AFFINITY
    return None


def filter_node_ports(pod: PodContext, node: NodeInfo) -> Rejection | None:
    """NodePorts: no wanted (hostIP, protocol, hostPort) may already be in use on the node."""
    for ip, protocol, port in pod.info.host_ports:
        if node.port_conflict(ip, protocol, port):
            return REJECT_NODE_PORTS
    return None


def insufficient_resources(pod: PodInfo, node: NodeInfo) -> list[str]:
    """fitsRequest: every reason the pod does not fit, in kube-scheduler's order."""
    reasons = []
    alloc = node.allocatable
    if len(node.pods) + 1 > alloc.pods:
        reasons.append(ERR_TOO_MANY_PODS)
    want = pod.requests
    if not (want.milli_cpu or want.memory or want.ephemeral_storage or want.scalar):
        return reasons
    used = node.requested
    if want.milli_cpu > 0 and want.milli_cpu > alloc.milli_cpu - used.milli_cpu:
        reasons.append(ERR_INSUFFICIENT_CPU)
    if want.memory > 0 and want.memory > alloc.memory - used.memory:
        reasons.append(ERR_INSUFFICIENT_MEMORY)
    if want.ephemeral_storage > 0 and want.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage:
        reasons.append(ERR_INSUFFICIENT_EPHEMERAL_STORAGE)
    for name, amount in want.scalar.items():
        if amount and amount > alloc.scalar.get(name, 0) - used.scalar.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return reasons


def filter_node_resources_fit(pod: PodContext, node: NodeInfo) -> Rejection | None:
    """NodeResourcesFit: requests (init containers and overhead included) vs allocatable minus requested."""
    reasons = insufficient_resources(pod.info, node)
    if reasons:
        return Rejection(NODE_RESOURCES_FIT, tuple(reasons), False)
    return None


def quick_fit_check(pod: PodContext) -> Callable[[NodeInfo], bool]:
    """A fused pre-check of NodeUnschedulable, NodeName, TaintToleration and NodeResourcesFit.

    True means each of those filters passes (same comparisons, one call instead of four); False only
    means "run the filters" to get the exact rejection. It is the common case, made cheap: nodes
    without NoSchedule taints and with room. Pods asking for extended resources always take the
    filters.
    """
    want = pod.info.requests
    cpu, mem, eph = want.milli_cpu, want.memory, want.ephemeral_storage
    if want.scalar:
        return lambda node: False
    node_name = pod.node_name
    cordon_ok = pod.tolerates_unschedulable

    def check(node: NodeInfo) -> bool:
        if node.no_schedule_taints or (node.unschedulable and not cordon_ok):
            return False
        if node_name and node.name != node_name:
            return False
        alloc = node.allocatable
        if len(node.pods) >= alloc.pods:
            return False
        used = node.requested
        if cpu and cpu > alloc.milli_cpu - used.milli_cpu:
            return False
        if mem and mem > alloc.memory - used.memory:
            return False
        return not (eph and eph > alloc.ephemeral_storage - used.ephemeral_storage)

    return check


# --------------------------------------------------------------------------------------------------
# PodTopologySpread
# --------------------------------------------------------------------------------------------------


class SpreadConstraint:
    """topologySpreadConstraint: parsed, with either a label selector or (system default spreading)
    the uid of the workload that controls the pod."""

    __slots__ = (
        "max_skew", "topology_key", "selector", "owner_uid", "min_domains", "honor_node_affinity", "honor_node_taints",
    )

    def __init__(
        self,
        max_skew: int,
        topology_key: str,
        *,
        selector: LabelSelector | None = None,
        owner_uid: str | None = None,
        min_domains: int = 1,
        honor_node_affinity: bool = True,
        honor_node_taints: bool = False,
    ) -> None:
        self.max_skew = max_skew
        self.topology_key = topology_key
        self.selector = selector
        self.owner_uid = owner_uid
        self.min_domains = min_domains
        self.honor_node_affinity = honor_node_affinity
        self.honor_node_taints = honor_node_taints

    def matches(self, pod: PodInfo) -> bool:
        if self.owner_uid is not None:
            return pod.controller_uid == self.owner_uid
        return self.selector is not None and self.selector.matches(pod.labels)

    def count_on(self, node: NodeInfo, namespace: str) -> int:
        """countPodsMatchSelector: matching pods of the namespace on the node, terminating ones excluded."""
        if self.owner_uid is not None:
            return node.owner_counts.get(self.owner_uid, 0)  # owners and their pods share a namespace
        selector = self.selector
        if selector is None or selector.empty:
            return 0  # kube-scheduler counts nothing for an empty selector
        count = 0
        for p in node.pods.values():
            if not p.terminating and p.namespace == namespace and selector.matches(p.labels):
                count += 1
        return count

    def node_included(self, pod: PodContext, node: NodeInfo) -> bool:
        """matchNodeInclusionPolicies: nodeAffinityPolicy Honor (default), nodeTaintsPolicy Ignore (default)."""
        if self.honor_node_affinity:
            required = pod.required_node_affinity
            if required is not None and not required.matches(node):
                return False
        if self.honor_node_taints and find_untolerated_taint(node.no_schedule_taints, pod.tolerations) is not None:
            return False
        return True


def spread_constraints(pod: PodContext, when_unsatisfiable: str) -> tuple[SpreadConstraint, ...]:
    """filterTopologySpreadConstraints, or buildDefaultConstraints when the pod declares none.

    Raises SelectorError for an invalid labelSelector. System default spreading selects the pods of
    the same controller (ownerReference with controller: true); kube-scheduler builds that selector from
    the Services, ReplicaSets, ReplicationControllers and StatefulSets that select the pod, which for
    workload-owned pods is the same set of pods. Pods without a controller are not spread by default.
    """
    raw = (pod.pod.get("spec") or {}).get("topologySpreadConstraints") or ()
    if not raw:
        if when_unsatisfiable != "ScheduleAnyway" or pod.info.controller_uid is None:
            return ()
        return tuple(
            SpreadConstraint(skew, key, owner_uid=pod.info.controller_uid) for key, skew in SYSTEM_DEFAULT_SPREAD
        )
    labels = pod.info.labels
    constraints = []
    for c in raw:
        if c.get("whenUnsatisfiable") != when_unsatisfiable:
            continue
        selector = label_selector_from_dict(c.get("labelSelector"))
        match_label_keys = [k for k in c.get("matchLabelKeys") or () if k in labels]
        if match_label_keys and not selector.matches_nothing:
            # mergeLabelSetWithSelector: the pod's own values for matchLabelKeys narrow the selector
            extra = [Requirement(k, OP_EQUALS, (labels[k],)) for k in match_label_keys]
            selector = LabelSelector([*extra, *selector.requirements])
        min_domains = c.get("minDomains")
        constraints.append(
            SpreadConstraint(
                int(c.get("maxSkew") or 0),
                c.get("topologyKey") or "",
                selector=selector,
                min_domains=min_domains if isinstance(min_domains, int) else 1,
                honor_node_affinity=c.get("nodeAffinityPolicy", "Honor") != "Ignore",
                honor_node_taints=c.get("nodeTaintsPolicy", "Ignore") == "Honor",
            )
        )
    return tuple(constraints)


class SpreadFilterState:
    """PodTopologySpread preFilterState: matching pods per topology value, per constraint."""

    __slots__ = ("constraints", "counts", "min_match", "self_match", "checks")

    def __init__(self, constraints: tuple[SpreadConstraint, ...], counts: list[dict[str, int]], self_match: list[int]):
        self.constraints = constraints
        self.counts = counts
        self.self_match = self_match
        # the global minimum is taken as 0 while fewer domains than minDomains are eligible
        self.min_match = [
            (min(c.values()) if c else 2**31 - 1) if len(c) >= constraint.min_domains else 0
            for c, constraint in zip(counts, constraints)
        ]
        # matchNum + selfMatch - minMatch > maxSkew, rearranged: matchNum > maxSkew - selfMatch + minMatch
        self.checks = tuple(
            (c.topology_key, counts[i], c.max_skew - self_match[i] + self.min_match[i])
            for i, c in enumerate(constraints)
        )


def prefilter_pod_topology_spread(pod: PodContext, snapshot: Snapshot) -> SpreadFilterState | None:
    """PodTopologySpread.PreFilter for DoNotSchedule constraints; None when there are none (Skip).

    Every eligible node makes its topology value a domain (with 0 pods if need be); only nodes
    with pods can add to a count.
    """
    constraints = spread_constraints(pod, "DoNotSchedule")
    if not constraints:
        return None
    namespace = pod.info.namespace
    keys = {c.topology_key for c in constraints}
    eligible = [n for n in snapshot.node_infos if n.labels.keys() >= keys]  # every key present
    counts: list[dict[str, int]] = []
    for c in constraints:
        key = c.topology_key
        if (c.honor_node_affinity and pod.required_node_affinity is not None) or c.honor_node_taints:
            included = [n for n in eligible if c.node_included(pod, n)]
        else:
            included = eligible
        bucket = dict.fromkeys({n.labels[key] for n in included}, 0)
        for node in included:
            if node.pods:
                bucket[node.labels[key]] += c.count_on(node, namespace)
        counts.append(bucket)
    self_match = [1 if c.matches(pod.info) else 0 for c in constraints]
    return SpreadFilterState(constraints, counts, self_match)


def filter_pod_topology_spread(state: SpreadFilterState, node: NodeInfo) -> Rejection | None:
    """'existing matching num' + 'self-match' - 'global minimum' must not exceed maxSkew."""
    labels = node.labels
    for key, counts, limit in state.checks:
        value = labels.get(key)
        if value is None:
            return REJECT_SPREAD_LABEL
        if counts.get(value, 0) > limit:
            return REJECT_SPREAD
    return None


@dataclass(slots=True)
class SpreadScoreState:
    """PodTopologySpread preScoreState for ScheduleAnyway constraints (explicit or system default)."""

    constraints: tuple[SpreadConstraint, ...]
    ignored: set[str]  # feasible nodes lacking one of the topology keys: scored 0
    counts: list[dict[str, int]]  # per constraint: topology value -> matching pods (not hostname)
    weights: list[float]  # per constraint: log(number of domains + 2)
    namespace: str


def prescore_pod_topology_spread(
    pod: PodContext, snapshot: Snapshot, filtered: Sequence[NodeInfo]
) -> SpreadScoreState | None:
    """PodTopologySpread.PreScore; None when the pod has no soft constraints (Skip).

    Per-node counts for kubernetes.io/hostname are taken in Score; other keys are counted here over all
    nodes, for the topology values the feasible nodes have.
    """
    if not snapshot.node_infos:
        return None
    constraints = spread_constraints(pod, "ScheduleAnyway")
    if not constraints:
        return None
    explicit = bool((pod.pod.get("spec") or {}).get("topologySpreadConstraints"))
    # only explicit constraints require nodes to carry every key: hostname spreading still applies
    # to nodes without a zone label under the system defaults
    require_all = explicit
    keys = {c.topology_key for c in constraints}
    ignored: set[str] = set()
    if require_all:
        ignored = {n.name for n in filtered if not n.labels.keys() >= keys}
    eligible = [n for n in filtered if n.name not in ignored] if ignored else filtered
    counts: list[dict[str, int]] = []
    explicit_empty = []
    for c in constraints:
        if c.topology_key == LABEL_HOSTNAME:
            counts.append({})
            explicit_empty.append(False)
            continue
        key = c.topology_key
        values = {n.labels.get(key) for n in eligible}
        explicit_empty.append("" in values)
        counts.append(dict.fromkeys(("" if v is None else v for v in values), 0))
    sizes = [len(counts[i]) for i in range(len(constraints))]
    weights = [
        math.log((len(filtered) - len(ignored) if c.topology_key == LABEL_HOSTNAME else sizes[i]) + 2)
        for i, c in enumerate(constraints)
    ]
    namespace = pod.info.namespace
    zonal = [i for i, c in enumerate(constraints) if c.topology_key != LABEL_HOSTNAME and counts[i]]
    if not zonal:
        return SpreadScoreState(constraints, ignored, counts, weights, namespace)
    owner_uid = constraints[zonal[0]].owner_uid
    if owner_uid is not None and all(constraints[i].owner_uid == owner_uid for i in zonal):
        # system default spreading: only the nodes running the workload's pods can add anything
        node_map = snapshot.node_info_map
        owned = map(node_map.get, snapshot.owner_nodes(owner_uid))
        candidates: Sequence[NodeInfo] = [n for n in owned if n is not None]
    else:
        candidates = snapshot.node_infos
    for node in candidates:
        labels = node.labels
        if not node.pods or (require_all and not labels.keys() >= keys):
            continue  # an empty node adds nothing to its domain's count
        for i in zonal:
            c = constraints[i]
            value = labels.get(c.topology_key)
            if value is None:
                # a node without the label counts under "", which only a node explicitly labelled
                # "" ever reads back in Score; skip the count otherwise
                if not explicit_empty[i]:
                    continue
                value = ""
            bucket = counts[i]
            if value not in bucket or not c.node_included(pod, node):
                continue
            bucket[value] += c.count_on(node, namespace)
    return SpreadScoreState(constraints, ignored, counts, weights, namespace)


def score_pod_topology_spread(state: SpreadScoreState, node: NodeInfo) -> int:
    """Matching pods in the node's domains, weighted by log(#domains + 2), plus maxSkew - 1 per domain."""
    if node.name in state.ignored:
        return 0
    labels = node.labels
    score = 0.0
    for i, c in enumerate(state.constraints):
        value = labels.get(c.topology_key)
        if value is None:
            continue
        if c.topology_key == LABEL_HOSTNAME:
            count = c.count_on(node, state.namespace)
        else:
            count = state.counts[i].get(value, 0)
        score += count * state.weights[i] + (c.max_skew - 1)
    return math.floor(score + 0.5)  # math.Round: half away from zero (scores are non-negative)


def score_pod_topology_spread_nodes(state: SpreadScoreState, nodes: Sequence[NodeInfo]) -> list[int]:
    """`score_pod_topology_spread` for many nodes at once (same arithmetic, same order)."""
    sums: list[float] = [0.0] * len(nodes)
    for i, c in enumerate(state.constraints):
        key, weight, bonus = c.topology_key, state.weights[i], c.max_skew - 1
        if key == LABEL_HOSTNAME:
            if c.owner_uid is not None:
                uid = c.owner_uid
                counts = [n.owner_counts.get(uid, 0) if key in n.labels else None for n in nodes]
            else:
                ns = state.namespace
                counts = [c.count_on(n, ns) if key in n.labels else None for n in nodes]
        else:
            bucket = state.counts[i]
            counts = [bucket.get(n.labels[key], 0) if key in n.labels else None for n in nodes]
        sums = [s if k is None else s + (k * weight + bonus) for s, k in zip(sums, counts)]
    ignored = state.ignored
    floor = math.floor
    if ignored:
        return [0 if n.name in ignored else floor(s + 0.5) for n, s in zip(nodes, sums)]
    return [floor(s + 0.5) for s in sums]


def normalize_pod_topology_spread(state: SpreadScoreState, nodes: Sequence[NodeInfo], scores: list[int]) -> list[int]:
    """Fewer matching pods is better: 100 * (max + min - score) / max; ignored nodes get 0."""
    ignored = state.ignored
    if ignored:
        kept = [score for node, score in zip(nodes, scores) if node.name not in ignored]
    else:
        kept = scores
    if not kept:
        return [0] * len(scores)
    min_score = min(kept)
    max_score = max(max(kept), 0)
    if max_score == 0:
        normalized = [MAX_NODE_SCORE] * len(scores)
    else:
        top = max_score + min_score
        normalized = [MAX_NODE_SCORE * (top - score) // max_score for score in scores]
    if ignored:
        return [0 if node.name in ignored else v for node, v in zip(nodes, normalized)]
    return normalized


# --------------------------------------------------------------------------------------------------
# InterPodAffinity
# --------------------------------------------------------------------------------------------------


def _merge_namespaces(term: AffinityTerm, namespace_labels: Mapping[str, Mapping[str, str]]) -> AffinityTerm:
    """mergeAffinityTermNamespacesIfNotEmpty: turn the incoming pod's namespaceSelector into names."""
    selector = term.namespace_selector
    if selector.empty:  # {} selects every namespace and is kept as a selector
        return term
    names = set(term.namespaces)
    if not selector.matches_nothing:
        names.update(name for name, labels in namespace_labels.items() if selector.matches(labels))
    return AffinityTerm(frozenset(names), term.selector, term.topology_key, LabelSelector.nothing(), term.weight)


def _matches_all(terms: Sequence[AffinityTerm], pod: PodInfo) -> bool:
    """podMatchesAllAffinityTerms (namespace selectors already merged, hence no namespace labels)."""
    if not terms:
        return False
    for term in terms:
        if not term.matches(pod, None):
            return False
    return True


@dataclass(slots=True)
class AffinityFilterState:
    """InterPodAffinity preFilterState: (topologyKey, value) -> number of matching pods."""

    pod: PodInfo
    affinity_terms: tuple[AffinityTerm, ...]  # the pod's required terms, namespace selectors merged
    anti_affinity_terms: tuple[AffinityTerm, ...]
    existing_anti_counts: dict[tuple[str, str], int]  # existing pods whose anti-affinity the pod matches
    affinity_counts: dict[tuple[str, str], int]  # existing pods matching all the pod's affinity terms
    anti_affinity_counts: dict[tuple[str, str], int]  # existing pods matching an anti-affinity term
    # the topology keys the counts above can hold: a node is only looked up by these labels
    anti_affinity_keys: tuple[str, ...] = ()
    existing_anti_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.anti_affinity_keys = tuple(dict.fromkeys(t.topology_key for t in self.anti_affinity_terms))
        self.existing_anti_keys = tuple(dict.fromkeys(key for key, _ in self.existing_anti_counts))


def _count(counts: dict[tuple[str, str], int], labels: Mapping[str, str], key: str) -> None:
    value = labels.get(key)
    if value is not None:
        pair = (key, value)
        counts[pair] = counts.get(pair, 0) + 1


def prefilter_inter_pod_affinity(pod: PodContext, snapshot: Snapshot) -> AffinityFilterState | Rejection | None:
    """InterPodAffinity.PreFilter; None when neither the pod nor any existing pod has a say (Skip)."""
    info = pod.info
    if info.parse_errors:
        return _reject(INTER_POD_AFFINITY, f"parsing pod: {'; '.join(info.parse_errors)}", unresolvable=True)
    ns_labels_map = snapshot.namespace_labels
    affinity_terms = tuple(_merge_namespaces(t, ns_labels_map) for t in info.required_affinity_terms)
    anti_terms = tuple(_merge_namespaces(t, ns_labels_map) for t in info.required_anti_affinity_terms)
    own_ns_labels = ns_labels_map.get(info.namespace)

    existing_anti: dict[tuple[str, str], int] = {}
    for node in snapshot.have_pods_with_required_anti_affinity:
        for existing in node.pods_with_required_anti_affinity.values():
            for term in existing.required_anti_affinity_terms:
                if term.matches(info, own_ns_labels):
                    _count(existing_anti, node.labels, term.topology_key)

    affinity_counts: dict[tuple[str, str], int] = {}
    anti_counts: dict[tuple[str, str], int] = {}
    if affinity_terms or anti_terms:
        affinity_keys = [t.topology_key for t in affinity_terms]
        for node in snapshot.node_infos:
            if not node.pods:
                continue
            labels = node.labels
            for existing in node.pods.values():
                if affinity_terms and _matches_all(affinity_terms, existing):
                    for key in affinity_keys:
                        _count(affinity_counts, labels, key)
                for term in anti_terms:
                    if term.matches(existing, None):
                        _count(anti_counts, labels, term.topology_key)

    if not existing_anti and not affinity_terms and not anti_terms:
        return None
    return AffinityFilterState(info, affinity_terms, anti_terms, existing_anti, affinity_counts, anti_counts)


def _satisfies_pod_affinity(state: AffinityFilterState, node: NodeInfo) -> bool:
    pods_exist = True
    labels = node.labels
    for term in state.affinity_terms:
        value = labels.get(term.topology_key)
        if value is None:
            return False  # every topology label must exist on the node
        if state.affinity_counts.get((term.topology_key, value), 0) <= 0:
            pods_exist = False
    if pods_exist:
        return True
    # the first pod of a group with affinity to itself: allowed anywhere while no pod matches yet
    return not state.affinity_counts and _matches_all(state.affinity_terms, state.pod)


def _satisfies_pod_anti_affinity(state: AffinityFilterState, node: NodeInfo) -> bool:
    counts = state.anti_affinity_counts
    if counts:
        labels = node.labels
        for key in state.anti_affinity_keys:
            value = labels.get(key)
            if value is not None and counts.get((key, value), 0) > 0:
                return False
    return True


def _satisfies_existing_anti_affinity(state: AffinityFilterState, node: NodeInfo) -> bool:
    """Any of the node's (label, value) pairs with an existing pod's anti-affinity against the pod."""
    counts = state.existing_anti_counts
    if counts:
        labels = node.labels
        for key in state.existing_anti_keys:  # the pairs can only have these keys
            value = labels.get(key)
            if value is not None and counts.get((key, value), 0) > 0:
                return False
    return True


def filter_inter_pod_affinity(state: AffinityFilterState, node: NodeInfo) -> Rejection | None:
    """Required pod affinity, required pod anti-affinity, then the existing pods' anti-affinity."""
    if state.affinity_terms and not _satisfies_pod_affinity(state, node):
        return REJECT_POD_AFFINITY
    if not _satisfies_pod_anti_affinity(state, node):
        return REJECT_POD_ANTI_AFFINITY
    if not _satisfies_existing_anti_affinity(state, node):
        return REJECT_EXISTING_ANTI_AFFINITY
    return None


def prescore_inter_pod_affinity(pod: PodContext, snapshot: Snapshot) -> dict[str, dict[str, int]] | None:
    """InterPodAffinity.PreScore: topologyKey -> value -> summed weights; None when nothing applies.

    The incoming pod's preferred (anti-)affinity counts the existing pods it matches; existing pods'
    required affinity (weight 1) and preferred (anti-)affinity count the incoming pod.
    """
    info = pod.info
    ns_map = snapshot.namespace_labels
    preferred = tuple(_merge_namespaces(t, ns_map) for t in info.preferred_affinity_terms)
    preferred_anti = tuple(_merge_namespaces(t, ns_map) for t in info.preferred_anti_affinity_terms)
    has_constraints = bool(preferred or preferred_anti)
    own_ns_labels = ns_map.get(info.namespace)
    nodes = snapshot.node_infos if has_constraints else snapshot.have_pods_with_affinity
    scores: dict[str, dict[str, int]] = {}
    touched = False

    def add(
        term: AffinityTerm, weight: int, target: PodInfo, ns_labels: Mapping[str, str] | None, node: NodeInfo, sign: int
    ) -> None:
        nonlocal touched
        if term.matches(target, ns_labels):
            value = node.labels.get(term.topology_key)
            if value is not None:
                by_value = scores.setdefault(term.topology_key, {})
                by_value[value] = by_value.get(value, 0) + weight * sign
                touched = True

    for node in nodes:
        if not node.labels:
            continue
        pods = node.pods if has_constraints else node.pods_with_affinity
        for existing in pods.values():
            for term in preferred:
                add(term, term.weight, existing, None, node, 1)
            for term in preferred_anti:
                add(term, term.weight, existing, None, node, -1)
            for term in existing.required_affinity_terms:
                add(term, HARD_POD_AFFINITY_WEIGHT, info, own_ns_labels, node, 1)
            for term in existing.preferred_affinity_terms:
                add(term, term.weight, info, own_ns_labels, node, 1)
            for term in existing.preferred_anti_affinity_terms:
                add(term, term.weight, info, own_ns_labels, node, -1)
    return scores if touched else None


def score_inter_pod_affinity(topology_scores: Mapping[str, Mapping[str, int]], node: NodeInfo) -> int:
    labels = node.labels
    score = 0
    for key, by_value in topology_scores.items():
        value = labels.get(key)
        if value is not None:
            score += by_value.get(value, 0)
    return score


def normalize_inter_pod_affinity(scores: list[int]) -> list[int]:
    """Min-max scaling to 0..100 (scores can be negative: anti-affinity subtracts)."""
    if not scores:
        return scores
    lo, hi = min(scores), max(scores)
    diff = hi - lo
    if diff <= 0:
        return [0] * len(scores)
    return [int(float(MAX_NODE_SCORE) * ((s - lo) / diff)) for s in scores]


# --------------------------------------------------------------------------------------------------
# Other scores
# --------------------------------------------------------------------------------------------------


def score_least_allocated(pod: PodContext, node: NodeInfo) -> int:
    """NodeResourcesFit LeastAllocated (cpu 1, memory 1) on non-zero requests: free share, 0..100."""
    alloc = node.allocatable
    nz = node.non_zero_requested
    total = weight = 0
    capacity = alloc.milli_cpu
    if capacity:
        requested = nz.milli_cpu + pod.non_zero_cpu
        total += 0 if requested > capacity else (capacity - requested) * MAX_NODE_SCORE // capacity
        weight += 1
    capacity = alloc.memory
    if capacity:
        requested = nz.memory + pod.non_zero_mem
        total += 0 if requested > capacity else (capacity - requested) * MAX_NODE_SCORE // capacity
        weight += 1
    return total // weight if weight else 0


def score_balanced_allocation(pod: PodContext, node: NodeInfo) -> int:
    """NodeResourcesBalancedAllocation (cpu, memory): (1 - |cpu share - memory share| / 2) * 100."""
    alloc = node.allocatable
    used = node.requested
    want = pod.info.requests
    fractions = []
    if alloc.milli_cpu:
        fractions.append(min((used.milli_cpu + want.milli_cpu) / alloc.milli_cpu, 1.0))
    if alloc.memory:
        fractions.append(min((used.memory + want.memory) / alloc.memory, 1.0))
    std = abs((fractions[0] - fractions[1]) / 2) if len(fractions) == 2 else 0.0
    return int((1 - std) * MAX_NODE_SCORE)


def resource_scores(pod: PodContext, nodes: Sequence[NodeInfo]) -> tuple[list[int], list[int]]:
    """`score_least_allocated` and `score_balanced_allocation` for many nodes in one pass."""
    nz_cpu, nz_mem = pod.non_zero_cpu, pod.non_zero_mem
    want = pod.info.requests
    cpu, mem = want.milli_cpu, want.memory
    least: list[int] = []
    balanced: list[int] = []
    add_least, add_balanced = least.append, balanced.append
    for node in nodes:
        alloc = node.allocatable
        cap_cpu, cap_mem = alloc.milli_cpu, alloc.memory
        if cap_cpu and cap_mem:
            nz = node.non_zero_requested
            r_cpu = nz.milli_cpu + nz_cpu
            r_mem = nz.memory + nz_mem
            s_cpu = 0 if r_cpu > cap_cpu else (cap_cpu - r_cpu) * MAX_NODE_SCORE // cap_cpu
            s_mem = 0 if r_mem > cap_mem else (cap_mem - r_mem) * MAX_NODE_SCORE // cap_mem
            add_least((s_cpu + s_mem) // 2)
            used = node.requested
            f_cpu = (used.milli_cpu + cpu) / cap_cpu
            f_mem = (used.memory + mem) / cap_mem
            if f_cpu > 1.0:
                f_cpu = 1.0
            if f_mem > 1.0:
                f_mem = 1.0
            std = (f_cpu - f_mem) / 2
            if std < 0:
                std = -std
            add_balanced(int((1 - std) * MAX_NODE_SCORE))
        else:  # a node without cpu or memory allocatable: the general formulas
            add_least(score_least_allocated(pod, node))
            add_balanced(score_balanced_allocation(pod, node))
    return least, balanced


def score_taint_toleration(pod: PodContext, node: NodeInfo) -> int:
    """Raw score: PreferNoSchedule taints the pod does not tolerate (normalized in reverse)."""
    count = 0
    for taint in node.prefer_no_schedule_taints:
        if not tolerations_tolerate_taint(pod.prefer_no_schedule_tolerations, taint):
            count += 1
    return count


def score_node_affinity(pod: PodContext, node: NodeInfo) -> int:
    """Raw score: the summed weights of the preferred node affinity terms the node matches."""
    score = 0
    for weight, term in pod.preferred_node_affinity:
        if term.matches(node):
            score += weight
    return score


def default_normalize_score(scores: list[int], *, reverse: bool) -> list[int]:
    """helper.DefaultNormalizeScore: scale [0, max] to [0, 100], optionally reversed."""
    top = max(scores, default=0)
    if top == 0:
        return [MAX_NODE_SCORE] * len(scores) if reverse else list(scores)
    if reverse:
        return [MAX_NODE_SCORE - MAX_NODE_SCORE * s // top for s in scores]
    return [MAX_NODE_SCORE * s // top for s in scores]
