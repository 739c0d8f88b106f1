"""The default plugins and the node cache: requests, filters with kube-scheduler's wording, scores."""

from __future__ import annotations

import random

import pytest

from minik.scheduler import plugins as p
from minik.scheduler.nodeinfo import Cache, NodeInfo, PodInfo, Snapshot, Taint, pod_non_zero_requests, pod_requests
from tests.unit.scheduler import container, make_node, make_pod

GI = 1024**3
MI = 1024**2


def node_info(node: dict, pods: list[dict] = ()) -> NodeInfo:  # type: ignore[assignment]
    ni = NodeInfo(node["metadata"]["name"], node)
    for pod in pods:
        ni.add_pod(PodInfo(pod))
    return ni


def ctx(pod: dict) -> p.PodContext:
    return p.PodContext(pod)


# --------------------------------------------------------------------------------------------------
# requests
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("containers", "init_containers", "overhead", "expected"),
    [
        ([container("a", requests={"cpu": "500m", "memory": "1Gi"})], [], None, (500, GI)),
        (
            [container("a", requests={"cpu": "1"}), container("b", requests={"cpu": "250m", "memory": "64Mi"})],
            [],
            None,
            (1250, 64 * MI),
        ),
        # computePodResourceRequest's doc example: max(sum(containers), each init container)
        (
            [container("c1", requests={"cpu": "2", "memory": "1G"}),
             container("c2", requests={"cpu": "1", "memory": "1G"})],
            [container("i1", requests={"cpu": "2", "memory": "1G"}),
             container("i2", requests={"cpu": "2", "memory": "3G"})],
            None,
            (3000, 3 * 10**9),
        ),
        # sidecars add to the pod and to the init containers started after them (KEP 753)
        (
            [container("c", requests={"cpu": "1"})],
            [
                container("s1", requests={"cpu": "1"}, restart_policy="Always"),
                container("i", requests={"cpu": "2"}),
                container("s2", requests={"cpu": "1"}, restart_policy="Always"),
            ],
            None,
            (3000, 0),
        ),
        # a sidecar keeps running next to the containers
        (
            [container("c", requests={"cpu": "2"})],
            [container("s", requests={"cpu": "1"}, restart_policy="Always")],
            None,
            (3000, 0),
        ),
        # a big regular init container started before the sidecar dominates
        (
            [container("c", requests={"cpu": "1"})],
            [container("i", requests={"cpu": "5"}), container("s", requests={"cpu": "1"}, restart_policy="Always")],
            None,
            (5000, 0),
        ),
        ([container("a", requests={"cpu": "100m"})], [], {"cpu": "250m", "memory": "120Mi"}, (350, 120 * MI)),
        ([container("a")], [], None, (0, 0)),
        # sums are exact before rounding: two half millicores make one, not two
        ([container("a", requests={"cpu": "0.5m"}), container("b", requests={"cpu": "0.5m"})], [], None, (1, 0)),
    ],
)
def test_pod_requests(containers, init_containers, overhead, expected):
    pod = make_pod("p", containers=containers, init_containers=init_containers, overhead=overhead)
    req = pod_requests(pod)
    assert (req.milli_cpu, req.memory) == expected


@pytest.mark.parametrize(
    ("containers", "expected"),
    [
        ([container("a")], (100, 200 * MI)),  # the defaults, per container without requests
        ([container("a"), container("b")], (200, 400 * MI)),
        ([container("a", requests={"cpu": "1"})], (1000, 200 * MI)),
        ([container("a", requests={"cpu": "0", "memory": "0"})], (0, 0)),  # explicit zeros stay zero
    ],
)
def test_non_zero_requests(containers, expected):
    assert pod_non_zero_requests(make_pod("p", containers=containers)) == expected


def test_scalar_resources_are_counted_and_others_ignored():
    pod = make_pod("p", requests={"nvidia.com/gpu": "2", "hugepages-2Mi": "4Mi", "example.com/dongle": "1"})
    assert pod_requests(pod).scalar == {"nvidia.com/gpu": 2, "hugepages-2Mi": 4 * MI, "example.com/dongle": 1}


# --------------------------------------------------------------------------------------------------
# taints and simple filters
# --------------------------------------------------------------------------------------------------

CONTROL_PLANE = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


