"""Per-kind strategies: how each built-in kind differs from the generic registry pipeline.

Part of the registry layer. `strategy_for` picks the strategy class of a resource; a kind without an
entry uses the generic `Strategy` (which suits e.g. ServiceAccounts and EndpointSlices).
"""

from __future__ import annotations

from ...api.resources import ResourceInfo
from ..strategy import Strategy
from .core import (
    ConfigMapStrategy,
    EndpointsStrategy,
    EventStrategy,
    EventsV1Strategy,
    LeaseStrategy,
    LimitRangeStrategy,
    NodeStrategy,
    PersistentVolumeClaimStrategy,
    ResourceQuotaStrategy,
    SecretStrategy,
)
from .customresources import CustomResourceDefinitionStrategy
from .namespaces import NamespaceStrategy
from .pods import PodStrategy
from .services import ServiceStrategy
from .workloads import (
    ControllerRevisionStrategy,
    CronJobStrategy,
    DaemonSetStrategy,
    DeploymentStrategy,
    JobStrategy,
    ReplicaSetStrategy,
    StatefulSetStrategy,
)

STRATEGIES: dict[tuple[str, str], type[Strategy]] = {
    ("", "namespaces"): NamespaceStrategy,
    ("", "pods"): PodStrategy,
    ("", "nodes"): NodeStrategy,
    ("", "services"): ServiceStrategy,
    ("", "endpoints"): EndpointsStrategy,
    ("", "configmaps"): ConfigMapStrategy,
    ("", "secrets"): SecretStrategy,
    ("", "events"): EventStrategy,
    ("", "resourcequotas"): ResourceQuotaStrategy,
    ("", "limitranges"): LimitRangeStrategy,
    ("", "persistentvolumeclaims"): PersistentVolumeClaimStrategy,
    ("apps", "deployments"): DeploymentStrategy,
    ("apps", "replicasets"): ReplicaSetStrategy,
    ("apps", "daemonsets"): DaemonSetStrategy,
    ("apps", "statefulsets"): StatefulSetStrategy,
    ("apps", "controllerrevisions"): ControllerRevisionStrategy,
    ("batch", "jobs"): JobStrategy,
    ("batch", "cronjobs"): CronJobStrategy,
    ("coordination.k8s.io", "leases"): LeaseStrategy,
    ("events.k8s.io", "events"): EventsV1Strategy,
    ("apiextensions.k8s.io", "customresourcedefinitions"): CustomResourceDefinitionStrategy,
}


def strategy_for(info: ResourceInfo, registry) -> Strategy:
    return STRATEGIES.get((info.group, info.plural), Strategy)(info, registry)
