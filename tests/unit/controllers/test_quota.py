"""ResourceQuota: the controller keeps status.used current; admission refuses what would exceed it."""

from __future__ import annotations

import asyncio

import pytest

from minik.api.errors import APIError
from minik.client.interface import resource
from minik.controllers.resourcequota import ResourceQuotaController
from minik.registry.admission import LimitRanger, ResourceQuotaAdmission

QUOTAS = resource("resourcequotas")
LIMITRANGES = resource("limitranges")
PODS = resource("pods")
CONFIGMAPS = resource("configmaps")
DEPLOYMENTS = resource("deployments", "apps")


def quota(name: str, hard: dict, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name, "namespace": "default"},
            "spec": {"hard": hard, **spec}}


def pod(name: str, *, requests: dict | None = None, limits: dict | None = None) -> dict:
    resources = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "nginx:1", "resources": resources}]}}


async def used(cluster, name: str = "q1") -> dict:
    return ((await cluster.get("resourcequotas", name)).get("status") or {}).get("used") or {}


async def test_status_used_tracks_usage(cluster):
    cluster.start(ResourceQuotaController)
    hard = {"pods": "4", "count/configmaps": "5", "configmaps": "5", "services": "3", "requests.cpu": "2",
            "limits.memory": "1Gi", "count/deployments.apps": "2", "widgets": "1"}
    await cluster.client.create(DEPLOYMENTS, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}, "default")
    await cluster.client.create(QUOTAS, quota("q1", hard), "default")
    for name in ("a", "b"):
        await cluster.client.create(PODS, pod(name, requests={"cpu": "500m"}, limits={"memory": "256Mi"}), "default")
    await cluster.client.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"name": "cm", "namespace": "default"}}, "default")
    expected = {"pods": "2", "count/configmaps": "1", "configmaps": "1", "services": "1", "requests.cpu": "1",
                "limits.memory": "512Mi", "count/deployments.apps": "1"}  # the `kubernetes` Service counts

    async def tracked():
        return await used(cluster) == expected

    await cluster.eventually(tracked)
    status = (await cluster.get("resourcequotas", "q1"))["status"]
    assert status["hard"] == hard  # an entry nothing counts ("widgets") is in hard, not in used

    await cluster.client.delete(PODS, "a", "default")

    async def replenished():
        current = await used(cluster)
        return current.get("pods") == "1" and current.get("requests.cpu") == "500m" \
            and current.get("limits.memory") == "256Mi"

    await cluster.eventually(replenished)


async def test_admission_blocks_the_pod_that_would_exceed(cluster):
    cluster.registry.admission.append(ResourceQuotaAdmission())
    cluster.start(ResourceQuotaController)
    await cluster.client.create(QUOTAS, quota("q1", {"pods": "2"}), "default")
    # No wait for the controller: admission counts what is stored.
    await cluster.client.create(PODS, pod("p1"), "default")
    await cluster.client.create(PODS, pod("p2"), "default")
    with pytest.raises(APIError) as refused:
        await cluster.client.create(PODS, pod("p3"), "default")
    assert refused.value.code == 403 and refused.value.reason == "Forbidden"
    assert refused.value.message == ('pods "p3" is forbidden: exceeded quota: q1, requested: pods=1, used: pods=2, '
                                     "limited: pods=2")

    async def status_caught_up():
        return await used(cluster) == {"pods": "2"}

    await cluster.eventually(status_caught_up)
    await cluster.client.delete(PODS, "p1", "default")
    await cluster.client.create(PODS, pod("p3"), "default")  # room again


async def test_concurrent_creates_cannot_share_the_last_unit(cluster):
    cluster.registry.admission.append(ResourceQuotaAdmission())
    await cluster.client.create(QUOTAS, quota("q1", {"count/configmaps": "3"}), "default")
    results = await asyncio.gather(*(cluster.client.create(CONFIGMAPS, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm{i}", "namespace": "default"}}, "default")
        for i in range(8)), return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 3
    assert all(isinstance(r, APIError) and r.code == 403 for r in results if isinstance(r, Exception))


async def test_quota_on_cpu_requires_it_on_every_container(cluster):
    cluster.registry.admission.append(ResourceQuotaAdmission())
    await cluster.client.create(QUOTAS, quota("q2", {"requests.cpu": "1", "limits.cpu": "2"}), "default")
    with pytest.raises(APIError) as refused:
        await cluster.client.create(PODS, pod("bare"), "default")
    assert refused.value.code == 403
    assert refused.value.message == ('pods "bare" is forbidden: failed quota: q2: must specify limits.cpu for: c; '
                                     "requests.cpu for: c")
    await cluster.client.create(PODS, pod("ok", requests={"cpu": "600m"}, limits={"cpu": "1"}), "default")
    with pytest.raises(APIError) as refused:
        await cluster.client.create(PODS, pod("more", requests={"cpu": "600m"}, limits={"cpu": "1"}), "default")
    assert refused.value.message == ('pods "more" is forbidden: exceeded quota: q2, requested: requests.cpu=600m, '
                                     "used: requests.cpu=600m, limited: requests.cpu=1")


async def test_limitrange_defaults_satisfy_the_quota(cluster):
    cluster.registry.admission.extend([LimitRanger(), ResourceQuotaAdmission()])
    await cluster.client.create(LIMITRANGES, {
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults", "namespace": "default"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"},
                             "defaultRequest": {"cpu": "100m"}, "max": {"cpu": "1"}}]}}, "default")
    await cluster.client.create(QUOTAS, quota("q3", {"requests.cpu": "1", "requests.memory": "1Gi"}), "default")
    created = await cluster.client.create(PODS, pod("defaulted"), "default")
    resources = created["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
    assert created["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == \
        "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c"
    assert created["status"]["qosClass"] == "Burstable"
    with pytest.raises(APIError) as refused:
        await cluster.client.create(PODS, pod("big", limits={"cpu": "2"}), "default")
    assert refused.value.code == 403
    assert refused.value.message == 'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2'