@pytest.mark.parametrize(
    ("toleration", "taint", "tolerated"),
    [
        ({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}, Taint("k", "v", "NoSchedule"), True),
        ({"key": "k", "value": "v"}, Taint("k", "v", "NoExecute"), True),  # empty effect: any effect
        ({"key": "k", "value": "other"}, Taint("k", "v", "NoSchedule"), False),
        ({"key": "k", "operator": "Exists"}, Taint("k", "anything", "NoSchedule"), True),
        ({"operator": "Exists"}, Taint("any", "thing", "NoExecute"), True),  # tolerates everything
        ({"key": "k", "operator": "Exists", "effect": "NoExecute"}, Taint("k", "", "NoSchedule"), False),
        ({"key": "other", "operator": "Exists"}, Taint("k", "", "NoSchedule"), False),
        ({"key": "k", "operator": "Gt", "value": "1"}, Taint("k", "2", "NoSchedule"), False),  # unknown operator
    ],
)
def test_toleration_matching(toleration, taint, tolerated):
    (t,) = p.parse_tolerations({"spec": {"tolerations": [toleration]}})
    assert t.tolerates(taint) is tolerated


@pytest.mark.parametrize(
    ("taints", "tolerations", "expected"),
    [
        ([], [], None),
        ([CONTROL_PLANE], [], "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"),
        (
            [{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}],
            [],
            "node(s) had untolerated taint {dedicated: gpu}",
        ),
        ([{"key": "soft", "effect": "PreferNoSchedule"}], [], None),  # only a score matter
        ([CONTROL_PLANE], [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}], None),
        # the first untolerated taint is the one named
        (
            [CONTROL_PLANE, {"key": "b", "value": "1", "effect": "NoSchedule"}],
            [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}],
            "node(s) had untolerated taint {b: 1}",
        ),
    ],
)
def test_taint_toleration_filter(taints, tolerations, expected):
    pod = ctx(make_pod("p", tolerations=tolerations))
    rejection = p.filter_taint_toleration(pod, node_info(make_node("n", taints=taints)))
    if expected is None:
        assert rejection is None
    else:
        assert rejection.reasons == (expected,) and rejection.unresolvable and rejection.plugin == p.TAINT_TOLERATION


