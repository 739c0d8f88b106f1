"""The Node IPAM controller: each node gets its own pod CIDR from the cluster CIDR.

Part of the controllers layer (kube-controller-manager's pkg/controller/nodeipam, the RangeAllocator). A
node without spec.podCIDR is given the lowest free /24 (setting `node_cidr_mask_size`) of the cluster
CIDR (setting `cluster_cidr`, default 10.42.0.0/16, k3s' default) in spec.podCIDR and spec.podCIDRs,
by a merge patch. What is in use is read from the node cache (plus allocations this controller made that
the cache does not show yet), so a deleted node's range is free again as soon as it is gone, and a
restart loses nothing. When the range is exhausted the node gets a `CIDRNotAvailable` event and is
retried later. IPv4 single-stack only.
"""

from __future__ import annotations

import ipaddress
import logging

from ..api.errors import APIError
from ..client.interface import is_not_found, resource
from .base import Controller

log = logging.getLogger(__name__)

NODES = resource("nodes")
DEFAULT_CLUSTER_CIDR = "10.42.0.0/16"
DEFAULT_NODE_CIDR_MASK_SIZE = 24
EXHAUSTED_RETRY_SECONDS = 30.0


CIDR_INDEX = "podCIDRs"


def pod_cidrs_index(node: dict) -> list[str]:
    """The ranges a node holds (an index: allocation reads them without scanning every node)."""
    spec = node.get("spec") or {}
    return list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))


class NodeIPAMController(Controller):
    name = "node-ipam"
    workers = 1  # allocations are serialized: two workers could hand out the same range

    def setup(self) -> None:
        settings = self.ctx.settings
        self.cluster_cidr = ipaddress.ip_network(settings.get("cluster_cidr") or DEFAULT_CLUSTER_CIDR)
        self.mask_size = int(settings.get("node_cidr_mask_size") or DEFAULT_NODE_CIDR_MASK_SIZE)
        self.nodes = self.informer(NODES, indexers={CIDR_INDEX: pod_cidrs_index})
        self._pending: dict[str, str] = {}  # node name → CIDR patched but not yet seen in the cache
        self.nodes.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self._deleted)

    @property
    def event_source(self) -> str:
        return "cidrAllocator"

    def _deleted(self, node: dict) -> None:
        self._pending.pop(node["metadata"]["name"], None)

    def _in_use(self) -> set[str]:
        return set(self._pending.values()) | set(self.nodes.indexer.index_values(CIDR_INDEX))

    def _next_free(self) -> str | None:
        used = self._in_use()
        for subnet in self.cluster_cidr.subnets(new_prefix=self.mask_size):
            if str(subnet) not in used:
                return str(subnet)
        return None

    async def reconcile(self, key: str) -> None:
        node = self.nodes.get(key)
        if node is None:
            self._pending.pop(key, None)
            return
        if (node.get("spec") or {}).get("podCIDR"):
            self._pending.pop(key, None)
            return
        if key in self._pending:
            return  # patched already; the cache has not caught up
        cidr = self._next_free()
        if cidr is None:
            self.record(node, "Normal", "CIDRNotAvailable", f"Node {key} status is now: CIDRNotAvailable")
            self.queue.add_after(key, EXHAUSTED_RETRY_SECONDS)
            return
        patch = {"metadata": {"uid": node["metadata"].get("uid")}, "spec": {"podCIDR": cidr, "podCIDRs": [cidr]}}
        try:
            await self.client.patch(NODES, key, patch)
        except APIError as exc:
            if is_not_found(exc) or exc.code == 409:
                return  # the node went (or was replaced): its events bring it back if need be
            self.record(node, "Normal", "CIDRAssignmentFailed", f"Node {key} status is now: CIDRAssignmentFailed")
            raise
        self._pending[key] = cidr
        log.info("node %s: pod CIDR %s", key, cidr)
