"""StatefulSet controller against the in-process API, simulated nodes and a fake clock.

There is no scheduler in these tests: a small binder binds pods round-robin to the simulated nodes.
Order is checked from what an informer saw (creations and readiness in store order), not from timing.
"""

from __future__ import annotations

import asyncio

import pytest

from minik.client.interface import resource
from minik.controllers.statefulset import StatefulSetController
from tests.unit.controllers.helpers import advance_until, recorded, retrying, running_nodes

PODS = resource("pods")
STATEFULSETS = resource("statefulsets", "apps")


@pytest.fixture
async def slow_nodes(cluster):
    """Pods become Ready 5 s (fake) after they are bound."""
    async with running_nodes(cluster, 3, ready_delay=5.0) as sim:
        yield sim


@pytest.fixture
async def fast_nodes(cluster):
    async with running_nodes(cluster, 3, ready_delay=0.0) as sim:
        yield sim


def ready(pod: dict) -> bool:
    return pod["status"].get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def timeline(cluster, prefix: str) -> list[tuple[str, str]]:
    """What the pod informer shows, in store order: ("created"|"ready"|"deleting"|"deleted", pod name)."""
    seen: list[tuple[str, str]] = []
    informer = cluster.informers.informer(PODS)

    def mine(pod: dict) -> bool:
        return pod["metadata"]["name"].startswith(prefix)

    def added(pod: dict) -> None:
        if mine(pod):
            seen.append(("created", pod["metadata"]["name"]))

    def updated(old: dict, new: dict) -> None:
        if not mine(new):
            return
        if ready(new) and not ready(old):
            seen.append(("ready", new["metadata"]["name"]))
        if new["metadata"].get("deletionTimestamp") and not old["metadata"].get("deletionTimestamp"):
            seen.append(("deleting", new["metadata"]["name"]))

    def deleted(pod: dict) -> None:
        if mine(pod):
            seen.append(("deleted", pod["metadata"]["name"]))

    informer.add_handler(added, updated, deleted)
    return seen


def sts_manifest(name: str, replicas: int = 3, image: str = "web:1", **spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     **spec, "template": {"metadata": {"labels": {"app": name}},
                                          "spec": {"containers": [{"name": "main", "image": image}]}}}}


async def sts_status(cluster, name: str) -> dict:
    return (await cluster.get("statefulsets", name, group="apps")).get("status") or {}


def status_is(cluster, name: str, **expected):
    async def check():
        status = await sts_status(cluster, name)
        return status if all(status.get(k, 0) == v for k, v in expected.items()) else None
    return check


async def pods_of(cluster, name: str) -> dict[str, dict]:
    return {p["metadata"]["name"]: p for p in await cluster.list("pods", label_selector=f"app={name}")}


async def test_ordered_ready_creates_pods_one_by_one(cluster, slow_nodes):
    seen_events = recorded(cluster.start(StatefulSetController))
    order = timeline(cluster, "web-")
    manifest = sts_manifest("web", volumeClaimTemplates=[{
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}])
    await cluster.client.create(STATEFULSETS, manifest, "default")

    await cluster.eventually(lambda: ("created", "web-0") in order)
    await asyncio.sleep(0.05)
    assert ("created", "web-1") not in order  # web-0 is not Ready yet (5 s of fake time)

    status = await advance_until(cluster, status_is(cluster, "web", readyReplicas=3, availableReplicas=3))
    assert order == [("created", "web-0"), ("ready", "web-0"), ("created", "web-1"), ("ready", "web-1"),
                     ("created", "web-2"), ("ready", "web-2")]
    assert status["replicas"] == status["currentReplicas"] == status["updatedReplicas"] == 3
    assert status["currentRevision"] == status["updateRevision"]
    assert status["updateRevision"].startswith("web-")
    assert status["observedGeneration"] == 1 and status["collisionCount"] == 0

    pods = await pods_of(cluster, "web")
    for ordinal in range(3):
        pod = pods[f"web-{ordinal}"]
        labels = pod["metadata"]["labels"]
        assert labels["statefulset.kubernetes.io/pod-name"] == f"web-{ordinal}"
        assert labels["apps.kubernetes.io/pod-index"] == str(ordinal)
        assert labels["controller-revision-hash"] == status["updateRevision"]
        assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == (f"web-{ordinal}", "web")
        volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "data")
        assert volume["persistentVolumeClaim"]["claimName"] == f"data-web-{ordinal}"
    claims = {c["metadata"]["name"]: c for c in await cluster.list("persistentvolumeclaims")}
    assert sorted(claims) == ["data-web-0", "data-web-1", "data-web-2"]
    assert all(c["status"]["phase"] == "Pending" and c["metadata"]["labels"] == {"app": "web"}
               for c in claims.values())
    assert ("web", "SuccessfulCreate", "create Pod web-0 in StatefulSet web successful") in seen_events
    assert ("web", "SuccessfulCreate", "create Claim data-web-0 Pod web-0 in StatefulSet web success") in seen_events
    revision = await cluster.get("controllerrevisions", status["updateRevision"], group="apps")
    assert revision["revision"] == 1
    assert revision["metadata"]["ownerReferences"][0]["name"] == "web"


