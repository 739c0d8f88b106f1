"""Endpoints and EndpointSlices follow a Service's pods: readiness, named ports, selector-less Services."""

from __future__ import annotations

from minik.client.interface import resource
from minik.controllers.endpoints import EndpointsController
from minik.controllers.endpointslice import EndpointSliceController

PODS = resource("pods")
SERVICES = resource("services")
ENDPOINTS = resource("endpoints")
SLICES = resource("endpointslices", "discovery.k8s.io")
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"


def web_service(**spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default", "labels": {"tier": "front"}},
            "spec": {"selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"},
                               {"name": "metrics", "port": 9090, "targetPort": 9090}], **spec}}


async def running_pod(cluster, name: str, ip: str, *, ready: bool, http_port: int = 8080) -> None:
    """A pod labelled app=web, bound to node n1, Running with `ip` (what a kubelet would report)."""
    client = cluster.client
    await client.create(PODS, {"apiVersion": "v1", "kind": "Pod",
                               "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "c", "image": "nginx:1",
                                                        "ports": [{"name": "http", "containerPort": http_port}]}]}},
                        "default")
    await client.create(PODS, {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                               "target": {"kind": "Node", "name": "n1"}}, "default", subresource="binding", name=name)
    await set_ready(cluster, name, ip, ready)


async def set_ready(cluster, name: str, ip: str, ready: bool) -> None:
    status = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
              "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                              "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    await cluster.client.patch(PODS, name, {"status": status}, "default", subresource="status")


async def endpoints(cluster, name: str = "web") -> dict | None:
    return await cluster.get("endpoints", name)


def addresses(subset: dict, field: str = "addresses") -> list[str]:
    return [a["ip"] for a in subset.get(field) or []]


def ports(subset: dict) -> dict:
    return {p.get("name"): p["port"] for p in subset.get("ports") or []}


async def test_endpoints_follow_readiness_and_named_ports(cluster):
    cluster.start(EndpointsController)
    await cluster.client.create(SERVICES, web_service(), "default")
    await running_pod(cluster, "a", "10.42.0.5", ready=True, http_port=8080)
    await running_pod(cluster, "b", "10.42.0.6", ready=False, http_port=8081)

    async def three_subsets():
        ep = await endpoints(cluster)
        return ep if ep and len(ep.get("subsets") or []) == 3 else None

    # RepackSubsets: one subset per distinct set of addresses. The named targetPort "http" resolves per
    # pod (8080 on a, 8081 on b); the numeric one (9090) is served by both.
    ep = await cluster.eventually(three_subsets)
    by_ports = {tuple(sorted(ports(s).items())): s for s in ep["subsets"]}
    only_a, shared, only_b = by_ports[(("http", 8080),)], by_ports[(("metrics", 9090),)], by_ports[(("http", 8081),)]
    assert addresses(only_a) == ["10.42.0.5"] and "notReadyAddresses" not in only_a
    assert addresses(only_b, "notReadyAddresses") == ["10.42.0.6"] and "addresses" not in only_b
    assert addresses(shared) == ["10.42.0.5"] and addresses(shared, "notReadyAddresses") == ["10.42.0.6"]
    ready_address = only_a["addresses"][0]
    assert ready_address["nodeName"] == "n1"
    assert ready_address["targetRef"]["kind"] == "Pod" and ready_address["targetRef"]["name"] == "a"
    assert ep["metadata"]["labels"] == {"tier": "front"}
    assert ep["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"]

    await set_ready(cluster, "b", "10.42.0.6", True)

    async def b_ready():
        ep = await endpoints(cluster)
        return all(not s.get("notReadyAddresses") for s in ep.get("subsets") or []) and \
            sorted(ip for s in ep["subsets"] for ip in addresses(s)) == ["10.42.0.5", "10.42.0.5", "10.42.0.6", "10.42.0.6"]

    await cluster.eventually(b_ready)
    await cluster.client.delete(PODS, "a", "default", grace_period_seconds=0)

    async def only_b():
        ep = await endpoints(cluster)
        return [ip for s in ep.get("subsets") or [] for ip in addresses(s)] == ["10.42.0.6"] and \
            [ports(s) for s in ep["subsets"]] == [{"http": 8081, "metrics": 9090}]

    await cluster.eventually(only_b)
    await cluster.client.delete(SERVICES, "web", "default")
    await cluster.eventually(lambda: _gone(cluster), message="Endpoints of a deleted Service are deleted")


async def _gone(cluster):
    return await endpoints(cluster) is None


