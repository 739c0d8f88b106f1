"""The EndpointSlice controller: discovery.k8s.io/v1 EndpointSlices for every Service with a selector.

Part of the controllers layer (kube-controller-manager's pkg/controller/endpointslice and the
staging/src/k8s.io/endpointslice reconciler). Informers on Services, Pods, Nodes and EndpointSlices
enqueue the Services concerned; a reconcile computes each selected pod's endpoint (address, conditions
ready/serving/terminating, nodeName, zone from the node's `topology.kubernetes.io/zone`, Pod targetRef,
hostname) and its ports (named targetPorts resolved per pod), groups pods by their resolved port list,
and makes the Service's managed slices match: one slice per port list, created with generateName
`<service>-`, a controller ownerReference to the Service (so the garbage collector removes them with it),
the Service's labels plus `kubernetes.io/service-name` and
`endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`, and the
`endpoints.kubernetes.io/last-change-trigger-time` annotation. A Service selecting nothing keeps one empty
placeholder slice, as Kubernetes does. Terminating pods stay in slices with terminating=true (ready only
with publishNotReadyAddresses).

Not done: Kubernetes caps slices at 100 endpoints (maxEndpointsPerSlice) and packs them; here all
endpoints with the same ports share one slice however many there are. Topology hints are not computed.

The API server's own `kubernetes` Service has no selector; Kubernetes' API server writes its
EndpointSlice next to its Endpoints (the Endpoints carry `endpointslice.kubernetes.io/skip-mirror`). minik's
API server writes only the Endpoints, so this controller writes that slice, exactly as the API server's
EndpointsAdapter would: named `kubernetes`, labelled only `kubernetes.io/service-name: kubernetes`.
"""

from __future__ import annotations

import logging

import orjson

from ..api.meta import json_copy, key_of, split_key
from ..api.errors import APIError
from ..client.interface import is_already_exists, is_conflict, is_not_found, resource
from .base import Controller
from .endpoints import (
    ENDPOINTS,
    HEADLESS_LABEL,
    LAST_CHANGE_TRIGGER_TIME,
    PODS,
    SERVICES,
    TriggerTimeTracker,
    find_port,
    is_service_ip_set,
    pod_handlers,
    selects,
    service_selector,
    should_pod_be_in_endpoints,
    should_set_hostname,
    target_ref,
)
from .podutil import is_pod_ready

log = logging.getLogger(__name__)

ENDPOINTSLICES = resource("endpointslices", "discovery.k8s.io")
NODES = resource("nodes")

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
ZONE_LABEL = "topology.kubernetes.io/zone"
SERVICE_INDEX = "service"
APISERVER_SERVICE = "default/kubernetes"


def managed_service_index(slice_: dict) -> list[str]:
    labels = (slice_.get("metadata") or {}).get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != CONTROLLER_NAME or not labels.get(SERVICE_NAME_LABEL):
        return []
    return [f"{slice_['metadata'].get('namespace', '')}/{labels[SERVICE_NAME_LABEL]}"]


def address_type(service: dict) -> str:
    families = (service.get("spec") or {}).get("ipFamilies") or ["IPv4"]
    return "IPv6" if families[0] == "IPv6" else "IPv4"


def pod_addresses(pod: dict, family: str) -> list[str]:
    status = pod.get("status") or {}
    ips = [entry.get("ip", "") for entry in status.get("podIPs") or []] or [status.get("podIP", "")]
    return [ip for ip in ips if ip and ((":" in ip) == (family == "IPv6"))][:1]


def endpoint_ports(service: dict, pod: dict) -> list[dict]:
    """getEndpointPorts: every Service port this pod serves, with its resolved number."""
    ports = []
    for service_port in (service.get("spec") or {}).get("ports") or []:
        number = find_port(pod, service_port)
        if number is None:
            continue
        port = {"name": service_port.get("name", ""), "port": number, "protocol": service_port.get("protocol") or "TCP"}
        if service_port.get("appProtocol"):
            port["appProtocol"] = service_port["appProtocol"]
        ports.append(port)
    return ports


def pod_to_endpoint(pod: dict, service: dict, *, node: dict | None, addresses: list[str]) -> dict:
    serving = is_pod_ready(pod)
    terminating = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    # "ready" is never true for a terminating pod unless the Service publishes not-ready addresses.
    ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses")) or (serving and not terminating)
    endpoint = {"addresses": addresses,
                "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
                "targetRef": target_ref(pod)}
    node_name = (pod.get("spec") or {}).get("nodeName")
    if node_name:
        endpoint["nodeName"] = node_name
    zone = ((node or {}).get("metadata", {}).get("labels") or {}).get(ZONE_LABEL)
    if zone:
        endpoint["zone"] = zone
    if should_set_hostname(pod, service):
        endpoint["hostname"] = pod["spec"]["hostname"]
    return endpoint


def _ports_key(ports: list[dict]) -> bytes:
    return orjson.dumps(sorted(ports, key=lambda p: (p.get("name", ""), p.get("port", 0), p.get("protocol", ""))),
                        option=orjson.OPT_SORT_KEYS)