@pytest.mark.parametrize(
    ("unschedulable", "tolerations", "fits"),
    [
        (False, [], True),
        (True, [], False),
        (True, [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}], True),
        (True, [{"operator": "Exists"}], True),
        (True, [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoExecute"}], False),
    ],
)
def test_node_unschedulable_filter(unschedulable, tolerations, fits):
    rejection = p.filter_node_unschedulable(
        ctx(make_pod("p", tolerations=tolerations)), node_info(make_node("n", unschedulable=unschedulable))
    )
    assert (rejection is None) is fits
    if not fits:
        assert str(rejection) == "node(s) were unschedulable"


@pytest.mark.parametrize(("node_name", "fits"), [(None, True), ("n", True), ("other", False)])
def test_node_name_filter(node_name, fits):
    rejection = p.filter_node_name(ctx(make_pod("p", node_name=node_name)), node_info(make_node("n")))
    assert (rejection is None) is fits
    if not fits:
        assert str(rejection) == "node(s) didn't match the requested node name"


# --------------------------------------------------------------------------------------------------
# node affinity
# --------------------------------------------------------------------------------------------------


def required(*terms: dict) -> dict:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def expr(key: str, op: str, *values: str) -> dict:
    out = {"key": key, "operator": op}
    if values:
        out["values"] = list(values)
    return out


NODE_LABELS = {"zone": "a", "disk": "ssd", "cores": "16"}
NAME = "metadata.name"


@pytest.mark.parametrize(
    ("node_selector", "affinity", "fits"),
    [
        (None, None, True),
        ({"zone": "a"}, None, True),
        ({"zone": "b"}, None, False),
        ({}, None, True),
        (None, required({"matchExpressions": [expr("zone", "In", "a", "b")]}), True),
        (None, required({"matchExpressions": [expr("zone", "NotIn", "a")]}), False),
        (None, required({"matchExpressions": [expr("gpu", "DoesNotExist")]}), True),
        (None, required({"matchExpressions": [expr("disk", "Exists")]}), True),
        (None, required({"matchExpressions": [expr("cores", "Gt", "8")]}), True),
        (None, required({"matchExpressions": [expr("cores", "Lt", "8")]}), False),
        (None, required({"matchExpressions": [expr("zone", "Gt", "8")]}), False),  # not a number
        # expressions of a term are ANDed, terms are ORed
        (None, required({"matchExpressions": [expr("zone", "In", "a"), expr("disk", "In", "hdd")]}), False),
        (
            None,
            required({"matchExpressions": [expr("zone", "In", "b")]},
                     {"matchExpressions": [expr("disk", "In", "ssd")]}),
            True,
        ),
        (None, required({"matchFields": [expr("metadata.name", "In", "n")]}), True),
        (None, required({"matchFields": [expr("metadata.name", "NotIn", "n")]}), False),
        (None, required(), False),  # no terms: nothing matches
        (None, required({}), False),  # an empty term matches nothing
        (None, required({"matchExpressions": [expr("zone", "Near", "a")]}), False),  # invalid: ignored
        # nodeSelector and affinity must both hold
        ({"zone": "b"}, required({"matchExpressions": [expr("disk", "Exists")]}), False),
    ],
)
def test_node_affinity_filter(node_selector, affinity, fits):
    pod = make_pod("p", node_selector=node_selector, affinity=affinity)
    rejection = p.filter_node_affinity(ctx(pod), node_info(make_node("n", labels=NODE_LABELS)))
    assert (rejection is None) is fits
    if not fits:
        assert str(rejection) == "node(s) didn't match Pod's node affinity/selector" and rejection.unresolvable


@pytest.mark.parametrize(
    ("affinity", "names", "conflict"),
    [
        (None, None, False),
        (required({"matchExpressions": [expr("zone", "In", "a")]}), None, False),
        (required({"matchFields": [expr("metadata.name", "In", "n1")]}), {"n1"}, False),
        (
            required({"matchFields": [expr(NAME, "In", "n1")]}, {"matchFields": [expr(NAME, "In", "n2")]}),
            {"n1", "n2"},
            False,
        ),
        # one term without a name restriction leaves every node eligible
        (required({"matchFields": [expr(NAME, "In", "n1")]}, {"matchExpressions": [expr("z", "Exists")]}), None, False),
        (
            required({"matchFields": [expr("metadata.name", "In", "n1"), expr("metadata.name", "In", "n2")]}),
            None,
            True,
        ),
    ],
)
def test_node_affinity_prefilter_node_names(affinity, names, conflict):
    allowed, rejection = p.prefilter_node_names(make_pod("p", affinity=affinity))
    assert (rejection is not None) is conflict
    if conflict:
        assert str(rejection) == "pod affinity terms conflict"
    else:
        assert allowed == (frozenset(names) if names is not None else None)


# --------------------------------------------------------------------------------------------------
# resources and ports
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requests", "existing", "pods_allowed", "reasons"),
    [
        ({"cpu": "1", "memory": "1Gi"}, [], "110", ()),
        ({"cpu": "5"}, [], "110", ("Insufficient cpu",)),
        ({"cpu": "3"}, [{"cpu": "2"}], "110", ("Insufficient cpu",)),
        ({"cpu": "2"}, [{"cpu": "2"}], "110", ()),  # exactly full is fine
        ({"cpu": "5", "memory": "9Gi"}, [], "110", ("Insufficient cpu", "Insufficient memory")),
        ({"cpu": "1"}, [{"cpu": "1"}], "1", ("Too many pods",)),
        ({}, [{}], "1", ("Too many pods",)),  # a pod without requests still needs a slot
        ({"ephemeral-storage": "1Gi"}, [], "110", ("Insufficient ephemeral-storage",)),
        ({"example.com/gpu": "1"}, [], "110", ("Insufficient example.com/gpu",)),
        ({"example.com/dongle": "1"}, [], "110", ()),
    ],
)
def test_node_resources_fit_filter(requests, existing, pods_allowed, reasons):
    node = make_node("n", cpu="4", memory="8Gi", pods=pods_allowed, allocatable={"example.com/dongle": "2"})
    ni = node_info(node, [make_pod(f"e{i}", requests=r, node_name="n") for i, r in enumerate(existing)])
    rejection = p.filter_node_resources_fit(ctx(make_pod("p", requests=requests)), ni)
    if not reasons:
        assert rejection is None
    else:
        assert rejection.reasons == reasons and not rejection.unresolvable


