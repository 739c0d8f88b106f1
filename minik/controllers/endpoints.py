"""The Endpoints controller: a Service's Endpoints object lists the pods its selector picks.

Part of the controllers layer (kube-controller-manager's pkg/controller/endpoint). Informers on Services,
Pods and Endpoints enqueue the `namespace/name` of the Services concerned; a reconcile builds the subsets
as syncService does:
- pods the selector matches, with an IP, not finished (and not terminating unless the Service
  publishNotReadyAddresses) become addresses: ready pods (or all, with publishNotReadyAddresses) in
  `addresses`, the others in `notReadyAddresses`, each with nodeName and a Pod targetRef;
- each Service port becomes an endpoint port, a named targetPort resolved per pod against its containers'
  port names (a pod without that port is left out of that port);
- subsets are repacked (one subset per distinct set of addresses), truncated at 1000 addresses with the
  `endpoints.kubernetes.io/over-capacity: truncated` annotation, labelled like the Service (plus
  `service.kubernetes.io/headless` for headless ones) and annotated with
  `endpoints.kubernetes.io/last-change-trigger-time`.
Services without a selector (the API server's own `kubernetes` Service among them) and ExternalName
Services are left alone; the Endpoints of a deleted Service are deleted, also at start for leftovers.

The pod/service helpers here are shared with the EndpointSlice controller.
"""

from __future__ import annotations

import logging
import math

from ..api.meta import json_copy, key_of, parse_time, split_key
from ..api.errors import APIError
from ..client.interface import is_already_exists, is_conflict, is_not_found, resource
from .base import Controller
from .podutil import is_pod_ready, is_terminal

log = logging.getLogger(__name__)

SERVICES = resource("services")
PODS = resource("pods")
ENDPOINTS = resource("endpoints")

LAST_CHANGE_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
HEADLESS_LABEL = "service.kubernetes.io/headless"
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"
MAX_CAPACITY = 1000


# --- helpers shared with the EndpointSlice controller ---


def service_selector(service: dict) -> dict | None:
    """spec.selector, or None when the Service has none (an empty map reads back as none in Kubernetes)."""
    selector = (service.get("spec") or {}).get("selector")
    return selector if isinstance(selector, dict) and selector else None


def selects(selector: dict, pod: dict) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def is_service_ip_set(service: dict) -> bool:
    """helper.IsServiceIPSet: a cluster IP that is neither empty nor "None" (not headless)."""
    return (service.get("spec") or {}).get("clusterIP") not in (None, "", "None")


def should_pod_be_in_endpoints(pod: dict, include_terminating: bool) -> bool:
    """endpointsliceutil.ShouldPodBeInEndpoints."""
    if is_terminal(pod):
        return False
    status = pod.get("status") or {}
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    return include_terminating or not (pod.get("metadata") or {}).get("deletionTimestamp")


def should_set_hostname(pod: dict, service: dict) -> bool:
    spec = pod.get("spec") or {}
    return bool(spec.get("hostname")) and spec.get("subdomain") == service["metadata"]["name"] \
        and pod["metadata"].get("namespace") == service["metadata"].get("namespace")


def find_port(pod: dict, service_port: dict) -> int | None:
    """podutil.FindPort: a numeric targetPort as is, a named one from the pod's container ports."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if isinstance(target, str) and target:
        protocol = service_port.get("protocol") or "TCP"
        spec = pod.get("spec") or {}
        sidecars = [c for c in spec.get("initContainers") or [] if (c or {}).get("restartPolicy") == "Always"]
        for container in (spec.get("containers") or []) + sidecars:
            for port in (container or {}).get("ports") or []:
                if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                    return port.get("containerPort")
    return None


def target_ref(pod: dict) -> dict:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta.get("namespace", ""), "name": meta["name"], "uid": meta.get("uid", "")}


def pod_ready_time(pod: dict) -> str:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("lastTransitionTime") or ""
    return ""


class TriggerTimeTracker:
    """ComputeEndpointLastChangeTriggerTime: the earliest change (a pod's Ready transition, a Service's
    creation) that the coming write of a Service's endpoints reflects."""

    def __init__(self):
        self._seen: dict[str, tuple[dict[str, str], str]] = {}

    def compute(self, key: str, service: dict, pods: list[dict]) -> str:
        seen_pods, seen_service = self._seen.get(key, ({}, ""))
        service_time = service["metadata"].get("creationTimestamp") or ""
        candidates = [service_time] if service_time and service_time != seen_service else []
        now_pods = {}
        for pod in pods:
            when = pod_ready_time(pod)
            now_pods[pod["metadata"]["name"]] = when
            if when and seen_pods.get(pod["metadata"]["name"]) != when:
                candidates.append(when)
        self._seen[key] = (now_pods, service_time)
        times = [t for t in candidates if parse_time(t) is not None]
        return min(times, key=parse_time) if times else ""

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)


