"""Real kubectl against a real `minik server` process: the commands users type, with the output they know.

Every test runs in its own namespace on the module's server. A representative subset (get, apply, create,
delete, scale, explain, errors, api-resources) runs with the default kubectl (1.32 dispatcher) and with
the oldest and newest supported versions (1.27 speaks v2beta1 discovery; ≥ 1.32 sends protobuf bodies for
typed `kubectl create <kind>` generators).
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import KUBECTLS, MinikServer, WatchingKubectl, needs_kubectl, strip_ansi

pytestmark = [pytest.mark.slow, needs_kubectl]


# --- manifests and small helpers ---


def deployment_manifest(name: str, *, replicas: int = 2, image: str = "nginx:1.25", labels: dict | None = None,
                        containers: list[dict] | None = None) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name, **(labels or {})}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": containers or [
                                  {"name": "nginx", "image": image, "ports": [{"containerPort": 80}]}]}}},
    }


def pod_manifest(name: str, image: str = "busybox:1.36") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": image, "command": ["sleep", "3600"]}]}}


def write_manifest(tmp_path: Path, name: str, *docs: dict) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return str(path)


def get_json(server: MinikServer, namespace: str, *what: str, binary: str = "kubectl") -> dict:
    return json.loads(server.kubectl_ok("get", *what, "-n", namespace, "-o", "json", binary=binary))


def columns(line: str) -> list[str]:
    """Cells of a kubectl table line (cells are separated by at least two spaces or end-of-line)."""
    return [cell for cell in re.split(r"\s{2,}", line.strip()) if cell]


def table(output: str) -> tuple[list[str], list[list[str]]]:
    lines = [line for line in strip_ansi(output).splitlines() if line.strip()]
    assert lines, f"no table printed: {output!r}"
    return columns(lines[0]), [columns(line) for line in lines[1:]]


def main_managers(obj: dict) -> list[dict]:
    """managedFields entries of the main resource (not those of /status, e.g. a controller's)."""
    return [m for m in obj["metadata"].get("managedFields", []) if m.get("subresource", "") == ""]


def appliers(obj: dict) -> list[str]:
    """The managers that server-side applied to the main resource (controllers' Updates left out: the
    deployment controller, where one runs, owns the revision annotation through an Update)."""
    return sorted(m["manager"] for m in main_managers(obj) if m["operation"] == "Apply")


def version_tag(binary: str) -> str:
    return binary.replace("kubectl", "k").replace(".", "")  # kubectl.1.27 → k127 (usable in names)


# --- discovery ---


@pytest.mark.parametrize("binary", KUBECTLS)
def test_api_resources_lists_kinds_short_names_and_scope(minik_server, binary):
    out = minik_server.kubectl_ok("api-resources", binary=binary)
    header, rows = table(out)
    assert header == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    by_key = {}
    for row in rows:
        if len(row) == 4:  # no short names: the SHORTNAMES cell is empty
            row = [row[0], "", *row[1:]]
        by_key[(row[0], row[2])] = row
    expected = [
        ["pods", "po", "v1", "true", "Pod"],
        ["namespaces", "ns", "v1", "false", "Namespace"],
        ["nodes", "no", "v1", "false", "Node"],
        ["services", "svc", "v1", "true", "Service"],
        ["configmaps", "cm", "v1", "true", "ConfigMap"],
        ["secrets", "", "v1", "true", "Secret"],
        ["deployments", "deploy", "apps/v1", "true", "Deployment"],
        ["replicasets", "rs", "apps/v1", "true", "ReplicaSet"],
        ["customresourcedefinitions", "crd,crds", "apiextensions.k8s.io/v1", "false", "CustomResourceDefinition"],
    ]
    for row in expected:
        assert by_key.get((row[0], row[2])) == row, f"{row[0]}: {by_key.get((row[0], row[2]))} in\n{out}"
    cluster_scoped = minik_server.kubectl_ok("api-resources", "--namespaced=false", "-o", "name", binary=binary)
    names = set(cluster_scoped.split())
    assert {"namespaces", "nodes"} <= names and "pods" not in names


# --- get ---


@pytest.mark.parametrize("binary", KUBECTLS)
def test_get_output_formats(minik_server, namespace, tmp_path, binary):
    server = minik_server
    server.kubectl_ok("apply", "-n", namespace, "-f", write_manifest(tmp_path, "pod.yaml", pod_manifest("p1")),
                      binary=binary)

    header, rows = table(server.kubectl_ok("get", "pods", "-n", namespace, binary=binary))
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert len(rows) == 1 and rows[0][:4] == ["p1", "0/1", "Pending", "0"]
    assert re.fullmatch(r"\d+s", rows[0][4]), rows

    header, rows = table(server.kubectl_ok("get", "pods", "-n", namespace, "-o", "wide", binary=binary))
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
                      "READINESS GATES"]
    assert rows[0][:4] == ["p1", "0/1", "Pending", "0"] and rows[0][5:] == ["<none>"] * 4

    pod = yaml.safe_load(server.kubectl_ok("get", "pod", "p1", "-n", namespace, "-o", "yaml", binary=binary))
    assert pod["kind"] == "Pod" and pod["apiVersion"] == "v1"
    assert pod["metadata"]["name"] == "p1" and pod["metadata"]["namespace"] == namespace
    assert pod["spec"]["containers"][0]["image"] == "busybox:1.36"
    assert pod["status"]["phase"] == "Pending"

    listed = get_json(server, namespace, "pods", binary=binary)
    assert listed["kind"] == "List" and [p["metadata"]["name"] for p in listed["items"]] == ["p1"]
    assert listed["items"][0]["metadata"]["uid"] == pod["metadata"]["uid"]

    assert server.kubectl_ok("get", "pods", "-n", namespace, "-o", "name", binary=binary).split() == ["pod/p1"]

    header, rows = table(server.kubectl_ok("get", "pods", "-A", binary=binary))
    assert header == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [namespace, "p1", "0/1", "Pending", "0"] in [row[:5] for row in rows]

    header, rows = table(server.kubectl_ok("get", "svc", "kubernetes", "-n", "default", binary=binary))
    assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert rows[0][:5] == ["kubernetes", "ClusterIP", "10.43.0.1", "<none>", "443/TCP"]

    server.kubectl_ok("apply", "-n", namespace, "-f",
                      write_manifest(tmp_path, "dep.yaml", deployment_manifest("web")), binary=binary)
    header, rows = table(server.kubectl_ok("get", "deploy", "-n", namespace, "-o", "wide", binary=binary))
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert rows[0][:2] == ["web", "0/2"] and re.fullmatch(r"\d+", rows[0][2]) and rows[0][3] == "0", rows
    assert rows[0][5:] == ["nginx", "nginx:1.25", "app=web"]


