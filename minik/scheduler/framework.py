"""One scheduling cycle: PreFilter, Filter with node sampling, Score, NormalizeScore, host selection.

Role in the flow: the scheduler loop pops a pod from `queue.SchedulingQueue`, takes
`nodeinfo.Cache.snapshot()` and calls `schedule()`; on success it assumes the pod on
`result.node_name` and binds it through the API, on failure it records `result.message` in the pod's
PodScheduled condition and a FailedScheduling event, and parks the pod in the queue with
`result.unschedulable_plugins`. Mirrors kube-scheduler's pkg/scheduler/schedule_one.go (schedulePod,
findNodesThatFitPod, numFeasibleNodesToFind, prioritizeNodes, selectHost), framework/types.go
(FitError.Error) and the message part of framework/preemption (DefaultPreemption's PostFilter).

Pure and synchronous: no I/O, no clock. Per-pod data (requests, tolerations, affinity, spread counts)
is computed once per cycle; the per-node work is a few attribute reads per plugin.

Not modeled: volume plugins (VolumeBinding, VolumeZone, NodeVolumeLimits...), ImageLocality, dynamic
resources, extenders, and other pods' nominations (RunFilterPluginsWithNominatedPods); preemption is
dry-run only, for its message and candidates, nothing is evicted. kube-scheduler truncates the
FailedScheduling event message to 1024 bytes (" ..." suffix) but not the PodScheduled condition: the
loop does that when it writes the event.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from minik.api.selectors import SelectorError
from minik.scheduler import plugins as p
from minik.scheduler.nodeinfo import NodeInfo, PodInfo, Snapshot, as_pod_info
from minik.scheduler.plugins import Rejection

ERR_NO_NODES_AVAILABLE = "no nodes available to schedule pods"
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_PREEMPTION_VICTIMS = "No preemption victims found for incoming pod"
PREEMPTION_NEVER = "not eligible due to preemptionPolicy=Never."

Filter = Callable[[NodeInfo], "Rejection | None"]


def num_feasible_nodes_to_find(num_all_nodes: int, percentage_of_nodes_to_score: int = 0) -> int:
    """numFeasibleNodesToFind: all nodes below 100; else a percentage (adaptive: 50% - nodes/125, at
    least 5%), never fewer than 100 nodes."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    percentage = percentage_of_nodes_to_score
    if percentage == 0:
        percentage = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    num_nodes = num_all_nodes * percentage // 100
    return max(num_nodes, MIN_FEASIBLE_NODES_TO_FIND)


def fit_error_message(
    num_all_nodes: int,
    statuses: Mapping[str, Rejection],
    *,
    absent: Rejection | None = None,
    prefilter_message: str = "",
    postfilter_message: str = "",
) -> str:
    """FitError.Error: "0/N nodes are available: <PreFilterMsg>. <histogram>. <PostFilterMsg>".

    The histogram counts every reason of every rejected node (nodes absent from `statuses` count under
    `absent`), formats "<count> <reason>" and sorts the strings bytewise, as Go's sort.Strings does.
    """
    message = f"0/{num_all_nodes} nodes are available:"
    if prefilter_message:
        message += f" {prefilter_message}."
    else:
        histogram: dict[str, int] = {}
        for status in statuses.values():
            for reason in status.reasons:
                histogram[reason] = histogram.get(reason, 0) + 1
        missing = num_all_nodes - len(statuses)
        if absent is not None and missing > 0:
            for reason in absent.reasons:
                histogram[reason] = histogram.get(reason, 0) + missing
        if histogram:
            message += " " + ", ".join(sorted(f"{count} {reason}" for reason, count in histogram.items())) + "."
    if postfilter_message:
        message += f" {postfilter_message}"
    return message


@dataclass
class FitError:
    """Why no node fits: per-node rejections (the Diagnosis) and the message kube-scheduler would write."""

    num_all_nodes: int
    node_statuses: dict[str, Rejection]
    absent_status: Rejection | None = None
    prefilter_message: str = ""
    postfilter_message: str = ""
    unschedulable_plugins: frozenset[str] = frozenset()
    # nodes where evicting every lower-priority pod would make the pod fit (DefaultPreemption's dry
    # run); kube-scheduler would nominate one and preempt, which this package does not do
    preemption_candidates: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        return fit_error_message(
            self.num_all_nodes,
            self.node_statuses,
            absent=self.absent_status,
            prefilter_message=self.prefilter_message,
            postfilter_message=self.postfilter_message,
        )

    def __str__(self) -> str:
        return self.message