def port(host_port: int, *, ip: str | None = None, protocol: str | None = None) -> dict:
    out: dict = {"containerPort": host_port, "hostPort": host_port}
    if ip:
        out["hostIP"] = ip
    if protocol:
        out["protocol"] = protocol
    return out


@pytest.mark.parametrize(
    ("used", "wanted", "fits"),
    [
        ([port(80)], [port(8080)], True),
        ([port(80)], [port(80)], False),
        ([port(80)], [port(80, protocol="UDP")], True),
        ([port(80, ip="10.0.0.1")], [port(80, ip="10.0.0.2")], True),
        ([port(80, ip="10.0.0.1")], [port(80)], False),  # 0.0.0.0 takes the port on every IP
        ([port(80)], [port(80, ip="10.0.0.1")], False),
        ([port(80, ip="10.0.0.1")], [port(80, ip="10.0.0.1")], False),
        ([{"containerPort": 80}], [port(80)], True),  # no hostPort: nothing used on the node
    ],
)
def test_node_ports_filter(used, wanted, fits):
    existing = make_pod("e", node_name="n", containers=[{"name": "c", "ports": used}])
    pod = make_pod("p", containers=[{"name": "c", "ports": wanted}])
    rejection = p.filter_node_ports(ctx(pod), node_info(make_node("n"), [existing]))
    assert (rejection is None) is fits
    if not fits:
        assert str(rejection) == "node(s) didn't have free ports for the requested pod ports"


def test_sidecar_host_ports_count():
    sidecar = {"name": "s", "restartPolicy": "Always", "ports": [port(9000)]}
    existing = make_pod("e", node_name="n", init_containers=[sidecar])
    assert p.filter_node_ports(ctx(make_pod("p", host_ports=[9000])), node_info(make_node("n"), [existing])) is not None


SIMPLE_FILTERS = (
    p.filter_node_unschedulable, p.filter_node_name, p.filter_taint_toleration, p.filter_node_resources_fit,
)


def test_quick_fit_check_never_contradicts_the_filters():
    rng = random.Random(7)
    for i in range(300):
        node = make_node(
            f"n{i}",
            cpu=rng.choice(["1", "2", "4"]),
            pods=rng.choice(["1", "2", "110"]),
            unschedulable=rng.random() < 0.2,
            taints=[CONTROL_PLANE] if rng.random() < 0.2 else [],
        )
        existing = [
            make_pod(f"e{i}-{j}", cpu=rng.choice(["500m", "1"]), node_name=f"n{i}") for j in range(rng.randint(0, 2))
        ]
        ni = node_info(node, existing)
        pod = ctx(make_pod("p", cpu=rng.choice(["100m", "1", "3"]), node_name=rng.choice([None, None, f"n{i}", "x"])))
        if p.quick_fit_check(pod)(ni):
            for fn in SIMPLE_FILTERS:
                assert fn(pod, ni) is None


# --------------------------------------------------------------------------------------------------
# PodTopologySpread
# --------------------------------------------------------------------------------------------------


WEB = {"app": "web"}
ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"
CONSTRAINTS_REASON = "node(s) didn't match pod topology spread constraints"