def services_for_pod(services, pod: dict) -> list[dict]:
    """The Services (from an informer) in the pod's namespace whose selector picks it."""
    namespace = (pod.get("metadata") or {}).get("namespace", "")
    return [s for s in services.indexer.by_index("namespace", namespace)
            if (sel := service_selector(s)) is not None and selects(sel, pod)]


def pod_handlers(controller: Controller, services) -> tuple:
    """Pod add/update/delete → enqueue every Service that selects the pod (before or after the change)."""

    def added(pod: dict) -> None:
        for service in services_for_pod(services, pod):
            controller.enqueue(service)

    def updated(old: dict, new: dict) -> None:
        keys = {key_of(s) for s in services_for_pod(services, old) + services_for_pod(services, new)}
        for key in keys:
            controller.queue.add(key)

    return added, updated, added


# --- subsets ---


def _address_key(address: dict) -> tuple[str, str]:
    return (address.get("ip", ""), (address.get("targetRef") or {}).get("uid", ""))


def _port_key(port: dict) -> tuple:
    return (port.get("name", ""), port.get("port", 0), port.get("protocol", ""), port.get("appProtocol", ""))


def repack_subsets(entries: list[tuple[dict, bool, dict | None]]) -> list[dict]:
    """endpoints.RepackSubsets over (address, ready, port) entries: one subset per distinct address set."""
    addresses: dict[tuple, dict] = {}
    by_port: dict[tuple, dict[tuple, bool]] = {}
    ports: dict[tuple, dict | None] = {}
    for address, ready, port in entries:
        akey = _address_key(address)
        addresses.setdefault(akey, address)
        pkey = _port_key(port) if port is not None else ("", -1, "", "")
        ports[pkey] = port
        by_port.setdefault(pkey, {}).setdefault(akey, ready)
    groups: dict[tuple, list[tuple]] = {}
    for pkey, members in by_port.items():
        groups.setdefault(tuple(sorted(members.items())), []).append(pkey)
    subsets = []
    for members, pkeys in groups.items():
        subset: dict = {}
        ready = [addresses[a] for a, r in members if r]
        not_ready = [addresses[a] for a, r in members if not r]
        if ready:
            subset["addresses"] = sorted(ready, key=_address_key)
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=_address_key)
        real_ports = sorted((ports[p] for p in pkeys if ports[p] is not None), key=_port_key)
        if real_ports:
            subset["ports"] = real_ports
        subsets.append(subset)
    return sorted(subsets, key=_subset_key)


def _subset_key(subset: dict) -> tuple:
    first = (subset.get("addresses") or subset.get("notReadyAddresses") or [{}])[0]
    return (_address_key(first), [_port_key(p) for p in subset.get("ports") or []])


def truncate(subsets: list[dict]) -> bool:
    """truncateEndpoints: keep at most 1000 addresses, ready ones first, proportionally per subset."""
    ready = sum(len(s.get("addresses") or []) for s in subsets)
    not_ready = sum(len(s.get("notReadyAddresses") or []) for s in subsets)
    if ready + not_ready <= MAX_CAPACITY:
        return False
    truncate_ready = ready > MAX_CAPACITY
    limit = MAX_CAPACITY if truncate_ready else MAX_CAPACITY - ready
    total = ready if truncate_ready else not_ready
    room = limit
    for subset in subsets:
        field = "addresses" if truncate_ready else "notReadyAddresses"
        members = subset.get(field) or []
        keep = min(math.ceil(len(members) / total * limit), room)
        if members:
            subset[field] = members[:keep]
        if truncate_ready:
            subset.pop("notReadyAddresses", None)
        room -= len(subset.get(field) or [])
        if not subset.get(field):
            subset.pop(field, None)
    return True


def desired_subsets(service: dict, pods: list[dict]) -> list[dict]:
    spec = service.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    entries: list[tuple[dict, bool, dict | None]] = []
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, publish):
            continue
        address = {"ip": (pod.get("status") or {}).get("podIP") or ((pod["status"].get("podIPs") or [{}])[0]).get("ip", ""),
                   "nodeName": (pod.get("spec") or {}).get("nodeName", ""), "targetRef": target_ref(pod)}
        if should_set_hostname(pod, service):
            address["hostname"] = pod["spec"]["hostname"]
        ready = publish or is_pod_ready(pod)
        if not spec.get("ports"):
            if spec.get("clusterIP") == "None":  # headless services may have no ports
                entries.append((address, ready, None))
            continue
        for service_port in spec["ports"]:
            number = find_port(pod, service_port)
            if number is None:
                log.debug("no port %s on pod %s for service %s", service_port.get("targetPort"),
                          pod["metadata"]["name"], key_of(service))
                continue
            port = {"port": number, "protocol": service_port.get("protocol") or "TCP"}
            if service_port.get("name"):
                port["name"] = service_port["name"]
            if service_port.get("appProtocol"):
                port["appProtocol"] = service_port["appProtocol"]
            entries.append((address, ready, port))
    return repack_subsets(entries)


