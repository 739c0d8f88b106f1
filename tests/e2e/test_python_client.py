"""The official Python client (`kubernetes` package) against a real `minik server` process.

Configured only from the kubeconfig the server writes, as a user would (`load_kube_config`). Sync code in
sync tests: the client is blocking. Every test works in its own namespace on the module's server; the
410 test has a server of its own with a short history (`--compact-keep-revisions 10`).
"""

from __future__ import annotations

import json
import time

import pytest
from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException

from tests.e2e.conftest import MinikServer, start_minik, stop_minik

pytestmark = pytest.mark.slow


def api_client_for(server: MinikServer) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=configuration)
    assert configuration.host == server.url
    return client.ApiClient(configuration)


@pytest.fixture(scope="module")
def api_client(minik_server):
    api = api_client_for(minik_server)
    yield api
    api.close()


def deployment(name: str, *, replicas: int = 2, containers: list[dict] | None = None) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": containers or [{"name": "nginx", "image": "nginx:1.25"}]}}},
    }


def configmap(name: str, labels: dict | None = None, data: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}},
            "data": data or {"k": name}}


def status_of(exc: ApiException) -> dict:
    return json.loads(exc.body) if exc.body else {}


# --- list ---


def test_list_with_selectors_and_pagination(api_client, namespace):
    core = client.CoreV1Api(api_client)
    for i in range(5):
        core.create_namespaced_config_map(namespace, configmap(f"cm{i}", {"parity": "even" if i % 2 == 0 else "odd"}))
    listed = core.list_namespaced_config_map(namespace)
    assert isinstance(listed, client.V1ConfigMapList)
    assert sorted(c.metadata.name for c in listed.items if c.metadata.name.startswith("cm")) == \
        [f"cm{i}" for i in range(5)]
    assert int(listed.metadata.resource_version) > 0
    even = core.list_namespaced_config_map(namespace, label_selector="parity=even")
    assert [c.metadata.name for c in even.items] == ["cm0", "cm2", "cm4"]
    by_name = core.list_namespaced_config_map(namespace, field_selector="metadata.name=cm3")
    assert [c.metadata.name for c in by_name.items] == ["cm3"] and by_name.items[0].data == {"k": "cm3"}

    names, token, pages = [], None, 0
    while pages < 10:
        page = core.list_namespaced_config_map(namespace, label_selector="parity", limit=2, _continue=token)
        names += [c.metadata.name for c in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
    assert names == [f"cm{i}" for i in range(5)] and pages == 3

    everywhere = core.list_config_map_for_all_namespaces(label_selector="parity=odd")
    assert {(c.metadata.namespace, c.metadata.name) for c in everywhere.items} == \
        {(namespace, "cm1"), (namespace, "cm3")}
    assert {"default", "kube-system", namespace} <= {n.metadata.name for n in core.list_namespace().items}


# --- watch ---


def collect(stream_watch: watch.Watch, func, *, until=None, **kwargs) -> list[tuple[str, str, str]]:
    """(type, name, resourceVersion) of the events of one watch call, bounded by its timeout_seconds."""
    events = []
    for event in stream_watch.stream(func, **kwargs):
        obj = event["object"]
        events.append((event["type"], obj.metadata.name, obj.metadata.resource_version))
        if until and until(event):
            stream_watch.stop()
    return events


def test_watch_then_resume_from_last_resource_version(api_client, namespace):
    core = client.CoreV1Api(api_client)
    mine = {"e2e": "watch"}  # the watches select our objects only (a controller may add others)
    start = core.list_namespaced_config_map(namespace, label_selector="e2e=watch").metadata.resource_version
    core.create_namespaced_config_map(namespace, configmap("first", mine))
    core.patch_namespaced_config_map("first", namespace, {"data": {"k": "changed"}})
    core.delete_namespaced_config_map("first", namespace)

    events = collect(watch.Watch(), core.list_namespaced_config_map, namespace=namespace, resource_version=start,
                     label_selector="e2e=watch", timeout_seconds=10, until=lambda e: e["type"] == "DELETED")
    assert [(kind, name) for kind, name, _ in events] == [("ADDED", "first"), ("MODIFIED", "first"),
                                                          ("DELETED", "first")]
    versions = [int(rv) for _, _, rv in events]
    assert int(start) < versions[0] < versions[1] < versions[2]

    last = events[-1][2]
    core.create_namespaced_config_map(namespace, configmap("second", mine))
    resumed = collect(watch.Watch(), core.list_namespaced_config_map, namespace=namespace, resource_version=last,
                      label_selector="e2e=watch", timeout_seconds=2)  # the server ends it after 2 s
    assert [(kind, name) for kind, name, _ in resumed] == [("ADDED", "second")]  # nothing from before `last`
    assert int(resumed[0][2]) > int(last)


@pytest.fixture(scope="module")
def small_history_server(tmp_path_factory):
    """A server of its own that keeps only 10 revisions: old resourceVersions get compacted away soon."""
    server = start_minik(tmp_path_factory.mktemp("minik-small-history"), "--compact-keep-revisions", "10")
    yield server
    stop_minik(server)


def test_watch_from_compacted_resource_version_is_410_expired(small_history_server):
    api = api_client_for(small_history_server)
    try:
        core = client.CoreV1Api(api)
        core.create_namespaced_config_map("default", configmap("churn"))
        for i in range(40):  # well past 2 × 10 revisions: the compactor runs on that much growth
            core.patch_namespaced_config_map("churn", "default", {"data": {"k": str(i)}})
        deadline = time.monotonic() + 20
        expired = None
        while expired is None and time.monotonic() < deadline:
            try:
                collect(watch.Watch(), core.list_namespaced_config_map, namespace="default", resource_version="1",
                        timeout_seconds=1)
            except ApiException as exc:
                expired = exc
                break
            core.patch_namespaced_config_map("churn", "default", {"data": {"k": str(time.monotonic())}})
        assert expired is not None, "a watch from resourceVersion=1 never failed after 40+ writes"
        assert expired.status == 410, expired
        reason = f"{expired.reason} {expired.body or ''}"
        assert "Expired" in reason or "Gone" in reason, reason
        assert "too old resource version" in reason, reason

        # A current resourceVersion is still fine: the watch opens and reports what follows.
        current = core.list_namespaced_config_map("default").metadata.resource_version
        core.patch_namespaced_config_map("churn", "default", {"data": {"k": "final"}})
        events = collect(watch.Watch(), core.list_namespaced_config_map, namespace="default",
                         resource_version=current, timeout_seconds=5, until=lambda e: e["type"] == "MODIFIED")
        assert [(kind, name) for kind, name, _ in events] == [("MODIFIED", "churn")]
    finally:
        api.close()


# --- deployments: create, patch (three ways), scale, delete ---


def test_deployment_create_patch_delete(api_client, namespace):
    apps = client.AppsV1Api(api_client)
    containers = [{"name": "nginx", "image": "nginx:1.25"}, {"name": "side", "image": "busybox:1.36"}]
    created = apps.create_namespaced_deployment(namespace, deployment("pydep", containers=containers))
    assert isinstance(created, client.V1Deployment)
    assert created.metadata.uid and created.metadata.generation == 1 and created.spec.replicas == 2
    assert created.spec.strategy.type == "RollingUpdate"  # defaulted by the server

    def images(dep) -> list[tuple[str, str]]:
        return [(c.name, c.image) for c in dep.spec.template.spec.containers]

    # a dict body goes out as a strategic merge patch: containers merge by name
    patched = apps.patch_namespaced_deployment(
        "pydep", namespace, {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}})
    assert images(patched) == [("nginx", "nginx:1.27"), ("side", "busybox:1.36")]
    assert patched.metadata.generation == 2

    patched = apps.patch_namespaced_deployment(
        "pydep", namespace, {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "busybox:1.36"}]}}}},
        _content_type="application/merge-patch+json")
    assert images(patched) == [("only", "busybox:1.36")]  # JSON merge patch replaces the list

    patched = apps.patch_namespaced_deployment(
        "pydep", namespace, [{"op": "replace", "path": "/spec/replicas", "value": 3},
                             {"op": "add", "path": "/metadata/labels/patched", "value": "json"}])
    assert patched.spec.replicas == 3 and patched.metadata.labels == {"app": "pydep", "patched": "json"}

    scale = apps.patch_namespaced_deployment_scale("pydep", namespace, {"spec": {"replicas": 1}})
    assert isinstance(scale, client.V1Scale) and scale.spec.replicas == 1
    assert apps.read_namespaced_deployment("pydep", namespace).spec.replicas == 1

    with pytest.raises(ApiException) as invalid:
        apps.patch_namespaced_deployment("pydep", namespace, {"spec": {"replicas": -1}},
                                         _content_type="application/merge-patch+json")
    assert invalid.value.status == 422 and status_of(invalid.value)["reason"] == "Invalid"

    deleted = apps.delete_namespaced_deployment("pydep", namespace)
    # a Status, not the object: nothing (no finalizer) keeps it
    assert deleted["kind"] == "Status" and deleted["status"] == "Success", deleted
    assert deleted["details"]["name"] == "pydep" and deleted["details"]["uid"] == created.metadata.uid, deleted
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment("pydep", namespace)
    assert missing.value.status == 404
    body = status_of(missing.value)
    assert body["kind"] == "Status" and body["reason"] == "NotFound"
    assert body["message"] == 'deployments.apps "pydep" not found'


