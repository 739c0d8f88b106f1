"""Services: defaults, validation, and ClusterIP / NodePort allocation.

Part of the registry layer. Allocation works from the stored Services themselves (scanned from the store's
in-memory state at each allocation) plus short-lived reservations for creates still in flight, so there is
no separate allocation bitmap that could drift from the truth after a crash. Conflicts are 422 Invalid, as
in Kubernetes.
"""

from __future__ import annotations

import ipaddress
import random
import time

from ...api.meta import decode, json_copy
from ...api import errors, validation as v
from ..strategy import Strategy

TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
RESERVATION_SECONDS = 30.0


class ServiceStrategy(Strategy):
    def __init__(self, info, registry=None):
        super().__init__(info, registry)
        self._reserved_ips: dict[str, float] = {}
        self._reserved_ports: dict[int, float] = {}
        self._rng = random.Random()

    # --- configuration (the server's settings, held by the registry) ---

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.ip_network(self.registry.service_cidr)

    @property
    def node_port_range(self) -> tuple[int, int]:
        return self.registry.node_port_range

    def validate_name(self, name: str) -> list[str]:
        return v.dns1035_label(name)

    # --- defaults ---

    def prepare_for_create(self, obj: dict) -> None:
        super().prepare_for_create(obj)
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("type", "ClusterIP")
        if spec["type"] != "ExternalName":
            spec.setdefault("sessionAffinity", "None")
            spec.setdefault("internalTrafficPolicy", "Cluster")
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("ipFamilies", ["IPv4"])
        if spec["type"] in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if "targetPort" not in port and "port" in port:
                    port["targetPort"] = port["port"]
        obj["status"] = {"loadBalancer": {}}

    def prepare_for_update(self, obj: dict, old: dict) -> None:
        super().prepare_for_update(obj, old)
        spec, old_spec = obj.setdefault("spec", {}), old.get("spec") or {}
        if not isinstance(spec, dict):
            return
        # Clients that never saw the allocated values (kubectl apply, PUT of a manifest) keep them.
        for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "type", "sessionAffinity",
                    "internalTrafficPolicy"):
            if key not in spec and key in old_spec:
                spec[key] = json_copy(old_spec[key])
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", old_spec.get("externalTrafficPolicy", "Cluster"))
            old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in old_spec.get("ports") or []}
            for port in spec.get("ports") or []:
                if isinstance(port, dict) and "nodePort" not in port:
                    previous = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
                    if previous:
                        port["nodePort"] = previous
        else:
            spec.pop("externalTrafficPolicy", None)
            for port in spec.get("ports") or []:
                if isinstance(port, dict):
                    port.pop("nodePort", None)
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if "targetPort" not in port and "port" in port:
                    port["targetPort"] = port["port"]

    # --- allocation ---

    async def before_create(self, obj: dict) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict) and not self._structurally_broken(spec):
            await self._allocate(obj, None)

    async def before_update(self, obj: dict, old: dict) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict) and not self._structurally_broken(spec):
            await self._allocate(obj, old)

    @staticmethod
    def _structurally_broken(spec: dict) -> bool:
        ports = spec.get("ports")
        return ports is not None and (not isinstance(ports, list) or not all(isinstance(p, dict) for p in ports))

    async def _used(self, uid: str) -> tuple[set[str], set[int]]:
        ips: set[str] = set()
        ports: set[int] = set()
        page = await self.registry.storage.list(self.info.storage_prefix())
        for kv in page.items:
            service = decode(kv.value)
            if service["metadata"].get("uid") == uid:
                continue
            ips.update(service.get("spec", {}).get("clusterIPs") or [])
            for port in service.get("spec", {}).get("ports") or []:
                if port.get("nodePort"):
                    ports.add(port["nodePort"])
        deadline = time.monotonic() - RESERVATION_SECONDS
        for reserved in (self._reserved_ips, self._reserved_ports):
            for key in [k for k, at in reserved.items() if at < deadline]:
                del reserved[key]
        return ips | set(self._reserved_ips), ports | set(self._reserved_ports)

    async def _allocate(self, obj: dict, old: dict | None) -> None:
        spec = obj["spec"]
        old_spec = (old or {}).get("spec") or {}
        kind = spec.get("type", "ClusterIP")
        used_ips, used_ports = await self._used(obj["metadata"].get("uid", ""))
        conflicts: list[v.Cause] = []
        if kind == "ExternalName":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        elif not spec.get("clusterIP") and not old_spec.get("clusterIP"):
            ip = self._free_ip(used_ips)
            if ip is not None:
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
                self._reserved_ips[ip] = time.monotonic()
        elif spec.get("clusterIP") and spec.get("clusterIP") != "None" and spec["clusterIP"] != old_spec.get("clusterIP"):
            ip = spec["clusterIP"]
            spec.setdefault("clusterIPs", [ip])
            if ip in used_ips:
                conflicts.append(v.invalid("spec.clusterIPs", [ip], f"failed to allocate IP {ip}: provided IP is already allocated"))
            else:
                self._reserved_ips[ip] = time.monotonic()
        elif spec.get("clusterIP") == "None":
            spec["clusterIPs"] = ["None"]
        if kind in ("NodePort", "LoadBalancer"):
            low, high = self.node_port_range
            previous = {p.get("nodePort") for p in old_spec.get("ports") or []}
            for i, port in enumerate(spec.get("ports") or []):
                given = port.get("nodePort")
                if given and given not in previous:
                    if given in used_ports:
                        conflicts.append(v.invalid(f"spec.ports[{i}].nodePort", given, "provided port is already allocated"))
                    used_ports.add(given)
                if not port.get("nodePort"):
                    number = self._free_port(used_ports, low, high)
                    if number is not None:
                        port["nodePort"] = number
                        used_ports.add(number)
                        self._reserved_ports[number] = time.monotonic()
        if conflicts:
            raise errors.invalid(self.info, obj["metadata"].get("name", ""), conflicts)

    def _free_ip(self, used: set[str]) -> str | None:
        network = self.network
        first, last = int(network.network_address) + 1, int(network.broadcast_address) - 1
        reserved = {str(network.network_address + 1), str(network.network_address + 10)}  # API server, DNS
        for _ in range(256):
            candidate = str(ipaddress.IPv4Address(self._rng.randint(first, last)))
            if candidate not in used and candidate not in reserved:
                return candidate
        for number in range(first, last + 1):
            candidate = str(ipaddress.IPv4Address(number))
            if candidate not in used and candidate not in reserved:
                return candidate
        return None

    def _free_port(self, used: set[int], low: int, high: int) -> int | None:
        for _ in range(256):
            candidate = self._rng.randint(low, high)
            if candidate not in used:
                return candidate
        return next((p for p in range(low, high + 1) if p not in used), None)

    # --- validation ---

    def validate(self, obj: dict) -> list[v.Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [v.required("spec")]
        causes = []
        kind = spec.get("type")
        if kind not in TYPES:
            return [v.not_supported("spec.type", kind, TYPES)]
        ports = spec.get("ports")
        if ports is not None and not isinstance(ports, list):
            return [v.type_invalid("spec.ports", ports, "must be a list")]
        ports = ports or []
        if kind == "ExternalName":
            name = spec.get("externalName")
            if not name:
                causes.append(v.required("spec.externalName"))
        elif not ports and spec.get("clusterIP") != "None":
            causes.append(v.required("spec.ports"))
        seen_names, seen_ports = set(), set()
        for i, port in enumerate(ports):
            path = f"spec.ports[{i}]"
            if not isinstance(port, dict):
                causes.append(v.type_invalid(path, port, "must be an object"))
                continue
            if len(ports) > 1 and not port.get("name"):
                causes.append(v.required(f"{path}.name"))
            if port.get("name"):
                causes += [v.invalid(f"{path}.name", port["name"], m) for m in v.dns1123_label(port["name"])]
                if port["name"] in seen_names:
                    causes.append(v.duplicate(f"{path}.name", port["name"]))
                seen_names.add(port["name"])
            number = port.get("port")
            if number is None:
                causes.append(v.required(f"{path}.port"))
            else:
                causes += [v.invalid(f"{path}.port", number, m) for m in v.port_number(number)]
            if port.get("protocol") not in ("TCP", "UDP", "SCTP"):
                causes.append(v.not_supported(f"{path}.protocol", port.get("protocol"), ("SCTP", "TCP", "UDP")))
            if (number, port.get("protocol")) in seen_ports:
                causes.append(v.duplicate(f"{path}", {"port": number, "protocol": port.get("protocol")}))
            seen_ports.add((number, port.get("protocol")))
            target = port.get("targetPort")
            if isinstance(target, int):
                causes += [v.invalid(f"{path}.targetPort", target, m) for m in v.port_number(target)]
            elif isinstance(target, str):
                causes += [v.invalid(f"{path}.targetPort", target, m) for m in v.port_name(target)]
            node_port = port.get("nodePort")
            if node_port is not None:
                if kind not in ("NodePort", "LoadBalancer"):
                    causes.append(v.forbidden(f"{path}.nodePort", "may not be used when `type` is 'ClusterIP'"))
                else:
                    low, high = self.node_port_range
                    if not isinstance(node_port, int) or not low <= node_port <= high:
                        causes.append(v.invalid(f"{path}.nodePort", node_port,
                                                f"provided port is not in the valid range. The range of valid ports is {low}-{high}"))
        ip = spec.get("clusterIP")
        if ip and ip != "None" and kind != "ExternalName":
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                causes.append(v.invalid("spec.clusterIPs[0]", ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
            else:
                if address not in self.network:
                    causes.append(v.invalid("spec.clusterIPs", [ip],
                                            f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {self.network}"))
        selector = spec.get("selector")
        if selector is not None:
            causes += v.validate_labels(selector, "spec.selector")
        return causes

    def validate_update(self, obj: dict, old: dict) -> list[v.Cause]:
        causes = self.validate(obj)
        new_ip = (obj.get("spec") or {}).get("clusterIP")
        old_ip = (old.get("spec") or {}).get("clusterIP")
        if old_ip and new_ip != old_ip and (obj.get("spec") or {}).get("type") != "ExternalName":
            causes.append(v.invalid("spec.clusterIPs[0]", new_ip, "may not change once set"))
        return causes

    async def after_create(self, obj: dict) -> None:
        self._release(obj)

    async def after_update(self, obj: dict, old: dict) -> None:
        self._release(obj)

    def _release(self, obj: dict) -> None:
        spec = obj.get("spec") or {}
        for ip in spec.get("clusterIPs") or []:
            self._reserved_ips.pop(ip, None)
        for port in spec.get("ports") or []:
            self._reserved_ports.pop(port.get("nodePort"), None)