def test_get_watch_prints_added_and_modified(minik_server, namespace, tmp_path):
    server = minik_server
    server.kubectl_ok("apply", "-n", namespace, "-f", write_manifest(tmp_path, "p.yaml", pod_manifest("watched")))
    process = server.kubectl_popen("get", "pods", "-n", namespace, "-w", "--output-watch-events")
    lines: queue.Queue[str | None] = queue.Queue()

    def pump():
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=pump, name="kubectl-watch-reader", daemon=True)
    reader.start()
    seen: list[str] = []

    def wait_for(predicate, what: str, timeout: float = 15.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line)
            if predicate(columns(line)):
                return columns(line)
        pytest.fail(f"kubectl get -w never printed {what}; it printed: {seen}")

    try:
        assert wait_for(lambda c: c and c[0] == "EVENT", "a header") == \
            ["EVENT", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert wait_for(lambda c: c[:2] == ["ADDED", "watched"], "ADDED watched")[2:5] == ["0/1", "Pending", "0"]
        server.kubectl_ok("label", "pod", "watched", "-n", namespace, "changed=yes")
        wait_for(lambda c: c[:2] == ["MODIFIED", "watched"], "MODIFIED watched")
        server.kubectl_ok("apply", "-n", namespace, "-f", write_manifest(tmp_path, "n.yaml", pod_manifest("newborn")))
        wait_for(lambda c: c[:2] == ["ADDED", "newborn"], "ADDED newborn")
        server.kubectl_ok("delete", "pod", "newborn", "-n", namespace, "--wait=false")
        wait_for(lambda c: c[:2] == ["DELETED", "newborn"], "DELETED newborn")
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        reader.join(timeout=5)
        process.stdout.close()
        process.stderr.close()


# --- describe ---


def test_describe_deployment_lists_its_events(minik_server, namespace, tmp_path):
    server = minik_server
    server.kubectl_ok("apply", "-n", namespace, "-f", write_manifest(tmp_path, "d.yaml", deployment_manifest("web")))
    out = server.kubectl_ok("describe", "deployment", "web", "-n", namespace)
    fields = dict(re.findall(r"^([A-Za-z][A-Za-z -]*):\s+(.*)$", out, flags=re.M))
    assert fields["Name"] == "web" and fields["Namespace"] == namespace
    assert fields["Selector"] == "app=web" and fields["Labels"] == "app=web"
    assert re.fullmatch(r"2 desired \| \d+ updated \| \d+ total \| 0 available \| \d+ unavailable",
                        fields["Replicas"]), fields["Replicas"]
    assert fields["StrategyType"] == "RollingUpdate"
    assert re.search(r"^\s+Image:\s+nginx:1\.25$", out, flags=re.M), out
    assert re.search(r"^Events:", out, flags=re.M), out
    assert "E2EProbe" not in out

    uid = get_json(server, namespace, "deployment", "web")["metadata"]["uid"]
    event = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "web.e2e1", "namespace": namespace},
        "involvedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": namespace,
                           "uid": uid},
        "reason": "E2EProbe", "message": "Probed by the e2e suite", "type": "Warning",
        "source": {"component": "e2e-suite"}, "count": 1,
        "firstTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "lastTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    status, body = server.api("POST", f"/api/v1/namespaces/{namespace}/events", event)
    assert status == 201, body
    out = server.kubectl_ok("describe", "deployment", "web", "-n", namespace)
    events = out.split("\nEvents:", 1)[1]
    header, rows = table(events)
    assert header == ["Type", "Reason", "Age", "From", "Message"]
    assert set(rows[0][0]) == {"-"}, events  # the dashes under the header
    ours = [row for row in rows[1:] if row[1] == "E2EProbe"]  # a deployment controller may add its own
    assert len(ours) == 1, events
    assert ours[0][0] == "Warning" and ours[0][3:] == ["e2e-suite", "Probed by the e2e suite"], ours
    assert re.fullmatch(r"\d+s", ours[0][2]), ours