def spread(key: str, skew: int = 1, *, when: str = "DoNotSchedule", **extra) -> dict:
    selector = {"matchLabels": WEB}
    return {"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when, "labelSelector": selector, **extra}


def zoned_cluster(pods_per_node: dict[str, int], *, extra_nodes: tuple[dict, ...] = ()) -> Snapshot:
    """Nodes a1, a2 in zone a; b1, b2 in zone b; c1 in zone c; `pods_per_node` web pods on each."""
    nodes = [make_node(n, zone=n[0]) for n in ("a1", "a2", "b1", "b2", "c1")] + list(extra_nodes)
    pods = [
        make_pod(f"{n}-{i}", node_name=n, labels=WEB) for n, count in pods_per_node.items() for i in range(count)
    ]
    return Snapshot.from_objects(nodes, pods)


def reason_of(rejection: p.Rejection | None) -> str | None:
    return None if rejection is None else rejection.reason


def spread_fits(snapshot: Snapshot, pod: dict) -> dict[str, str | None]:
    state = p.prefilter_pod_topology_spread(ctx(pod), snapshot)
    return {ni.name: reason_of(p.filter_pod_topology_spread(state, ni)) for ni in snapshot.node_infos}


@pytest.mark.parametrize(
    ("existing", "constraint", "fitting"),
    [
        # zone a has 2, zone b 1, zone c 0: with maxSkew 1 only zone c is below the limit
        ({"a1": 2, "b1": 1}, spread(ZONE), {"c1"}),
        ({"a1": 2, "b1": 1}, spread(ZONE, 2), {"b1", "b2", "c1"}),
        ({"a1": 1}, spread(HOST), {"a2", "b1", "b2", "c1"}),
        # minDomains 4 with 3 zones: the global minimum counts as 0
        ({"a1": 1, "b1": 1, "c1": 1}, spread(ZONE, minDomains=4), set()),
        ({"a1": 1, "b1": 1, "c1": 1}, spread(ZONE, minDomains=3), {"a1", "a2", "b1", "b2", "c1"}),
    ],
)
def test_topology_spread_filter(existing, constraint, fitting):
    fits = spread_fits(zoned_cluster(existing), make_pod("new", labels=WEB, spread=[constraint]))
    assert {name for name, reason in fits.items() if reason is None} == fitting
    assert {reason for reason in fits.values() if reason} <= {CONSTRAINTS_REASON}


def test_topology_spread_missing_label_is_unresolvable():
    snapshot = zoned_cluster({}, extra_nodes=(make_node("nozone"),))
    pod = ctx(make_pod("new", labels=WEB, spread=[spread(ZONE)]))
    state = p.prefilter_pod_topology_spread(pod, snapshot)
    rejection = p.filter_pod_topology_spread(state, snapshot.get("nozone"))
    assert str(rejection) == CONSTRAINTS_REASON + " (missing required label)"
    assert rejection.unresolvable


def test_topology_spread_honors_node_affinity_when_counting():
    # zone c's only node is excluded by the pod's nodeSelector, so zone c (0 pods) is not a domain:
    # the minimum is 1 and zone a stays within maxSkew 1; counting zone c (Ignore) makes it 0
    pool = {"pool": "x"}
    nodes = [make_node("a1", zone="a", labels=pool), make_node("b1", zone="b", labels=pool), make_node("c1", zone="c")]
    existing = [make_pod("w1", node_name="a1", labels=WEB), make_pod("w2", node_name="b1", labels=WEB)]
    snapshot = Snapshot.from_objects(nodes, existing)
    pod = make_pod("new", labels=WEB, node_selector=pool, spread=[spread(ZONE)])
    assert spread_fits(snapshot, pod) == {"a1": None, "b1": None, "c1": None}
    ignore = make_pod("new", labels=WEB, node_selector=pool, spread=[spread(ZONE, nodeAffinityPolicy="Ignore")])
    assert spread_fits(snapshot, ignore)["a1"] == CONSTRAINTS_REASON


def test_topology_spread_match_label_keys_narrow_the_selector():
    existing = [make_pod(f"old{i}", node_name="a1", labels={"app": "web", "hash": "v1"}) for i in range(3)]
    snapshot = Snapshot.from_objects([make_node("a1", zone="a"), make_node("b1", zone="b")], existing)
    pod = make_pod("new", labels={"app": "web", "hash": "v2"}, spread=[spread(ZONE, matchLabelKeys=["hash"])])
    assert spread_fits(snapshot, pod) == {"a1": None, "b1": None}  # the v1 pods do not count


def test_system_default_spreading_prefers_nodes_without_the_workloads_pods():
    nodes = [make_node("a1", zone="a"), make_node("a2", zone="a"), make_node("b1", zone="b")]
    existing = [
        make_pod("w1", node_name="a1", owner="web"),
        make_pod("w2", node_name="a1", owner="web"),
        make_pod("o", node_name="b1", owner="other"),
    ]
    snapshot = Snapshot.from_objects(nodes, existing)
    pod = ctx(make_pod("new", owner="web"))
    state = p.prescore_pod_topology_spread(pod, snapshot, snapshot.node_infos)
    raw = [p.score_pod_topology_spread(state, ni) for ni in snapshot.node_infos]
    assert raw == p.score_pod_topology_spread_nodes(state, snapshot.node_infos)
    normalized = p.normalize_pod_topology_spread(state, snapshot.node_infos, raw)
    scores = dict(zip([ni.name for ni in snapshot.node_infos], normalized))
    assert scores["b1"] == 100 and scores["a2"] > scores["a1"]
    # a pod without a controller is not spread by default
    assert p.prescore_pod_topology_spread(ctx(make_pod("lonely")), snapshot, snapshot.node_infos) is None


@pytest.mark.parametrize(
    ("scores", "ignored", "expected"),
    [
        ([3, 5, 8], set(), [100, 75, 37]),
        ([0, 0, 0], set(), [100, 100, 100]),
        ([3, 5, 8], {"n2"}, [100, 60, 0]),
    ],
)
def test_normalize_pod_topology_spread(scores, ignored, expected):
    nodes = [NodeInfo(f"n{i}", make_node(f"n{i}")) for i in range(len(scores))]
    state = p.SpreadScoreState((), ignored, [], [], "default")
    assert p.normalize_pod_topology_spread(state, nodes, scores) == expected


# --------------------------------------------------------------------------------------------------
# InterPodAffinity
# --------------------------------------------------------------------------------------------------


def pod_term(labels: dict, key: str, **extra) -> dict:
    return {"labelSelector": {"matchLabels": labels}, "topologyKey": key, **extra}


def affinity_fits(snapshot: Snapshot, pod: dict) -> dict[str, str | None]:
    state = p.prefilter_inter_pod_affinity(ctx(pod), snapshot)
    if state is None:
        return {ni.name: None for ni in snapshot.node_infos}
    return {ni.name: reason_of(p.filter_inter_pod_affinity(state, ni)) for ni in snapshot.node_infos}


AFFINITY_REASON = "node(s) didn't match pod affinity rules"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


@pytest.mark.parametrize(
    ("existing", "affinity", "expected"),
    [
        # required affinity to the db pods' zone
        (
            [("db", "a1", {"app": "db"}, None)],
            {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [pod_term({"app": "db"}, ZONE)]}},
            {"a1": None, "a2": None, "b1": "node(s) didn't match pod affinity rules"},
        ),
        # no db pod anywhere, and the pod does not match its own term: nowhere
        (
            [],
            {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [pod_term({"app": "db"}, ZONE)]}},
            {"a1": AFFINITY_REASON, "a2": AFFINITY_REASON, "b1": AFFINITY_REASON},
        ),
        # the first pod of a self-affine group may go anywhere
        (
            [],
            {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [pod_term({"app": "web"}, ZONE)]}},
            {"a1": None, "a2": None, "b1": None},
        ),
        # anti-affinity by hostname
        (
            [("w", "a1", {"app": "web"}, None)],
            {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [pod_term({"app": "web"}, HOST)]}},
            {"a1": "node(s) didn't match pod anti-affinity rules", "a2": None, "b1": None},
        ),
        # anti-affinity in another namespace does not see the default namespace's pods
        (
            [("w", "a1", {"app": "web"}, None)],
            {"podAntiAffinity": {REQUIRED: [pod_term({"app": "web"}, HOST, namespaces=["other"])]}},
            {"a1": None, "a2": None, "b1": None},
        ),
        # an existing pod's anti-affinity against the incoming pod, zone-wide
        (
            [("lonely", "b1", {"app": "lonely"}, {"podAntiAffinity": {REQUIRED: [pod_term({"app": "web"}, ZONE)]}})],
            None,
            {"a1": None, "a2": None, "b1": "node(s) didn't satisfy existing pods anti-affinity rules"},
        ),
    ],
)
def test_inter_pod_affinity_filter(existing, affinity, expected):
    nodes = [make_node("a1", zone="a"), make_node("a2", zone="a"), make_node("b1", zone="b")]
    pods = [make_pod(name, node_name=node, labels=labels, affinity=aff) for name, node, labels, aff in existing]
    snapshot = Snapshot.from_objects(nodes, pods)
    assert affinity_fits(snapshot, make_pod("new", labels={"app": "web"}, affinity=affinity)) == expected