async def test_publish_not_ready_addresses(cluster):
    cluster.start(EndpointsController)
    await cluster.client.create(SERVICES, web_service(publishNotReadyAddresses=True), "default")
    await running_pod(cluster, "a", "10.42.0.5", ready=False)

    async def published():
        ep = await endpoints(cluster)
        return ep and [ip for s in ep.get("subsets") or [] for ip in addresses(s)] == ["10.42.0.5"]

    await cluster.eventually(published)


async def test_services_without_selector_are_left_alone(cluster):
    cluster.start(EndpointsController)
    manual = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual", "namespace": "default"},
              "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 5432}]}]}
    await cluster.client.create(SERVICES, {"apiVersion": "v1", "kind": "Service",
                                           "metadata": {"name": "manual", "namespace": "default"},
                                           "spec": {"ports": [{"port": 5432}]}}, "default")
    written = await cluster.client.create(ENDPOINTS, manual, "default")
    # A Service with a selector proves the controller is working meanwhile.
    await cluster.client.create(SERVICES, web_service(), "default")
    await running_pod(cluster, "a", "10.42.0.5", ready=True)
    await cluster.eventually(lambda: endpoints(cluster))
    kept = await endpoints(cluster, "manual")
    assert kept["metadata"]["resourceVersion"] == written["metadata"]["resourceVersion"]
    apiserver = await endpoints(cluster, "kubernetes")
    assert apiserver["metadata"]["labels"] == {"endpointslice.kubernetes.io/skip-mirror": "true"}


async def test_endpointslices_follow_pods(cluster):
    cluster.start(EndpointSliceController)
    service = await cluster.client.create(SERVICES, web_service(), "default")
    await running_pod(cluster, "a", "10.42.0.5", ready=True, http_port=8080)
    await running_pod(cluster, "b", "10.42.0.6", ready=False, http_port=8081)

    async def web_slices(count: int):
        items = await cluster.list("endpointslices", group="discovery.k8s.io",
                                   label_selector="kubernetes.io/service-name=web")
        return items if len(items) == count and all(s.get("endpoints") for s in items) else None

    slices = await cluster.eventually(lambda: web_slices(2))
    by_pod = {s["endpoints"][0]["targetRef"]["name"]: s for s in slices}
    for pod_name, http_port in (("a", 8080), ("b", 8081)):
        slice_ = by_pod[pod_name]
        assert slice_["metadata"]["labels"][MANAGED_BY] == "endpointslice-controller.k8s.io"
        assert slice_["metadata"]["labels"]["tier"] == "front"
        assert slice_["metadata"]["name"].startswith("web-")
        assert slice_["metadata"]["ownerReferences"][0]["uid"] == service["metadata"]["uid"]
        assert slice_["addressType"] == "IPv4"
        assert {p["name"]: p["port"] for p in slice_["ports"]} == {"http": http_port, "metrics": 9090}
    assert by_pod["a"]["endpoints"][0]["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert by_pod["b"]["endpoints"][0]["conditions"] == {"ready": False, "serving": False, "terminating": False}
    assert by_pod["a"]["endpoints"][0]["addresses"] == ["10.42.0.5"]
    assert by_pod["a"]["endpoints"][0]["nodeName"] == "n1"

    await set_ready(cluster, "b", "10.42.0.6", True)

    async def b_ready():
        items = await web_slices(2)
        return items and all(s["endpoints"][0]["conditions"]["ready"] for s in items)

    await cluster.eventually(b_ready)
    await cluster.client.delete(PODS, "a", "default", grace_period_seconds=0)
    await cluster.client.delete(PODS, "b", "default", grace_period_seconds=0)

    async def placeholder():
        items = await cluster.list("endpointslices", group="discovery.k8s.io",
                                   label_selector="kubernetes.io/service-name=web")
        return len(items) == 1 and items[0]["endpoints"] == [] and items[0]["ports"] == []

    await cluster.eventually(placeholder)


async def test_apiserver_endpointslice(cluster):
    cluster.start(EndpointSliceController)

    async def mirrored():
        return await cluster.get("endpointslices", "kubernetes", group="discovery.k8s.io")

    slice_ = await cluster.eventually(mirrored)
    apiserver = await endpoints(cluster, "kubernetes")
    assert slice_["metadata"]["labels"] == {"kubernetes.io/service-name": "kubernetes"}
    assert slice_["ports"] == [{"name": "https", "port": apiserver["subsets"][0]["ports"][0]["port"], "protocol": "TCP"}]
    assert slice_["endpoints"] == [{"addresses": [apiserver["subsets"][0]["addresses"][0]["ip"]],
                                    "conditions": {"ready": True}}]
