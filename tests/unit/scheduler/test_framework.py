"""One scheduling cycle: node sampling, FitError messages word for word, scoring and host selection."""

from __future__ import annotations

import collections
import random

import pytest

from minik.scheduler import framework as fw
from minik.scheduler import plugins as p
from minik.scheduler.nodeinfo import Cache, PodInfo, Snapshot
from minik.scheduler.plugins import Rejection
from tests.unit.scheduler import make_node, make_pod

CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
TAINT_REASON = "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"


@pytest.mark.parametrize(
    ("nodes", "percentage", "expected"),
    [
        (0, 0, 0),
        (50, 0, 50),
        (99, 0, 99),
        (100, 0, 100),
        (1000, 0, 420),  # 50% - 1000/125 = 42%
        (5000, 0, 500),  # 10%
        (6000, 0, 300),  # 50 - 48 = 2%, raised to 5%
        (1000, 10, 100),
        (1000, 100, 1000),
        (300, 20, 100),  # never fewer than 100
    ],
)
def test_num_feasible_nodes_to_find(nodes, percentage, expected):
    assert fw.num_feasible_nodes_to_find(nodes, percentage) == expected


def rej(*reasons: str, unresolvable: bool = False) -> Rejection:
    return Rejection("X", reasons, unresolvable)


@pytest.mark.parametrize(
    ("num", "statuses", "kwargs", "expected"),
    [
        (1, {"a": rej("Insufficient cpu")}, {}, "0/1 nodes are available: 1 Insufficient cpu."),
        (
            2,
            {"a": rej("Insufficient cpu", "Insufficient memory"), "b": rej("Insufficient cpu")},
            {},
            "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.",
        ),
        # Go's sort.Strings: "10 ..." sorts before "2 ..."
        (
            12,
            {**{f"n{i}": rej("Insufficient cpu") for i in range(10)}, "t1": rej(TAINT_REASON), "t2": rej(TAINT_REASON)},
            {},
            f"0/12 nodes are available: 10 Insufficient cpu, 2 {TAINT_REASON}.",
        ),
        (
            3,
            {},
            {"prefilter_message": "pod affinity terms conflict"},
            "0/3 nodes are available: pod affinity terms conflict.",
        ),
        (
            3,
            {"a": rej("Insufficient cpu")},
            {"absent": rej("gone")},
            "0/3 nodes are available: 1 Insufficient cpu, 2 gone.",
        ),
        (1, {"a": rej("x")}, {"postfilter_message": "preemption: y"}, "0/1 nodes are available: 1 x. preemption: y"),
    ],
)
def test_fit_error_message(num, statuses, kwargs, expected):
    assert fw.fit_error_message(num, statuses, **kwargs) == expected


def cluster() -> Snapshot:
    return Snapshot.from_objects(
        [
            make_node("control-plane", cpu="4", taints=[CONTROL_PLANE_TAINT]),
            make_node("worker-1", cpu="2"),
            make_node("worker-2", cpu="2"),
        ]
    )


def names_affinity(*names: list[str]) -> dict:
    """One node selector term requiring metadata.name In each of the lists (ANDed)."""
    fields = [{"key": "metadata.name", "operator": "In", "values": values} for values in names]
    terms = {"nodeSelectorTerms": [{"matchFields": fields}]}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": terms}}


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        (
            make_pod("big", cpu="3"),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
            "2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
            "2 No preemption victims found for incoming pod.",
        ),
        (
            make_pod("big", cpu="3", spec={"preemptionPolicy": "Never"}),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
            "2 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.",
        ),
        (
            make_pod("picky", node_selector={"disk": "ssd"}),
            # filters run in the profile's order: the control plane fails on its taint first
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
            "2 node(s) didn't match Pod's node affinity/selector. "
            "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        ),
        (
            make_pod("huge", cpu="3", memory="16Gi", tolerations=[{"operator": "Exists"}]),
            "0/3 nodes are available: 2 Insufficient cpu, 3 Insufficient memory. "
            "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
        ),
        (
            make_pod("pinned", cpu="3", affinity=names_affinity(["worker-1"])),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]. "
            "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, "
            "2 Preemption is not helpful for scheduling.",
        ),
        (
            make_pod("torn", affinity=names_affinity(["worker-1"], ["worker-2"])),
            "0/3 nodes are available: pod affinity terms conflict. "
            "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        ),
    ],
)
def test_fit_error_messages_as_kube_scheduler_writes_them(pod, expected):
    result = fw.schedule(pod, cluster())
    assert not result.scheduled
    assert result.message == expected