# --- apply ---


@pytest.mark.parametrize("binary", KUBECTLS)
def test_apply_client_side_created_unchanged_configured(minik_server, namespace, tmp_path, binary):
    server = minik_server
    manifest = deployment_manifest("web", labels={"extra": "yes"})
    path = write_manifest(tmp_path, "web.yaml", manifest)
    assert server.kubectl_ok("apply", "-n", namespace, "-f", path, binary=binary).strip() == \
        "deployment.apps/web created"
    assert server.kubectl_ok("apply", "-n", namespace, "-f", path, binary=binary).strip() == \
        "deployment.apps/web unchanged"
    live = get_json(server, namespace, "deployment", "web")
    applied = json.loads(live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert applied["spec"]["replicas"] == 2

    manifest["spec"]["replicas"] = 3
    del manifest["metadata"]["labels"]["extra"]  # a field dropped from the manifest is removed (3-way merge)
    write_manifest(tmp_path, "web.yaml", manifest)
    assert server.kubectl_ok("apply", "-n", namespace, "-f", path, binary=binary).strip() == \
        "deployment.apps/web configured"
    live = get_json(server, namespace, "deployment", "web")
    assert live["spec"]["replicas"] == 3
    assert live["metadata"]["labels"] == {"app": "web"}
    assert live["metadata"]["generation"] == 2
    assert server.kubectl_ok("apply", "-n", namespace, "-f", path, binary=binary).strip() == \
        "deployment.apps/web unchanged"


def test_apply_server_side_conflicts_and_force(minik_server, namespace, tmp_path):
    server = minik_server
    path = write_manifest(tmp_path, "web.yaml", deployment_manifest("web"))
    assert server.kubectl_ok("apply", "--server-side", "-n", namespace, "-f", path).strip() == \
        "deployment.apps/web serverside-applied"
    live = get_json(server, namespace, "deployment", "web", "--show-managed-fields")
    assert appliers(live) == ["kubectl"]
    assert "kubectl.kubernetes.io/last-applied-configuration" not in live["metadata"].get("annotations", {})
    assert server.kubectl_ok("apply", "--server-side", "-n", namespace, "-f", path).strip() == \
        "deployment.apps/web serverside-applied"

    other = write_manifest(tmp_path, "other.yaml", deployment_manifest("web", replicas=5))
    rc, out, err = server.kubectl("apply", "--server-side", "--field-manager=other", "-n", namespace, "-f", other)
    assert rc == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas' in err, err
    assert get_json(server, namespace, "deployment", "web")["spec"]["replicas"] == 2

    out = server.kubectl_ok("apply", "--server-side", "--force-conflicts", "--field-manager=other",
                            "-n", namespace, "-f", other)
    assert out.strip() == "deployment.apps/web serverside-applied"
    live = get_json(server, namespace, "deployment", "web", "--show-managed-fields")
    assert live["spec"]["replicas"] == 5
    assert appliers(live) == ["kubectl", "other"]
    managers = {m["manager"]: m for m in main_managers(live) if m["operation"] == "Apply"}
    assert "f:replicas" in managers["other"]["fieldsV1"]["f:spec"]
    assert "f:replicas" not in managers["kubectl"]["fieldsV1"]["f:spec"]


# --- create, replace, delete ---


@pytest.mark.parametrize("binary", KUBECTLS)
def test_create_and_replace(minik_server, namespace, tmp_path, binary):
    server = minik_server
    manifest = deployment_manifest("web")
    path = write_manifest(tmp_path, "web.yaml", manifest)
    assert server.kubectl_ok("create", "-n", namespace, "-f", path, binary=binary).strip() == \
        "deployment.apps/web created"
    rc, out, err = server.kubectl("create", "-n", namespace, "-f", path, binary=binary)
    assert rc == 1 and "(AlreadyExists)" in err and 'deployments.apps "web" already exists' in err, err

    manifest["spec"]["replicas"] = 4
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    write_manifest(tmp_path, "web.yaml", manifest)
    assert server.kubectl_ok("replace", "-n", namespace, "-f", path, binary=binary).strip() == \
        "deployment.apps/web replaced"
    live = get_json(server, namespace, "deployment", "web")
    assert live["spec"]["replicas"] == 4
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert live["spec"]["strategy"]["type"] == "RollingUpdate"  # defaulted again on update

    missing = write_manifest(tmp_path, "missing.yaml", deployment_manifest("missing"))
    rc, out, err = server.kubectl("replace", "-n", namespace, "-f", missing, binary=binary)
    assert rc == 1 and "(NotFound)" in err and 'deployments.apps "missing" not found' in err, err


@pytest.mark.parametrize("binary", KUBECTLS)
def test_delete(minik_server, namespace, tmp_path, binary):
    server = minik_server
    path = write_manifest(tmp_path, "objs.yaml", deployment_manifest("web"),
                          {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                           "data": {"a": "1"}})
    server.kubectl_ok("apply", "-n", namespace, "-f", path, binary=binary)
    out = server.kubectl_ok("delete", "configmap", "settings", "-n", namespace, binary=binary)
    assert re.fullmatch(r'configmap "settings" deleted( from \S+ namespace)?', out.strip()), out
    rc, out, err = server.kubectl("get", "configmap", "settings", "-n", namespace, binary=binary)
    assert rc == 1 and 'configmaps "settings" not found' in err, err

    out = server.kubectl_ok("delete", "-n", namespace, "-f", path, "--ignore-not-found", binary=binary)
    assert re.fullmatch(r'deployment\.apps "web" deleted( from \S+ namespace)?', out.strip()), out
    assert get_json(server, namespace, "deployments", binary=binary)["items"] == []
    rc, out, err = server.kubectl("delete", "deployment", "web", "-n", namespace, binary=binary)
    assert rc == 1 and 'deployments.apps "web" not found' in err, err


def test_wait_for_delete(minik_server, namespace, tmp_path):
    """A finalizer holds the object after `delete`; `kubectl wait --for=delete` returns when it is gone."""
    server = minik_server
    held = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "held", "finalizers": ["example.com/hold"]}, "data": {"a": "1"}}
    server.kubectl_ok("apply", "-n", namespace, "-f", write_manifest(tmp_path, "held.yaml", held))
    server.kubectl_ok("delete", "configmap", "held", "-n", namespace, "--wait=false")
    assert get_json(server, namespace, "configmap", "held")["metadata"]["deletionTimestamp"]
    rc, out, err = server.kubectl("wait", "--for=delete", "configmap/held", "-n", namespace, "--timeout=1s")
    assert rc == 1 and "timed out waiting for the condition on configmaps/held" in err, (out, err)

    with WatchingKubectl(server, "wait", "--for=delete", "configmap/held", "-n", namespace,
                         "--timeout=30s") as waiter:
        waiter.wait_until_watching()
        server.kubectl_ok("patch", "configmap", "held", "-n", namespace, "--type", "json",
                          "-p", '[{"op": "remove", "path": "/metadata/finalizers"}]')
        rc, out, err = waiter.finish(timeout=35)
    assert rc == 0, (out, err)
    assert out.strip() == "configmap/held condition met"
    rc, _, err = server.kubectl("get", "configmap", "held", "-n", namespace)
    assert rc == 1 and "NotFound" in err


