"""Controllers: the control loops of kube-controller-manager, each a module, each skippable.

Part of the top layer of the flow. `CONTROLLERS` names every controller and where it lives; the server
starts all of them except those given to `--disable` (controllers are loaded lazily, so a disabled one
costs nothing).
"""

from __future__ import annotations

import importlib

# name → "module:Class" (names as kube-controller-manager's --controllers flag spells them)
CONTROLLERS: dict[str, str] = {
    "replicaset": "minik.controllers.replicaset:ReplicaSetController",
    "deployment": "minik.controllers.deployment:DeploymentController",
    "daemonset": "minik.controllers.daemonset:DaemonSetController",
    "statefulset": "minik.controllers.statefulset:StatefulSetController",
    "job": "minik.controllers.job:JobController",
    "cronjob": "minik.controllers.cronjob:CronJobController",
    "endpoint": "minik.controllers.endpoints:EndpointsController",
    "endpointslice": "minik.controllers.endpointslice:EndpointSliceController",
    "namespace": "minik.controllers.namespace:NamespaceController",
    "garbagecollector": "minik.controllers.garbagecollector:GarbageCollector",
    "serviceaccount": "minik.controllers.serviceaccount:ServiceAccountController",
    "resourcequota": "minik.controllers.resourcequota:ResourceQuotaController",
    "nodelifecycle": "minik.controllers.nodelifecycle:NodeLifecycleController",
    "nodeipam": "minik.controllers.nodeipam:NodeIPAMController",
    "podgc": "minik.controllers.podgc:PodGCController",
    "ttlafterfinished": "minik.controllers.ttlafterfinished:TTLAfterFinishedController",
}


def load(name: str):
    module, _, cls = CONTROLLERS[name].partition(":")
    return getattr(importlib.import_module(module), cls)
