"""The scheduler loop against a real in-process API: binding, unschedulable pods, retries on events."""

from __future__ import annotations

from minik.client.interface import resource
from minik.kubelet.simulated import SimulatedNodes, SimulatedNodesConfig
from minik.scheduler.scheduler import Scheduler

PODS = resource("pods")
NODES = resource("nodes")


def pod(name, cpu="100m", **spec):
    return {"metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}], **spec}}


async def start(cluster, nodes: int, cpu: str = "2"):
    sim = SimulatedNodes(cluster.client, SimulatedNodesConfig(count=nodes, cpu=cpu, ready_delay=0),
                         informers=cluster.informers, clock=cluster.clock)
    await sim.register()
    cluster.start(Scheduler)
    return sim


async def test_pods_are_bound_and_spread(cluster):
    sim = await start(cluster, 3)
    try:
        for i in range(6):
            await cluster.client.create(PODS, pod(f"p{i}"), "default")
        pods = await cluster.eventually(
            lambda: _all_bound(cluster), message="pods were not all bound")
        per_node = {}
        for p in pods:
            per_node[p["spec"]["nodeName"]] = per_node.get(p["spec"]["nodeName"], 0) + 1
        assert sorted(per_node.values()) == [2, 2, 2]  # least-allocated spreads them
        await cluster.recorder.flush()
        events = await cluster.list("events", field_selector="reason=Scheduled")
        assert len(events) == 6 and events[0]["message"].startswith("Successfully assigned default/p")
    finally:
        await sim.close()


def _all_bound(cluster):
    pods = [p for p in cluster.informers.informer(PODS).list() if p["metadata"]["namespace"] == "default"]
    return pods if pods and all(p["spec"].get("nodeName") for p in pods) else None


async def test_unschedulable_pod_gets_condition_and_is_retried_when_a_node_comes(cluster):
    sim = await start(cluster, 2, cpu="1")
    try:
        await cluster.client.create(PODS, pod("big", cpu="3"), "default")

        async def unschedulable():
            p = await cluster.get("pods", "big")
            cond = next((c for c in p["status"].get("conditions") or [] if c["type"] == "PodScheduled"), None)
            return cond if cond and cond["status"] == "False" else None

        cond = await cluster.eventually(unschedulable)
        assert cond["reason"] == "Unschedulable"
        assert cond["message"].startswith("0/2 nodes are available: 2 Insufficient cpu.")
        bigger = SimulatedNodes(cluster.client, SimulatedNodesConfig(count=1, name_prefix="big-", cpu="4",
                                                                    ready_delay=0),
                                informers=cluster.informers, clock=cluster.clock)
        await bigger.register()  # a NodeAdd event moves the parked pod back, into its backoff (1 s)
        await cluster.clock.advance(0.5)
        assert (await cluster.get("pods", "big"))["spec"].get("nodeName") is None  # still backing off
        await cluster.clock.advance(1)

        async def bound():
            p = await cluster.get("pods", "big")
            return p["spec"].get("nodeName")

        assert await cluster.eventually(bound) == "big-0"
        await bigger.close()
    finally:
        await sim.close()


async def test_node_selector_and_taints(cluster):
    sim = await start(cluster, 2)
    try:
        await cluster.client.patch(NODES, "sim-node-0", {"metadata": {"labels": {"disk": "ssd"}}})
        await cluster.client.patch(NODES, "sim-node-1", {"spec": {"taints": [
            {"key": "dedicated", "value": "x", "effect": "NoSchedule"}]}})
        await cluster.client.create(PODS, pod("ssd", nodeSelector={"disk": "ssd"}), "default")
        await cluster.client.create(PODS, pod("tolerant", nodeSelector={"kubernetes.io/hostname": "sim-node-1"},
                                              tolerations=[{"key": "dedicated", "operator": "Exists"}]), "default")
        await cluster.client.create(PODS, pod("intolerant", nodeSelector={"kubernetes.io/hostname": "sim-node-1"}),
                                    "default")

        async def placed(name):
            p = await cluster.get("pods", name)
            return p["spec"].get("nodeName")

        assert await cluster.eventually(lambda: placed("ssd")) == "sim-node-0"
        assert await cluster.eventually(lambda: placed("tolerant")) == "sim-node-1"

        async def message():
            p = await cluster.get("pods", "intolerant")
            cond = next((c for c in p["status"].get("conditions") or [] if c["type"] == "PodScheduled"), None)
            return cond and cond["message"]

        text = await cluster.eventually(message)
        assert "1 node(s) didn't match Pod's node affinity/selector" in text
        assert "1 node(s) had untolerated taint {dedicated: x}" in text
    finally:
        await sim.close()