# --- label, annotate, patch, scale, edit ---


def test_label_and_annotate(minik_server, namespace, tmp_path):
    server = minik_server
    server.kubectl_ok("apply", "-n", namespace, "-f", write_manifest(tmp_path, "d.yaml", deployment_manifest("web")))

    def meta() -> dict:
        return get_json(server, namespace, "deployment", "web")["metadata"]

    assert server.kubectl_ok("label", "deploy", "web", "-n", namespace, "tier=fe").strip() == \
        "deployment.apps/web labeled"
    assert meta()["labels"] == {"app": "web", "tier": "fe"}
    rc, out, err = server.kubectl("label", "deploy", "web", "-n", namespace, "tier=be")
    assert rc == 1 and "'tier' already has a value (fe), and --overwrite is false" in err, err
    server.kubectl_ok("label", "deploy", "web", "-n", namespace, "tier=be", "--overwrite")
    assert meta()["labels"]["tier"] == "be"
    assert server.kubectl_ok("label", "deploy", "web", "-n", namespace, "tier-").strip() == \
        "deployment.apps/web unlabeled"
    assert meta()["labels"] == {"app": "web"}

    assert server.kubectl_ok("annotate", "deploy", "web", "-n", namespace, "owner=team-a").strip() == \
        "deployment.apps/web annotated"
    assert meta()["annotations"]["owner"] == "team-a"
    rc, out, err = server.kubectl("annotate", "deploy", "web", "-n", namespace, "owner=team-b")
    assert rc == 1 and "--overwrite is false" in err, err
    server.kubectl_ok("annotate", "deploy", "web", "-n", namespace, "owner=team-b", "--overwrite")
    assert meta()["annotations"]["owner"] == "team-b"
    server.kubectl_ok("annotate", "deploy", "web", "-n", namespace, "owner-")
    assert "owner" not in meta().get("annotations", {})
    header, rows = table(server.kubectl_ok("get", "deploy", "-n", namespace, "-l", "app=web", "--show-labels"))
    assert header[-1] == "LABELS" and rows[0][-1] == "app=web"