def _endpoint_sort_key(endpoint: dict) -> tuple:
    return ((endpoint.get("targetRef") or {}).get("name", ""), endpoint.get("addresses") or [])


def slice_labels(service: dict) -> dict:
    """setEndpointSliceLabels: the Service's labels (not the reserved ones), headless, service name, manager."""
    labels = {k: v for k, v in (service["metadata"].get("labels") or {}).items()
              if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL)}
    if is_service_ip_set(service):
        labels.pop(HEADLESS_LABEL, None)
    else:
        labels[HEADLESS_LABEL] = ""
    labels[SERVICE_NAME_LABEL] = service["metadata"]["name"]
    labels[MANAGED_BY_LABEL] = CONTROLLER_NAME
    return labels


def new_slice(service: dict, ports: list[dict], family: str) -> dict:
    meta = service["metadata"]
    prefix = f"{meta['name']}-" if len(meta["name"]) < 253 else meta["name"]
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"generateName": prefix, "namespace": meta["namespace"], "labels": slice_labels(service),
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": meta["name"],
                                          "uid": meta.get("uid", ""), "controller": True,
                                          "blockOwnerDeletion": True}]},
        "addressType": family, "endpoints": [], "ports": ports,
    }


def apiserver_slice(endpoints: dict) -> dict:
    """endpointSliceFromEndpoints (pkg/controlplane/reconcilers/endpointsadapter.go)."""
    meta = endpoints["metadata"]
    subsets = endpoints.get("subsets") or []
    slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
              "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                           "labels": {SERVICE_NAME_LABEL: meta["name"]}},
              "addressType": "IPv4", "endpoints": [], "ports": []}
    if subsets:
        subset = subsets[0]
        slice_["ports"] = [{"name": p.get("name", ""), "port": p.get("port"), "protocol": p.get("protocol", "TCP")}
                           for p in subset.get("ports") or []]
        for field, ready in (("addresses", True), ("notReadyAddresses", False)):
            for address in subset.get(field) or []:
                endpoint = {"addresses": [address.get("ip", "")], "conditions": {"ready": ready}}
                for source, target in (("targetRef", "targetRef"), ("nodeName", "nodeName"), ("hostname", "hostname")):
                    if address.get(source):
                        endpoint[target] = address[source]
                slice_["endpoints"].append(endpoint)
    return slice_


