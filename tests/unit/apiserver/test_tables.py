"""Server-side Table columns and cells must match what `kubectl get` shows against a real cluster.

Expected values come from Kubernetes' printers.go and its tests; NOW is fixed so ages are exact.
"""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from minik.api.resources import BUILTIN_RESOURCES
from minik.api.jsonpath import JsonPathError
from minik.apiserver.tables import DEFAULT_PRINTER, crd_printer, human_duration, parse_time, printer_for

NOW = datetime(2026, 11, 22, 18, 0, 0, tzinfo=timezone.utc)
CREATED = "2026-11-22T17:10:34Z"  # 49m26s before NOW → "49m"


def meta(name: str = "x", **extra) -> dict:
    return {"name": name, "namespace": "default", "creationTimestamp": CREATED, **extra}


def headers(group: str, plural: str, *, wide: bool = False) -> list[str]:
    """Column names as kubectl prints them (upper-cased; priority-1 columns only with -o wide)."""
    return [c["name"].upper() for c in printer_for(group, plural).column_definitions
            if wide or c["priority"] == 0]


def cells(group: str, plural: str, obj: dict) -> list:
    return printer_for(group, plural).cells(obj, NOW)


def by_header(group: str, plural: str, obj: dict) -> dict:
    names = [c["name"] for c in printer_for(group, plural).column_definitions]
    return dict(zip(names, cells(group, plural, obj), strict=True))


# --- human_duration ------------------------------------------------------------------------------

@pytest.mark.parametrize(("seconds", "expected"), [
    (-3, "<invalid>"), (-2, "<invalid>"), (-1.5, "0s"), (-1, "0s"), (0, "0s"), (0.9, "0s"), (5, "5s"),
    (119, "119s"), (120, "2m"), (121, "2m1s"), (182, "3m2s"), (599, "9m59s"), (600, "10m"),
    (3 * 3600 - 1, "179m"), (3 * 3600, "3h"), (3 * 3600 + 60 * 5, "3h5m"), (8 * 3600 - 1, "7h59m"),
    (8 * 3600, "8h"), (47 * 3600 + 3599, "47h"), (48 * 3600, "2d"), (2 * 86400 + 5 * 3600, "2d5h"),
    (8 * 86400 - 1, "7d23h"), (8 * 86400, "8d"), (45 * 86400, "45d"), (2 * 365 * 86400 - 1, "729d"),
    (2 * 365 * 86400, "2y"), (2 * 365 * 86400 + 10 * 86400, "2y10d"), (8 * 365 * 86400 - 1, "7y364d"),
    (8 * 365 * 86400, "8y"), (20 * 365 * 86400 + 100 * 86400, "20y"),
])
def test_human_duration_matches_apimachinery(seconds, expected):
    assert human_duration(seconds) == expected


def test_parse_time_accepts_rfc3339_variants_only():
    assert parse_time("2026-11-22T17:10:34Z") == datetime(2026, 11, 22, 17, 10, 34, tzinfo=timezone.utc)
    assert parse_time("2026-11-22T18:10:34+01:00") == datetime(2026, 11, 22, 17, 10, 34, tzinfo=timezone.utc)
    assert parse_time("2026-11-22T17:10:34.123456789Z").microsecond == 123456
    for bad in ("2026-11-22", "yesterday", "", None, 5):
        assert parse_time(bad) is None


# --- every resource --------------------------------------------------------------------------------

@pytest.mark.parametrize("info", BUILTIN_RESOURCES, ids=lambda info: info.group_resource)
def test_every_builtin_row_has_one_json_cell_per_column(info):
    printer = printer_for(info.group, info.plural)
    columns = printer.column_definitions
    assert columns[0]["name"] in ("Name", "Last Seen")
    for column in columns:
        assert set(column) == {"name", "type", "format", "description", "priority"}
        assert column["priority"] in (0, 1)
    for obj in ({}, {"metadata": meta("m")}):  # sparse objects must not crash a printer
        row = printer.cells(obj, NOW)
        assert len(row) == len(columns)
        orjson.dumps(row)


def test_column_definitions_are_copies():
    printer_for("", "pods").column_definitions[0]["name"] = "changed"
    assert printer_for("", "pods").column_definitions[0]["name"] == "Name"


# --- pods ------------------------------------------------------------------------------------------