async def test_parallel_creates_all_pods_at_once(cluster, slow_nodes):
    cluster.start(StatefulSetController)
    order = timeline(cluster, "burst-")
    await cluster.client.create(STATEFULSETS, sts_manifest("burst", podManagementPolicy="Parallel"), "default")
    # No fake time passes: none is Ready, yet all three exist.
    await cluster.eventually(lambda: sorted(order) == [("created", f"burst-{i}") for i in range(3)])


async def test_scale_down_removes_the_highest_ordinal_first(cluster, fast_nodes):
    seen_events = recorded(cluster.start(StatefulSetController))
    await cluster.client.create(STATEFULSETS, sts_manifest("db"), "default")
    await cluster.eventually(status_is(cluster, "db", readyReplicas=3))
    order = timeline(cluster, "db-")
    await retrying(lambda: cluster.client.patch(STATEFULSETS, "db", {"spec": {"replicas": 1}}, "default"))

    await cluster.eventually(status_is(cluster, "db", replicas=1, readyReplicas=1))
    deletions = [name for what, name in order if what == "deleting"]
    assert deletions == ["db-2", "db-1"]
    # db-1 was deleted only once db-2 was gone.
    assert order.index(("deleted", "db-2")) < order.index(("deleting", "db-1"))
    assert sorted(await pods_of(cluster, "db")) == ["db-0"]
    assert ("db", "SuccessfulDelete", "delete Pod db-2 in StatefulSet db successful") in seen_events


async def test_rolling_update_goes_down_from_the_top_and_respects_the_partition(cluster, fast_nodes):
    cluster.start(StatefulSetController)
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}
    await cluster.client.create(STATEFULSETS, sts_manifest("app", updateStrategy=strategy), "default")
    first = await cluster.eventually(status_is(cluster, "app", readyReplicas=3))
    order = timeline(cluster, "app-")
    await retrying(lambda: cluster.client.patch(STATEFULSETS, "app", {"spec": {"template": {"spec": {
        "containers": [{"name": "main", "image": "web:2"}]}}}}, "default"))

    status = await cluster.eventually(status_is(cluster, "app", updatedReplicas=2, readyReplicas=3, replicas=3))
    assert [name for what, name in order if what == "deleting"] == ["app-2", "app-1"]
    assert status["currentReplicas"] == 1 and status["currentRevision"] == first["currentRevision"]
    assert status["updateRevision"] != first["updateRevision"]
    pods = await pods_of(cluster, "app")
    assert {n: p["spec"]["containers"][0]["image"] for n, p in pods.items()} == \
        {"app-0": "web:1", "app-1": "web:2", "app-2": "web:2"}
    assert pods["app-0"]["metadata"]["labels"]["controller-revision-hash"] == first["currentRevision"]

    # Lowering the partition lets the rollout finish; the update revision becomes current.
    await retrying(lambda: cluster.client.patch(STATEFULSETS, "app", {"spec": {"updateStrategy": {
        "rollingUpdate": {"partition": 0}}}}, "default"))
    status = await cluster.eventually(status_is(cluster, "app", updatedReplicas=3, readyReplicas=3,
                                                currentReplicas=3))
    assert status["currentRevision"] == status["updateRevision"]
    assert (await pods_of(cluster, "app"))["app-0"]["spec"]["containers"][0]["image"] == "web:2"


async def test_on_delete_updates_a_pod_only_when_it_is_deleted(cluster, fast_nodes):
    cluster.start(StatefulSetController)
    await cluster.client.create(STATEFULSETS, sts_manifest("manual", updateStrategy={"type": "OnDelete"}),
                                "default")
    await cluster.eventually(status_is(cluster, "manual", readyReplicas=3))
    await retrying(lambda: cluster.client.patch(STATEFULSETS, "manual", {"spec": {"template": {"spec": {
        "containers": [{"name": "main", "image": "web:2"}]}}}}, "default"))
    await cluster.eventually(status_is(cluster, "manual", observedGeneration=2, updatedReplicas=0))
    await asyncio.sleep(0.05)
    images = {n: p["spec"]["containers"][0]["image"] for n, p in (await pods_of(cluster, "manual")).items()}
    assert set(images.values()) == {"web:1"}

    await retrying(lambda: cluster.client.delete(PODS, "manual-1", "default"))
    await cluster.eventually(status_is(cluster, "manual", updatedReplicas=1, readyReplicas=3))
    pods = await pods_of(cluster, "manual")
    assert pods["manual-1"]["spec"]["containers"][0]["image"] == "web:2"
    assert pods["manual-0"]["spec"]["containers"][0]["image"] == "web:1"


async def test_failed_pod_is_recreated_with_the_same_identity(cluster, fast_nodes):
    seen_events = recorded(cluster.start(StatefulSetController))
    await cluster.client.create(STATEFULSETS, sts_manifest("cache", replicas=2), "default")
    await cluster.eventually(status_is(cluster, "cache", readyReplicas=2))
    victim = (await pods_of(cluster, "cache"))["cache-1"]
    failed = {"status": {"phase": "Failed"}}
    await retrying(lambda: cluster.client.patch(PODS, "cache-1", failed, "default", subresource="status"))

    async def recreated():
        pod = (await pods_of(cluster, "cache")).get("cache-1")
        return pod if pod and pod["metadata"]["uid"] != victim["metadata"]["uid"] and ready(pod) else None

    pod = await cluster.eventually(recreated)
    assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "cache-1"
    message = "StatefulSet default/cache is recreating failed Pod cache-1"
    assert ("cache", "RecreatingFailedPod", message) in seen_events