def test_patch_strategic_merge_and_json(minik_server, namespace, tmp_path):
    server = minik_server
    containers = [{"name": "nginx", "image": "nginx:1.25"}, {"name": "side", "image": "busybox:1.36"}]
    server.kubectl_ok("apply", "-n", namespace, "-f",
                      write_manifest(tmp_path, "d.yaml", deployment_manifest("web", containers=containers)))

    def images() -> list[tuple[str, str]]:
        spec = get_json(server, namespace, "deployment", "web")["spec"]
        return [(c["name"], c["image"]) for c in spec["template"]["spec"]["containers"]]

    out = server.kubectl_ok("patch", "deploy", "web", "-n", namespace, "--type", "strategic", "-p",
                            '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}}}')
    assert out.strip() == "deployment.apps/web patched"
    assert images() == [("nginx", "nginx:1.27"), ("side", "busybox:1.36")]  # merged by name

    merge = '{"spec":{"replicas":4,"template":{"spec":{"containers":[{"name":"only","image":"busybox:1.36"}]}}}}'
    out = server.kubectl_ok("patch", "deploy", "web", "-n", namespace, "--type", "merge", "-p", merge)
    assert out.strip() == "deployment.apps/web patched"
    assert images() == [("only", "busybox:1.36")]  # a JSON merge patch replaces lists

    out = server.kubectl_ok("patch", "deploy", "web", "-n", namespace, "--type", "json", "-p",
                            '[{"op":"replace","path":"/spec/replicas","value":6},'
                            '{"op":"add","path":"/metadata/labels/patched","value":"json"}]')
    assert out.strip() == "deployment.apps/web patched"
    live = get_json(server, namespace, "deployment", "web")
    assert live["spec"]["replicas"] == 6 and live["metadata"]["labels"]["patched"] == "json"
    rc, out, err = server.kubectl("patch", "deploy", "web", "-n", namespace, "--type", "json", "-p",
                                  '[{"op":"test","path":"/spec/replicas","value":1},'
                                  '{"op":"replace","path":"/spec/replicas","value":1}]')
    # 422 Invalid with the generic message, as kube-apiserver answers a failed JSON patch operation
    assert rc == 1, (out, err)
    assert err.strip() == "The request is invalid: the server rejected our request due to an error in our request"
    assert get_json(server, namespace, "deployment", "web")["spec"]["replicas"] == 6

    # A patch that changes nothing leaves the object (and its resourceVersion) alone; kubectl says so.
    # (On a ConfigMap: no controller writes to it between kubectl's GET and its PATCH.)
    server.kubectl_ok("apply", "-n", namespace, "-f", write_manifest(tmp_path, "cm.yaml", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}}))
    out = server.kubectl_ok("patch", "configmap", "settings", "-n", namespace, "-p", '{"data":{"a":"2"}}')
    assert out.strip() == "configmap/settings patched"
    rv = get_json(server, namespace, "configmap", "settings")["metadata"]["resourceVersion"]
    for patch_type, patch in (("strategic", '{"data":{"a":"2"}}'), ("merge", '{"data":{"a":"2"}}'),
                              ("json", '[{"op":"replace","path":"/data/a","value":"2"}]')):
        out = server.kubectl_ok("patch", "configmap", "settings", "-n", namespace, "--type", patch_type, "-p", patch)
        assert out.strip() == "configmap/settings patched (no change)", (patch_type, out)
    live = get_json(server, namespace, "configmap", "settings")
    assert live["data"] == {"a": "2"} and live["metadata"]["resourceVersion"] == rv