def running_pod() -> dict:
    return {
        "metadata": meta("web-7d4b9c-x2x9z"),
        "spec": {"nodeName": "node-1", "containers": [{"name": "nginx", "image": "nginx:1.27"}],
                 "readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]},
        "status": {
            "phase": "Running", "podIP": "10.42.0.9", "podIPs": [{"ip": "10.42.0.9"}, {"ip": "fd00::9"}],
            "nominatedNodeName": "node-2",
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "example.com/lb", "status": "True"},
                           {"type": "example.com/dns", "status": "False"}],
            "containerStatuses": [{
                "name": "nginx", "ready": True, "restartCount": 2, "started": True,
                "state": {"running": {"startedAt": "2026-11-22T17:55:30Z"}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-11-22T17:55:00Z"}},
            }],
        },
    }


def test_pod_columns_and_cells():
    assert headers("", "pods") == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert headers("", "pods", wide=True)[5:] == ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    assert cells("", "pods", running_pod()) == [
        "web-7d4b9c-x2x9z", "1/1", "Running", "2 (5m ago)", "49m", "10.42.0.9", "node-1", "node-2", "1/2"]


def test_pod_without_status_prints_placeholders():
    pod = {"metadata": meta("p"), "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
           "status": {"phase": "Pending"}}
    assert cells("", "pods", pod) == ["p", "0/2", "Pending", "0", "49m", "<none>", "<none>", "<none>", "<none>"]


def test_pod_ip_falls_back_to_pod_ip_field():
    pod = {"metadata": meta("p"), "status": {"podIP": "10.1.1.1"}}
    assert by_header("", "pods", pod)["IP"] == "10.1.1.1"


def make_pod(*, phase="Running", reason=None, deleting=False, init=(), init_specs=None, containers=(),
             conditions=()) -> dict:
    """A pod with the given container statuses; specs are derived from the statuses."""
    status = {"phase": phase, "conditions": list(conditions), "containerStatuses": list(containers),
              "initContainerStatuses": list(init)}
    if reason:
        status["reason"] = reason
    specs = init_specs if init_specs is not None else [{"name": s["name"]} for s in init]
    metadata = meta("p", **({"deletionTimestamp": "2026-11-22T17:59:00Z"} if deleting else {}))
    return {"metadata": metadata, "status": status,
            "spec": {"initContainers": specs, "containers": [{"name": s["name"]} for s in containers]}}


def running(name="app", ready=True, **extra):
    return {"name": name, "ready": ready, "state": {"running": {}}, **extra}


def waiting(reason, name="app", **extra):
    return {"name": name, "ready": False, "state": {"waiting": {"reason": reason}}, **extra}


def terminated(name="app", exit_code=0, reason=None, signal=0):
    state = {"exitCode": exit_code, **({"reason": reason} if reason else {}), **({"signal": signal} if signal else {})}
    return {"name": name, "ready": False, "state": {"terminated": state}}


READY = {"type": "Ready", "status": "True"}
INITIALIZED = {"type": "Initialized", "status": "True"}


