"""Admission plugins inside the registry's write pipeline: defaults, limit ranges, service accounts, quota."""

from __future__ import annotations

import pytest

from minik.api.errors import APIError
from minik.registry.admission import (
    DefaultTolerationSeconds,
    LimitRanger,
    ResourceQuotaAdmission,
    ServiceAccountAdmission,
    default_plugins,
)
from minik.registry.registry import NamespaceLifecycle, Registry
from minik.registry.store import Context
from minik.server import bootstrap
from minik.storage import running_store

NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
               "tolerationSeconds": 300}


@pytest.fixture
async def registry():
    async with running_store(None) as store:
        registry = Registry(store)
        registry.admission = [NamespaceLifecycle()]  # each test installs the plugin it is about
        await bootstrap(registry, "127.0.0.1", 6443)
        yield registry


async def create(registry: Registry, plural: str, obj: dict, *, dry_run: bool = False) -> dict:
    return await registry.store("", "v1", plural).create("default", obj, Context(dry_run=dry_run))


def pod(name: str = "p", *, containers: list | None = None, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": containers or [{"name": "c", "image": "nginx:1"}], **spec}}


def container(name: str = "c", **resources) -> dict:
    return {"name": name, "image": "nginx:1", "resources": resources}


async def refused(registry: Registry, plural: str, obj: dict) -> str:
    with pytest.raises(APIError) as caught:
        await create(registry, plural, obj)
    assert caught.value.code == 403 and caught.value.reason == "Forbidden"
    return caught.value.message


def test_default_plugins_in_kube_apiserver_order():
    assert [type(p) for p in default_plugins()] == [LimitRanger, ServiceAccountAdmission, DefaultTolerationSeconds,
                                                     ResourceQuotaAdmission]


# --- DefaultTolerationSeconds ---


async def test_default_toleration_seconds(registry):
    registry.admission.append(DefaultTolerationSeconds())
    created = await create(registry, "pods", pod("plain"))
    assert created["spec"]["tolerations"] == [NOT_READY, UNREACHABLE]

    own = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}
    created = await create(registry, "pods", pod("own", tolerations=[own]))
    assert created["spec"]["tolerations"] == [own, UNREACHABLE]

    everything = {"operator": "Exists"}
    created = await create(registry, "pods", pod("all", tolerations=[everything]))
    assert created["spec"]["tolerations"] == [everything]


# --- ServiceAccount ---


async def test_service_account_defaults_and_pull_secrets(registry):
    registry.admission.append(ServiceAccountAdmission())
    assert (await create(registry, "pods", pod("a")))["spec"]["serviceAccountName"] == "default"
    await create(registry, "serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                               "metadata": {"name": "builder", "namespace": "default"},
                                               "imagePullSecrets": [{"name": "registry-key"}]})
    created = await create(registry, "pods", pod("b", serviceAccountName="builder"))
    assert created["spec"]["serviceAccountName"] == created["spec"]["serviceAccount"] == "builder"
    assert created["spec"]["imagePullSecrets"] == [{"name": "registry-key"}]
    assert "automountServiceAccountToken" not in created["spec"] and not created["spec"].get("volumes")


# --- LimitRanger ---


async def limit_range(registry: Registry, *limits: dict) -> None:
    await create(registry, "limitranges", {"apiVersion": "v1", "kind": "LimitRange",
                                           "metadata": {"name": "limits", "namespace": "default"},
                                           "spec": {"limits": list(limits)}})


