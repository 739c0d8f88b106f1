"""Node lifecycle (lost nodes: Unknown, tainted, pods evicted on time), node IPAM and pod GC."""

from __future__ import annotations

import asyncio

from minik.api.meta import parse_time
from minik.client.interface import resource
from minik.controllers.nodeipam import NodeIPAMController
from minik.controllers.nodelifecycle import NodeLifecycleController
from minik.controllers.podgc import PodGCController
from minik.kubelet.simulated import SimulatedNodes, SimulatedNodesConfig
from minik.registry.admission import DefaultTolerationSeconds

NODES = resource("nodes")
PODS = resource("pods")
LOST = "sim-node-0"
HEALTHY = "sim-node-1"


async def tick(cluster, seconds: float, step: float = 5.0) -> None:
    """Let fake time pass in steps, giving the simulated kubelets and controllers real time in between."""
    while seconds > 0:
        await cluster.clock.advance(min(step, seconds))
        seconds -= step
        await asyncio.sleep(0.02)


async def bound_pod(cluster, name: str, node: str) -> None:
    await cluster.client.create(PODS, {"apiVersion": "v1", "kind": "Pod",
                                       "metadata": {"name": name, "namespace": "default"},
                                       "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}, "default")
    await cluster.client.create(PODS, {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                                       "target": {"kind": "Node", "name": node}}, "default",
                                subresource="binding", name=name)


def condition(obj: dict, kind: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


async def simulated_cluster(cluster) -> SimulatedNodes:
    nodes = SimulatedNodes(cluster.client, SimulatedNodesConfig(count=2, ready_delay=0.5),
                           informers=cluster.informers, clock=cluster.clock)
    cluster.start(NodeLifecycleController)
    cluster.spawn("simulated-nodes", nodes.run())
    await cluster.eventually(lambda: cluster.get("leases", HEALTHY, "kube-node-lease", "coordination.k8s.io"))
    return nodes


async def wait_running(cluster, *names: str) -> None:
    async def running():
        await cluster.clock.advance(0.5)
        pods = [await cluster.get("pods", n) for n in names]
        return all(condition(p, "Ready").get("status") == "True" for p in pods)

    await cluster.eventually(running)


async def test_lost_node_is_tainted_and_its_pods_evicted_on_time(cluster):
    nodes = await simulated_cluster(cluster)
    chain = cluster.registry.admission
    defaults = next(p for p in chain if isinstance(p, DefaultTolerationSeconds))
    position = chain.index(defaults)
    chain.remove(defaults)  # this pod tolerates nothing
    await bound_pod(cluster, "intolerant", LOST)
    chain.insert(position, defaults)
    await bound_pod(cluster, "tolerant", LOST)  # gets not-ready/unreachable tolerated for 300 s
    await bound_pod(cluster, "elsewhere", HEALTHY)
    await wait_running(cluster, "intolerant", "tolerant", "elsewhere")

    nodes.stop_heartbeat(LOST)
    await tick(cluster, 30)
    assert condition(await cluster.get("nodes", LOST, ""), "Ready")["status"] == "True", "still within the grace period"
    await tick(cluster, 20)

    lost = await cluster.get("nodes", LOST, "")
    ready = condition(lost, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == \
        ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
    assert condition(lost, "MemoryPressure")["status"] == "Unknown"
    taints = {(t["key"], t["effect"]): t for t in lost["spec"]["taints"]}
    assert set(taints) == {("node.kubernetes.io/unreachable", "NoExecute"), ("node.kubernetes.io/unreachable", "NoSchedule")}
    healthy = await cluster.get("nodes", HEALTHY, "")
    assert condition(healthy, "Ready")["status"] == "True" and not healthy["spec"].get("taints")

    intolerant = await cluster.get("pods", "intolerant")
    assert intolerant["metadata"].get("deletionTimestamp"), "a pod that does not tolerate the taint goes at once"
    assert condition(intolerant, "DisruptionTarget")["reason"] == "DeletionByTaintManager"
    tolerant = await cluster.get("pods", "tolerant")
    assert not tolerant["metadata"].get("deletionTimestamp")
    assert condition(tolerant, "Ready")["status"] == "False", "MarkPodsNotReady"
    assert condition(await cluster.get("pods", "elsewhere"), "Ready")["status"] == "True"

    async def eviction_event():
        events = await cluster.list("events")
        return [e for e in events if e["reason"] == "TaintManagerEviction"]

    events = await cluster.eventually(eviction_event)
    assert events[0]["message"] == "Marking for deletion Pod default/intolerant"
    assert events[0]["involvedObject"]["name"] == "intolerant"

    tainted_at = parse_time(taints[("node.kubernetes.io/unreachable", "NoExecute")]["timeAdded"])
    await tick(cluster, 290 - (cluster.now() - tainted_at).total_seconds())
    assert not (await cluster.get("pods", "tolerant"))["metadata"].get("deletionTimestamp"), "not before 300 s"
    await tick(cluster, 15)

    async def evicted():
        pod = await cluster.get("pods", "tolerant")
        return pod["metadata"].get("deletionTimestamp")

    await cluster.eventually(evicted, message="evicted once its 300 s toleration expired")
    assert not (await cluster.get("pods", "elsewhere"))["metadata"].get("deletionTimestamp")


async def test_recovered_node_loses_its_taints(cluster):
    nodes = await simulated_cluster(cluster)
    await bound_pod(cluster, "tolerant", LOST)  # the default admission chain adds the 300 s tolerations
    await wait_running(cluster, "tolerant")
    nodes.stop_heartbeat(LOST)
    await tick(cluster, 50)
    assert (await cluster.get("nodes", LOST, ""))["spec"].get("taints")

    # The kubelet is back: it renews its lease and posts Ready again.
    nodes.resume_heartbeat(LOST)
    now = cluster.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    await cluster.client.patch(NODES, LOST, {"status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
         "lastHeartbeatTime": now, "lastTransitionTime": now}]}}, subresource="status",
        patch_type="application/strategic-merge-patch+json")

    async def untainted():
        return not (await cluster.get("nodes", LOST, ""))["spec"].get("taints")

    await cluster.eventually(untainted)

    async def cancelled():
        return [e for e in await cluster.list("events") if e["message"] == "Cancelling deletion of Pod default/tolerant"]

    await cluster.eventually(cancelled)
    await tick(cluster, 300)
    assert not (await cluster.get("pods", "tolerant"))["metadata"].get("deletionTimestamp")


async def test_node_ipam_assigns_unique_ranges(cluster):
    cluster.start(NodeIPAMController)
    for name in ("n1", "n2", "n3"):
        await cluster.client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})

    async def cidrs():
        nodes = await cluster.list("nodes", "")
        found = {n["metadata"]["name"]: (n.get("spec") or {}).get("podCIDR") for n in nodes}
        return found if all(found.values()) and len(found) == 3 else None

    found = await cluster.eventually(cidrs)
    assert sorted(found.values()) == ["10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24"]
    n2 = await cluster.get("nodes", "n2", "")
    assert n2["spec"]["podCIDRs"] == [n2["spec"]["podCIDR"]]

    await cluster.client.delete(NODES, "n2")
    await cluster.client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n4"}})

    async def reused():
        n4 = await cluster.get("nodes", "n4", "")
        return (n4.get("spec") or {}).get("podCIDR")

    assert await cluster.eventually(reused) == found["n2"], "a deleted node's range is free again"


async def test_podgc_removes_pods_of_a_deleted_node(cluster):
    for name in ("gone", "here"):
        await cluster.client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
    await bound_pod(cluster, "orphan", "gone")
    await bound_pod(cluster, "kept", "here")
    await cluster.client.delete(NODES, "gone")
    cluster.start(PodGCController)
    await asyncio.sleep(0.05)
    await cluster.clock.advance(30)
    assert await cluster.get("pods", "orphan") is not None, "quarantined for 40 s first"
    await cluster.clock.advance(15)

    async def collected():
        return await cluster.get("pods", "orphan") is None

    await cluster.eventually(collected)
    assert await cluster.get("pods", "kept") is not None