@pytest.mark.parametrize(("pod", "ready", "status"), [
    (make_pod(containers=[running()], conditions=[READY]), "1/1", "Running"),
    (make_pod(phase="Pending"), "0/0", "Pending"),
    (make_pod(phase="Pending", containers=[waiting("ContainerCreating")]), "0/1", "ContainerCreating"),
    (make_pod(containers=[waiting("CrashLoopBackOff", restartCount=4)]), "0/1", "CrashLoopBackOff"),
    (make_pod(phase="Pending", containers=[waiting("ImagePullBackOff")]), "0/1", "ImagePullBackOff"),
    (make_pod(phase="Succeeded", containers=[terminated(reason="Completed")]), "0/1", "Completed"),
    (make_pod(phase="Failed", containers=[terminated(exit_code=1, reason="Error")]), "0/1", "Error"),
    (make_pod(phase="Failed", containers=[terminated(exit_code=137)]), "0/1", "ExitCode:137"),
    (make_pod(phase="Failed", containers=[terminated(exit_code=137, signal=9)]), "0/1", "Signal:9"),
    (make_pod(phase="Failed", reason="Evicted"), "0/0", "Evicted"),
    # the first container's state wins, whatever the others do
    (make_pod(containers=[waiting("CrashLoopBackOff", name="a"), running(name="b")]), "1/2", "CrashLoopBackOff"),
    # a completed container next to a running one reads Running (or NotReady without the Ready condition)
    (make_pod(containers=[terminated(name="a", reason="Completed"), running(name="b")], conditions=[READY]),
     "1/2", "Running"),
    (make_pod(containers=[terminated(name="a", reason="Completed"), running(name="b")]), "1/2", "NotReady"),
    # init containers
    (make_pod(phase="Pending", init=[running("i1", ready=False), waiting("PodInitializing", "i2")],
              containers=[waiting("PodInitializing")]), "0/1", "Init:0/2"),
    (make_pod(phase="Pending", init=[terminated("i1"), running("i2", ready=False)],
              containers=[waiting("PodInitializing")]), "0/1", "Init:1/2"),
    (make_pod(phase="Pending", init=[waiting("PodInitializing", "i1")]), "0/0", "Init:0/1"),
    (make_pod(phase="Pending", init=[waiting("CrashLoopBackOff", "i1")]), "0/0", "Init:CrashLoopBackOff"),
    (make_pod(phase="Pending", init=[terminated("i1", exit_code=1, reason="Error")]), "0/0", "Init:Error"),
    (make_pod(phase="Pending", init=[terminated("i1", exit_code=2)]), "0/0", "Init:ExitCode:2"),
    (make_pod(phase="Pending", init=[terminated("i1", exit_code=2, signal=15)]), "0/0", "Init:Signal:15"),
    (make_pod(init=[terminated("i1")], containers=[running()], conditions=[READY, INITIALIZED]), "1/1", "Running"),
    # a started sidecar (restartable init container) counts as a container and does not block
    (make_pod(init=[running("sidecar", started=True)], init_specs=[{"name": "sidecar", "restartPolicy": "Always"}],
              containers=[running()], conditions=[READY, INITIALIZED]), "2/2", "Running"),
    (make_pod(phase="Pending", init=[running("sidecar", ready=False, started=False)],
              init_specs=[{"name": "sidecar", "restartPolicy": "Always"}]), "0/1", "Init:0/1"),
    # scheduling and deletion
    (make_pod(phase="Pending", conditions=[{"type": "PodScheduled", "status": "False",
                                            "reason": "SchedulingGated"}]), "0/0", "SchedulingGated"),
    (make_pod(deleting=True, containers=[running()], conditions=[READY]), "1/1", "Terminating"),
    (make_pod(deleting=True, reason="NodeLost", containers=[running()]), "1/1", "Unknown"),
    (make_pod(phase="Succeeded", deleting=True, containers=[terminated(reason="Completed")]), "0/1", "Completed"),
])
def test_pod_ready_and_status_follow_print_pod(pod, ready, status):
    row = by_header("", "pods", pod)
    assert (row["Ready"], row["Status"]) == (ready, status)


def test_pod_restarts_while_initializing_count_init_containers_only():
    pod = make_pod(phase="Pending", init=[{**waiting("CrashLoopBackOff", "i1"), "restartCount": 3}],
                   containers=[{**waiting("PodInitializing"), "restartCount": 9}])
    assert by_header("", "pods", pod)["Restarts"] == "3"


def test_pod_restarts_after_init_count_app_containers_and_sidecars():
    sidecar = {**running("sidecar", started=True), "restartCount": 1,
               "lastState": {"terminated": {"finishedAt": "2026-11-22T16:00:00Z"}}}
    app = {**running(), "restartCount": 2, "lastState": {"terminated": {"finishedAt": "2026-11-22T17:58:00Z"}}}
    pod = make_pod(init=[sidecar, {**terminated("setup"), "restartCount": 5}],
                   init_specs=[{"name": "sidecar", "restartPolicy": "Always"}, {"name": "setup"}],
                   containers=[app], conditions=[READY, INITIALIZED])
    assert by_header("", "pods", pod)["Restarts"] == "3 (2m ago)"


def test_pod_restarts_without_finish_time_have_no_suffix():
    pod = make_pod(containers=[{**running(), "restartCount": 4}])
    assert by_header("", "pods", pod)["Restarts"] == "4"


# --- nodes, namespaces ---------------------------------------------------------------------------

def node(**overrides) -> dict:
    obj = {
        "metadata": meta("server-1", labels={"node-role.kubernetes.io/control-plane": "true",
                                             "node-role.kubernetes.io/master": "true", "kubernetes.io/os": "linux"}),
        "spec": {},
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}, {"type": "Hostname", "address": "server-1"}],
            "nodeInfo": {"kubeletVersion": "v1.32.3+minik", "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "kernelVersion": "6.8.0-45-generic", "containerRuntimeVersion": "docker://27.3.1"},
        },
    }
    obj.update(overrides)
    return obj