@pytest.mark.parametrize("binary", KUBECTLS)
def test_scale_deployment(minik_server, namespace, tmp_path, binary):
    server = minik_server
    server.kubectl_ok("apply", "-n", namespace, "-f", write_manifest(tmp_path, "d.yaml", deployment_manifest("web")),
                      binary=binary)
    assert server.kubectl_ok("scale", "deployment", "web", "-n", namespace, "--replicas=5", binary=binary).strip() \
        == "deployment.apps/web scaled"
    assert get_json(server, namespace, "deployment", "web")["spec"]["replicas"] == 5
    header, rows = table(server.kubectl_ok("get", "deployment", "web", "-n", namespace, binary=binary))
    assert rows[0][:2] == ["web", "0/5"]
    rc, out, err = server.kubectl("scale", "deployment", "web", "-n", namespace, "--current-replicas=2",
                                  "--replicas=3", binary=binary)
    assert rc == 1 and "Expected replicas to be 2, was 5" in err, (out, err)
    assert get_json(server, namespace, "deployment", "web")["spec"]["replicas"] == 5


def test_edit_with_scripted_editor(minik_server, namespace, tmp_path):
    server = minik_server
    server.kubectl_ok("create", "-n", namespace, "-f", write_manifest(tmp_path, "d.yaml", deployment_manifest("web")))
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\n"
                      "sed -i -e 's/image: nginx:1.25/image: nginx:1.26/' -e '/^spec:/,/^status:/s/^  replicas: 2$/  replicas: 4/'"
                      ' "$1"\n')
    editor.chmod(0o755)
    out = server.kubectl_ok("edit", "deployment", "web", "-n", namespace, env={"KUBE_EDITOR": str(editor)})
    assert out.strip() == "deployment.apps/web edited"
    live = get_json(server, namespace, "deployment", "web")
    assert live["spec"]["replicas"] == 4
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert live["metadata"]["generation"] == 2

    rc, out, err = server.kubectl("edit", "deployment", "web", "-n", namespace, env={"KUBE_EDITOR": "true"})
    assert rc == 0 and "Edit cancelled, no changes made." in out + err, (out, err)


# --- wait ---