def test_affinity_namespace_selector_uses_namespace_labels():
    cache = Cache()
    for name, zone in (("a1", "a"), ("b1", "b")):
        cache.add_node(make_node(name, zone=zone))
    cache.add_pod(make_pod("db", namespace="data", node_name="b1", labels={"app": "db"}))
    cache.set_namespace("data", {"team": "storage"})
    term = pod_term({"app": "db"}, ZONE, namespaceSelector={"matchLabels": {"team": "storage"}})
    pod = make_pod("new", affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}})
    assert affinity_fits(cache.snapshot(), pod) == {"a1": "node(s) didn't match pod affinity rules", "b1": None}
    cache.set_namespace("data", {"team": "other"})
    assert affinity_fits(cache.snapshot(), pod)["b1"] == "node(s) didn't match pod affinity rules"


def test_inter_pod_affinity_scores():
    nodes = [make_node("a1", zone="a"), make_node("b1", zone="b"), make_node("c1", zone="c")]
    existing = [
        make_pod("cache", node_name="a1", labels={"app": "cache"}),
        make_pod("noisy", node_name="c1", labels={"app": "noisy"}),
    ]
    snapshot = Snapshot.from_objects(nodes, existing)
    aff = {
        "podAffinity": {PREFERRED: [{"weight": 10, "podAffinityTerm": pod_term({"app": "cache"}, ZONE)}]},
        "podAntiAffinity": {PREFERRED: [{"weight": 5, "podAffinityTerm": pod_term({"app": "noisy"}, ZONE)}]},
    }
    pod = ctx(make_pod("new", affinity=aff))
    topology = p.prescore_inter_pod_affinity(pod, snapshot)
    raw = [p.score_inter_pod_affinity(topology, ni) for ni in snapshot.node_infos]
    assert raw == [10, 0, -5]
    assert p.normalize_inter_pod_affinity(raw) == [100, 33, 0]
    # nothing to score without any affinity around
    assert p.prescore_inter_pod_affinity(ctx(make_pod("plain")), snapshot) is None