def test_node_columns_and_cells():
    assert headers("", "nodes") == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert headers("", "nodes", wide=True)[5:] == [
        "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    assert cells("", "nodes", node()) == [
        "server-1", "Ready", "control-plane,master", "49m", "v1.32.3+minik", "172.18.0.2", "<none>",
        "Debian GNU/Linux 12 (bookworm)", "6.8.0-45-generic", "docker://27.3.1"]


@pytest.mark.parametrize(("conditions", "unschedulable", "expected"), [
    ([{"type": "Ready", "status": "True"}], True, "Ready,SchedulingDisabled"),
    ([{"type": "Ready", "status": "False"}], False, "NotReady"),
    ([{"type": "Ready", "status": "Unknown"}], True, "NotReady,SchedulingDisabled"),
    ([], False, "Unknown"),
])
def test_node_status(conditions, unschedulable, expected):
    obj = node(spec={"unschedulable": unschedulable})
    obj["status"]["conditions"] = conditions
    assert by_header("", "nodes", obj)["Status"] == expected


def test_node_roles_and_missing_info():
    obj = {"metadata": meta("w", labels={"kubernetes.io/role": "worker", "node-role.kubernetes.io/": ""})}
    assert cells("", "nodes", obj) == ["w", "Unknown", "worker", "49m", "", "<none>", "<none>",
                                       "<unknown>", "<unknown>", "<unknown>"]
    assert by_header("", "nodes", {"metadata": meta("bare")})["Roles"] == "<none>"


def test_namespace():
    assert headers("", "namespaces") == ["NAME", "STATUS", "AGE"]
    assert cells("", "namespaces", {"metadata": meta("kube-system"), "status": {"phase": "Active"}}) == [
        "kube-system", "Active", "49m"]


# --- services, endpoints, endpoint slices ------------------------------------------------------

def service(spec: dict, status: dict | None = None) -> dict:
    return {"metadata": meta("web"), "spec": spec, "status": status or {}}


def test_service_columns():
    assert headers("", "services") == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert headers("", "services", wide=True)[-1] == "SELECTOR"


@pytest.mark.parametrize(("svc", "expected"), [
    (service({"type": "ClusterIP", "clusterIP": "10.43.0.10", "clusterIPs": ["10.43.0.10"],
              "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
              "selector": {"k8s-app": "kube-dns", "app": "dns"}}),
     ["web", "ClusterIP", "10.43.0.10", "<none>", "53/UDP,53/TCP", "49m", "app=dns,k8s-app=kube-dns"]),
    (service({"type": "NodePort", "clusterIP": "10.43.1.1", "ports": [{"port": 80, "nodePort": 30080}],
              "externalIPs": ["192.0.2.1"]}),
     ["web", "NodePort", "10.43.1.1", "192.0.2.1", "80:30080/TCP", "49m", "<none>"]),
    (service({"type": "LoadBalancer", "clusterIP": "10.43.1.2", "ports": [{"port": 443, "nodePort": 31443}]}),
     ["web", "LoadBalancer", "10.43.1.2", "<pending>", "443:31443/TCP", "49m", "<none>"]),
    (service({"type": "LoadBalancer", "clusterIP": "10.43.1.2", "ports": []},
             {"loadBalancer": {"ingress": [{"ip": "172.18.0.3"}, {"hostname": "lb.example"}, {"ip": "172.18.0.2"}]}}),
     ["web", "LoadBalancer", "10.43.1.2", "172.18.0.2,172.18.0.3,lb.example", "<none>", "49m", "<none>"]),
    (service({"type": "ExternalName", "externalName": "db.example.com"}),
     ["web", "ExternalName", "<none>", "db.example.com", "<none>", "49m", "<none>"]),
    (service({"clusterIP": "None", "ports": [{"port": 5432}]}),
     ["web", "ClusterIP", "None", "<none>", "5432/TCP", "49m", "<none>"]),
])
def test_service_cells(svc, expected):
    assert cells("", "services", svc) == expected


@pytest.mark.parametrize(("subsets", "expected"), [
    ([], "<none>"),
    ([{"addresses": [{"ip": "10.42.0.5"}], "ports": [{"port": 8080}]}], "10.42.0.5:8080"),
    ([{"addresses": [{"ip": "10.42.0.5"}, {"ip": "10.42.0.6"}], "ports": [{"port": 80}, {"port": 443}]}],
     "10.42.0.5:80,10.42.0.6:80,10.42.0.5:443 + 1 more..."),
    ([{"addresses": [{"ip": "fd00::5"}], "ports": [{"port": 80}]}], "[fd00::5]:80"),
    ([{"addresses": [{"ip": "10.42.0.7"}]}], "10.42.0.7"),
    ([{"notReadyAddresses": [{"ip": "10.42.0.8"}], "ports": [{"port": 80}]}], ""),
])
def test_endpoints(subsets, expected):
    assert headers("", "endpoints") == ["NAME", "ENDPOINTS", "AGE"]
    assert cells("", "endpoints", {"metadata": meta("web"), "subsets": subsets}) == ["web", expected, "49m"]