def test_server_side_apply(api_client, namespace):
    apps = client.AppsV1Api(api_client)
    apply = "application/apply-patch+yaml"

    def managers(dep) -> list[tuple[str, str]]:
        """Who applied to the main resource (a deployment controller's Updates, where one runs, left out)."""
        return sorted((m.manager, m.operation) for m in dep.metadata.managed_fields
                      if not m.subresource and m.operation == "Apply")

    applied = apps.patch_namespaced_deployment("ssa", namespace, deployment("ssa"), field_manager="py-ssa",
                                               _content_type=apply)  # creates it
    assert applied.spec.replicas == 2 and applied.metadata.generation == 1
    assert managers(applied) == [("py-ssa", "Apply")]

    with pytest.raises(ApiException) as conflict:
        apps.patch_namespaced_deployment("ssa", namespace, deployment("ssa", replicas=5), field_manager="py-other",
                                         _content_type=apply)
    assert conflict.value.status == 409
    body = status_of(conflict.value)
    assert body["reason"] == "Conflict" and ".spec.replicas" in body["message"] and "py-ssa" in body["message"]
    assert apps.read_namespaced_deployment("ssa", namespace).spec.replicas == 2

    forced = apps.patch_namespaced_deployment("ssa", namespace, deployment("ssa", replicas=5),
                                              field_manager="py-other", force=True, _content_type=apply)
    assert forced.spec.replicas == 5
    assert managers(forced) == [("py-other", "Apply"), ("py-ssa", "Apply")]

    # dropping a field this manager applied before (the label `tier`) removes it: it was its only owner
    labels = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "ssa", "labels": {"app": "ssa", "tier": "web"}}}
    labelled = apps.patch_namespaced_deployment("ssa", namespace, labels, field_manager="py-labels",
                                                _content_type=apply)
    assert labelled.metadata.labels == {"app": "ssa", "tier": "web"}
    del labels["metadata"]["labels"]
    unlabelled = apps.patch_namespaced_deployment("ssa", namespace, labels, field_manager="py-labels",
                                                  _content_type=apply)
    assert unlabelled.metadata.labels == {"app": "ssa"}  # `app` stays: py-ssa and py-other own it too
    assert unlabelled.spec.replicas == 5