# --------------------------------------------------------------------------------------------------
# scores
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("node_cpu", "pod_containers", "least", "balanced"),
    [
        # least_allocated_test.go: 3000m/5000 requested on 4000m/10000 and 6000m/10000 nodes
        ("4", [{"cpu": "1", "memory": "2000"}, {"cpu": "2", "memory": "3000"}], 37, 87),
        ("6", [{"cpu": "1", "memory": "2000"}, {"cpu": "2", "memory": "3000"}], 50, 100),
    ],
)
def test_least_and_balanced_allocation(node_cpu, pod_containers, least, balanced):
    ni = node_info(make_node("n", cpu=node_cpu, memory="10000"))
    pod = ctx(make_pod("p", containers=[container(f"c{i}", requests=r) for i, r in enumerate(pod_containers)]))
    assert p.score_least_allocated(pod, ni) == least
    assert p.score_balanced_allocation(pod, ni) == balanced
    assert p.resource_scores(pod, [ni]) == ([least], [balanced])


def test_least_allocated_counts_request_less_pods_at_their_defaults():
    ni = node_info(make_node("n", cpu="4", memory="8Gi"))
    assert p.score_least_allocated(ctx(make_pod("p")), ni) == (97 + 97) // 2


def test_fused_resource_scores_match_the_reference():
    rng = random.Random(3)
    nodes = []
    for i in range(50):
        node = make_node(f"n{i}", cpu=rng.choice(["2", "4"]), memory=rng.choice(["4Gi", "8Gi"]))
        pods = [
            make_pod(f"e{i}{j}", cpu=rng.choice(["100m", "900m"]), node_name=f"n{i}") for j in range(rng.randint(0, 3))
        ]
        nodes.append(node_info(node, pods))
    nodes.append(node_info(make_node("nocpu", cpu="0")))
    for pod in (ctx(make_pod("a")), ctx(make_pod("b", cpu="1500m", memory="3Gi"))):
        assert p.resource_scores(pod, nodes) == (
            [p.score_least_allocated(pod, n) for n in nodes],
            [p.score_balanced_allocation(pod, n) for n in nodes],
        )


