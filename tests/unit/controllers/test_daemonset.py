"""DaemonSet controller against the in-process API, simulated nodes and a fake clock.

There is no scheduler in these tests: a small binder places each pod on the node its required node
affinity names (`matchFields metadata.name`, as the DaemonSet controller pins its pods), else round-robin.
"""

from __future__ import annotations

import pytest

from minik.client.interface import resource
from minik.controllers.daemonset import DaemonSetController
from tests.unit.controllers.helpers import (
    advance_until, bind_pods, recorded, retrying, running_nodes, start_nodes, stop_nodes)

PODS = resource("pods")
NODES = resource("nodes")
DAEMONSETS = resource("daemonsets", "apps")
REVISIONS = resource("controllerrevisions", "apps")
DEFAULT_TOLERATIONS = {
    ("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule"),
}


def affinity_node(pod: dict) -> str:
    required = (((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("operator") == "In":
                return field["values"][0]
    return ""


def daemonset_manifest(name: str, image: str = "agent:1", **spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}}, **spec,
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "agent", "image": image}]}}}}


async def daemon_pods(cluster, name: str) -> list[dict]:
    return [p for p in await cluster.list("pods", label_selector=f"app={name}")
            if not p["metadata"].get("deletionTimestamp")]


def pods_by_node(pods: list[dict]) -> dict[str, list[dict]]:
    result: dict[str, list[dict]] = {}
    for pod in pods:
        result.setdefault(pod["spec"].get("nodeName") or affinity_node(pod), []).append(pod)
    return result


def ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or [])


async def ds_status(cluster, name: str) -> dict:
    return (await cluster.get("daemonsets", name, group="apps")).get("status") or {}


@pytest.fixture
async def three_nodes(cluster):
    sim = await start_nodes(cluster, 3)
    cluster.spawn("binder", bind_pods(cluster, sim.names, choose_node=affinity_node))
    sims = [sim]
    yield sims
    await stop_nodes(cluster, *sims)