class EndpointSliceController(Controller):
    name = "endpointslice"
    workers = 2

    def setup(self) -> None:
        self.services = self.informer(SERVICES)
        self.pods = self.informer(PODS)
        self.nodes = self.informer(NODES)
        self.endpoints = self.informer(ENDPOINTS)
        self.slices = self.informer(ENDPOINTSLICES, indexers={SERVICE_INDEX: managed_service_index})
        self.triggers = TriggerTimeTracker()
        # names of slices written per Service → resourceVersion expected in the cache (None: deleted)
        self._expected: dict[str, dict[str, int | None]] = {}
        self.services.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self._service_deleted)
        self.pods.add_handler(*pod_handlers(self, self.services))
        self.slices.add_handler(self._slice_changed, lambda old, new: self._slice_changed(new), self._slice_changed)
        self.endpoints.add_handler(self._endpoints_changed, lambda old, new: self._endpoints_changed(new),
                                   self._endpoints_changed)

    def _service_deleted(self, service: dict) -> None:
        self.triggers.forget(key_of(service))
        self._expected.pop(key_of(service), None)

    def _slice_changed(self, slice_: dict) -> None:
        for key in managed_service_index(slice_):
            self.queue.add(key)
        if key_of(slice_) == APISERVER_SERVICE:
            self.queue.add(APISERVER_SERVICE)

    def _endpoints_changed(self, endpoints: dict) -> None:
        if key_of(endpoints) == APISERVER_SERVICE:
            self.queue.add(APISERVER_SERVICE)

    # --- reconcile ---

    async def reconcile(self, key: str) -> None:
        service = self.services.get(key)
        if service is None:
            return  # its slices are the garbage collector's (they are owned by the Service)
        if (service.get("spec") or {}).get("type") == "ExternalName":
            return
        selector = service_selector(service)
        if selector is None:
            if key == APISERVER_SERVICE:
                await self._mirror_apiserver_endpoints()
            return
        if self._stale(key):
            return  # our last writes are not in the cache yet; their events requeue this Service
        namespace, _ = split_key(key)
        pods = [p for p in self.pods.indexer.by_index("namespace", namespace) if selects(selector, p)]
        trigger = self.triggers.compute(key, service, pods)
        desired = self._desired(service, pods)
        existing = sorted(self.slices.indexer.by_index(SERVICE_INDEX, key), key=lambda s: s["metadata"]["name"])
        await self._apply(key, service, desired=desired, existing=existing, trigger=trigger)

    def _desired(self, service: dict, pods: list[dict]) -> dict[bytes, tuple[list[dict], list[dict]]]:
        """Port list → (ports, endpoints) for the pods that belong in the Service's slices."""
        family = address_type(service)
        groups: dict[bytes, tuple[list[dict], list[dict]]] = {}
        for pod in pods:
            if not should_pod_be_in_endpoints(pod, True):
                continue
            addresses = pod_addresses(pod, family)
            if not addresses:
                continue
            ports = endpoint_ports(service, pod)
            node = self.nodes.get((pod.get("spec") or {}).get("nodeName") or "")
            group = groups.setdefault(_ports_key(ports), (ports, []))
            group[1].append(pod_to_endpoint(pod, service, node=node, addresses=addresses))
        for _, endpoints in groups.values():
            endpoints.sort(key=_endpoint_sort_key)
        return groups

    async def _apply(self, key: str, service: dict, *, desired: dict, existing: list[dict], trigger: str) -> None:
        family = address_type(service)
        by_ports: dict[bytes, dict] = {}
        unused: list[dict] = []
        for slice_ in existing:
            ports_key = _ports_key(slice_.get("ports") or [])
            if ports_key in desired and ports_key not in by_ports and slice_.get("addressType") == family:
                by_ports[ports_key] = slice_
            else:
                unused.append(slice_)
        if not desired:
            # An empty placeholder slice stands for a Service that selects nothing (yet).
            placeholder = _ports_key([])
            keep = next((s for s in unused if not s.get("endpoints") and _ports_key(s.get("ports") or []) == placeholder
                         and s.get("addressType") == family), None)
            if keep is not None:
                unused.remove(keep)
                by_ports[placeholder] = keep
            desired = {placeholder: ([], [])}
        written: dict[str, int | None] = {}
        for ports_key, (ports, endpoints) in desired.items():
            current = by_ports.get(ports_key)
            wanted = self._wanted(service, current, ports=ports, endpoints=endpoints, family=family, trigger=trigger)
            if wanted is None:
                continue
            stored = await self._write(current, wanted)
            written[stored["metadata"]["name"]] = int(stored["metadata"]["resourceVersion"])
        for slice_ in unused:
            await self._delete(slice_)
            written[slice_["metadata"]["name"]] = None
        if written:
            self._expected[key] = written

    def _wanted(self, service: dict, current: dict | None, *, ports: list[dict], endpoints: list[dict], family: str,
                trigger: str) -> dict | None:
        if current is None:
            wanted = new_slice(service, ports, family)
        else:
            if (current.get("endpoints") or []) == endpoints and (current["metadata"].get("labels") or {}) == slice_labels(service) \
                    and current.get("ports") == ports:
                return None
            wanted = json_copy(current)
            wanted["metadata"]["labels"] = slice_labels(service)
            wanted["ports"] = ports
        wanted["endpoints"] = json_copy(endpoints)
        if trigger:
            wanted["metadata"].setdefault("annotations", {})[LAST_CHANGE_TRIGGER_TIME] = trigger
        return wanted

    async def _write(self, current: dict | None, wanted: dict) -> dict:
        if current is None:
            return await self.client.create(ENDPOINTSLICES, wanted, wanted["metadata"]["namespace"])
        return await self.client.update(ENDPOINTSLICES, wanted)

    async def _delete(self, slice_: dict) -> None:
        meta = slice_["metadata"]
        try:
            await self.client.delete(ENDPOINTSLICES, meta["name"], meta["namespace"],
                                     preconditions={"uid": meta.get("uid", "")})
        except APIError as exc:
            if not is_not_found(exc):
                raise

    def _stale(self, key: str) -> bool:
        """endpointSliceTracker.StaleSlices: the cache does not show our last writes yet."""
        expected = self._expected.get(key)
        if not expected:
            return False
        namespace, _ = split_key(key)
        for name, version in expected.items():
            cached = self.slices.get(f"{namespace}/{name}")
            if version is None:
                if cached is not None:
                    return True
            elif cached is None or int(cached["metadata"].get("resourceVersion") or 0) < version:
                return True
        del self._expected[key]
        return False

    # --- the API server's own Service ---

    async def _mirror_apiserver_endpoints(self) -> None:
        endpoints = self.endpoints.get(APISERVER_SERVICE)
        if endpoints is None:
            return
        wanted = apiserver_slice(endpoints)
        namespace, name = split_key(APISERVER_SERVICE)
        current = self.slices.get(APISERVER_SERVICE)
        for attempt in range(2):
            try:
                if current is None:
                    await self.client.create(ENDPOINTSLICES, wanted, namespace)
                elif any(current.get(f) != wanted[f] for f in ("endpoints", "ports", "addressType")) \
                        or (current["metadata"].get("labels") or {}) != wanted["metadata"]["labels"]:
                    update = json_copy(current)
                    update.update({f: wanted[f] for f in ("endpoints", "ports", "addressType")})
                    update["metadata"]["labels"] = wanted["metadata"]["labels"]
                    await self.client.update(ENDPOINTSLICES, update)
                return
            except APIError as exc:
                if attempt or not (is_conflict(exc) or is_already_exists(exc)):
                    raise
                current = await self.client.get(ENDPOINTSLICES, name, namespace)
