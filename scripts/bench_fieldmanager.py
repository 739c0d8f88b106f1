"""Micro-benchmark of managedFields tracking: µs per `record_update` / `server_side_apply` call.

    python scripts/bench_fieldmanager.py              # the live minik.apiserver.fieldmanager
    python scripts/bench_fieldmanager.py --reference  # the frozen pre-optimization copy (the tests' reference)
    python scripts/bench_fieldmanager.py --both       # both, side by side
    python scripts/bench_fieldmanager.py --cold       # with the field-set memos emptied before every call
    python scripts/bench_fieldmanager.py -n 500 --profile "deployment update (image)"

Every write through the API calls `record_update` (creates, updates, non-apply patches, status writes);
server-side apply calls `server_side_apply`. The objects below are what the registry hands over after
defaulting, so they are about the size real clients produce. Times are this process's CPU time (best of
--repeat runs) unless --wall: the machine is shared, and CPU time is what a busy neighbour disturbs least.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minik.apiserver.patchmeta import schema_for  # noqa: E402

T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"

CONFIGMAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "c", "namespace": "default", "uid": "u", "creationTimestamp": T0},
    "data": {"v": "x" * 1000},
}


def container(name: str, image: str) -> dict:
    return {
        "name": name,
        "image": image,
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "env": [{"name": "MODE", "value": "prod"}, {"name": "LOG_LEVEL", "value": "info"}],
        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }


def pod_spec(image: str = "nginx:1.25") -> dict:
    return {
        "containers": [container("nginx", image)],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "securityContext": {},
        "schedulerName": "default-scheduler",
    }


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web-0",
        "namespace": "default",
        "uid": "pod-uid",
        "creationTimestamp": T0,
        "labels": {"app": "web", "tier": "frontend"},
    },
    "spec": {**pod_spec(), "nodeName": "node-1", "enableServiceLinks": True, "priority": 0},
}

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "default",
        "uid": "deploy-uid",
        "creationTimestamp": T0,
        "generation": 1,
        "labels": {"app": "web"},
        "annotations": {"team": "platform"},
    },
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec()},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    },
}

APPLIED_DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]},
        },
    },
}


def cases(fm) -> dict[str, Callable[[], object]]:
    """name -> a call to time; the setup (the live objects each call starts from) runs once, here."""
    record_update, server_side_apply = fm.record_update, fm.server_side_apply
    cm_schema = schema_for("", "ConfigMap")
    pod_schema = schema_for("", "Pod")
    deploy_schema = schema_for("apps", "Deployment")

    # live objects as the registry stores them: created with their managedFields
    live_deploy = record_update(None, DEPLOYMENT, manager="kubectl", schema=deploy_schema, now=T0,
                                api_version="apps/v1")
    new_image = copy.deepcopy(live_deploy)  # a controller or `kubectl set image`: the request keeps managedFields
    new_image["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    new_image["metadata"]["generation"] = 2

    live_pod = record_update(None, POD, manager="kubectl", schema=pod_schema, now=T0, api_version="v1")
    with_status = copy.deepcopy(live_pod)
    with_status["status"] = {
        "phase": "Running",
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": T1},
            {"type": "Ready", "status": "True", "lastTransitionTime": T1},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": T1},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": T0},
        ],
        "hostIP": "10.0.0.1",
        "podIP": "10.42.0.5",
        "podIPs": [{"ip": "10.42.0.5"}],
        "startTime": T0,
        "containerStatuses": [
            {"name": "nginx", "ready": True, "restartCount": 0, "image": "nginx:1.25", "imageID": "sha256:abc",
             "containerID": "containerd://123", "started": True, "state": {"running": {"startedAt": T1}}}
        ],
        "qosClass": "Burstable",
    }

    applied_live = server_side_apply(None, APPLIED_DEPLOYMENT, manager="kubectl", force=False,
                                     schema=deploy_schema, now=T0)
    applied_live["metadata"].update({"uid": "deploy-uid", "resourceVersion": "5", "creationTimestamp": T0})
    reapplied = copy.deepcopy(APPLIED_DEPLOYMENT)
    reapplied["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"

    return {
        "configmap create": lambda: record_update(None, dict(CONFIGMAP), manager="bench", schema=cm_schema,
                                                  now=T0, api_version="v1"),
        "pod create": lambda: record_update(None, POD, manager="kubectl", schema=pod_schema, now=T0,
                                            api_version="v1"),
        "deployment create": lambda: record_update(None, DEPLOYMENT, manager="kubectl", schema=deploy_schema,
                                                   now=T0, api_version="apps/v1"),
        "deployment update (image)": lambda: record_update(live_deploy, new_image, manager="kube-controller",
                                                           schema=deploy_schema, now=T1, api_version="apps/v1"),
        "pod status update": lambda: record_update(live_pod, with_status, manager="kubelet", schema=pod_schema,
                                                   now=T1, api_version="v1", subresource="status"),
        "deployment apply (create)": lambda: server_side_apply(None, APPLIED_DEPLOYMENT, manager="kubectl",
                                                               force=False, schema=deploy_schema, now=T0),
        "deployment apply (image)": lambda: server_side_apply(applied_live, reapplied, manager="kubectl",
                                                              force=False, schema=deploy_schema, now=T2),
    }


def coldly(call: Callable[[], object]) -> Callable[[], object]:
    """`call` with the live module's memos of field sets emptied first: the cost for an object of a
    shape not seen before (the small memos of path elements and schema nodes stay warm)."""
    from minik.apiserver import fieldmanager

    names = ("_DECODED", "_ENCODED", "_NAMED")
    memos = [getattr(fieldmanager, name) for name in names if hasattr(fieldmanager, name)]

    def run() -> object:
        for memo in memos:
            memo.clear()
        return call()

    return run


def measure(call: Callable[[], object], n: int, repeat: int, clock: Callable[[], float]) -> float:
    """Best of `repeat` runs of `n` calls, in µs per call."""
    best = float("inf")
    for _ in range(repeat):
        start = clock()
        for _ in range(n):
            call()
        best = min(best, (clock() - start) / n * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=3000, help="calls per run (default 3000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best is printed (default 3)")
    parser.add_argument("--reference", action="store_true",
                        help="time the frozen reference copy in tests/unit/apiserver instead")
    parser.add_argument("--both", action="store_true", help="time the reference and the live module side by side")
    parser.add_argument("--wall", action="store_true",
                        help="wall-clock time (default: this process's CPU time, steadier on a busy machine)")
    parser.add_argument("--profile", metavar="CASE", help="cProfile one case instead of timing all")
    parser.add_argument("--cold", action="store_true",
                        help="empty the live module's memos of decoded and encoded field sets before every call "
                             "(as for objects of a shape not seen before)")
    args = parser.parse_args()
    from minik.apiserver import fieldmanager as live

    if args.reference or args.both:
        from tests.unit.apiserver import test_fieldmanager_reference as reference
    fm = reference if args.reference else live
    table = cases(fm)
    if args.cold:
        table = {name: coldly(call) for name, call in table.items()}
    clock = time.perf_counter if args.wall else time.process_time
    if args.profile:
        if args.profile not in table:
            parser.error(f"no case {args.profile!r}; the cases are: " + ", ".join(map(repr, table)))
        call = table[args.profile]
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.n):
            call()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    if args.both:
        before = cases(reference)
        print(f"{'':28} {'reference':>10} {'live':>10}   (µs per call)")
        for name, call in table.items():
            old = measure(before[name], args.n, args.repeat, clock)
            new = measure(call, args.n, args.repeat, clock)
            print(f"{name:28} {old:10.1f} {new:10.1f}   x{old / new:.1f}")
        return
    for name, call in table.items():
        print(f"{name:28} {measure(call, args.n, args.repeat, clock):8.1f} µs per call")


if __name__ == "__main__":
    main()