@dataclass
class ScheduleResult:
    """The outcome of `schedule()`: a node, a FitError (unschedulable), or an error string."""

    node_name: str | None = None
    evaluated_nodes: int = 0
    feasible_nodes: int = 0
    fit_error: FitError | None = None
    error: str | None = None
    scores: dict[str, int] = field(default_factory=dict)  # total weighted score of each scored node

    @property
    def scheduled(self) -> bool:
        return self.node_name is not None

    @property
    def message(self) -> str:
        if self.fit_error is not None:
            return self.fit_error.message
        return self.error or ""

    @property
    def unschedulable_plugins(self) -> frozenset[str]:
        return self.fit_error.unschedulable_plugins if self.fit_error is not None else frozenset()


# --------------------------------------------------------------------------------------------------
# PreFilter
# --------------------------------------------------------------------------------------------------


@dataclass
class _Cycle:
    """CycleState: the pod's parsed data and the filters that apply to it, in the profile's order."""

    pod: p.PodContext
    filters: list[tuple[str, Filter]]
    allowed_names: frozenset[str] | None = None
    extra_filters: list[Filter] = field(default_factory=list)  # those the fused quick check does not cover


def _prefilter(pod: p.PodContext, snapshot: Snapshot) -> _Cycle | Rejection | str:
    """RunPreFilterPlugins: per-pod state computed once, and the filters that apply, in profile order.

    Returns a Rejection when a PreFilter rejects the pod, and an error string when it fails (an invalid
    selector the API should have refused), which kube-scheduler reports as an error, not a FitError.
    """
    allowed, rejection = p.prefilter_node_names(pod.pod)
    if rejection is not None:
        return rejection
    try:
        spread_state = p.prefilter_pod_topology_spread(pod, snapshot)
    except SelectorError as exc:
        return f"obtaining pod's hard topology spread constraints: {exc}"
    affinity_state = p.prefilter_inter_pod_affinity(pod, snapshot)
    if isinstance(affinity_state, Rejection):
        return affinity_state
    # a filter that cannot reject this pod is left out (its PreFilter would return Skip)
    applicable: dict[str, Filter] = {p.TAINT_TOLERATION: partial(p.filter_taint_toleration, pod)}
    applicable[p.NODE_RESOURCES_FIT] = partial(p.filter_node_resources_fit, pod)
    if not pod.tolerates_unschedulable:
        applicable[p.NODE_UNSCHEDULABLE] = partial(p.filter_node_unschedulable, pod)
    if pod.node_name:
        applicable[p.NODE_NAME] = partial(p.filter_node_name, pod)
    if pod.required_node_affinity is not None:
        applicable[p.NODE_AFFINITY] = partial(p.filter_node_affinity, pod)
    if pod.info.host_ports:
        applicable[p.NODE_PORTS] = partial(p.filter_node_ports, pod)
    if spread_state is not None:
        applicable[p.POD_TOPOLOGY_SPREAD] = partial(p.filter_pod_topology_spread, spread_state)
    if affinity_state is not None:
        applicable[p.INTER_POD_AFFINITY] = partial(p.filter_inter_pod_affinity, affinity_state)
    filters = [(name, applicable[name]) for name in p.FILTER_ORDER if name in applicable]
    quick_covered = {p.NODE_UNSCHEDULABLE, p.NODE_NAME, p.TAINT_TOLERATION, p.NODE_RESOURCES_FIT}
    extra = [fn for name, fn in filters if name not in quick_covered]
    return _Cycle(pod, filters, allowed, extra)


def run_filters(filters: Sequence[tuple[str, Filter]], node: NodeInfo) -> Rejection | None:
    """RunFilterPlugins: the first rejection wins."""
    for _, fn in filters:
        rejection = fn(node)
        if rejection is not None:
            return rejection
    return None


def _find_feasible(
    cycle: _Cycle, nodes: Sequence[NodeInfo], start: int, to_find: int
) -> tuple[list[NodeInfo], dict[str, Rejection], int]:
    """findNodesThatPassFilters: from `start`, round the list until `to_find` nodes fit or all are seen.

    The fused quick check settles the common case in one call; a node it does not clear goes through
    the filters one by one, which decide (and word the rejection).
    """
    feasible: list[NodeInfo] = []
    statuses: dict[str, Rejection] = {}
    filters = [fn for _, fn in cycle.filters]
    quick = p.quick_fit_check(cycle.pod)
    extra = cycle.extra_filters
    processed = 0
    order = nodes[start:] + nodes[:start] if start else nodes  # rotate once, not modulo per node
    for node in order:
        processed += 1
        rejection = None
        if quick(node):
            # the filters the quick check covers all pass, so the first rejection among the others,
            # kept in profile order, is the node's status
            for fn in extra:
                rejection = fn(node)
                if rejection is not None:
                    break
        else:
            for fn in filters:
                rejection = fn(node)
                if rejection is not None:
                    break
        if rejection is None:
            feasible.append(node)
            if len(feasible) >= to_find:
                break
        else:
            statuses[node.name] = rejection
    return feasible, statuses, processed


