"""Simulated nodes: a node agent that runs no containers (like KWOK), for tests, demos and scale work.

Part of the node-agent layer (beside the real kubelet), talking to the API only through a Client. It
registers N Nodes, renews their Leases in kube-node-lease, and plays the kubelet's part for pods bound to
them: after `ready_delay` they are Running and Ready (with a pod IP from the node's range); pods that are
meant to finish (restartPolicy Never/OnFailure) succeed after `run_seconds`; graceful deletions are
confirmed. It is honest about what it is: every node carries the label `minik.io/simulated=true` and
reports `containerRuntimeVersion: simulated://`, and `kubectl logs`/`exec` on its pods get a clear error.

Per-pod behaviour can be steered with annotations: `sim.minik.io/run-seconds` (finish after N seconds),
`sim.minik.io/exit-code` (non-zero: the pod fails), `sim.minik.io/never-ready` ("true": stays unready).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import dataclass, field

from ..api.errors import APIError
from ..api.meta import format_micro_time, format_time
from ..client.clock import Clock
from ..client.informer import InformerFactory
from ..client.interface import Client, resource

log = logging.getLogger(__name__)

NODES = resource("nodes")
PODS = resource("pods")
LEASES = resource("leases", "coordination.k8s.io")
SIMULATED_LABEL = "minik.io/simulated"
KUBELET_VERSION = "v1.32.0-minik-sim"


@dataclass(frozen=True)
class SimulatedNodesConfig:
    count: int = 3
    name_prefix: str = "sim-node-"
    cpu: str = "8"
    memory: str = "32Gi"
    pods: int = 110
    labels: dict = field(default_factory=dict)
    ready_delay: float = 0.5
    run_seconds: float = 2.0  # for pods that run to completion (restartPolicy Never/OnFailure)
    lease_duration: int = 40  # seconds; renewed every quarter of it, like the kubelet's node lease
    status_interval: float = 300.0  # the kubelet's nodeStatusReportFrequency: status posts when unchanged

    @property
    def renew_interval(self) -> float:
        return self.lease_duration * 0.25


class SimulatedNodes:
    def __init__(self, client: Client, config: SimulatedNodesConfig = SimulatedNodesConfig(), *,
                 informers: InformerFactory | None = None, clock: Clock | None = None):
        self.client = client
        self.config = config
        self.clock = clock or Clock()
        self.informers = informers or InformerFactory(client, clock=self.clock)
        self.names = [f"{config.name_prefix}{i}" for i in range(config.count)]
        self._names = set(self.names)
        self._stopped_heartbeats: set[str] = set()
        self._handled: dict[str, str] = {}  # pod key → phase of work already scheduled ("ready", "done", ...)
        self._tasks: set[asyncio.Task] = set()
        self._next_ip: dict[str, int] = {}
        self.pods = self.informers.informer(PODS)
        self.pods.add_handler(on_add=self._on_pod, on_update=lambda old, new: self._on_pod(new),
                              on_delete=self._forget)

    # --- nodes and leases ---

    def node_object(self, index: int, name: str) -> dict:
        c = self.config
        labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                  "type": "kwok", SIMULATED_LABEL: "true", **c.labels}
        capacity = {"cpu": c.cpu, "memory": c.memory, "pods": str(c.pods), "ephemeral-storage": "100Gi"}
        now = format_time(self.clock.now())
        ready = {"type": "Ready", "status": "True", "reason": "KubeletReady",
                 "message": "simulated node is posting ready status", "lastHeartbeatTime": now,
                 "lastTransitionTime": now}
        pressure = [{"type": t, "status": "False", "reason": f"KubeletHas{r}", "message": "simulated",
                     "lastHeartbeatTime": now, "lastTransitionTime": now}
                    for t, r in (("MemoryPressure", "SufficientMemory"), ("DiskPressure", "NoDiskPressure"),
                                 ("PIDPressure", "SufficientPID"))]
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels,
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0", "minik.io/node-agent": "simulated"}},
            "spec": {},
            "status": {
                "capacity": capacity, "allocatable": dict(capacity), "phase": "Running",
                "conditions": pressure + [ready],
                # TEST-NET-2 addresses: never routed anywhere, so nothing can mistake them for real hosts.
                "addresses": [{"type": "InternalIP", "address": str(ipaddress.ip_address("198.18.0.0") + index + 1)},
                              {"type": "Hostname", "address": name}],
                "nodeInfo": {"kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "", "osImage": "minik simulated node",
                             "kernelVersion": "simulated", "containerRuntimeVersion": "simulated://",
                             "operatingSystem": "linux", "architecture": "amd64", "machineID": name,
                             "systemUUID": name, "bootID": name},
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            },
        }

    async def register(self) -> None:
        sem = asyncio.Semaphore(32)

        async def one(index: int, name: str) -> None:
            async with sem:
                try:
                    await self.client.create(NODES, self.node_object(index, name))
                except APIError as exc:
                    if exc.reason != "AlreadyExists":
                        raise
                await self._renew(name)

        await asyncio.gather(*(one(i, n) for i, n in enumerate(self.names)))

    async def _renew(self, name: str) -> None:
        now = format_micro_time(self.clock.now())
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": name, "namespace": "kube-node-lease"},
                 "spec": {"holderIdentity": name, "leaseDurationSeconds": self.config.lease_duration,
                          "renewTime": now}}
        try:
            await self.client.patch(LEASES, name, {"spec": lease["spec"]}, "kube-node-lease")
        except APIError as exc:
            if exc.code != 404:
                raise
            try:
                await self.client.create(LEASES, lease, "kube-node-lease")
            except APIError as again:
                if again.reason != "AlreadyExists":
                    raise

    def stop_heartbeat(self, name: str) -> None:
        """Simulate a node that died: its lease is no longer renewed."""
        self._stopped_heartbeats.add(name)

    def resume_heartbeat(self, name: str) -> None:
        """The node is back: like a restarted kubelet, renew the lease and post Ready status at once."""
        self._stopped_heartbeats.discard(name)
        self._later(0.0, self._recover, name)

    async def _recover(self, name: str) -> None:
        await self._renew(name)
        await self._post_status(name)

    async def _post_status(self, name: str) -> None:
        """Ready=True with a fresh heartbeat (the node lifecycle controller may have set it Unknown)."""
        node = await self.client.get(NODES, name)
        now = format_time(self.clock.now())
        conditions = []
        for cond in (node.get("status") or {}).get("conditions") or []:
            healthy = "True" if cond.get("type") == "Ready" else "False"
            changed = cond.get("status") != healthy
            conditions.append({**cond, "status": healthy, "lastHeartbeatTime": now,
                               "reason": "KubeletReady" if healthy == "True" else cond.get("reason"),
                               **({"lastTransitionTime": now} if changed else {})})
        await self.client.patch(NODES, name, {"status": {"conditions": conditions}}, subresource="status",
                                patch_type="application/strategic-merge-patch+json")

    async def heartbeat(self) -> None:
        since_status = 0.0
        while True:
            await self.clock.sleep(self.config.renew_interval)
            since_status += self.config.renew_interval
            post_status = since_status >= self.config.status_interval
            if post_status:
                since_status = 0.0
            for name in self.names:
                if name not in self._stopped_heartbeats:
                    try:
                        await self._renew(name)
                        if post_status:
                            await self._post_status(name)
                    except APIError as exc:
                        log.debug("heartbeat of %s failed: %s", name, exc)

    async def run(self) -> None:
        await self.register()
        await self.heartbeat()

    # --- pods ---

    def _on_pod(self, pod: dict) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if node not in self._names or node in self._stopped_heartbeats:
            return
        meta = pod["metadata"]
        key = f"{meta['namespace']}/{meta['name']}/{meta.get('uid')}"
        phase = (pod.get("status") or {}).get("phase")
        if meta.get("deletionTimestamp"):
            if self._handled.get(key) != "deleting":
                self._handled[key] = "deleting"
                self._later(0.0, self._confirm_deletion, pod)
        elif phase == "Pending" and key not in self._handled:
            self._handled[key] = "starting"
            self._later(self.config.ready_delay, self._start, pod)
        elif phase == "Running" and self._handled.get(key) == "started" and self._finishes(pod):
            self._handled[key] = "finishing"
            seconds = float(meta.get("annotations", {}).get("sim.minik.io/run-seconds", self.config.run_seconds))
            self._later(seconds, self._finish, pod)

    def _forget(self, pod: dict) -> None:
        meta = pod["metadata"]
        self._handled.pop(f"{meta['namespace']}/{meta['name']}/{meta.get('uid')}", None)

    @staticmethod
    def _finishes(pod: dict) -> bool:
        annotations = pod["metadata"].get("annotations") or {}
        return (pod.get("spec") or {}).get("restartPolicy") in ("Never", "OnFailure") \
            or "sim.minik.io/run-seconds" in annotations

    def _later(self, delay: float, action, *args) -> None:
        """Run `action(*args)` after `delay` (the coroutine is made only when it runs, so a cancelled
        timer leaves no never-awaited coroutine behind)."""

        async def run() -> None:
            try:
                if delay:
                    await self.clock.sleep(delay)
                await action(*args)
            except APIError as exc:
                log.debug("simulated kubelet: %s", exc.message)
            finally:
                self._tasks.discard(task)

        task = asyncio.create_task(run(), name="simulated-kubelet")
        self._tasks.add(task)

    def _pod_ip(self, node: str) -> str:
        index = self.names.index(node)
        self._next_ip[node] = self._next_ip.get(node, 1) + 1
        # 10.42.0.0/16 holds 256 /24s; simulated nodes beyond that reuse ranges (their IPs carry no traffic).
        return f"10.42.{index % 256}.{self._next_ip[node] % 254 + 1}"

    async def _start(self, pod: dict) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        now = format_time(self.clock.now())
        ready = "False" if (meta.get("annotations") or {}).get("sim.minik.io/never-ready") == "true" else "True"
        containers = [{"name": c["name"], "image": c.get("image", ""), "imageID": f"simulated://{c.get('image', '')}",
                       "containerID": f"simulated://{meta['uid'][:8]}-{c['name']}", "ready": ready == "True",
                       "started": True, "restartCount": 0, "state": {"running": {"startedAt": now}}}
                      for c in spec.get("containers") or []]
        node_index = self.names.index(spec["nodeName"])
        status = {
            "phase": "Running",
            "conditions": [{"type": t, "status": s, "lastTransitionTime": now, "lastProbeTime": None}
                           for t, s in (("PodReadyToStartContainers", "True"), ("Initialized", "True"),
                                        ("Ready", ready), ("ContainersReady", ready), ("PodScheduled", "True"))],
            "hostIP": str(ipaddress.ip_address("198.18.0.0") + node_index + 1),
            "podIP": self._pod_ip(spec["nodeName"]),
            "startTime": now,
            "containerStatuses": containers,
        }
        status["podIPs"] = [{"ip": status["podIP"]}]
        status["hostIPs"] = [{"ip": status["hostIP"]}]
        await self.client.patch(PODS, meta["name"], {"status": status}, meta["namespace"], subresource="status",
                                patch_type="application/merge-patch+json")
        self._handled[f"{meta['namespace']}/{meta['name']}/{meta.get('uid')}"] = "started"
        current = self.pods.get(f"{meta['namespace']}/{meta['name']}")
        if current is not None and (current.get("status") or {}).get("phase") == "Running":
            self._on_pod(current)

    async def _finish(self, pod: dict) -> None:
        meta = pod["metadata"]
        code = int((meta.get("annotations") or {}).get("sim.minik.io/exit-code", "0"))
        now = format_time(self.clock.now())
        phase = "Succeeded" if code == 0 else "Failed"
        reason = "Completed" if code == 0 else "Error"
        current = self.pods.get(f"{meta['namespace']}/{meta['name']}") or pod
        containers = []
        for c in (current.get("status") or {}).get("containerStatuses") or []:
            started = (c.get("state") or {}).get("running", {}).get("startedAt", now)
            containers.append({**c, "ready": False, "started": False,
                               "state": {"terminated": {"exitCode": code, "reason": reason, "startedAt": started,
                                                        "finishedAt": now}}})
        conditions = [{**cond, "status": "False", "lastTransitionTime": now, "reason": "PodCompleted"}
                      if cond.get("type") in ("Ready", "ContainersReady") else cond
                      for cond in (current.get("status") or {}).get("conditions") or []]
        await self.client.patch(PODS, meta["name"], {"status": {"phase": phase, "conditions": conditions,
                                                                "containerStatuses": containers}},
                                meta["namespace"], subresource="status")

    async def _confirm_deletion(self, pod: dict) -> None:
        meta = pod["metadata"]
        await self.client.delete(PODS, meta["name"], meta["namespace"], grace_period_seconds=0,
                                 preconditions={"uid": meta["uid"]})

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
