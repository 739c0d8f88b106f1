"""Deleting a namespace deletes its content (built-in and custom resources), then the namespace."""

from __future__ import annotations

from minik.client.interface import resource
from minik.controllers.namespace import NamespaceController
from tests.unit.controllers.helpers import CRDS, WIDGET_CRD, WIDGETS

NAMESPACES = resource("namespaces")
CONFIGMAPS = resource("configmaps")
PODS = resource("pods")


async def fill(cluster, namespace: str, *, hold: bool = False) -> None:
    client = cluster.client
    await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": namespace},
              "data": {"a": "b"}}
    if hold:
        config["metadata"]["finalizers"] = ["example.com/hold"]
    await client.create(CONFIGMAPS, config, namespace)
    await client.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": namespace},
                               "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}, namespace)
    await client.create(CRDS, WIDGET_CRD)
    await client.create(WIDGETS, {"apiVersion": "example.com/v1", "kind": "Widget",
                                  "metadata": {"name": "w", "namespace": namespace}, "spec": {"size": 3}}, namespace)


async def test_namespace_content_then_namespace_deleted(cluster):
    await fill(cluster, "doomed")
    cluster.start(NamespaceController)
    deleting = await cluster.client.delete(NAMESPACES, "doomed")
    assert deleting["status"]["phase"] == "Terminating"

    async def gone():
        return await cluster.get("namespaces", "doomed", namespace="") is None

    await cluster.eventually(gone, message="the namespace is removed once empty")
    for plural in ("configmaps", "pods"):
        assert await cluster.list(plural, "doomed") == []
    assert (await cluster.client.list(WIDGETS, "doomed"))["items"] == []
    # Other namespaces keep their content.
    assert await cluster.get("services", "kubernetes", "default") is not None


async def test_finalizers_hold_the_namespace_and_are_reported(cluster):
    await fill(cluster, "held", hold=True)
    cluster.start(NamespaceController)
    await cluster.client.delete(NAMESPACES, "held")

    async def conditions():
        ns = await cluster.get("namespaces", "held", namespace="")
        found = {c["type"]: c for c in (ns.get("status") or {}).get("conditions") or []}
        return found if len(found) == 5 else None

    found = await cluster.eventually(conditions)
    assert found["NamespaceContentRemaining"]["status"] == "True"
    assert found["NamespaceContentRemaining"]["reason"] == "SomeResourcesRemain"
    assert found["NamespaceContentRemaining"]["message"] == \
        "Some resources are remaining: configmaps. has 1 resource instances"
    assert found["NamespaceFinalizersRemaining"]["reason"] == "SomeFinalizerRemain"
    assert found["NamespaceFinalizersRemaining"]["message"] == \
        "Some finalizers are remaining: example.com/hold in 1 resource instances"
    assert found["NamespaceDeletionDiscoveryFailure"] == {
        **found["NamespaceDeletionDiscoveryFailure"], "status": "False", "reason": "ResourcesDiscovered",
        "message": "All resources successfully discovered"}
    assert found["NamespaceDeletionContentFailure"]["status"] == "False"
    assert await cluster.get("pods", "p", "held") is None  # the rest went already
    assert (await cluster.client.list(WIDGETS, "held"))["items"] == []

    held = await cluster.get("configmaps", "settings", "held")
    held["metadata"]["finalizers"] = []
    await cluster.client.update(CONFIGMAPS, held)
    await cluster.clock.advance(8)  # ResourcesRemainingError: checked again after half of 15 s

    async def gone():
        return await cluster.get("namespaces", "held", namespace="") is None

    await cluster.eventually(gone)