# --------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------


def score_nodes(
    pod: p.PodContext,
    snapshot: Snapshot,
    nodes: Sequence[NodeInfo],
    *,
    weights: Mapping[str, int] | None = None,
) -> tuple[list[int], dict[str, list[int]]]:
    """prioritizeNodes: PreScore, Score and NormalizeScore of every plugin, then the weighted sum.

    Returns the totals (aligned with `nodes`) and each plugin's normalized scores. A plugin whose
    PreScore has nothing to do for this pod (Skip) contributes nothing, as in kube-scheduler.
    """
    w = p.DEFAULT_SCORE_WEIGHTS if weights is None else weights
    count = len(nodes)
    per_plugin: dict[str, list[int]] = {}

    # TaintToleration: no PreferNoSchedule taint anywhere means 100 for every node after reversal
    if any(node.prefer_no_schedule_taints for node in nodes):
        raw = [p.score_taint_toleration(pod, node) for node in nodes]
        per_plugin[p.TAINT_TOLERATION] = p.default_normalize_score(raw, reverse=True)
    else:
        per_plugin[p.TAINT_TOLERATION] = [p.MAX_NODE_SCORE] * count
    if pod.preferred_node_affinity:
        raw = [p.score_node_affinity(pod, node) for node in nodes]
        per_plugin[p.NODE_AFFINITY] = p.default_normalize_score(raw, reverse=False)
    least, balanced = p.resource_scores(pod, nodes)
    per_plugin[p.NODE_RESOURCES_FIT] = least
    try:
        spread = p.prescore_pod_topology_spread(pod, snapshot, nodes)
    except SelectorError:
        spread = None  # PreFilter already reported a broken selector; nothing sensible to score
    if spread is not None:
        raw = p.score_pod_topology_spread_nodes(spread, nodes)
        per_plugin[p.POD_TOPOLOGY_SPREAD] = p.normalize_pod_topology_spread(spread, nodes, raw)
    affinity = p.prescore_inter_pod_affinity(pod, snapshot)
    if affinity is not None:
        raw = [p.score_inter_pod_affinity(affinity, node) for node in nodes]
        per_plugin[p.INTER_POD_AFFINITY] = p.normalize_inter_pod_affinity(raw)
    per_plugin[p.NODE_RESOURCES_BALANCED_ALLOCATION] = balanced

    totals = [0] * count
    for plugin, scores in per_plugin.items():
        weight = w.get(plugin, 0)
        if not weight:
            continue
        if len(set(scores)) == 1:  # the same for every node (often 100): add it in one go
            bump = scores[0] * weight
            totals = [t + bump for t in totals]
        else:
            totals = [t + s * weight for t, s in zip(totals, scores)]
    return totals, per_plugin


def select_host(nodes: Sequence[NodeInfo], totals: Sequence[int], rng: random.Random | None = None) -> str:
    """selectHost: the highest total, ties broken uniformly at random.

    kube-scheduler draws among the best nodes by reservoir sampling while it pops them from a heap
    (each of the k best kept with probability 1/k); with every total already in a list, drawing an
    index among the k best directly gives the same distribution for one random number.
    """
    best = max(totals)
    ties = [i for i, total in enumerate(totals) if total == best]
    if len(ties) == 1:
        return nodes[ties[0]].name
    rand = rng if rng is not None else random
    return nodes[ties[rand.randrange(len(ties))]].name


# --------------------------------------------------------------------------------------------------
# PostFilter (the message part of DefaultPreemption)
# --------------------------------------------------------------------------------------------------