async def test_limitranger_defaults_from_max_and_keeps_what_is_given(registry):
    registry.admission.append(LimitRanger())
    await limit_range(registry, {"type": "Container", "max": {"memory": "1Gi"}, "defaultRequest": {"cpu": "250m"}})
    created = await create(registry, "pods", pod(containers=[container(requests={"memory": "128Mi"})]))
    # default (limit) from max; defaultRequest from default where not given
    assert created["spec"]["containers"][0]["resources"] == {"requests": {"memory": "128Mi", "cpu": "250m"},
                                                             "limits": {"memory": "1Gi"}}
    assert created["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == \
        "LimitRanger plugin set: cpu request for container c; memory limit for container c"


async def test_limitranger_container_min_max_and_ratio(registry):
    registry.admission.append(LimitRanger())
    await limit_range(registry, {"type": "Container", "min": {"memory": "64Mi"}, "max": {"cpu": "2"},
                                 "maxLimitRequestRatio": {"cpu": "2"}})
    message = await refused(registry, "pods", pod("small", containers=[
        container(requests={"memory": "32Mi", "cpu": "1"}, limits={"cpu": "1"})]))
    assert message == 'pods "small" is forbidden: minimum memory usage per Container is 64Mi, but request is 32Mi'
    message = await refused(registry, "pods", pod("greedy", containers=[
        container(requests={"memory": "64Mi", "cpu": "500m"}, limits={"cpu": "3"})]))
    assert message == ('pods "greedy" is forbidden: [maximum cpu usage per Container is 2, but limit is 3, '
                       "cpu max limit to request ratio per Container is 2, but provided ratio is 6.000000]")
    await create(registry, "pods", pod("fine", containers=[container(requests={"memory": "64Mi", "cpu": "1"},
                                                                    limits={"cpu": "2"})]))


async def test_limitranger_pod_and_claim_limits(registry):
    registry.admission.append(LimitRanger())
    await limit_range(registry, {"type": "Pod", "max": {"cpu": "1"}},
                      {"type": "PersistentVolumeClaim", "max": {"storage": "1Gi"}})
    two = [container("a", limits={"cpu": "600m"}), container("b", limits={"cpu": "600m"})]
    assert await refused(registry, "pods", pod("pair", containers=two)) == \
        'pods "pair" is forbidden: maximum cpu usage per Pod is 1, but limit is 1200m'
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "default"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}}
    assert await refused(registry, "persistentvolumeclaims", claim) == \
        'persistentvolumeclaims "data" is forbidden: maximum storage usage per PersistentVolumeClaim is 1Gi, ' \
        "but request is 2Gi"


# --- ResourceQuota ---


async def quota(registry: Registry, hard: dict, name: str = "q", **spec) -> None:
    await create(registry, "resourcequotas", {"apiVersion": "v1", "kind": "ResourceQuota",
                                              "metadata": {"name": name, "namespace": "default"},
                                              "spec": {"hard": hard, **spec}})


async def test_quota_counts_services_and_node_ports(registry):
    registry.admission.append(ResourceQuotaAdmission())
    await quota(registry, {"services.nodeports": "1", "services": "2"})  # `kubernetes` is one already
    def service(name: str, kind: str) -> dict:  # fresh each time: the registry fills in what it allocates
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
                "spec": {"type": kind, "selector": {"a": "b"}, "ports": [{"name": "a", "port": 80},
                                                                          {"name": "b", "port": 81}]}}

    assert await refused(registry, "services", service("np", "NodePort")) == (
        'services "np" is forbidden: exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=0, '
        "limited: services.nodeports=1")
    await create(registry, "services", service("np", "ClusterIP"))
    assert await refused(registry, "services", service("other", "ClusterIP")) == (
        'services "other" is forbidden: exceeded quota: q, requested: services=1, used: services=2, limited: services=2')


async def test_quota_dry_run_reserves_nothing(registry):
    registry.admission.append(ResourceQuotaAdmission())
    await quota(registry, {"count/secrets": "1"})
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1", "namespace": "default"}}
    await create(registry, "secrets", secret, dry_run=True)
    await create(registry, "secrets", secret)
    message = await refused(registry, "secrets", {**secret, "metadata": {"name": "s2", "namespace": "default"}})
    assert message.endswith("exceeded quota: q, requested: count/secrets=1, used: count/secrets=1, "
                            "limited: count/secrets=1")


async def test_quota_scopes_and_finished_pods(registry):
    registry.admission.append(ResourceQuotaAdmission())
    await quota(registry, {"pods": "1"}, scopes=["BestEffort"])
    await create(registry, "pods", pod("best-effort"))
    # Not best effort: out of the quota's scope.
    await create(registry, "pods", pod("burstable", containers=[container(requests={"cpu": "100m"})]))
    assert await refused(registry, "pods", pod("another")) == (
        'pods "another" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1')
    pods = registry.store("", "v1", "pods")
    done = await pods.get_object("default", "best-effort")
    done["status"]["phase"] = "Succeeded"
    await pods.update("default", "best-effort", done, Context(), subresource="status")
    await create(registry, "pods", pod("another"))  # a finished pod uses no quota


async def test_generated_names_appear_in_messages(registry):
    registry.admission.extend([NamespaceLifecycle(), ResourceQuotaAdmission()])
    await quota(registry, {"count/configmaps": "0"})
    message = await refused(registry, "configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                     "metadata": {"generateName": "cfg-", "namespace": "default"}})
    assert message.startswith('configmaps "cfg-') and "exceeded quota: q, requested: count/configmaps=1" in message