def test_unschedulable_plugins_are_reported():
    result = fw.schedule(make_pod("big", cpu="3"), cluster())
    assert result.unschedulable_plugins == {p.TAINT_TOLERATION, p.NODE_RESOURCES_FIT}


def test_no_nodes():
    result = fw.schedule(make_pod("p"), Snapshot.from_objects([]))
    assert not result.scheduled and result.message == "no nodes available to schedule pods"


def test_preemption_dry_run():
    low = make_pod("low", cpu="1500m", node_name="worker-1", priority=0)
    snapshot = Snapshot.from_objects([make_node("worker-1", cpu="2")], [low])
    # evicting the lower-priority pod would make room: kube-scheduler would preempt, so no message
    result = fw.schedule(make_pod("vip", cpu="1", priority=1000), snapshot)
    assert result.message == "0/1 nodes are available: 1 Insufficient cpu."
    assert result.fit_error.preemption_candidates == ("worker-1",)
    # even an empty node would not fit this one: the filter's reason is repeated
    result = fw.schedule(make_pod("vip", cpu="3", priority=1000), snapshot)
    assert result.message == (
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 Insufficient cpu."
    )
    # equal priority: nothing to evict
    result = fw.schedule(make_pod("peer", cpu="1"), snapshot)
    assert result.message == (
        "0/1 nodes are available: 1 Insufficient cpu. "
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    )


def test_scores_pick_the_least_loaded_node():
    nodes = [make_node(f"n{i}", cpu="4", memory="8Gi") for i in range(3)]
    existing = [
        make_pod("e0", cpu="3", memory="6Gi", node_name="n0"),
        make_pod("e1", cpu="1", memory="1Gi", node_name="n1"),
    ]
    snapshot = Snapshot.from_objects(nodes, existing)
    pod = p.PodContext(make_pod("p", cpu="500m", memory="512Mi"))
    totals, per_plugin = fw.score_nodes(pod, snapshot, snapshot.node_infos)
    names = [ni.name for ni in snapshot.node_infos]
    assert per_plugin[p.TAINT_TOLERATION] == [100, 100, 100]
    assert p.NODE_AFFINITY not in per_plugin and p.INTER_POD_AFFINITY not in per_plugin  # skipped
    weights = p.DEFAULT_SCORE_WEIGHTS
    assert totals == [sum(per_plugin[k][i] * weights[k] for k in per_plugin) for i in range(3)]
    chosen = fw.schedule(make_pod("p", cpu="500m", memory="512Mi"), snapshot).node_name
    assert chosen == names[totals.index(max(totals))] == "n2"


def test_ties_are_broken_uniformly():
    snapshot = Snapshot.from_objects([make_node(f"n{i}") for i in range(3)])
    rng = random.Random(42)
    picks = collections.Counter(fw.schedule(make_pod("p"), snapshot, rng=rng).node_name for _ in range(600))
    assert set(picks) == {"n0", "n1", "n2"} and min(picks.values()) > 150


def test_sampling_stops_early_and_rotates():
    snapshot = Snapshot.from_objects([make_node(f"n{i:04}") for i in range(1000)])
    order = [ni.name for ni in snapshot.node_infos]
    first = fw.schedule(make_pod("a"), snapshot)
    assert (first.evaluated_nodes, first.feasible_nodes) == (420, 420)
    assert set(first.scores) == set(order[:420])
    second = fw.schedule(make_pod("b"), snapshot)
    assert set(second.scores) == set(order[420:840])
    third = fw.schedule(make_pod("c"), snapshot, percentage_of_nodes_to_score=10)
    assert set(third.scores) == set(order[840:940])
    wrapped = fw.schedule(make_pod("d"), snapshot, percentage_of_nodes_to_score=10)
    assert set(wrapped.scores) == set(order[940:] + order[:40])


def test_rejected_nodes_count_as_processed():
    nodes = [make_node(f"n{i:03}", unschedulable=i < 50) for i in range(200)]
    snapshot = Snapshot.from_objects(nodes)
    result = fw.schedule(make_pod("p"), snapshot)
    assert (result.evaluated_nodes, result.feasible_nodes) == (150, 100)
    assert snapshot.rotation.next_start_index == 150