def test_endpoint_slice():
    assert headers("discovery.k8s.io", "endpointslices") == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    eps = {"metadata": meta("web-abc12"), "addressType": "IPv4",
           "ports": [{"name": "http", "port": 8080}, {"name": "metrics"}, {}, {"port": 9000}],
           "endpoints": [{"addresses": ["10.42.0.5"]}, {"addresses": ["10.42.0.6"]}]}
    assert cells("discovery.k8s.io", "endpointslices", eps) == [
        "web-abc12", "IPv4", "8080,metrics,* + 1 more...", "10.42.0.5,10.42.0.6", "49m"]
    empty = {"metadata": meta("e"), "addressType": "IPv4"}
    assert cells("discovery.k8s.io", "endpointslices", empty) == ["e", "IPv4", "<unset>", "<unset>", "49m"]


# --- configuration ---------------------------------------------------------------------------------

def test_configmap_secret_serviceaccount():
    assert headers("", "configmaps") == ["NAME", "DATA", "AGE"]
    cm = {"metadata": meta("kube-root-ca.crt"), "data": {"ca.crt": "x", "b": "y"}, "binaryData": {"c": "AA=="}}
    assert cells("", "configmaps", cm) == ["kube-root-ca.crt", 3, "49m"]
    assert headers("", "secrets") == ["NAME", "TYPE", "DATA", "AGE"]
    secret = {"metadata": meta("db"), "type": "Opaque", "data": {"user": "YQ==", "password": "Yg=="}}
    assert cells("", "secrets", secret) == ["db", "Opaque", 2, "49m"]
    assert headers("", "serviceaccounts") == ["NAME", "SECRETS", "AGE"]
    assert cells("", "serviceaccounts", {"metadata": meta("default")}) == ["default", 0, "49m"]


def test_resource_quota():
    assert headers("", "resourcequotas") == ["NAME", "REQUEST", "LIMIT", "AGE"]
    quota = {"metadata": meta("compute"), "status": {
        "hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "2Gi", "limits.cpu": "2", "configmaps": "5"},
        "used": {"pods": "3", "requests.cpu": "500m", "limits.cpu": "1"}}}
    assert cells("", "resourcequotas", quota) == [
        "compute", "configmaps: 0/5, pods: 3/10, requests.cpu: 500m/1", "limits.cpu: 1/2, limits.memory: 0/2Gi",
        "49m"]


def test_limit_range_and_crd_use_the_default_convertor():
    for group, plural in (("", "limitranges"), ("apiextensions.k8s.io", "customresourcedefinitions")):
        assert printer_for(group, plural) is DEFAULT_PRINTER
        assert headers(group, plural) == ["NAME", "CREATED AT"]
    crd = {"metadata": {"name": "widgets.example.com", "creationTimestamp": "2026-11-22T18:10:34+01:00"}}
    assert cells("apiextensions.k8s.io", "customresourcedefinitions", crd) == [
        "widgets.example.com", "2026-11-22T17:10:34Z"]
    assert DEFAULT_PRINTER.column_definitions[1]["type"] == "date"
    assert DEFAULT_PRINTER.column_definitions[1]["description"].startswith("CreationTimestamp is a timestamp")
    assert printer_for("example.com", "widgets") is DEFAULT_PRINTER


def test_persistent_volume_claims():
    assert headers("", "persistentvolumeclaims") == [
        "NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"]
    bound = {"metadata": meta("data"),
             "spec": {"volumeName": "pvc-123", "storageClassName": "local-path", "volumeMode": "Filesystem",
                      "resources": {"requests": {"storage": "1Gi"}}},
             "status": {"phase": "Bound", "capacity": {"storage": "1Gi"},
                        "accessModes": ["ReadWriteMany", "ReadWriteOnce"]}}
    assert cells("", "persistentvolumeclaims", bound) == [
        "data", "Bound", "pvc-123", "1Gi", "RWO,RWX", "local-path", "<unset>", "49m", "Filesystem"]
    pending = {"metadata": meta("p", deletionTimestamp=CREATED,
                                annotations={"volume.beta.kubernetes.io/storage-class": "legacy"}),
               "spec": {"storageClassName": "ignored", "resources": {"requests": {"storage": "1Gi"}}},
               "status": {"phase": "Pending"}}
    assert cells("", "persistentvolumeclaims", pending) == [
        "p", "Terminating", "", "", "", "legacy", "<unset>", "49m", "<unset>"]