def test_wait_for_condition_and_jsonpath(minik_server, namespace, tmp_path):
    """`kubectl wait` sees a condition written through /status, and a jsonpath value, arrive on its watch.

    The condition type is our own (`E2EProbe`): a deployment controller, when one runs, owns `Available`
    and `Progressing` but keeps the conditions it does not know (kube-controller-manager copies them)."""
    server = minik_server
    server.kubectl_ok("apply", "-n", namespace, "-f", write_manifest(tmp_path, "d.yaml", deployment_manifest("web")))
    rc, out, err = server.kubectl("wait", "--for=condition=E2EProbe", "deployment/web", "-n", namespace,
                                  "--timeout=1s")
    assert rc == 1 and "timed out waiting for the condition on deployments/web" in err, (out, err)

    with WatchingKubectl(server, "wait", "--for=condition=E2EProbe", "deployment/web", "-n", namespace,
                         "--timeout=30s") as waiter:
        waiter.wait_until_watching()
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        probe = {"type": "E2EProbe", "status": "True", "reason": "Probed", "message": "set by the e2e suite",
                 "lastUpdateTime": now, "lastTransitionTime": now}
        path = f"/apis/apps/v1/namespaces/{namespace}/deployments/web"
        for _ in range(5):  # read-modify-write of the conditions; a controller may write in between (409)
            code, live = server.api("GET", path)
            assert code == 200, live
            others = [c for c in live.get("status", {}).get("conditions", []) if c["type"] != "E2EProbe"]
            code, body = server.api("PATCH", f"{path}/status",
                                    {"metadata": {"resourceVersion": live["metadata"]["resourceVersion"]},
                                     "status": {"conditions": [*others, probe]}},
                                    content_type="application/merge-patch+json")
            if code != 409:
                break
        assert code == 200, body
        assert probe in body["status"]["conditions"]
        rc, out, err = waiter.finish(timeout=35)
    assert rc == 0 and out.strip() == "deployment.apps/web condition met", (out, err)

    out = server.kubectl_ok("wait", "--for=condition=E2EProbe=True", "deployment/web", "-n", namespace,
                            "--timeout=10s")
    assert out.strip() == "deployment.apps/web condition met"
    rc, out, err = server.kubectl("wait", "--for=condition=E2EProbe=False", "deployment/web", "-n", namespace,
                                  "--timeout=1s")
    assert rc == 1 and "timed out" in err, (out, err)

    with WatchingKubectl(server, "wait", "--for=jsonpath={.metadata.labels.stage}=ready", "deployment/web",
                         "-n", namespace, "--timeout=30s") as waiter:
        waiter.wait_until_watching()
        server.kubectl_ok("label", "deployment", "web", "-n", namespace, "stage=ready")
        rc, out, err = waiter.finish(timeout=35)
    assert rc == 0 and out.strip() == "deployment.apps/web condition met", (out, err)
    rc, out, err = server.kubectl("wait", "--for=jsonpath={.spec.replicas}=7", "deployment/web", "-n", namespace,
                                  "--timeout=1s")
    assert rc == 1 and "timed out" in err, (out, err)


# --- explain ---


@pytest.mark.parametrize("binary", KUBECTLS)
def test_explain_prints_field_description(minik_server, binary):
    out = minik_server.kubectl_ok("explain", "deployment.spec.replicas", binary=binary)
    assert re.search(r"^KIND:\s+Deployment$", out, flags=re.M), out
    assert re.search(r"^VERSION:\s+(apps/)?v1$", out, flags=re.M), out
    assert re.search(r"^FIELD:\s+replicas\s+<integer>$", out, flags=re.M), out
    assert "Number of desired pods." in " ".join(out.split()), out


# --- custom resources ---


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.e2e.example.com"},
    "spec": {
        "group": "e2e.example.com", "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wdg"]},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                                         {"name": "Color", "type": "string", "jsonPath": ".spec.color"}],
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {
                "size": {"type": "integer"}, "color": {"type": "string"}}}}}},
        }],
    },
}


def test_custom_resource_round_trip(minik_server, namespace, tmp_path):
    server = minik_server
    crd = write_manifest(tmp_path, "crd.yaml", WIDGET_CRD)
    assert server.kubectl_ok("apply", "-f", crd).strip() == \
        "customresourcedefinition.apiextensions.k8s.io/widgets.e2e.example.com created"
    out = server.kubectl_ok("wait", "--for=condition=Established", "crd/widgets.e2e.example.com", "--timeout=20s")
    assert out.strip() == "customresourcedefinition.apiextensions.k8s.io/widgets.e2e.example.com condition met"

    widget = {"apiVersion": "e2e.example.com/v1", "kind": "Widget", "metadata": {"name": "w1"},
              "spec": {"size": 3, "color": "red"}}
    assert server.kubectl_ok("apply", "-n", namespace, "-f", write_manifest(tmp_path, "w1.yaml", widget)).strip() \
        == "widget.e2e.example.com/w1 created"
    header, rows = table(server.kubectl_ok("get", "widgets", "-n", namespace))
    assert header == ["NAME", "SIZE", "COLOR"] and rows == [["w1", "3", "red"]]
    header, rows = table(server.kubectl_ok("get", "wdg", "w1", "-n", namespace))  # short name
    assert rows == [["w1", "3", "red"]]

    out = server.kubectl_ok("patch", "widget", "w1", "-n", namespace, "--type", "merge", "-p", '{"spec":{"size":5}}')
    assert out.strip() == "widget.e2e.example.com/w1 patched"
    header, rows = table(server.kubectl_ok("get", "widget", "w1", "-n", namespace))
    assert rows == [["w1", "5", "red"]]
    rc, out, err = server.kubectl("patch", "widget", "w1", "-n", namespace, "-p", '{"spec":{"size":6}}')
    assert rc == 1 and "application/strategic-merge-patch+json is not supported" in err, err

    out = server.kubectl_ok("delete", "widget", "w1", "-n", namespace)
    assert re.fullmatch(r'widget\.e2e\.example\.com "w1" deleted( from \S+ namespace)?', out.strip()), out
    assert server.kubectl_ok("get", "widgets", "-n", namespace, "-o", "name").strip() == ""
    server.kubectl_ok("delete", "-f", crd, "--timeout=20s")
    rc, out, err = server.kubectl("get", "widgets", "-n", namespace)
    assert rc == 1 and ('the server doesn\'t have a resource type "widgets"' in err or "NotFound" in err), err