# --- the dynamic client ---


def test_dynamic_client_deployments_and_configmaps(api_client, namespace, tmp_path):
    dyn = dynamic.DynamicClient(api_client, cache_file=str(tmp_path / "discovery.json"))
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deployments.name == "deployments" and deployments.namespaced
    created = deployments.create(body=deployment("dyn"), namespace=namespace)
    assert created.kind == "Deployment" and created.metadata.name == "dyn" and created.metadata.uid
    got = deployments.get(name="dyn", namespace=namespace)
    assert got.spec.replicas == 2 and got.metadata.uid == created.metadata.uid
    listed = deployments.get(namespace=namespace)
    assert listed.kind == "DeploymentList" and [d.metadata.name for d in listed.items] == ["dyn"]

    configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    assert configmaps.name == "configmaps" and configmaps.namespaced
    cm = configmaps.create(body=configmap("dyncm", {"via": "dynamic"}, {"a": "1"}), namespace=namespace)
    assert cm.data.a == "1"
    assert configmaps.get(name="dyncm", namespace=namespace).data.to_dict() == {"a": "1"}
    selected = configmaps.get(namespace=namespace, label_selector="via=dynamic")
    assert [c.metadata.name for c in selected.items] == ["dyncm"]
    patched = configmaps.patch(name="dyncm", namespace=namespace, body={"data": {"a": "2"}},
                               content_type="application/merge-patch+json")
    assert patched.data.a == "2"
    with pytest.raises(dynamic.exceptions.NotFoundError):
        configmaps.get(name="absent", namespace=namespace)

    namespaces = dyn.resources.get(api_version="v1", kind="Namespace")
    assert not namespaces.namespaced
    assert namespace in [n.metadata.name for n in namespaces.get().items]