def test_lease():
    assert headers("coordination.k8s.io", "leases") == ["NAME", "HOLDER", "AGE"]
    lease = {"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "server-1_4f1c"}}
    assert cells("coordination.k8s.io", "leases", lease) == ["kube-scheduler", "server-1_4f1c", "49m"]
    assert cells("coordination.k8s.io", "leases", {"metadata": meta("l"), "spec": {}}) == ["l", "", "49m"]


# --- events ------------------------------------------------------------------------------------------

def test_core_event():
    assert headers("", "events") == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert headers("", "events", wide=True) == [
        "LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME"]
    event = {"metadata": meta("web.17f0a"), "type": "Normal", "reason": "Pulled",
             "message": "Successfully pulled image \"nginx\"\n",
             "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{nginx}"},
             "source": {"component": "kubelet", "host": "node-1"}, "count": 3,
             "firstTimestamp": "2026-11-22T17:00:00Z", "lastTimestamp": "2026-11-22T17:58:00Z"}
    assert cells("", "events", event) == [
        "2m", "Normal", "Pulled", "pod/web", "spec.containers{nginx}", "kubelet, node-1",
        "Successfully pulled image \"nginx\"", "60m", 3, "web.17f0a"]


def test_core_event_without_legacy_timestamps_uses_event_time_and_series():
    event = {"metadata": meta("e"), "type": "Warning", "reason": "FailedScheduling", "message": "0/1 nodes",
             "involvedObject": {"kind": "Node"}, "eventTime": "2026-11-22T17:59:30.123456Z",
             "reportingController": "default-scheduler"}
    # 29.876s: ages truncate, like Go's duration arithmetic
    assert cells("", "events", event) == [
        "29s", "Warning", "FailedScheduling", "node", "", "default-scheduler", "0/1 nodes", "29s", 1, "e"]
    event["series"] = {"count": 7, "lastObservedTime": "2026-11-22T17:59:55.000000Z"}
    assert cells("", "events", event)[0] == "5s"
    assert cells("", "events", event)[8] == 7


def test_events_k8s_io_event_maps_to_the_same_columns():
    assert headers("events.k8s.io", "events") == headers("", "events")
    event = {"metadata": meta("web.17f0b"), "type": "Normal", "reason": "Scheduled",
             "note": "Successfully assigned default/web to node-1", "eventTime": "2026-11-22T17:50:00.000000Z",
             "regarding": {"kind": "Pod", "name": "web"}, "reportingController": "default-scheduler",
             "reportingInstance": "default-scheduler-server-1", "action": "Binding"}
    assert cells("events.k8s.io", "events", event) == [
        "10m", "Normal", "Scheduled", "pod/web", "", "default-scheduler, default-scheduler-server-1",
        "Successfully assigned default/web to node-1", "10m", 1, "web.17f0b"]


# --- workloads -----------------------------------------------------------------------------------

TEMPLATE = {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"},
                                    {"name": "sidecar", "image": "busybox:1.36"}]}}
SELECTOR = {"matchLabels": {"app": "web", "tier": "front"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                                 {"key": "canary", "operator": "DoesNotExist"}]}