# --- imperative create (typed generators) ---


def check_created_configmap(server: MinikServer, namespace: str, binary: str) -> None:
    out = server.kubectl_ok("create", "configmap", "cfg", "-n", namespace, "--from-literal=a=1",
                            "--from-literal=b=two", binary=binary)
    assert out.strip() == "configmap/cfg created"
    assert get_json(server, namespace, "configmap", "cfg")["data"] == {"a": "1", "b": "two"}


def check_created_secret(server: MinikServer, namespace: str, binary: str) -> None:
    out = server.kubectl_ok("create", "secret", "generic", "sec", "-n", namespace, "--from-literal=password=s3cr3t",
                            binary=binary)
    assert out.strip() == "secret/sec created"
    secret = get_json(server, namespace, "secret", "sec")
    assert secret["type"] == "Opaque" and secret["data"] == {"password": "czNjcjN0"}


def check_created_namespace(server: MinikServer, namespace: str, binary: str) -> None:
    name = f"{namespace[:40]}-{version_tag(binary)}"
    out = server.kubectl_ok("create", "namespace", name, binary=binary)
    assert out.strip() == f"namespace/{name} created"
    status, body = server.api("GET", f"/api/v1/namespaces/{name}")
    assert status == 200 and body["status"]["phase"] == "Active", body


def check_created_deployment(server: MinikServer, namespace: str, binary: str) -> None:
    out = server.kubectl_ok("create", "deployment", "dep", "-n", namespace, "--image=nginx:1.25", "--replicas=2",
                            binary=binary)
    assert out.strip() == "deployment.apps/dep created"
    live = get_json(server, namespace, "deployment", "dep")
    assert live["spec"]["replicas"] == 2 and live["spec"]["selector"] == {"matchLabels": {"app": "dep"}}
    assert live["spec"]["template"]["spec"]["containers"] == [
        {"name": "nginx", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent", "resources": {},
         "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}]


GENERATORS = {"configmap": check_created_configmap, "secret": check_created_secret,
              "namespace": check_created_namespace, "deployment": check_created_deployment}


@pytest.mark.parametrize("generator", list(GENERATORS))
@pytest.mark.parametrize("binary", KUBECTLS)
def test_create_typed_generators(minik_server, namespace, binary, generator):
    """`kubectl create configmap|secret|namespace|deployment`: kubectl ≥ 1.32 sends these bodies as protobuf
    (Content-Type: application/vnd.kubernetes.protobuf); older ones send JSON."""
    GENERATORS[generator](minik_server, namespace, binary)


# --- cluster-info, version, errors ---


def test_cluster_info(minik_server):
    out = strip_ansi(minik_server.kubectl_ok("cluster-info"))
    assert f"Kubernetes control plane is running at {minik_server.url}" in out, out


def test_version(minik_server):
    out = minik_server.kubectl_ok("version")
    assert re.search(r"^Client Version: v1\.\d+", out, flags=re.M), out
    assert re.search(r"^Server Version: v1\.32\.0\+minik$", out, flags=re.M), out
    doc = json.loads(minik_server.kubectl_ok("version", "-o", "json"))
    server = doc["serverVersion"]
    assert (server["major"], server["minor"], server["gitVersion"]) == ("1", "32", "v1.32.0+minik")
    assert server["platform"].startswith("linux/")


@pytest.mark.parametrize("binary", KUBECTLS)
def test_error_messages(minik_server, binary):
    rc, out, err = minik_server.kubectl("get", "pods", "nope", "-n", "default", binary=binary)
    assert rc == 1 and out == ""
    assert err.strip() == 'Error from server (NotFound): pods "nope" not found'
    rc, out, err = minik_server.kubectl("get", "foos", binary=binary)
    assert rc == 1 and 'error: the server doesn\'t have a resource type "foos"' in err, err
    rc, out, err = minik_server.kubectl("get", "configmaps", "-n", "no-such-namespace", binary=binary)
    assert rc == 0 and "No resources found in no-such-namespace namespace." in err, (out, err)
