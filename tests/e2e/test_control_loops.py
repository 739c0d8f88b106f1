"""The control plane at work, driven by real kubectl against a real `minik server` with simulated nodes.

The kubectl session of a Kubernetes user: a Deployment rolls out, rolls forward (the rolling-update bounds
are checked on every watch event, the way Kubernetes' own e2e tests check them), rolls back to its old
ReplicaSet and scales to zero and back; a node that stops heartbeating loses its pods to the other nodes;
owners' deletion cascades to what they own; namespaces empty themselves; quota refuses the pod too many;
Jobs complete, CronJobs fire, DaemonSets cover the nodes they tolerate and StatefulSets come up in order.

The server runs three in-process simulated nodes (`--sim-nodes 3`) and a short node-monitor grace period
(5 s) so node loss is quick to see; the node that dies is a separate `minik sim-nodes` process killed with
SIGKILL, as a real node dies.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import yaml

from tests.e2e.conftest import REPO, MinikServer, needs_kubectl, start_minik, stop_minik

pytestmark = [pytest.mark.slow, needs_kubectl]

GRACE_PERIOD = 5  # --node-monitor-grace-period of the server under test (seconds)
SIM_NODES = ["sim-node-0", "sim-node-1", "sim-node-2"]
CRONJOB_NAMESPACE = "cron"


@pytest.fixture(scope="module")
def minik_server(tmp_path_factory) -> MinikServer:
    server = start_minik(tmp_path_factory.mktemp("minik"), "--sim-nodes", str(len(SIM_NODES)),
                         "--node-monitor-grace-period", str(GRACE_PERIOD))
    try:
        for node in SIM_NODES:
            server.kubectl_ok("wait", "--for=condition=Ready", f"node/{node}", "--timeout=30s")
        yield server
    finally:
        stop_minik(server)


@pytest.fixture(scope="module", autouse=True)
def cronjob_started(minik_server) -> float:
    """A `*/1` CronJob created before the other tests run, so that by the time its test runs the minute
    boundary has (most likely) passed and the test need not wait a whole minute on its own."""
    minik_server.api("POST", "/api/v1/namespaces", {"metadata": {"name": CRONJOB_NAMESPACE}})
    apply(minik_server, CRONJOB_NAMESPACE, {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
        "spec": {"schedule": "*/1 * * * *", "successfulJobsHistoryLimit": 1,
                 "jobTemplate": {"spec": {"template": {
                     "metadata": {"annotations": {"sim.minik.io/run-seconds": "0.5"}},
                     "spec": {"restartPolicy": "Never",
                              "containers": [{"name": "c", "image": "busybox:1.36", "command": ["date"]}]}}}}}})
    return time.monotonic()


# --- helpers ---


def apply(server: MinikServer, namespace: str, *docs: dict) -> str:
    return server.kubectl_ok("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(docs, sort_keys=False))


def get(server: MinikServer, namespace: str, *what: str) -> dict:
    return json.loads(server.kubectl_ok("get", *what, "-n", namespace, "-o", "json"))


def eventually(check, what: str, timeout: float = 30.0, interval: float = 0.2):
    """Call `check()` until it returns something truthy (returned) or the deadline passes (test fails)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"{what}: not within {timeout}s (last: {last!r})")


def deployment(name: str, *, replicas: int = 3, image: str = "nginx:1.25", strategy: dict | None = None,
               pod_spec: dict | None = None) -> dict:
    spec = {"containers": [{"name": "app", "image": image,
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     **({"strategy": strategy} if strategy else {}),
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {**spec, **(pod_spec or {})}}}}


def live_pods(server: MinikServer, namespace: str, selector: str) -> list[dict]:
    """Pods matching `selector` that are not being deleted."""
    return [p for p in get(server, namespace, "pods", "-l", selector)["items"]
            if not p["metadata"].get("deletionTimestamp")]


def is_ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def owned_by(obj: dict, kind: str, name: str) -> bool:
    return any(o["kind"] == kind and o["name"] == name for o in obj["metadata"].get("ownerReferences", []))


