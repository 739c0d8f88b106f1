"""Builders for the scheduler tests: nodes and pods as the API server returns them (plain dicts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def make_node(
    name: str,
    *,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: str = "110",
    labels: Mapping[str, str] | None = None,
    zone: str | None = None,
    taints: Sequence[Mapping] = (),
    unschedulable: bool = False,
    allocatable: Mapping[str, str] | None = None,
) -> dict:
    all_labels = {"kubernetes.io/hostname": name, **(labels or {})}
    if zone is not None:
        all_labels["topology.kubernetes.io/zone"] = zone
    spec: dict = {}
    if taints:
        spec["taints"] = [dict(t) for t in taints]
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": all_labels},
        "spec": spec,
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods, **(allocatable or {})}},
    }


def make_pod(
    name: str,
    *,
    namespace: str = "default",
    uid: str | None = None,
    cpu: str | None = None,
    memory: str | None = None,
    requests: Mapping[str, str] | None = None,
    node_name: str | None = None,
    labels: Mapping[str, str] | None = None,
    priority: int | None = None,
    owner: str | None = None,
    tolerations: Sequence[Mapping] = (),
    node_selector: Mapping[str, str] | None = None,
    affinity: Mapping | None = None,
    spread: Sequence[Mapping] = (),
    host_ports: Sequence[int] = (),
    init_containers: Sequence[Mapping] = (),
    containers: Sequence[Mapping] | None = None,
    overhead: Mapping[str, str] | None = None,
    spec: Mapping | None = None,
) -> dict:
    reqs = dict(requests or {})
    if cpu is not None:
        reqs["cpu"] = cpu
    if memory is not None:
        reqs["memory"] = memory
    if containers is None:
        container: dict = {"name": "c", "image": "busybox"}
        if reqs:
            container["resources"] = {"requests": reqs}
        if host_ports:
            container["ports"] = [{"containerPort": p, "hostPort": p} for p in host_ports]
        containers = [container]
    meta: dict = {"name": name, "namespace": namespace, "uid": uid or f"uid-{namespace}-{name}"}
    if labels:
        meta["labels"] = dict(labels)
    if owner:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": f"rs-{owner}", "controller": True}
        ]
    pod_spec: dict = {"containers": [dict(c) for c in containers]}
    if init_containers:
        pod_spec["initContainers"] = [dict(c) for c in init_containers]
    if node_name:
        pod_spec["nodeName"] = node_name
    if priority is not None:
        pod_spec["priority"] = priority
    if tolerations:
        pod_spec["tolerations"] = [dict(t) for t in tolerations]
    if node_selector is not None:
        pod_spec["nodeSelector"] = dict(node_selector)
    if affinity is not None:
        pod_spec["affinity"] = affinity
    if spread:
        pod_spec["topologySpreadConstraints"] = [dict(c) for c in spread]
    if overhead:
        pod_spec["overhead"] = dict(overhead)
    pod_spec.update(spec or {})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec, "status": {"phase": "Pending"}}


def container(name: str, *, requests: Mapping[str, str] | None = None, restart_policy: str | None = None) -> dict:
    c: dict = {"name": name, "image": "busybox"}
    if requests:
        c["resources"] = {"requests": dict(requests)}
    if restart_policy:
        c["restartPolicy"] = restart_policy
    return c