def _without_headless(labels: dict) -> dict:
    return {k: v for k, v in (labels or {}).items() if k != HEADLESS_LABEL}


class EndpointsController(Controller):
    name = "endpoint"
    workers = 2

    def setup(self) -> None:
        self.services = self.informer(SERVICES)
        self.pods = self.informer(PODS)
        self.endpoints = self.informer(ENDPOINTS)
        self.triggers = TriggerTimeTracker()
        self.services.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self.enqueue)
        self.pods.add_handler(*pod_handlers(self, self.services))
        self.endpoints.add_handler(on_add=self._endpoints_listed, on_delete=self.enqueue)

    def _endpoints_listed(self, endpoints: dict) -> None:
        # checkLeftoverEndpoints: what exists at start is checked once for a Service that is gone.
        if not self.endpoints.has_synced and LEADER_ANNOTATION not in (endpoints["metadata"].get("annotations") or {}):
            self.enqueue(endpoints)

    async def reconcile(self, key: str) -> None:
        service = self.services.get(key)
        namespace, name = split_key(key)
        if service is None:
            self.triggers.forget(key)
            if self.endpoints.get(key) is not None:
                try:
                    await self.client.delete(ENDPOINTS, name, namespace)
                except APIError as exc:
                    if not is_not_found(exc):
                        raise
            return
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName" or service_selector(service) is None:
            return  # no endpoints from this controller; selector-less Services get theirs out of band
        selector = service_selector(service)
        pods = [p for p in self.pods.indexer.by_index("namespace", namespace) if selects(selector, p)]
        trigger = self.triggers.compute(key, service, pods)
        subsets = desired_subsets(service, pods)
        await self._write(service, self.endpoints.get(key), subsets, trigger=trigger)

    def _wanted(self, service: dict, current: dict | None, subsets: list[dict], *, trigger: str) -> dict | None:
        """The Endpoints to write, or None when `current` already is what the Service asks for."""
        labels = dict((service["metadata"].get("labels") or {}))
        if current is not None and (current.get("subsets") or []) == subsets \
                and _without_headless((current["metadata"].get("labels") or {})) == labels \
                and OVER_CAPACITY not in (current["metadata"].get("annotations") or {}) \
                and sum(len(s.get("addresses") or []) + len(s.get("notReadyAddresses") or []) for s in subsets) <= MAX_CAPACITY:
            return None
        meta = service["metadata"]
        new = json_copy(current) if current is not None else {
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": meta["name"], "namespace": meta["namespace"]}}
        new_subsets = json_copy(subsets)
        annotations = dict(new["metadata"].get("annotations") or {})
        if trigger:
            annotations[LAST_CHANGE_TRIGGER_TIME] = trigger
        else:
            annotations.pop(LAST_CHANGE_TRIGGER_TIME, None)
        if truncate(new_subsets):
            annotations[OVER_CAPACITY] = "truncated"
        else:
            annotations.pop(OVER_CAPACITY, None)
        if is_service_ip_set(service):
            labels.pop(HEADLESS_LABEL, None)
        else:
            labels[HEADLESS_LABEL] = ""
        _set_or_drop(new["metadata"], "labels", labels)
        _set_or_drop(new["metadata"], "annotations", annotations)
        if new_subsets:
            new["subsets"] = new_subsets
        else:
            new.pop("subsets", None)
        return new

    async def _write(self, service: dict, current: dict | None, subsets: list[dict], *, trigger: str) -> None:
        meta = service["metadata"]
        for attempt in range(2):
            wanted = self._wanted(service, current, subsets, trigger=trigger)
            if wanted is None:
                return
            try:
                if current is None:
                    await self.client.create(ENDPOINTS, wanted, meta["namespace"])
                else:
                    await self.client.update(ENDPOINTS, wanted)
                return
            except APIError as exc:
                if attempt == 0 and (is_conflict(exc) or is_already_exists(exc)):
                    # The cache was behind our own last write: compare against the live object once more.
                    current = await self._live(meta["namespace"], meta["name"])
                    continue
                if current is None and exc.code == 403 and "being terminated" in exc.message:
                    return  # the namespace is going away: creates keep failing, drop the key
                if current is None:
                    self.record(wanted, "Warning", "FailedToCreateEndpoint",
                                f"Failed to create endpoint for service {meta['namespace']}/{meta['name']}: {exc.message}")
                else:
                    self.record(wanted, "Warning", "FailedToUpdateEndpoint",
                                f"Failed to update endpoint {meta['namespace']}/{meta['name']}: {exc.message}")
                raise

    async def _live(self, namespace: str, name: str) -> dict | None:
        try:
            return await self.client.get(ENDPOINTS, name, namespace)
        except APIError as exc:
            if is_not_found(exc):
                return None
            raise


def _set_or_drop(meta: dict, field: str, value: dict) -> None:
    if value:
        meta[field] = value
    else:
        meta.pop(field, None)
