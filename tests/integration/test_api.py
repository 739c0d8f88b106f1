"""The API over real HTTPS, in-process server: object semantics, lists, watches, patches, errors."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from tests.helpers import Api

CM = "/api/v1/namespaces/default/configmaps"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
PODS = "/api/v1/namespaces/default/pods"


def deployment(name="web", replicas=2, image="nginx:1.25"):
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": image}]}}},
    }


def pod(name, node="", labels=None):
    spec = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


# --- authentication and meta endpoints ---


async def test_credentials_are_required(server):
    anonymous = Api(server.url, server.kubeconfig, client_cert=False)
    try:
        assert (await anonymous.get("/version"))[0] == 200
        assert (await anonymous.get("/readyz"))[0] == 200
        status, body = await anonymous.get("/api/v1/namespaces")
        assert status == 401 and body["kind"] == "Status" and body["reason"] == "Unauthorized"
    finally:
        await anonymous.close()
    with_token = Api(server.url, server.kubeconfig, client_cert=False, token=server.admin_token)
    try:
        status, body = await with_token.get("/api/v1/namespaces")
        assert status == 200 and {"default", "kube-system", "kube-public", "kube-node-lease"} <= {
            ns["metadata"]["name"] for ns in body["items"]}
    finally:
        await with_token.close()
    wrong = Api(server.url, server.kubeconfig, client_cert=False, token="nope")
    try:
        assert (await wrong.get("/api/v1/namespaces"))[0] == 401
    finally:
        await wrong.close()


async def test_kubernetes_service_and_endpoints_exist(api):
    status, svc = await api.get("/api/v1/namespaces/default/services/kubernetes")
    assert status == 200 and svc["spec"]["clusterIP"] == "10.43.0.1"
    status, ep = await api.get("/api/v1/namespaces/default/endpoints/kubernetes")
    assert ep["subsets"][0]["addresses"][0]["ip"] == "127.0.0.1"


async def test_discovery_forms(api):
    aggregated = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    async with api.session.get(api.url + "/apis", headers={"Accept": aggregated}, ssl=api._ssl) as resp:
        assert resp.headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        doc = orjson.loads(await resp.read())
    apps = next(item for item in doc["items"] if item["metadata"]["name"] == "apps")
    deploy = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
    assert deploy["scope"] == "Namespaced" and "all" in deploy["categories"]
    assert {s["subresource"] for s in deploy["subresources"]} == {"status", "scale"}
    old = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
    async with api.session.get(api.url + "/api", headers={"Accept": old}, ssl=api._ssl) as resp:
        assert "v=v2beta1" in resp.headers["Content-Type"]
    status, legacy = await api.get("/api")
    assert legacy["kind"] == "APIVersions"
    status, resources = await api.get("/api/v1")
    names = {r["name"] for r in resources["resources"]}
    assert {"pods", "pods/status", "pods/log", "pods/binding", "namespaces/finalize"} <= names


# --- object semantics ---


async def test_create_get_update_conflict(api):
    status, cm = await api.post(CM, {"metadata": {"name": "c1"}, "data": {"a": "1"}})
    assert status == 201 and cm["metadata"]["uid"] and cm["metadata"]["resourceVersion"]
    assert cm["apiVersion"] == "v1" and cm["kind"] == "ConfigMap"
    status, got = await api.get(f"{CM}/c1")
    assert got == cm
    stale = dict(cm, data={"a": "2"})
    status, updated = await api.put(f"{CM}/c1", stale)
    assert status == 200 and int(updated["metadata"]["resourceVersion"]) > int(cm["metadata"]["resourceVersion"])
    status, conflict = await api.put(f"{CM}/c1", dict(cm, data={"a": "3"}))  # old resourceVersion
    assert status == 409 and conflict["reason"] == "Conflict"
    assert "the object has been modified" in conflict["message"]
    status, exists = await api.post(CM, {"metadata": {"name": "c1"}})
    assert status == 409 and exists["reason"] == "AlreadyExists"


async def test_update_without_changes_keeps_resource_version(api):
    _, cm = await api.post(CM, {"metadata": {"name": "same"}, "data": {"a": "1"}})
    _, again = await api.put(f"{CM}/same", cm)
    assert again["metadata"]["resourceVersion"] == cm["metadata"]["resourceVersion"]


async def test_generate_name(api):
    status, cm = await api.post(CM, {"metadata": {"generateName": "gen-"}})
    assert status == 201 and cm["metadata"]["name"].startswith("gen-") and len(cm["metadata"]["name"]) == 9


async def test_generation_counts_spec_changes_only(api):
    _, dep = await api.post(DEPLOYMENTS, deployment())
    assert dep["metadata"]["generation"] == 1
    status, dep = await api.patch(f"{DEPLOYMENTS}/web", {"metadata": {"labels": {"x": "y"}}},
                                  "application/merge-patch+json")
    assert dep["metadata"]["generation"] == 1
    _, dep = await api.patch(f"{DEPLOYMENTS}/web", {"spec": {"replicas": 5}}, "application/merge-patch+json")
    assert dep["metadata"]["generation"] == 2


async def test_status_subresource_is_separate(api):
    await api.post(DEPLOYMENTS, deployment())
    _, dep = await api.patch(f"{DEPLOYMENTS}/web/status", {"status": {"replicas": 7}}, "application/merge-patch+json")
    assert dep["status"]["replicas"] == 7
    _, dep = await api.patch(f"{DEPLOYMENTS}/web", {"status": {"replicas": 1}, "spec": {"replicas": 3}},
                             "application/merge-patch+json")
    assert dep["status"]["replicas"] == 7 and dep["spec"]["replicas"] == 3  # status ignored on main resource
    _, dep = await api.patch(f"{DEPLOYMENTS}/web/status", {"spec": {"replicas": 9}}, "application/merge-patch+json")
    assert dep["spec"]["replicas"] == 3  # spec ignored on /status


async def test_namespace_must_exist(api):
    status, body = await api.post("/api/v1/namespaces/nope/configmaps", {"metadata": {"name": "x"}})
    assert status == 404 and body["message"] == 'namespaces "nope" not found'


async def test_dry_run_stores_nothing(api):
    status, cm = await api.post(CM + "?dryRun=All", {"metadata": {"name": "dry"}})
    assert status == 201 and cm["metadata"]["name"] == "dry"
    assert (await api.get(f"{CM}/dry"))[0] == 404
    assert (await api.post(CM + "?dryRun=Some", {"metadata": {"name": "dry"}}))[0] == 400


async def test_finalizers_hold_deletion(api):
    await api.post(CM, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    status, body = await api.delete(f"{CM}/held")
    assert status == 200 and body["metadata"]["deletionTimestamp"]
    status, cm = await api.get(f"{CM}/held")
    assert status == 200 and cm["metadata"]["deletionTimestamp"]
    status, _ = await api.patch(f"{CM}/held", {"metadata": {"finalizers": None}}, "application/merge-patch+json")
    assert status == 200
    assert (await api.get(f"{CM}/held"))[0] == 404


async def test_delete_preconditions_and_status_response(api):
    _, cm = await api.post(CM, {"metadata": {"name": "pre"}})
    status, body = await api.delete(f"{CM}/pre", {"preconditions": {"uid": "wrong"}})
    assert status == 409
    status, body = await api.delete(f"{CM}/pre", {"preconditions": {"uid": cm["metadata"]["uid"]}})
    assert status == 200 and body["kind"] == "Status" and body["status"] == "Success"
    assert body["details"]["uid"] == cm["metadata"]["uid"]


async def test_graceful_pod_deletion(api):
    await api.post(PODS, pod("unbound"))
    status, body = await api.delete(f"{PODS}/unbound")
    assert status == 200 and body["kind"] == "Pod"
    assert (await api.get(f"{PODS}/unbound"))[0] == 404  # never scheduled: gone at once
    await api.post(PODS, pod("bound", node="n1"))
    status, body = await api.delete(f"{PODS}/bound")
    assert body["metadata"]["deletionGracePeriodSeconds"] == 30
    status, still = await api.get(f"{PODS}/bound")
    assert status == 200 and still["metadata"]["deletionTimestamp"]  # waits for its node
    status, _ = await api.delete(f"{PODS}/bound", {"gracePeriodSeconds": 0})
    assert (await api.get(f"{PODS}/bound"))[0] == 404


async def test_service_ip_allocation_and_conflicts(api):
    svc = {"metadata": {"name": "a"}, "spec": {"selector": {"app": "a"}, "ports": [{"port": 80}]}}
    status, a = await api.post("/api/v1/namespaces/default/services", svc)
    assert status == 201 and a["spec"]["clusterIP"].startswith("10.43.") and a["spec"]["ports"][0]["targetPort"] == 80
    taken = {"metadata": {"name": "b"}, "spec": {"clusterIP": a["spec"]["clusterIP"], "ports": [{"port": 80}]}}
    status, body = await api.post("/api/v1/namespaces/default/services", taken)
    assert status == 422 and "already allocated" in body["message"]
    node_port = {"metadata": {"name": "np"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}}
    assert (await api.post("/api/v1/namespaces/default/services", node_port))[0] == 201
    node_port["metadata"]["name"] = "np2"
    status, body = await api.post("/api/v1/namespaces/default/services", node_port)
    assert status == 422 and "provided port is already allocated" in body["message"]
    status, body = await api.post("/api/v1/namespaces/default/services",
                                  {"metadata": {"name": "range"}, "spec": {"type": "NodePort", "ports": [{"port": 1, "nodePort": 80}]}})
    assert status == 422


# --- lists ---


async def test_list_selectors_and_pagination(api):
    for i in range(7):
        await api.post(CM, {"metadata": {"name": f"p{i}", "labels": {"n": str(i), "even": str(i % 2 == 0).lower()}}})
    status, page = await api.get(CM + "?labelSelector=even%3Dtrue")
    assert [c["metadata"]["name"] for c in page["items"]] == ["p0", "p2", "p4", "p6"]
    status, page = await api.get(CM + "?labelSelector=n+in+(1,3),even!%3Dtrue")
    assert [c["metadata"]["name"] for c in page["items"]] == ["p1", "p3"]
    status, page = await api.get(CM + "?fieldSelector=metadata.name%3Dp5")
    assert [c["metadata"]["name"] for c in page["items"]] == ["p5"]
    names, token = [], ""
    while True:
        status, page = await api.get(CM + f"?limit=3&labelSelector=n&continue={token}")
        names += [c["metadata"]["name"] for c in page["items"]]
        token = page["metadata"].get("continue", "")
        if not token:
            break
        await api.post(CM, {"metadata": {"name": f"late{len(names)}", "labels": {"n": "x"}}})  # after the list's rv
    assert names == [f"p{i}" for i in range(7)]
    status, page = await api.get(CM + "?limit=2")
    assert page["metadata"]["remainingItemCount"] > 0


async def test_list_across_namespaces(api):
    await api.post("/api/v1/namespaces", {"metadata": {"name": "other"}})
    await api.post("/api/v1/namespaces/other/configmaps", {"metadata": {"name": "x"}})
    await api.post(CM, {"metadata": {"name": "x"}})
    status, page = await api.get("/api/v1/configmaps?fieldSelector=metadata.name%3Dx")
    assert sorted(c["metadata"]["namespace"] for c in page["items"]) == ["default", "other"]


async def test_table_output(api):
    await api.post(DEPLOYMENTS, deployment())
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    status, table = await api.get(DEPLOYMENTS, headers={"Accept": accept})
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:5] == ["Name", "Ready", "Up-to-date", "Available", "Age"]
    assert table["rows"][0]["cells"][:2] == ["web", "0/2"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert table["metadata"]["resourceVersion"]


# --- watch ---


async def test_watch_from_resource_version_and_bookmarks(api):
    _, start = await api.get(CM)
    rv = start["metadata"]["resourceVersion"]

    async def writes():
        await asyncio.sleep(0.2)
        await api.post(CM, {"metadata": {"name": "w1"}})
        await api.patch(f"{CM}/w1", {"data": {"k": "v"}}, "application/merge-patch+json")
        await api.delete(f"{CM}/w1")

    task = asyncio.create_task(writes())
    events = []
    async for event in api.watch(CM + f"?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=2"):
        events.append(event)
        if event["type"] == "DELETED":
            break
    await task
    kinds = [e["type"] for e in events if e["type"] != "BOOKMARK"]
    assert kinds == ["ADDED", "MODIFIED", "DELETED"]
    deleted = events[-1]["object"]
    assert deleted["metadata"]["uid"] == events[0]["object"]["metadata"]["uid"]
    assert int(deleted["metadata"]["resourceVersion"]) > int(events[1]["object"]["metadata"]["resourceVersion"])


async def test_watch_without_resource_version_starts_with_current_state(api):
    await api.post(CM, {"metadata": {"name": "existing"}})
    events = [e async for e in api.watch(CM + "?watch=true&timeoutSeconds=1")]
    assert [e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED"] == ["existing"]


async def test_watch_label_selector_reports_leaving_as_deleted(api):
    await api.post(CM, {"metadata": {"name": "sel", "labels": {"a": "1"}}})
    _, start = await api.get(CM)
    rv = start["metadata"]["resourceVersion"]

    async def relabel():
        await asyncio.sleep(0.2)
        await api.patch(f"{CM}/sel", {"metadata": {"labels": {"a": "2"}}}, "application/merge-patch+json")
        await api.patch(f"{CM}/sel", {"metadata": {"labels": {"a": "1"}}}, "application/merge-patch+json")

    task = asyncio.create_task(relabel())
    events = []
    async for event in api.watch(CM + f"?watch=true&resourceVersion={rv}&labelSelector=a%3D1&timeoutSeconds=2"):
        events.append(event["type"])
        if len(events) == 2:
            break
    await task
    assert events == ["DELETED", "ADDED"]


async def test_watch_too_old_is_410_expired(server, api):
    for i in range(3):
        await api.post(CM, {"metadata": {"name": f"old{i}"}})
    store = server.registry.storage
    await store.compact(store.current_revision)
    events = [e async for e in api.watch(CM + "?watch=true&resourceVersion=2&timeoutSeconds=1")]
    assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410
    assert events[0]["object"]["reason"] == "Expired"
    status, body = await api.get(CM + "?limit=1&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6Miwic3RhcnQiOiJ4XHUwMDAwIn0")
    assert status == 410


async def test_watch_stream_of_dead_client_is_closed(server, api):
    store = server.registry.storage
    before = store.watcher_count
    with pytest.raises(asyncio.TimeoutError):
        async with asyncio.timeout(0.5):
            async for _ in api.watch(CM + "?watch=true&resourceVersion=0&timeoutSeconds=100", timeout=100):
                pass
    for _ in range(50):
        if store.watcher_count == before:
            break
        await asyncio.sleep(0.05)
    assert store.watcher_count == before


# --- patch ---


async def test_strategic_merge_patch_merges_containers_by_name(api):
    dep = deployment()
    dep["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"})
    await api.post(DEPLOYMENTS, dep)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}}
    status, dep = await api.patch(f"{DEPLOYMENTS}/web", patch, "application/strategic-merge-patch+json")
    containers = dep["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("c", "nginx:1.27"), ("side", "busybox")]
    status, dep = await api.patch(f"{DEPLOYMENTS}/web", patch, "application/merge-patch+json")
    assert [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]] == ["c"]


async def test_json_patch_and_errors(api):
    await api.post(DEPLOYMENTS, deployment())
    status, dep = await api.patch(f"{DEPLOYMENTS}/web", [{"op": "replace", "path": "/spec/replicas", "value": 4}],
                                  "application/json-patch+json")
    assert status == 200 and dep["spec"]["replicas"] == 4
    status, body = await api.patch(f"{DEPLOYMENTS}/web", [{"op": "test", "path": "/spec/replicas", "value": 9}],
                                   "application/json-patch+json")
    assert status >= 400 and body["kind"] == "Status"
    status, body = await api.patch(f"{DEPLOYMENTS}/web", None, "application/json-patch+json", raw=b"[{bad")
    assert status == 400
    status, body = await api.patch(f"{DEPLOYMENTS}/web", {"spec": {"replicas": -1}}, "application/merge-patch+json")
    assert status == 422 and body["details"]["causes"][0]["field"] == "spec.replicas"


async def test_server_side_apply_creates_then_conflicts(api):
    manifest = orjson.dumps(deployment(replicas=2))
    status, dep = await api.patch(f"{DEPLOYMENTS}/web?fieldManager=alice", None, "application/apply-patch+yaml",
                                  raw=manifest)
    assert status == 201 or status == 200
    assert dep["metadata"]["managedFields"][0]["manager"] == "alice"
    other = orjson.dumps(deployment(replicas=5))
    status, body = await api.patch(f"{DEPLOYMENTS}/web?fieldManager=bob", None, "application/apply-patch+yaml",
                                   raw=other)
    assert status == 409 and ".spec.replicas" in body["message"]
    status, dep = await api.patch(f"{DEPLOYMENTS}/web?fieldManager=bob&force=true", None,
                                  "application/apply-patch+yaml", raw=other)
    assert status == 200 and dep["spec"]["replicas"] == 5


async def test_scale_subresource(api):
    await api.post(DEPLOYMENTS, deployment())
    status, scale = await api.get(f"{DEPLOYMENTS}/web/scale")
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1" and scale["spec"]["replicas"] == 2
    assert scale["status"]["selector"] == "app=web"
    status, scale = await api.patch(f"{DEPLOYMENTS}/web/scale", {"spec": {"replicas": 6}}, "application/merge-patch+json")
    assert scale["spec"]["replicas"] == 6
    _, dep = await api.get(f"{DEPLOYMENTS}/web")
    assert dep["spec"]["replicas"] == 6


async def test_custom_resources(api):
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wg"]},
                 "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                               "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "properties": {
                                       "size": {"type": "integer", "minimum": 1},
                                       "color": {"type": "string", "default": "blue"}}}}}}}]},
    }
    status, body = await api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert status == 201, body
    widgets = "/apis/example.com/v1/namespaces/default/widgets"
    status, w = await api.post(widgets, {"apiVersion": "example.com/v1", "kind": "Widget",
                                         "metadata": {"name": "w1"}, "spec": {"size": 3, "junk": 1}})
    assert status == 201 and w["spec"] == {"size": 3, "color": "blue"}  # pruned and defaulted
    status, body = await api.post(widgets, {"apiVersion": "example.com/v1", "kind": "Widget",
                                            "metadata": {"name": "w2"}, "spec": {"size": 0}})
    assert status == 422 and body["details"]["causes"][0]["field"] == "spec.size"
    status, body = await api.patch(f"{widgets}/w1", {"spec": {"size": 2}}, "application/strategic-merge-patch+json")
    assert status == 415
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    status, table = await api.get(widgets, headers={"Accept": accept})
    assert [c["name"] for c in table["columnDefinitions"]][:2] == ["Name", "Size"]
    assert table["rows"][0]["cells"][:2] == ["w1", 3]
    status, _ = await api.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
    assert status == 200
    assert (await api.get(widgets))[0] == 404


# --- bad input ---


@pytest.mark.parametrize("method,path,body,code", [
    ("POST", CM, b"{not json", 400),
    ("POST", CM, b'{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}', 400),
    ("POST", CM, b'{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x"}}', 400),
    ("POST", CM, b'{"metadata":{"name":"Bad_Name"}}', 422),
    ("POST", CM, b'[1,2]', 400),
    ("POST", CM, b'"string"', 400),
    ("GET", CM + "?labelSelector=a%3D%3D%3D", None, 400),
    ("GET", CM + "?fieldSelector=spec.nothing%3Dx", None, 400),
    ("GET", CM + "?resourceVersion=abc", None, 400),
    ("GET", CM + "?limit=-1", None, 400),
    ("GET", CM + "?watch=true&resourceVersion=abc", None, 400),
    ("GET", "/api/v1/nothings", None, 404),
    ("GET", "/apis/nothing.io/v1/things", None, 404),
    ("GET", "/api/v1/namespaces/default/configmaps/x/y/z", None, 404),
    ("PUT", CM, b"{}", 405),
    ("GET", CM + "?resourceVersion=99999999", None, 504),
])
async def test_bad_input_gets_a_status(api, method, path, body, code):
    status, reply = await api.request(method, path, raw=body)
    assert status == code, reply
    assert reply["kind"] == "Status" and reply["code"] == code


async def test_unsupported_content_type_and_huge_body(api):
    status, reply = await api.request("POST", CM, raw=b"<xml/>", content_type="application/xml")
    assert status == 415 and reply["reason"] == "UnsupportedMediaType"
    huge = orjson.dumps({"metadata": {"name": "big"}, "data": {"x": "a" * (4 * 1024 * 1024)}})
    status, reply = await api.request("POST", CM, raw=huge)
    assert status == 413 and reply["kind"] == "Status"
    status, reply = await api.get(CM, headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert status == 406


async def test_strict_field_validation(api):
    bad = deployment()
    bad["spec"]["template"]["spec"]["containers"][0]["imagee"] = "typo"
    status, reply = await api.post(DEPLOYMENTS + "?fieldValidation=Strict", bad)
    assert status == 400 and 'unknown field "spec.template.spec.containers[0].imagee"' in reply["message"]
    status, reply = await api.post(DEPLOYMENTS + "?fieldValidation=Ignore", bad)
    assert status == 201 and "imagee" not in reply["spec"]["template"]["spec"]["containers"][0]


async def test_custom_resource_served_in_two_versions(api):
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster", "names": {"plural": "gadgets", "kind": "Gadget"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": schema},
                              {"name": "v1beta1", "served": True, "storage": False, "schema": schema}]},
    }
    assert (await api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd))[0] == 201
    status, g = await api.post("/apis/example.com/v1beta1/gadgets",
                               {"apiVersion": "example.com/v1beta1", "kind": "Gadget", "metadata": {"name": "g"}})
    assert status == 201 and g["apiVersion"] == "example.com/v1beta1"
    _, via_v1 = await api.get("/apis/example.com/v1/gadgets/g")
    _, via_beta = await api.get("/apis/example.com/v1beta1/gadgets")
    assert via_v1["apiVersion"] == "example.com/v1"
    assert via_beta["items"][0]["apiVersion"] == "example.com/v1beta1"
    status, patched = await api.patch("/apis/example.com/v1beta1/gadgets/g", {"spec": {"x": 1}},
                                      "application/merge-patch+json")
    assert status == 200 and patched["apiVersion"] == "example.com/v1beta1" and patched["spec"] == {"x": 1}


async def test_watch_one_object_by_its_path(api):
    await api.post(CM, {"metadata": {"name": "one"}})
    await api.post(CM, {"metadata": {"name": "other"}})
    events = [e async for e in api.watch(f"{CM}/one?watch=true&timeoutSeconds=1")]
    assert [e["object"]["metadata"]["name"] for e in events] == ["one"]


async def test_pod_updates_are_defaulted_then_checked_for_immutable_fields(api):
    manifest = pod("replaced")
    _, created = await api.post(PODS, manifest)
    # The stored pod, sent back with only an allowed change (the image), is an update.
    created["spec"]["containers"][0]["image"] = "busybox:2"
    status, replaced = await api.put(f"{PODS}/replaced", created)
    assert status == 200 and replaced["spec"]["containers"][0]["image"] == "busybox:2"
    # The bare manifest is defaulted like a create (no "imagePullPolicy: Unsupported value: null"), but it
    # lacks what admission added at create (serviceAccountName, tolerations): a forbidden spec change, with
    # the message real Kubernetes gives `kubectl replace -f pod.yaml`.
    again = dict(manifest, metadata={**manifest["metadata"], "resourceVersion": replaced["metadata"]["resourceVersion"]})
    status, body = await api.put(f"{PODS}/replaced", again)
    assert status == 422 and "spec: Forbidden: pod updates may not change fields" in body["message"]
    assert "imagePullPolicy" not in body["message"]
