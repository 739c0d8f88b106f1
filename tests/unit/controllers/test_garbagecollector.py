"""The garbage collector: background cascades through several levels, foreground waits, orphan keeps."""

from __future__ import annotations

from minik.api.meta import owner_reference
from minik.client.interface import resource
from minik.controllers.garbagecollector import GarbageCollector
from tests.unit.controllers.helpers import CRDS, WIDGET_CRD, WIDGETS

DEPLOYMENTS = resource("deployments", "apps")
REPLICASETS = resource("replicasets", "apps")
PODS = resource("pods")
CONFIGMAPS = resource("configmaps")
LABELS = {"app": "web"}
TEMPLATE = {"metadata": {"labels": LABELS}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}


async def deployment(cluster, name: str = "web") -> dict:
    return await cluster.client.create(DEPLOYMENTS, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": LABELS}, "template": TEMPLATE}}, "default")


async def replicaset(cluster, name: str, owner: dict | None = None) -> dict:
    meta = {"name": name, "namespace": "default", "labels": LABELS}
    if owner is not None:
        meta["ownerReferences"] = [owner_reference(owner)]
    return await cluster.client.create(REPLICASETS, {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta,
        "spec": {"replicas": 2, "selector": {"matchLabels": LABELS}, "template": TEMPLATE}}, "default")


async def pod(cluster, name: str, owner: dict, **meta) -> dict:
    return await cluster.client.create(PODS, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": LABELS,
                     "ownerReferences": [owner_reference(owner)], **meta},
        "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}, "default")


async def exists(cluster, plural: str, name: str, group: str = "") -> bool:
    return await cluster.get(plural, name, group=group) is not None


async def test_background_cascade_through_levels(cluster):
    cluster.start(GarbageCollector)
    owner = await deployment(cluster)
    rs = await replicaset(cluster, "web-1", owner)
    await pod(cluster, "web-1-a", rs)
    await pod(cluster, "web-1-b", rs)
    await cluster.client.delete(DEPLOYMENTS, "web", "default", propagation_policy="Background")

    async def collected():
        return not await exists(cluster, "replicasets", "web-1", "apps") and await cluster.list("pods") == []

    await cluster.eventually(collected, message="ReplicaSet and pods follow their Deployment")


async def test_dangling_owner_is_collected(cluster):
    """An object whose owner never existed (or went while the GC was down) is collected too."""
    ghost = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "ghost", "uid": "0000-gone"}}
    await pod(cluster, "orphaned", ghost)
    cluster.start(GarbageCollector)

    async def collected():
        return not await exists(cluster, "pods", "orphaned")

    await cluster.eventually(collected)


async def test_owner_from_custom_resource(cluster):
    cluster.start(GarbageCollector)
    await cluster.client.create(CRDS, WIDGET_CRD)
    widget = await cluster.client.create(WIDGETS, {"apiVersion": "example.com/v1", "kind": "Widget",
                                                   "metadata": {"name": "w", "namespace": "default"}}, "default")
    await cluster.client.create(CONFIGMAPS, {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "w-config", "namespace": "default", "ownerReferences": [owner_reference(widget)]},
        "data": {"k": "v"}}, "default")
    await cluster.client.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"name": "unowned", "namespace": "default"}}, "default")
    # Owned by a live custom resource: kept.
    await cluster.eventually(lambda: cluster.get("configmaps", "w-config"))
    await cluster.client.delete(WIDGETS, "w", "default")

    async def collected():
        return not await exists(cluster, "configmaps", "w-config")

    await cluster.eventually(collected)
    assert await exists(cluster, "configmaps", "unowned")


async def test_foreground_waits_for_blocking_dependents(cluster):
    cluster.start(GarbageCollector)
    rs = await replicaset(cluster, "web-2")
    await pod(cluster, "quick", rs)
    await pod(cluster, "slow", rs, finalizers=["example.com/hold"])
    await cluster.client.delete(REPLICASETS, "web-2", "default", propagation_policy="Foreground")

    async def quick_gone_slow_deleting():
        slow = await cluster.get("pods", "slow")
        return not await exists(cluster, "pods", "quick") and slow and slow["metadata"].get("deletionTimestamp")

    await cluster.eventually(quick_gone_slow_deleting)
    owner = await cluster.get("replicasets", "web-2", group="apps")
    assert owner is not None, "the owner waits while a blocking dependent exists"
    assert owner["metadata"]["finalizers"] == ["foregroundDeletion"]

    slow = await cluster.get("pods", "slow")
    slow["metadata"]["finalizers"] = []
    await cluster.client.update(PODS, slow)

    async def owner_gone():
        return not await exists(cluster, "replicasets", "web-2", "apps")

    await cluster.eventually(owner_gone)


async def test_orphan_keeps_dependents_without_owner_references(cluster):
    cluster.start(GarbageCollector)
    rs = await replicaset(cluster, "web-3")
    await pod(cluster, "kept-a", rs)
    await pod(cluster, "kept-b", rs)
    await cluster.client.delete(REPLICASETS, "web-3", "default", propagation_policy="Orphan")

    async def orphaned():
        if await exists(cluster, "replicasets", "web-3", "apps"):
            return False
        pods = await cluster.list("pods")
        return len(pods) == 2 and all("ownerReferences" not in p["metadata"] for p in pods)

    await cluster.eventually(orphaned)


async def test_owner_in_another_namespace_counts_as_absent(cluster):
    await cluster.client.create(resource("namespaces"), {"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": "other"}})
    rs = await replicaset(cluster, "web-4")  # in default
    await cluster.client.create(PODS, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "stray", "namespace": "other", "ownerReferences": [owner_reference(rs)]},
        "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}, "other")
    cluster.start(GarbageCollector)

    async def collected():
        return await cluster.get("pods", "stray", "other") is None

    await cluster.eventually(collected)
    assert await exists(cluster, "replicasets", "web-4", "apps")

    async def warned():
        events = await cluster.list("events", "other")
        return [e for e in events if e["reason"] == "OwnerRefInvalidNamespace"]

    event = (await cluster.eventually(warned))[0]
    assert event["type"] == "Warning"
    assert event["message"] == (f'ownerRef [apps/v1/ReplicaSet, namespace: other, name: web-4, '
                                f'uid: {rs["metadata"]["uid"]}] does not exist in namespace "other"')