def test_taint_toleration_and_node_affinity_scores():
    prefer = {"effect": "PreferNoSchedule"}
    nodes = [
        node_info(make_node("two", taints=[{"key": "x", **prefer}, {"key": "y", **prefer}], labels=NODE_LABELS)),
        node_info(make_node("none", labels={"zone": "a"})),
        node_info(make_node("one", taints=[{"key": "x", **prefer}, {"key": "z", **prefer}])),
    ]
    preferred = [
        {"weight": 2, "preference": {"matchExpressions": [expr("zone", "In", "a")]}},
        {"weight": 5, "preference": {"matchExpressions": [expr("disk", "In", "ssd")]}},
        {"weight": 0, "preference": {"matchExpressions": [expr("zone", "Exists")]}},
    ]
    tolerations = [{"key": "z", "operator": "Exists"}]
    pod = ctx(make_pod("p", tolerations=tolerations, affinity={"nodeAffinity": {PREFERRED: preferred}}))
    taint_raw = [p.score_taint_toleration(pod, n) for n in nodes]
    assert taint_raw == [2, 0, 1]
    assert p.default_normalize_score(taint_raw, reverse=True) == [0, 100, 50]
    affinity_raw = [p.score_node_affinity(pod, n) for n in nodes]
    assert affinity_raw == [7, 2, 0]
    assert p.default_normalize_score(affinity_raw, reverse=False) == [100, 28, 0]


# --------------------------------------------------------------------------------------------------
# cache
# --------------------------------------------------------------------------------------------------


def test_cache_assume_confirm_forget_and_snapshots_are_immutable():
    cache = Cache()
    cache.add_node(make_node("n", cpu="4"))
    first = cache.snapshot()
    pod = make_pod("p", cpu="1")
    cache.assume_pod(pod, "n")
    assert cache.is_assumed(pod)
    second = cache.snapshot()
    assert first.get("n").requested.milli_cpu == 0  # the earlier snapshot did not change
    assert second.get("n").requested.milli_cpu == 1000
    assert cache.snapshot() is second  # nothing changed: the same snapshot
    bound = make_pod("p", cpu="1", node_name="n")
    cache.add_pod(bound)  # the watch confirms the binding
    assert not cache.is_assumed(bound)
    assert cache.snapshot().get("n").requested.milli_cpu == 1000
    cache.remove_pod(bound)
    assert cache.snapshot().get("n").requested.milli_cpu == 0
    cache.assume_pod(pod, "n")
    cache.forget_pod(pod)
    assert cache.snapshot().get("n").pods == {}


def test_cache_keeps_an_assumption_against_a_stale_unbound_update():
    cache = Cache()
    cache.add_node(make_node("n"))
    pod = make_pod("p", cpu="1")
    cache.assume_pod(pod, "n")
    cache.update_pod(pod, {**pod, "status": {"phase": "Pending", "conditions": []}})
    assert cache.snapshot().get("n").requested.milli_cpu == 1000


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_cache_drops_terminal_pods(phase):
    cache = Cache()
    cache.add_node(make_node("n"))
    pod = make_pod("p", cpu="1", node_name="n")
    cache.add_pod(pod)
    cache.update_pod(pod, {**pod, "status": {"phase": phase}})
    assert cache.snapshot().get("n").pods == {}


def test_cache_pods_before_their_node_and_after_it_is_removed():
    cache = Cache()
    cache.add_pod(make_pod("early", cpu="1", node_name="n"))
    assert len(cache.snapshot()) == 0  # a ghost node is not schedulable
    cache.add_node(make_node("n"))
    assert cache.snapshot().get("n").requested.milli_cpu == 1000
    cache.remove_node("n")
    assert cache.snapshot().get("n") is None
    cache.add_node(make_node("n"))
    assert cache.snapshot().get("n").requested.milli_cpu == 1000


def test_snapshot_lists_nodes_zone_by_zone():
    cache = Cache()
    for name, zone in (("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("c1", "c"), ("b2", "b")):
        cache.add_node(make_node(name, zone=zone))
    assert [ni.name for ni in cache.snapshot().node_infos] == ["a1", "b1", "c1", "a2", "b2", "a3"]


def test_owner_index_follows_changes_without_touching_old_snapshots():
    cache = Cache()
    cache.add_node(make_node("n1"))
    cache.add_node(make_node("n2"))
    cache.add_pod(make_pod("w1", node_name="n1", owner="web"))
    before = cache.snapshot()
    cache.add_pod(make_pod("w2", node_name="n2", owner="web"))
    cache.remove_pod(make_pod("w1", node_name="n1", owner="web"))
    after = cache.snapshot()
    assert dict(before.owner_nodes("rs-web")) == {"n1": 1}
    assert dict(after.owner_nodes("rs-web")) == {"n2": 1}