def test_deployment():
    assert headers("apps", "deployments") == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert headers("apps", "deployments", wide=True)[5:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    deployment = {"metadata": meta("web"), "spec": {"replicas": 3, "selector": SELECTOR, "template": TEMPLATE},
                  "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    assert cells("apps", "deployments", deployment) == [
        "web", "2/3", 3, 2, "49m", "nginx,sidecar", "nginx:1.27,busybox:1.36",
        "app=web,!canary,env in (dev,prod),tier=front"]
    fresh = {"metadata": meta("new"), "spec": {"selector": {"matchLabels": {"app": "new"}}}}
    assert cells("apps", "deployments", fresh) == ["new", "0/1", 0, 0, "49m", "", "", "app=new"]
    broken = {"metadata": meta("b"), "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}}
    assert by_header("apps", "deployments", broken)["Selector"] == "<invalid>"


def test_replica_set():
    assert headers("apps", "replicasets") == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    rs = {"metadata": meta("web-7d4b9c"), "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                                                   "template": TEMPLATE},
          "status": {"replicas": 3, "readyReplicas": 1}}
    assert cells("apps", "replicasets", rs) == [
        "web-7d4b9c", 3, 3, 1, "49m", "nginx,sidecar", "nginx:1.27,busybox:1.36", "app=web"]
    scaled_down = {"metadata": meta("old"), "spec": {"replicas": 0, "selector": {}}}
    assert cells("apps", "replicasets", scaled_down) == ["old", 0, 0, 0, "49m", "", "", "<none>"]


def test_daemon_set():
    assert headers("apps", "daemonsets") == [
        "NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"]
    ds = {"metadata": meta("svclb"),
          "spec": {"selector": {"matchLabels": {"app": "svclb"}},
                   "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                                         "containers": [{"name": "lb", "image": "klipper-lb:v0.4"}]}}},
          "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1,
                     "updatedNumberScheduled": 2, "numberAvailable": 1}}
    assert cells("apps", "daemonsets", ds) == [
        "svclb", 2, 2, 1, 2, 1, "kubernetes.io/os=linux", "49m", "lb", "klipper-lb:v0.4", "app=svclb"]


def test_stateful_set():
    assert headers("apps", "statefulsets") == ["NAME", "READY", "AGE"]
    assert headers("apps", "statefulsets", wide=True)[3:] == ["CONTAINERS", "IMAGES"]
    sts = {"metadata": meta("db"), "spec": {"replicas": 3, "template": TEMPLATE}, "status": {"readyReplicas": 3}}
    assert cells("apps", "statefulsets", sts) == ["db", "3/3", "49m", "nginx,sidecar", "nginx:1.27,busybox:1.36"]


def test_controller_revision():
    assert headers("apps", "controllerrevisions") == ["NAME", "CONTROLLER", "REVISION", "AGE"]
    revision = {"metadata": meta("svclb-6c9f7", ownerReferences=[
        {"apiVersion": "v1", "kind": "Pod", "name": "not-controller"},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "svclb", "controller": True}]), "revision": 2}
    assert cells("apps", "controllerrevisions", revision) == ["svclb-6c9f7", "daemonset.apps/svclb", 2, "49m"]
    orphan = {"metadata": meta("o"), "revision": 1}
    assert cells("apps", "controllerrevisions", orphan) == ["o", "<none>", 1, "49m"]


def job(status: dict, *, spec: dict | None = None, deleting: bool = False) -> dict:
    metadata = meta("pi", **({"deletionTimestamp": CREATED} if deleting else {}))
    return {"metadata": metadata, "status": status,
            "spec": spec if spec is not None else {
                "completions": 1, "parallelism": 1, "selector": {"matchLabels": {"batch.kubernetes.io/job-name": "pi"}},
                "template": {"spec": {"containers": [{"name": "pi", "image": "perl:5.34"}]}}}}


def test_job_columns_and_complete_job():
    assert headers("batch", "jobs") == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert headers("batch", "jobs", wide=True)[5:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    done = job({"succeeded": 1, "startTime": "2026-11-22T17:10:35Z", "completionTime": "2026-11-22T17:11:20Z",
                "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                               {"type": "Complete", "status": "True"}]})
    assert cells("batch", "jobs", done) == [
        "pi", "Complete", "1/1", "45s", "49m", "pi", "perl:5.34", "batch.kubernetes.io/job-name=pi"]


@pytest.mark.parametrize(("obj", "status", "completions", "duration"), [
    (job({}), "Running", "0/1", ""),
    (job({"startTime": "2026-11-22T17:50:00Z", "active": 1}), "Running", "0/1", "10m"),
    (job({"conditions": [{"type": "Failed", "status": "True"}]}), "Failed", "0/1", ""),
    (job({}, deleting=True), "Terminating", "0/1", ""),
    (job({"conditions": [{"type": "Suspended", "status": "True"}]}), "Suspended", "0/1", ""),
    (job({"conditions": [{"type": "FailureTarget", "status": "True"}]}), "FailureTarget", "0/1", ""),
    (job({"conditions": [{"type": "Complete", "status": "False"}]}), "Running", "0/1", ""),
    (job({"succeeded": 2}, spec={"parallelism": 3}), "Running", "2/1 of 3", ""),
    (job({"succeeded": 2}, spec={"completions": 5, "parallelism": 3}), "Running", "2/5", ""),
])
def test_job_status_completions_duration(obj, status, completions, duration):
    row = by_header("batch", "jobs", obj)
    assert (row["Status"], row["Completions"], row["Duration"]) == (status, completions, duration)


def test_cron_job():
    assert headers("batch", "cronjobs") == [
        "NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"]
    cron = {"metadata": meta("backup"),
            "spec": {"schedule": "*/5 * * * *", "suspend": False,
                     "jobTemplate": {"spec": {"template": {"spec": {
                         "containers": [{"name": "b", "image": "busybox"}]}}}}},
            "status": {"active": [{"name": "backup-29123"}], "lastScheduleTime": "2026-11-22T17:55:00Z"}}
    assert cells("batch", "cronjobs", cron) == [
        "backup", "*/5 * * * *", "<none>", "False", 1, "5m", "49m", "b", "busybox", "<none>"]
    never = {"metadata": meta("n"), "spec": {"schedule": "@daily", "timeZone": "Etc/UTC"}}
    assert cells("batch", "cronjobs", never)[:6] == ["n", "@daily", "Etc/UTC", "<unset>", 0, "<none>"]


# --- custom resources ------------------------------------------------------------------------------

WIDGET_COLUMNS = [
    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "description": "Current phase"},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Ratio", "type": "number", "jsonPath": ".status.ratio", "priority": 1},
    {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
    {"name": "Last Sync", "type": "date", "jsonPath": ".status.lastSync"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def widget(**status) -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": meta("w1"),
            "spec": {"replicas": 3, "paused": False},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], **status}}


def test_crd_printer_columns():
    columns = crd_printer(WIDGET_COLUMNS).column_definitions
    assert [c["name"] for c in columns] == ["Name", "Replicas", "Phase", "Ready", "Ratio", "Paused", "Last Sync",
                                            "Age"]
    assert columns[0]["format"] == "name"
    assert columns[1]["description"] == "Custom resource definition column (in JSONPath format): .spec.replicas"
    assert columns[2]["description"] == "Current phase"
    assert (columns[4]["priority"], columns[4]["type"]) == (1, "number")


def test_crd_printer_cells_with_date_column():
    row = crd_printer(WIDGET_COLUMNS).cells(widget(ratio=0.5, lastSync="2026-11-22T17:57:00Z"), NOW)
    assert row == ["w1", 3, "Running", "True", 0.5, False, "3m", "49m"]


def test_crd_printer_missing_fields_are_null_cells():
    obj = {"metadata": meta("bare"), "spec": {}}
    assert crd_printer(WIDGET_COLUMNS).cells(obj, NOW) == ["bare", None, None, None, None, None, None, "49m"]


@pytest.mark.parametrize(("type_", "value", "expected"), [
    ("integer", 2.9, 2), ("integer", "3", None), ("integer", True, None), ("number", 4, 4.0),
    ("boolean", "true", None), ("string", 3, "3"), ("string", 1.5, "1.5"), ("string", 1e21, "1e+21"),
    ("string", True, "true"), ("string", None, "<no value>"), ("string", {"b": [1, 2], "a": "x"}, "map[a:x b:[1 2]]"),
    ("date", "", "<unknown>"), ("date", "not-a-date", "<invalid>"), ("date", 5, None), ("date", CREATED, "49m"),
])
def test_crd_printer_converts_values_like_cell_for_json_value(type_, value, expected):
    printer = crd_printer([{"name": "V", "type": type_, "jsonPath": ".spec.v"}])
    assert printer.cells({"metadata": meta("w"), "spec": {"v": value}}, NOW)[1] == expected


def test_crd_printer_evaluation_errors_are_null_cells():
    printer = crd_printer([{"name": "First", "type": "string", "jsonPath": ".spec.items[3]"}])
    assert printer.cells({"metadata": meta("w"), "spec": {"items": [1]}}, NOW) == ["w", None]


def test_crd_printer_without_columns_serves_name_and_age():
    printer = crd_printer([])
    assert [c["name"] for c in printer.column_definitions] == ["Name", "Age"]
    assert printer.column_definitions[1]["type"] == "date"
    assert printer.cells({"metadata": meta("w")}, NOW) == ["w", "49m"]


def test_crd_printer_rejects_invalid_jsonpath():
    with pytest.raises(JsonPathError, match="unrecognized column definition"):
        crd_printer([{"name": "Bad", "type": "string", "jsonPath": ".spec.items[?(@.x==1"}])