class Watch:
    """A raw watch stream read on a thread; every event is handed to `on_event(type, object)` in order.

    Errors raised by `on_event` (failed invariants) are kept and re-raised by `stop()`.
    """

    def __init__(self, server: MinikServer, path: str, on_event):
        self.on_event = on_event
        self.errors: list[BaseException] = []
        self.events = 0
        host, port = server.url.removeprefix("https://").split(":")
        self.conn = http.client.HTTPSConnection(host, int(port), context=server.ssl_context(), timeout=120)
        self.conn.request("GET", path + ("&" if "?" in path else "?") + "watch=1",
                          headers={"Accept": "application/json"})
        self.response = self.conn.getresponse()
        assert self.response.status == 200, self.response.read()
        self.thread = threading.Thread(target=self._run, name=f"watch {path}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while line := self.response.readline():
                event = json.loads(line)
                self.events += 1
                self.on_event(event["type"], event["object"])
        except (OSError, ValueError, http.client.HTTPException):
            pass  # the stream was shut down by stop()
        except BaseException as exc:  # an assertion inside on_event
            self.errors.append(exc)

    def stop(self) -> None:
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(timeout=10)
        self.conn.close()
        if self.errors:
            raise self.errors[0]


# --- Deployments: the whole kubectl session ---


def test_deployment_rollout_update_undo_and_scale(minik_server, namespace):
    server = minik_server
    surge, unavailable, replicas = 1, 1, 3
    apply(server, namespace, deployment("web", replicas=replicas, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}))
    server.kubectl_ok("rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s")

    pods = live_pods(server, namespace, "app=web")
    assert len(pods) == replicas and all(is_ready(p) for p in pods)
    assert {p["spec"]["nodeName"] for p in pods} == set(SIM_NODES), "spreading puts one replica on each node"
    (first_rs,) = get(server, namespace, "rs", "-l", "app=web")["items"]
    assert first_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert owned_by(first_rs, "Deployment", "web")

    described = server.kubectl_ok("describe", "deployment", "web", "-n", namespace)
    assert re.search(r"ScalingReplicaSet\s+.*deployment-controller\s+Scaled up replica set "
                     + re.escape(first_rs["metadata"]["name"]) + " .*to 3", described), described
    described = server.kubectl_ok("describe", "pod", pods[0]["metadata"]["name"], "-n", namespace)
    assert re.search(r"Scheduled\s+.*default-scheduler\s+Successfully assigned "
                     + re.escape(f"{namespace}/{pods[0]['metadata']['name']} to {pods[0]['spec']['nodeName']}"),
                     described), described

    # Roll forward, checking on every ReplicaSet and Deployment event what Kubernetes' e2e tests check:
    # the ReplicaSets never ask for more than replicas + maxSurge pods, and availability never drops
    # below replicas - maxUnavailable.
    rs_replicas: dict[str, int] = {}
    seen: dict[str, int] = {"max_total": 0}

    def on_rs(kind: str, rs: dict) -> None:
        if not owned_by(rs, "Deployment", "web"):
            return
        rs_replicas[rs["metadata"]["name"]] = 0 if kind == "DELETED" else rs["spec"]["replicas"]
        total = sum(rs_replicas.values())
        seen["max_total"] = max(seen["max_total"], total)
        assert total <= replicas + surge, f"ReplicaSets ask for {total} pods: {rs_replicas}"

    def on_deployment(kind: str, dep: dict) -> None:
        available = dep.get("status", {}).get("availableReplicas", 0)
        assert available >= replicas - unavailable, f"only {available} available: {dep.get('status')}"

    rs_list = server.api("GET", f"/apis/apps/v1/namespaces/{namespace}/replicasets")[1]
    dep_list = server.api("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments")[1]
    watches = [
        Watch(server, f"/apis/apps/v1/namespaces/{namespace}/replicasets?resourceVersion="
              f"{rs_list['metadata']['resourceVersion']}", on_rs),
        Watch(server, f"/apis/apps/v1/namespaces/{namespace}/deployments?resourceVersion="
              f"{dep_list['metadata']['resourceVersion']}", on_deployment)]
    for item in rs_list["items"]:
        on_rs("ADDED", item)
    try:
        server.kubectl_ok("set", "image", "deployment/web", "app=nginx:1.26", "-n", namespace)
        server.kubectl_ok("rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s")
    finally:
        for watch in watches:
            watch.stop()
    assert seen["max_total"] == replicas + surge, "the rollout surged"

    sets = {rs["metadata"]["name"]: rs for rs in get(server, namespace, "rs", "-l", "app=web")["items"]}
    assert len(sets) == 2
    second_rs = next(rs for name, rs in sets.items() if name != first_rs["metadata"]["name"])
    assert second_rs["spec"]["replicas"] == replicas and sets[first_rs["metadata"]["name"]]["spec"]["replicas"] == 0
    assert second_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert {p["spec"]["containers"][0]["image"] for p in live_pods(server, namespace, "app=web")} == {"nginx:1.26"}
    history = server.kubectl_ok("rollout", "history", "deployment/web", "-n", namespace)
    assert re.search(r"^1\s", history, re.M) and re.search(r"^2\s", history, re.M), history

    # Undo: the first ReplicaSet (same template hash) is scaled back up; no third one is made.
    server.kubectl_ok("rollout", "undo", "deployment/web", "-n", namespace)
    server.kubectl_ok("rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s")
    sets = {rs["metadata"]["name"]: rs for rs in get(server, namespace, "rs", "-l", "app=web")["items"]}
    assert set(sets) == {first_rs["metadata"]["name"], second_rs["metadata"]["name"]}
    back = sets[first_rs["metadata"]["name"]]
    assert back["spec"]["replicas"] == replicas and back["status"].get("readyReplicas") == replicas
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert back["metadata"]["uid"] == first_rs["metadata"]["uid"]
    assert {p["spec"]["containers"][0]["image"] for p in live_pods(server, namespace, "app=web")} == {"nginx:1.25"}

    # Scale to zero and back.
    server.kubectl_ok("scale", "deployment/web", "--replicas=0", "-n", namespace)
    eventually(lambda: not get(server, namespace, "pods", "-l", "app=web")["items"], "all pods gone")
    assert get(server, namespace, "deployment", "web")["status"].get("replicas", 0) == 0
    server.kubectl_ok("scale", "deployment/web", "--replicas=3", "-n", namespace)
    server.kubectl_ok("rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s")
    assert len([p for p in live_pods(server, namespace, "app=web") if is_ready(p)]) == replicas

    # Delete the Deployment: its ReplicaSets and Pods are garbage-collected.
    server.kubectl_ok("delete", "deployment", "web", "-n", namespace)
    eventually(lambda: not get(server, namespace, "rs,pods", "-l", "app=web")["items"],
               "ReplicaSets and Pods collected")