def test_nominated_node_is_tried_first():
    snapshot = Snapshot.from_objects([make_node("free", cpu="8"), make_node("busy", cpu="2")])
    pod = make_pod("p", cpu="1")
    pod["status"]["nominatedNodeName"] = "busy"
    assert fw.schedule(pod, snapshot).node_name == "busy"
    pod["status"]["nominatedNodeName"] = "gone"
    assert fw.schedule(pod, snapshot).node_name == "free"


def test_a_thousand_nodes():
    """A 1000-node cluster in 4 zones with cordoned and control-plane nodes: three 200-replica
    workloads and 10 mutually anti-affine pods, scheduled one by one through the cache."""
    cache = Cache()
    for i in range(1000):
        cordoned = 900 <= i < 920
        tainted = i >= 990
        cache.add_node(make_node(f"node-{i:04}", cpu="2", memory="4Gi", zone=f"zone-{i % 4}", unschedulable=cordoned,
                                 taints=[CONTROL_PLANE_TAINT] if tainted else []))
    pods = [
        make_pod(f"{rs}-{i}", owner=rs, labels={"app": rs}, cpu="500m", memory="512Mi")
        for i in range(200)
        for rs in ("a", "b", "c")
    ]
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "unique"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    pods += [make_pod(f"unique-{i}", labels={"app": "unique"}, cpu="100m", affinity=anti) for i in range(10)]
    rng = random.Random(0)
    placed: dict[str, str] = {}
    for pod in pods:
        info = PodInfo(pod)
        result = fw.schedule(info, cache.snapshot(), rng=rng)
        assert result.scheduled, result.message
        cache.assume_pod(info, result.node_name)
        placed[info.name] = result.node_name

    snapshot = cache.snapshot()
    for ni in snapshot.node_infos:
        assert ni.requested.milli_cpu <= ni.allocatable.milli_cpu and ni.requested.memory <= ni.allocatable.memory
        if ni.unschedulable or ni.taints:
            assert not ni.pods, ni.name
    for rs in ("a", "b", "c"):
        per_node = collections.Counter(node for name, node in placed.items() if name.startswith(f"{rs}-"))
        assert max(per_node.values()) == 1  # hostname spreading of one workload, with room to spare
        zones = [snapshot.get(node).labels["topology.kubernetes.io/zone"] for node in per_node.elements()]
        per_zone = collections.Counter(zones)
        # zone spreading (system default, maxSkew 5): without it the zones drift ~10 pods apart
        assert max(per_zone.values()) - min(per_zone.values()) <= 2
    unique_nodes = [node for name, node in placed.items() if name.startswith("unique-")]
    assert len(set(unique_nodes)) == 10

    too_big = fw.schedule(make_pod("too-big", cpu="3"), snapshot)
    assert too_big.message == (
        "0/1000 nodes are available: 10 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "20 node(s) were unschedulable, 970 Insufficient cpu. preemption: 0/1000 nodes are available: "
        "30 Preemption is not helpful for scheduling, 970 No preemption victims found for incoming pod."
    )


@pytest.mark.parametrize(
    ("node_cpu", "expected"),
    [
        # room enough: the quick check passes, and NodePorts is the first filter to object
        ("4", "node(s) didn't have free ports for the requested pod ports"),
        # no room either: every filter runs in order, and NodePorts still comes before NodeResourcesFit
        ("1", "node(s) didn't have free ports for the requested pod ports"),
    ],
)
def test_the_first_failing_filter_in_profile_order_names_the_node(node_cpu, expected):
    existing = make_pod("web", node_name="n", host_ports=[80], cpu="500m")
    snapshot = Snapshot.from_objects([make_node("n", cpu=node_cpu)], [existing])
    result = fw.schedule(make_pod("p", host_ports=[80], cpu="1"), snapshot)
    assert result.fit_error.node_statuses["n"].reasons == (expected,)


def test_an_invalid_spread_selector_is_an_error_not_a_fit_error():
    bad = {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
           "labelSelector": {"matchExpressions": [{"key": "app", "operator": "Near"}]}}
    result = fw.schedule(make_pod("p", spread=[bad]), cluster())
    assert result.fit_error is None and not result.unschedulable_plugins
    assert result.message.startswith("obtaining pod's hard topology spread constraints: ")