def _preemption(
    pod: p.PodContext, snapshot: Snapshot, filters: Sequence[tuple[str, Filter]], statuses: Mapping[str, Rejection]
) -> tuple[str, tuple[str, ...]]:
    """DefaultPreemption.PostFilter without evicting anything: its message, and the candidate nodes.

    A node rejected as unresolvable is not a candidate ("Preemption is not helpful for scheduling");
    one without lower-priority pods has "No preemption victims found for incoming pod"; otherwise the
    filters are run again with every lower-priority pod removed (spread and affinity counts are not
    adjusted for the removed pods, a conservative simplification).
    """
    if (pod.pod.get("spec") or {}).get("preemptionPolicy") == "Never":
        return f"preemption: {PREEMPTION_NEVER}", ()
    priority = pod.info.priority
    node_statuses: dict[str, Rejection] = {}
    candidates: list[str] = []
    for name, status in statuses.items():
        if status.unresolvable:
            continue
        node = snapshot.get(name)
        if node is None:
            continue
        victims = [q for q in node.pods.values() if q.priority < priority]
        if not victims:
            node_statuses[name] = Rejection(p.DEFAULT_PREEMPTION, (NO_PREEMPTION_VICTIMS,), True)
            continue
        trial = node.clone()
        for victim in victims:
            trial.remove_pod(victim)
        rejection = run_filters(filters, trial)
        if rejection is None:
            candidates.append(name)
        else:
            node_statuses[name] = rejection
    if candidates:
        return "", tuple(candidates)  # kube-scheduler would preempt and nominate: no message
    absent = Rejection(p.DEFAULT_PREEMPTION, (PREEMPTION_NOT_HELPFUL,), True)
    return "preemption: " + fit_error_message(len(snapshot), node_statuses, absent=absent), ()


# --------------------------------------------------------------------------------------------------
# schedule
# --------------------------------------------------------------------------------------------------


def schedule(
    pod: Mapping | PodInfo,
    snapshot: Snapshot,
    *,
    percentage_of_nodes_to_score: int = 0,
    rng: random.Random | None = None,
    weights: Mapping[str, int] | None = None,
) -> ScheduleResult:
    """schedulePod for the default profile: a node for `pod`, or why there is none.

    Sampling resumes where the previous cycle on the same cache stopped (`snapshot.rotation`), so every
    node gets its turn. `rng` makes the tie-break reproducible in tests.
    """
    nodes = snapshot.node_infos
    if not nodes:
        return ScheduleResult(error=ERR_NO_NODES_AVAILABLE)
    ctx = p.PodContext(as_pod_info(pod))
    num_all = len(nodes)
    cycle = _prefilter(ctx, snapshot)
    if isinstance(cycle, str):
        return ScheduleResult(error=cycle)
    if isinstance(cycle, Rejection):
        # every node gets the PreFilter status, so preemption sees them all as unresolvable
        message, _ = _preemption(ctx, snapshot, [], {})
        fit = FitError(
            num_all,
            {},
            absent_status=cycle,
            prefilter_message=str(cycle),
            postfilter_message=message,
            unschedulable_plugins=frozenset((cycle.plugin,)),
        )
        return ScheduleResult(fit_error=fit)

    # a pod nominated by an earlier preemption tries its nominated node first
    nominated = ((ctx.pod.get("status") or {}).get("nominatedNodeName")) or ""
    if nominated:
        node = snapshot.get(nominated)
        if node is not None and (cycle.allowed_names is None or nominated in cycle.allowed_names):
            if run_filters(cycle.filters, node) is None:
                return ScheduleResult(node_name=nominated, evaluated_nodes=1, feasible_nodes=1)

    candidates = nodes
    absent: Rejection | None = None
    if cycle.allowed_names is not None:
        candidates = [node for node in nodes if node.name in cycle.allowed_names]
        absent = Rejection(p.NODE_AFFINITY, (f"node(s) didn't satisfy plugin(s) [{p.NODE_AFFINITY}]",), True)
    rotation = snapshot.rotation
    if candidates:
        start = rotation.next_start_index % len(candidates)
        to_find = num_feasible_nodes_to_find(len(candidates), percentage_of_nodes_to_score)
        feasible, statuses, processed = _find_feasible(cycle, candidates, start, to_find)
    else:
        feasible, statuses, processed = [], {}, 0
    rotation.next_start_index = (rotation.next_start_index + processed) % num_all

    if not feasible:
        plugins = frozenset(r.plugin for r in statuses.values())
        if absent is not None:
            plugins |= {absent.plugin}
        message, preemption_candidates = _preemption(ctx, snapshot, cycle.filters, statuses)
        fit = FitError(
            num_all,
            statuses,
            absent_status=absent,
            postfilter_message=message,
            unschedulable_plugins=plugins,
            preemption_candidates=preemption_candidates,
        )
        return ScheduleResult(evaluated_nodes=len(statuses), fit_error=fit)

    evaluated = len(feasible) + len(statuses)
    if len(feasible) == 1:
        return ScheduleResult(node_name=feasible[0].name, evaluated_nodes=evaluated, feasible_nodes=1)
    totals, _ = score_nodes(ctx, snapshot, feasible, weights=weights)
    chosen = select_host(feasible, totals, rng)
    return ScheduleResult(
        node_name=chosen,
        evaluated_nodes=evaluated,
        feasible_nodes=len(feasible),
        scores=dict(zip([node.name for node in feasible], totals)),
    )