def test_unschedulable_pod_reports_why(minik_server, namespace):
    server = minik_server
    apply(server, namespace, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge"},
                              "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                                       "resources": {"requests": {"cpu": "64"}}}]}})

    def scheduled_condition():
        pod = get(server, namespace, "pod", "huge")
        return next((c for c in pod["status"].get("conditions", []) if c["type"] == "PodScheduled"), None)

    condition = eventually(scheduled_condition, "PodScheduled condition")
    assert condition["status"] == "False" and condition["reason"] == "Unschedulable"
    assert re.match(r"0/\d+ nodes are available: \d+ Insufficient cpu", condition["message"]), condition
    described = server.kubectl_ok("describe", "pod", "huge", "-n", namespace)
    assert re.search(r"FailedScheduling\s+.*default-scheduler\s+0/\d+ nodes are available", described), described


# --- node loss ---


def test_pods_of_a_lost_node_are_replaced_elsewhere(minik_server, namespace, tmp_path):
    server = minik_server
    with open(tmp_path / "sim-nodes.log", "wb") as log:
        agent = subprocess.Popen(
            [sys.executable, "-m", "minik.cli", "sim-nodes", "--kubeconfig", str(server.kubeconfig), "--count", "1",
             "--name-prefix", "doomed-", "--node-lease-duration", "4", "--ready-delay", "0.2"],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        eventually(lambda: server.kubectl("get", "node", "doomed-0")[0] == 0, "node doomed-0 registered")
        server.kubectl_ok("wait", "--for=condition=Ready", "node/doomed-0", "--timeout=30s")
        for node in SIM_NODES:  # only the doomed node takes the pods at first
            server.kubectl_ok("cordon", node)
        try:
            apply(server, namespace, deployment("survivor", replicas=2, pod_spec={"tolerations": [
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": 2}]}))
            server.kubectl_ok("rollout", "status", "deployment/survivor", "-n", namespace, "--timeout=60s")
        finally:
            for node in SIM_NODES:
                server.kubectl_ok("uncordon", node)
        before = live_pods(server, namespace, "app=survivor")
        assert {p["spec"]["nodeName"] for p in before} == {"doomed-0"}
        # A default toleration was added by admission for the other taint, as in Kubernetes.
        assert {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                "tolerationSeconds": 300} in before[0]["spec"]["tolerations"]

        agent.send_signal(signal.SIGKILL)  # the node dies: no more lease renewals, nobody confirms deletions
        agent.wait(timeout=10)
        server.kubectl_ok("wait", "--for=condition=Ready=Unknown", "node/doomed-0", f"--timeout={GRACE_PERIOD + 25}s")
        taints = get(server, "default", "node", "doomed-0")["spec"].get("taints", [])
        assert any(t["key"] == "node.kubernetes.io/unreachable" and t["effect"] == "NoExecute" for t in taints), taints

        def replaced():
            pods = live_pods(server, namespace, "app=survivor")
            ok = len(pods) == 2 and all(is_ready(p) and p["spec"]["nodeName"] in SIM_NODES for p in pods)
            return pods if ok else None

        eventually(replaced, "two ready replacements on the live nodes", timeout=30)
        evicted = [p for p in get(server, namespace, "pods", "-l", "app=survivor")["items"]
                   if p["metadata"].get("deletionTimestamp")]
        assert {p["metadata"]["name"] for p in evicted} == {p["metadata"]["name"] for p in before}, \
            "the lost node's pods are being deleted (they stay Terminating until the node confirms, as in Kubernetes)"
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(timeout=10)
        server.kubectl("delete", "node", "doomed-0", "--ignore-not-found")


# --- namespaces, quota ---


def test_namespace_delete_removes_its_content(minik_server):
    server = minik_server
    status, body = server.api("POST", "/api/v1/namespaces", {"metadata": {"name": "doomed-ns"}})
    assert status == 201, body
    apply(server, "doomed-ns", deployment("app", replicas=2),
          {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}})
    server.kubectl_ok("rollout", "status", "deployment/app", "-n", "doomed-ns", "--timeout=60s")
    server.kubectl_ok("delete", "namespace", "doomed-ns", "--timeout=60s")  # waits until it is gone
    rc, _, err = server.kubectl("get", "namespace", "doomed-ns")
    assert rc == 1 and 'namespaces "doomed-ns" not found' in err
    for kind in ("pods", "replicasets", "deployments", "configmaps"):
        status, body = server.api("GET", f"/api/v1/{kind}" if kind in ("pods", "configmaps")
                                  else f"/apis/apps/v1/{kind}")
        assert status == 200
        assert not [i for i in body["items"] if i["metadata"]["namespace"] == "doomed-ns"], kind


def test_quota_forbids_the_pod_that_would_exceed_it(minik_server, namespace):
    server = minik_server
    apply(server, namespace, {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "small"},
                              "spec": {"hard": {"pods": "2", "requests.cpu": "1"}}})
    eventually(lambda: get(server, namespace, "quota", "small").get("status", {}).get("hard"), "quota status")
    for name in ("one", "two"):
        server.kubectl_ok("run", name, "--image=busybox:1.36", "-n", namespace, "--overrides",
                          json.dumps({"spec": {"containers": [{"name": name, "image": "busybox:1.36",
                                                               "resources": {"requests": {"cpu": "100m"}}}]}}))
    rc, _, err = server.kubectl("run", "three", "--image=busybox:1.36", "-n", namespace, "--overrides",
                                json.dumps({"spec": {"containers": [{"name": "three", "image": "busybox:1.36",
                                                                     "resources": {"requests": {"cpu": "100m"}}}]}}))
    assert rc == 1
    assert re.search(r'Error from server \(Forbidden\): pods "three" is forbidden: exceeded quota: small, '
                     r"requested: pods=1, used: pods=2, limited: pods=2", err), err
    used = eventually(lambda: (get(server, namespace, "quota", "small")["status"].get("used") or {}).get("pods") == "2"
                      and get(server, namespace, "quota", "small")["status"]["used"], "quota usage")
    assert used["requests.cpu"] == "200m"


# --- workloads ---


def test_job_completes(minik_server, namespace):
    server = minik_server
    apply(server, namespace, {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "count"},
                              "spec": {"completions": 3, "parallelism": 2, "template": {
                                  "metadata": {"annotations": {"sim.minik.io/run-seconds": "0.3"}},
                                  "spec": {"restartPolicy": "Never", "containers": [
                                      {"name": "c", "image": "busybox:1.36", "command": ["true"]}]}}}})
    server.kubectl_ok("wait", "--for=condition=complete", "job/count", "-n", namespace, "--timeout=60s")
    job = get(server, namespace, "job", "count")
    assert job["status"]["succeeded"] == 3 and job["status"].get("completionTime")
    pods = get(server, namespace, "pods", "-l", "job-name=count")["items"]
    assert len(pods) == 3 and {p["status"]["phase"] for p in pods} == {"Succeeded"}
    out = server.kubectl_ok("get", "job", "count", "-n", namespace)
    assert re.search(r"count\s+(Complete\s+)?3/3", out), out


def test_daemonset_covers_every_node_but_the_tainted_one(minik_server, namespace):
    server = minik_server
    server.kubectl_ok("taint", "nodes", "sim-node-2", "dedicated=infra:NoSchedule")
    try:
        apply(server, namespace, {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
                                  "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
                                      "metadata": {"labels": {"app": "agent"}},
                                      "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}})
        server.kubectl_ok("rollout", "status", "daemonset/agent", "-n", namespace, "--timeout=60s")
        status = get(server, namespace, "daemonset", "agent")["status"]
        assert status["desiredNumberScheduled"] == 2 and status["numberReady"] == 2, status
        pods = live_pods(server, namespace, "app=agent")
        assert sorted(p["spec"]["nodeName"] for p in pods) == ["sim-node-0", "sim-node-1"]
    finally:
        server.kubectl_ok("taint", "nodes", "sim-node-2", "dedicated-")
    # The taint is gone: the third node gets its pod.
    eventually(lambda: sorted(p["spec"]["nodeName"] for p in live_pods(server, namespace, "app=agent")) == SIM_NODES,
               "a pod on every node once the taint is removed")


def test_statefulset_comes_up_in_order(minik_server, namespace):
    server = minik_server
    timeline: list[tuple[str, str]] = []  # ("created" | "ready", pod name) in watch order
    ready: set[str] = set()

    def on_pod(kind: str, pod: dict) -> None:
        name = pod["metadata"]["name"]
        if kind == "ADDED":
            timeline.append(("created", name))
        if kind != "DELETED" and is_ready(pod) and name not in ready:
            ready.add(name)
            timeline.append(("ready", name))

    listed = server.api("GET", f"/api/v1/namespaces/{namespace}/pods")[1]
    watch = Watch(server, f"/api/v1/namespaces/{namespace}/pods?resourceVersion="
                  f"{listed['metadata']['resourceVersion']}", on_pod)
    try:
        apply(server, namespace,
              {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 80}]}},
              {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
               "spec": {"serviceName": "web", "replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}})
        server.kubectl_ok("rollout", "status", "statefulset/web", "-n", namespace, "--timeout=60s")
        eventually(lambda: len(ready) == 3, "the watch saw all three ready", timeout=10)
    finally:
        watch.stop()
    assert timeline == [("created", "web-0"), ("ready", "web-0"), ("created", "web-1"), ("ready", "web-1"),
                        ("created", "web-2"), ("ready", "web-2")], timeline
    pods = {p["metadata"]["name"]: p for p in get(server, namespace, "pods", "-l", "app=web")["items"]}
    assert pods["web-1"]["spec"]["hostname"] == "web-1" and pods["web-1"]["spec"]["subdomain"] == "web"
    endpoints = get(server, namespace, "endpoints", "web")
    assert sorted(a["hostname"] for s in endpoints["subsets"] for a in s["addresses"]) == ["web-0", "web-1", "web-2"]


def test_cronjob_fires(minik_server, cronjob_started):
    server = minik_server
    # The next minute boundary comes at most 60 s after the CronJob was made (plus the controller's reaction).
    remaining = max(5.0, 75.0 - (time.monotonic() - cronjob_started))

    def fired():
        jobs = [j for j in get(server, CRONJOB_NAMESPACE, "jobs")["items"] if owned_by(j, "CronJob", "tick")]
        return jobs if any(j.get("status", {}).get("succeeded") == 1 for j in jobs) else None

    jobs = eventually(fired, "a Job of the CronJob completed", timeout=remaining, interval=1.0)
    assert re.fullmatch(r"tick-\d+", jobs[0]["metadata"]["name"])
    status = get(server, CRONJOB_NAMESPACE, "cronjob", "tick")["status"]
    assert status.get("lastScheduleTime") and status.get("lastSuccessfulTime")
    assert re.search(r"SuccessfulCreate\s+.*cronjob-controller\s+Created job tick-\d+",
                     server.kubectl_ok("describe", "cronjob", "tick", "-n", CRONJOB_NAMESPACE))


def test_readme_example_manifest(minik_server, namespace):
    """manifests/web.yaml, the README's first workload: rolls out, and its Service gets the pods' addresses."""
    server = minik_server
    out = server.kubectl_ok("apply", "-n", namespace, "-f", str(REPO / "manifests" / "web.yaml"))
    assert out.split("\n")[:2] == ["deployment.apps/web created", "service/web created"], out
    server.kubectl_ok("rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s")
    pod_ips = {p["status"]["podIP"] for p in live_pods(server, namespace, "app=web")}

    def addresses():
        subsets = get(server, namespace, "endpoints", "web").get("subsets") or []
        return {a["ip"] for s in subsets for a in s.get("addresses", [])} == pod_ips

    eventually(addresses, "the Service's Endpoints list the three pods")
    assert len(pod_ips) == 3