async def test_daemonset_runs_one_pod_per_eligible_node(cluster, three_nodes):
    sim = three_nodes[0]
    tainted, cordoned = sim.names[2], sim.names[1]
    await retrying(lambda: cluster.client.patch(NODES, tainted, {"spec": {"taints": [
        {"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]}}))
    # Daemon pods tolerate node.kubernetes.io/unschedulable: a cordoned node still runs them.
    await retrying(lambda: cluster.client.patch(NODES, cordoned, {"spec": {"unschedulable": True}}))
    seen = recorded(cluster.start(DaemonSetController))
    await cluster.client.create(DAEMONSETS, daemonset_manifest("agent"), "default")

    async def settled():
        status = await ds_status(cluster, "agent")
        return status if status.get("numberAvailable") == 2 and status.get("observedGeneration") == 1 else None

    status = await cluster.eventually(settled)
    assert status["desiredNumberScheduled"] == 2 and status["currentNumberScheduled"] == 2
    assert status["numberReady"] == 2 and status["updatedNumberScheduled"] == 2
    assert status["numberMisscheduled"] == 0 and "numberUnavailable" not in status
    pods = await daemon_pods(cluster, "agent")
    assert sorted(pods_by_node(pods)) == sorted(sim.names[:2])
    revision = (await cluster.list("controllerrevisions", group="apps"))[0]
    for pod in pods:
        assert {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]} == DEFAULT_TOLERATIONS
        assert affinity_node(pod) == pod["spec"]["nodeName"]
        assert pod["metadata"]["labels"]["controller-revision-hash"] == \
            revision["metadata"]["labels"]["controller-revision-hash"]
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
    assert revision["metadata"]["name"] == f"agent-{revision['metadata']['labels']['controller-revision-hash']}"
    assert revision["revision"] == 1
    assert sum(reason == "SuccessfulCreate" for _, reason, _ in seen) == 2

    # A node that joins later gets its pod; one whose taint goes away too.
    late = await start_nodes(cluster, 1, name_prefix="late-node-")
    three_nodes.append(late)
    await retrying(lambda: cluster.client.patch(NODES, tainted, {"spec": {"taints": None}}))

    async def everywhere():
        status = await ds_status(cluster, "agent")
        return status if status.get("numberAvailable") == 4 else None

    status = await cluster.eventually(everywhere)
    assert status["desiredNumberScheduled"] == 4
    assert sorted(pods_by_node(await daemon_pods(cluster, "agent"))) == sorted(sim.names + late.names)


async def test_node_selector_and_misplaced_pods(cluster, three_nodes):
    sim = three_nodes[0]
    for name in sim.names[:2]:
        await retrying(lambda: cluster.client.patch(NODES, name, {"metadata": {"labels": {"disk": "ssd"}}}))
    seen = recorded(cluster.start(DaemonSetController))
    manifest = daemonset_manifest("cache")
    manifest["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}
    await cluster.client.create(DAEMONSETS, manifest, "default")

    async def on_ssd_nodes():
        pods = await daemon_pods(cluster, "cache")
        return sorted(pods_by_node(pods)) == sorted(sim.names[:2]) and all(ready(p) for p in pods)

    await cluster.eventually(on_ssd_nodes)
    # The label goes away: the pod on that node is deleted.
    await retrying(lambda: cluster.client.patch(NODES, sim.names[0], {"metadata": {"labels": {"disk": None}}}))

    async def only_second():
        return sorted(pods_by_node(await daemon_pods(cluster, "cache"))) == [sim.names[1]]

    await cluster.eventually(only_second)
    assert any(reason == "SuccessfulDelete" for _, reason, _ in seen)


async def test_rolling_update_stays_within_max_unavailable(cluster):
    async with running_nodes(cluster, 3, ready_delay=5.0, choose_node=affinity_node):
        seen = recorded(cluster.start(DaemonSetController))
        await cluster.client.create(DAEMONSETS, daemonset_manifest("roll"), "default")

        async def all_available():
            status = await ds_status(cluster, "roll")
            return status if status.get("numberAvailable") == 3 and status.get("updatedNumberScheduled") == 3 else None

        await advance_until(cluster, all_available)
        informer = cluster.informers.informer(PODS)
        least_available = 3

        def observe(*_):
            nonlocal least_available
            live = [p for p in informer.list() if p["metadata"]["labels"].get("app") == "roll"
                    and not p["metadata"].get("deletionTimestamp") and ready(p)]
            least_available = min(least_available, len({p["spec"]["nodeName"] for p in live}))

        informer.add_handler(observe, observe, observe)
        before = {p["metadata"]["name"] for p in await daemon_pods(cluster, "roll")}
        await retrying(lambda: cluster.client.patch(DAEMONSETS, "roll", {"spec": {"template": {"spec": {
            "containers": [{"name": "agent", "image": "agent:2"}]}}}}, "default"))

        async def rolled():
            pods = await daemon_pods(cluster, "roll")
            done = len(pods) == 3 and all(ready(p) and p["spec"]["containers"][0]["image"] == "agent:2" for p in pods)
            status = await ds_status(cluster, "roll")
            return pods if done and status.get("updatedNumberScheduled") == 3 and \
                status.get("numberAvailable") == 3 and status.get("observedGeneration") == 2 else None

        pods = await advance_until(cluster, rolled)
        assert least_available == 2  # maxUnavailable 1 (the default): one node at a time
        assert not before & {p["metadata"]["name"] for p in pods}
        revisions = sorted(await cluster.list("controllerrevisions", group="apps"), key=lambda r: r["revision"])
        assert [r["revision"] for r in revisions] == [1, 2]
        new_hash = revisions[1]["metadata"]["labels"]["controller-revision-hash"]
        assert {p["metadata"]["labels"]["controller-revision-hash"] for p in pods} == {new_hash}
        assert sum(reason == "SuccessfulDelete" for _, reason, _ in seen) == 3
        assert sum(reason == "SuccessfulCreate" for _, reason, _ in seen) == 6


async def test_rolling_update_with_surge_keeps_every_node_available(cluster):
    async with running_nodes(cluster, 3, ready_delay=5.0, choose_node=affinity_node):
        cluster.start(DaemonSetController)
        manifest = daemonset_manifest("surge", updateStrategy={
            "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
        await cluster.client.create(DAEMONSETS, manifest, "default")

        async def all_available():
            return (await ds_status(cluster, "surge")).get("numberAvailable") == 3

        await advance_until(cluster, all_available)
        informer = cluster.informers.informer(PODS)
        least_available, most_pods = 3, 3

        def observe(*_):
            nonlocal least_available, most_pods
            live = [p for p in informer.list() if p["metadata"]["labels"].get("app") == "surge"
                    and not p["metadata"].get("deletionTimestamp")]
            least_available = min(least_available, len({p["spec"].get("nodeName") for p in live if ready(p)}))
            most_pods = max(most_pods, len(live))

        informer.add_handler(observe, observe, observe)
        await retrying(lambda: cluster.client.patch(DAEMONSETS, "surge", {"spec": {"template": {"spec": {
            "containers": [{"name": "agent", "image": "agent:2"}]}}}}, "default"))

        async def rolled():
            pods = await daemon_pods(cluster, "surge")
            return len(pods) == 3 and all(ready(p) and p["spec"]["containers"][0]["image"] == "agent:2" for p in pods)

        await advance_until(cluster, rolled)
        assert least_available == 3  # maxUnavailable 0: every node keeps a ready pod throughout
        assert most_pods == 4  # maxSurge 1: one extra pod at a time


async def test_on_delete_replaces_pods_only_when_deleted(cluster, three_nodes):
    cluster.start(DaemonSetController)
    await cluster.client.create(DAEMONSETS, daemonset_manifest("manual", updateStrategy={"type": "OnDelete"}),
                                "default")

    async def available():
        status = await ds_status(cluster, "manual")
        return status.get("numberAvailable") == 3

    await cluster.eventually(available)
    await retrying(lambda: cluster.client.patch(DAEMONSETS, "manual", {"spec": {"template": {"spec": {
        "containers": [{"name": "agent", "image": "agent:2"}]}}}}, "default"))

    async def generation_seen():
        status = await ds_status(cluster, "manual")
        return status.get("observedGeneration") == 2 and "updatedNumberScheduled" not in status

    await cluster.eventually(generation_seen)
    pods = await daemon_pods(cluster, "manual")
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"agent:1"}
    victim = pods[0]
    await retrying(lambda: cluster.client.delete(PODS, victim["metadata"]["name"], "default"))

    async def replaced():
        on_node = pods_by_node(await daemon_pods(cluster, "manual")).get(victim["spec"]["nodeName"]) or []
        return on_node and on_node[0]["spec"]["containers"][0]["image"] == "agent:2"

    await cluster.eventually(replaced)
    await cluster.eventually(lambda: _updated_is(cluster, "manual", 1))


async def _updated_is(cluster, name: str, count: int) -> bool:
    return (await ds_status(cluster, name)).get("updatedNumberScheduled") == count


async def test_failed_daemon_pod_is_replaced(cluster, three_nodes):
    seen = recorded(cluster.start(DaemonSetController))
    await cluster.client.create(DAEMONSETS, daemonset_manifest("watchdog"), "default")

    async def available():
        return (await ds_status(cluster, "watchdog")).get("numberAvailable") == 3

    await cluster.eventually(available)
    victim = (await daemon_pods(cluster, "watchdog"))[0]
    node = victim["spec"]["nodeName"]
    failed = {"status": {"phase": "Failed"}}
    await retrying(lambda: cluster.client.patch(PODS, victim["metadata"]["name"], failed, "default",
                                                subresource="status"))

    async def replaced():
        on_node = pods_by_node(await daemon_pods(cluster, "watchdog")).get(node) or []
        return len(on_node) == 1 and on_node[0]["metadata"]["uid"] != victim["metadata"]["uid"] and ready(on_node[0])

    await cluster.eventually(replaced)
    message = f"Found failed daemon pod default/{victim['metadata']['name']} on node {node}, will try to kill it"
    assert ("watchdog", "FailedDaemonPod", message) in seen
