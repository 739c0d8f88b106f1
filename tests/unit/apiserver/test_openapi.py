"""OpenAPI documents and strict field validation (minik.apiserver.openapi), checked against real kubectl."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import socket
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from minik.api.resources import BUILTIN_RESOURCES, ResourceInfo
from minik.apiserver import openapi as openapi_module
from minik.apiserver.openapi import (
    V2_PROTOBUF,
    OpenAPI,
    group_version_path,
    negotiate_v2,
    negotiate_v3,
    strict_decoding_error,
    unknown_field_warnings,
)

GROUP_VERSIONS = sorted({group_version_path(r.group, r.version) for r in BUILTIN_RESOURCES})
REF = "#/components/schemas/"

CRONTAB = ResourceInfo("stable.example.com", "v1", "CronTab", "crontabs", True, short_names=("ct",),
                       subresources=("status", "scale"))
CRONTAB_SCHEMA = {
    "type": "object",
    "description": "CronTab runs a command on a schedule.",
    "properties": {
        "spec": {"type": "object", "properties": {
            "cronSpec": {"type": "string", "description": "The cron schedule, in crontab syntax."},
            "replicas": {"type": "integer"},
            "jobs": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
        }},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


@pytest.fixture
def api() -> OpenAPI:
    return OpenAPI(list(BUILTIN_RESOURCES))


def refs_in(node: object) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "$ref" and isinstance(value, str):  # JSONSchemaProps has a *property* named $ref
                    found.add(value)
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def supports_query_param(doc: dict, gvk: dict, param: str) -> bool:
    """kubectl's supportsQueryParamV3 (cli-runtime query_param_verifier_v3.go), transcribed.

    The first PATCH operation carrying the GVK decides; parameters must be inline (a $ref has no name).
    """
    for path_item in doc["paths"].values():
        op = path_item.get("patch")
        if op is None or op.get("x-kubernetes-group-version-kind") != gvk:
            continue
        return any(p.get("name") == param for p in op.get("parameters", []))
    return False


def protobuf_fields(data: bytes) -> dict[int, list]:
    """A minimal protobuf wire-format reader: field number -> values (ints, or bytes for messages/strings)."""
    fields: dict[int, list] = {}
    i = 0

    def varint() -> int:
        nonlocal i
        shift = result = 0
        while True:
            byte = data[i]
            i += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return result

    while i < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            fields.setdefault(number, []).append(varint())
        elif wire == 2:
            size = varint()
            fields.setdefault(number, []).append(data[i:i + size])
            i += size
        else:
            raise AssertionError(f"unexpected wire type {wire}")
    return fields


def supports_query_param_v2(document: bytes, gvk: dict, param: str) -> bool:
    """kubectl ≤ 1.28's supportsQueryParam over the gnostic openapi_v2.Document, transcribed."""
    paths = protobuf_fields(protobuf_fields(document)[8][0])
    for named_path_item in paths.get(2, []):
        path_item = protobuf_fields(protobuf_fields(named_path_item)[2][0])
        if 8 not in path_item:  # PathItem.patch
            continue
        op = protobuf_fields(path_item[8][0])
        extensions = {protobuf_fields(e)[1][0].decode(): protobuf_fields(protobuf_fields(e)[2][0])[2][0].decode()
                      for e in op.get(13, [])}
        want = "".join(f'{k}: "{v}"\n' for k, v in sorted(gvk.items()))
        if extensions.get("x-kubernetes-group-version-kind") != want:
            continue
        names = []
        for item in op.get(8, []):  # ParametersItem.parameter.non_body_parameter.query_parameter_sub_schema.name
            non_body = protobuf_fields(protobuf_fields(protobuf_fields(item)[1][0]).get(2, [b""])[0])
            if 3 in non_body:
                names.append(protobuf_fields(non_body[3][0])[4][0].decode())
        return param in names
    return False


# --------------------------------------------------------------------------------------------------
# Documents
# --------------------------------------------------------------------------------------------------


def test_v3_root_lists_every_group_version_with_its_hash(api: OpenAPI) -> None:
    root = api.v3_root()
    assert sorted(root["paths"]) == GROUP_VERSIONS
    url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
    m = re.fullmatch(r"/openapi/v3/apis/apps/v1\?hash=([0-9A-F]{128})", url)
    assert m, url
    data, digest = api.v3_document_bytes("apis/apps/v1")
    assert m.group(1) == digest == hashlib.sha512(data).hexdigest().upper()
    assert api.v3_url("apis/apps/v1") == url and api.v3_url("apis/nope/v1") is None
    assert orjson.loads(api.v3_root_bytes()) == root


def test_apps_v1_document_shape(api: OpenAPI) -> None:
    doc = api.v3_document("apis/apps/v1")
    assert doc["openapi"].startswith("3.")
    deployment = {"group": "apps", "kind": "Deployment", "version": "v1"}
    item = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert set(item) >= {"get", "put", "patch", "delete", "parameters"}
    assert {p["name"] for p in item["parameters"]} == {"name", "namespace", "pretty"}
    patch = item["patch"]
    assert patch["operationId"] == "patchAppsV1NamespacedDeployment"
    assert patch["x-kubernetes-action"] == "patch"
    assert patch["x-kubernetes-group-version-kind"] == deployment
    assert {"fieldValidation", "dryRun", "fieldManager", "force"} <= {p["name"] for p in patch["parameters"]}
    body_types = set(patch["requestBody"]["content"])
    assert "application/merge-patch+json" in body_types and "application/json-patch+json" in body_types
    assert "application/strategic-merge-patch+json" not in body_types
    for method in ("put",):
        assert {"fieldValidation", "dryRun", "fieldManager"} <= {p["name"] for p in item[method]["parameters"]}
    collection = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]
    assert {p["name"] for p in collection["post"]["parameters"]} >= {"fieldValidation", "dryRun", "fieldManager"}
    assert {p["name"] for p in collection["get"]["parameters"]} >= {"watch", "labelSelector", "limit", "continue"}
    assert "/apis/apps/v1/deployments" in doc["paths"]  # list across namespaces
    assert "/apis/apps/v1/watch/namespaces/{namespace}/deployments/{name}" in doc["paths"]
    scale = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
    assert scale["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "kind": "Scale", "version": "v1"}

    schemas = doc["components"]["schemas"]
    spec = schemas["io.k8s.api.apps.v1.Deployment"]
    assert spec["x-kubernetes-group-version-kind"] == [deployment]
    assert spec["description"].startswith("Deployment enables declarative updates")
    replicas = schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["replicas"]
    assert replicas["type"] == "integer" and replicas["format"] == "int32" and replicas["description"]
    assert schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["generation"]["format"] == "int64"
    assert schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["creationTimestamp"][
        "format"] == "date-time"
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"
    max_surge = schemas["io.k8s.api.apps.v1.RollingUpdateDeployment"]["properties"]["maxSurge"]
    assert refs_in(max_surge) == {REF + "io.k8s.apimachinery.pkg.util.intstr.IntOrString"}
    limits = schemas["io.k8s.api.core.v1.ResourceRequirements"]["properties"]["limits"]
    assert limits["additionalProperties"] == {"$ref": REF + "io.k8s.apimachinery.pkg.api.resource.Quantity"}
    assert "io.k8s.api.core.v1.PodTemplateSpec" in schemas  # core types reached from apps are named core
    assert "io.k8s.api.core.v1.Pod" not in schemas  # only what apps/v1 references
    delete_options = schemas["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"]["x-kubernetes-group-version-kind"]
    assert {"group": "apps", "kind": "DeleteOptions", "version": "v1"} in delete_options


@pytest.mark.parametrize("gvp", GROUP_VERSIONS)
def test_every_group_version_document_is_complete(api: OpenAPI, gvp: str) -> None:
    doc = api.v3_document(gvp)
    assert doc is not None
    schemas = doc["components"]["schemas"]
    for ref in refs_in(doc):
        assert ref.startswith(REF) and ref[len(REF):] in schemas, f"dangling {ref}"
    for info in BUILTIN_RESOURCES:
        if group_version_path(info.group, info.version) != gvp:
            continue
        gvk = {"group": info.group, "kind": info.kind, "version": info.version}
        assert any(gvk in s.get("x-kubernetes-group-version-kind", []) for s in schemas.values()), info.kind
        if "patch" in info.verbs:
            assert supports_query_param(doc, gvk, "fieldValidation"), info.kind
        ids = [op["operationId"] for item in doc["paths"].values() for m, op in item.items() if m != "parameters"]
        assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_unknown_group_version_has_no_document(api: OpenAPI) -> None:
    assert api.v3_document("apis/nope/v1") is None
    assert api.v3_document_bytes("apis/apps/v2") is None


def test_documents_are_deterministic_and_cached() -> None:
    first, second = OpenAPI(list(BUILTIN_RESOURCES)), OpenAPI(list(BUILTIN_RESOURCES))
    assert first.v3_root() == second.v3_root()
    assert first.v3_document_bytes("api/v1") == second.v3_document_bytes("api/v1")
    assert first.v3_document_bytes("api/v1")[0] is first.v3_document_bytes("api/v1")[0]


def test_data_file_is_read_on_first_use_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(openapi_module, "DATA_FILE", tmp_path / "missing.json.gz")
    api = OpenAPI(list(BUILTIN_RESOURCES))  # no I/O yet: server start-up stays fast
    with pytest.raises(FileNotFoundError):
        api.v3_root()


def test_v2_document_is_swagger_2_with_v2_references(api: OpenAPI) -> None:
    data, digest = api.v2_document_bytes()
    assert b"#/components/" not in data
    doc = api.v2_document()
    assert doc["swagger"] == "2.0"
    patch = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert patch["parameters"][0] == {"in": "body", "name": "body", "required": True,
                                      "schema": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}}
    assert "io.k8s.api.core.v1.Pod" in doc["definitions"]
    assert digest == hashlib.sha512(data).hexdigest().upper()

def test_v2_protobuf_lets_old_kubectl_find_field_validation(api: OpenAPI) -> None:
    pb = api.v2_protobuf_bytes()
    assert protobuf_fields(pb)[1] == [b"2.0"]  # Document.swagger
    assert 9 not in protobuf_fields(pb), "no definitions: old kubectl must use its compiled-in patch strategies"
    for info in BUILTIN_RESOURCES:
        gvk = {"group": info.group, "kind": info.kind, "version": info.version}
        assert supports_query_param_v2(pb, gvk, "fieldValidation"), info.kind
    assert not supports_query_param_v2(pb, {"group": "x", "kind": "Y", "version": "v1"}, "fieldValidation")


@pytest.mark.parametrize(("accept", "v2", "v3"), [
    ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf", V2_PROTOBUF, None),
    ("application/json", "application/json", "application/json"),
    ("application/json, */*", "application/json", "application/json"),
    (None, "application/json", "application/json"),
    ("application/xml", None, None),
])
def test_content_negotiation(accept: str | None, v2: str | None, v3: str | None) -> None:
    assert negotiate_v2(accept) == v2
    assert negotiate_v3(accept) == v3


# --------------------------------------------------------------------------------------------------
# Custom resources
# --------------------------------------------------------------------------------------------------


def test_custom_resources_appear_and_disappear(api: OpenAPI) -> None:
    before = api.v3_root()
    apps_hash = api.v3_hash("apis/apps/v1")
    api.add_custom_resource(CRONTAB, CRONTAB_SCHEMA)
    root = api.v3_root()
    assert set(root["paths"]) == set(before["paths"]) | {"apis/stable.example.com/v1"}
    assert api.v3_hash("apis/apps/v1") == apps_hash, "other group-versions keep their hash"
    doc = api.v3_document("apis/stable.example.com/v1")
    crontab = doc["components"]["schemas"]["com.example.stable.v1.CronTab"]
    assert crontab["x-kubernetes-group-version-kind"] == [
        {"group": "stable.example.com", "kind": "CronTab", "version": "v1"}]
    object_meta = REF + "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    assert crontab["properties"]["metadata"]["allOf"] == [{"$ref": object_meta}]
    assert "com.example.stable.v1.CronTabList" in doc["components"]["schemas"]
    gvk = {"group": "stable.example.com", "kind": "CronTab", "version": "v1"}
    assert supports_query_param(doc, gvk, "fieldValidation")
    assert "/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/scale" in doc["paths"]
    for ref in refs_in(doc):
        assert ref[len(REF):] in doc["components"]["schemas"]
    first_hash = api.v3_hash("apis/stable.example.com/v1")
    assert "stable.example.com" in orjson.dumps(api.v2_document()).decode()

    changed = {**CRONTAB_SCHEMA, "description": "Changed."}
    api.add_custom_resource(CRONTAB, changed)
    assert api.v3_hash("apis/stable.example.com/v1") != first_hash

    api.remove_custom_resource(CRONTAB)
    assert api.v3_root() == before
    assert api.v3_document("apis/stable.example.com/v1") is None
    assert "stable.example.com" not in orjson.dumps(api.v2_document()).decode()


def test_custom_resource_without_schema_preserves_unknown_fields(api: OpenAPI) -> None:
    api.add_custom_resource(CRONTAB, None, description="Anything goes.")
    schema = api.v3_document("apis/stable.example.com/v1")["components"]["schemas"]["com.example.stable.v1.CronTab"]
    assert schema["x-kubernetes-preserve-unknown-fields"] is True
    assert schema["description"] == "Anything goes."
    assert api.unknown_fields("stable.example.com/v1", "CronTab", {"spec": {"whatever": 1}}) == []


# --------------------------------------------------------------------------------------------------
# Strict field validation
# --------------------------------------------------------------------------------------------------

VALID_DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                 "annotations": {"a": "b"}, "ownerReferences": [], "finalizers": ["x"]},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front"]}]},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [{
                    "name": "nginx", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                    "args": ["-g", "daemon off;"],
                    "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}],
                    "env": [{"name": "A", "value": "1"},
                            {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": 0.1}},
                    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
                    "livenessProbe": {"tcpSocket": {"port": 80}},
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    "securityContext": {"runAsUser": 1000, "capabilities": {"drop": ["ALL"]}},
                }],
                "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                            {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "k", "path": "p"}]}}],
                "nodeSelector": {"disk": "ssd"},
                "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
                "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 1, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"}}]}},
            },
        },
    },
    "status": {"replicas": 3, "conditions": [{"type": "Available", "status": "True"}]},
}


def test_a_valid_deployment_has_no_unknown_fields(api: OpenAPI) -> None:
    assert api.unknown_fields("apps/v1", "Deployment", VALID_DEPLOYMENT) == []


def test_unknown_fields_deep_in_a_pod_template(api: OpenAPI) -> None:
    obj = orjson.loads(orjson.dumps(VALID_DEPLOYMENT))
    obj["spec"]["foo"] = 1
    obj["spec"]["template"]["spec"]["containers"][0]["imagee"] = "typo"
    obj["spec"]["template"]["spec"]["containers"][0]["ports"][0]["hostPorts"] = 1
    obj["spec"]["template"]["spec"]["volumes"][1]["configMap"]["items"][0]["mode "] = 1
    obj["metadata"]["lables"] = {}
    # in document order, as the strict decoder meets them (the typos above were appended last)
    assert api.unknown_fields("apps/v1", "Deployment", obj) == [
        "metadata.lables",
        "spec.template.spec.containers[0].ports[0].hostPorts",
        "spec.template.spec.containers[0].imagee",
        "spec.template.spec.volumes[1].configMap.items[0].mode ",
        "spec.foo",
    ]


def test_unknown_fields_stop_at_the_unknown_field_and_at_free_form_values(api: OpenAPI) -> None:
    obj = {"apiVersion": "v1", "kind": "Pod", "spec": {"bogus": {"deeper": {"x": 1}}, "containers": []}}
    assert api.unknown_fields("v1", "Pod", obj) == ["spec.bogus"]
    revision = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "revision": 1, "data": {"any": {"thing": 1}}}
    assert api.unknown_fields("apps/v1", "ControllerRevision", revision) == []  # RawExtension
    assert api.unknown_fields("v1", "Pod", {"Spec": {}}) == ["Spec"]  # field names are case-sensitive


def test_unknown_fields_in_crd_schemas_follow_the_decoder(api: OpenAPI) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "spec": {"versions": [
        {"name": "v1", "schema": {"openAPIV3Schema": {"type": "object", "properties": {
            "spec": {"type": "object", "typo": True,
                     "items": {"type": "object", "inItems": True}}}}}}]}}
    # JSONSchemaProps.properties is a typed map; items/additionalProperties decode leniently in Kubernetes
    assert api.unknown_fields("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd) == [
        "spec.versions[0].schema.openAPIV3Schema.properties.spec.typo"]


def test_unknown_fields_of_unknown_kinds_and_custom_resources(api: OpenAPI) -> None:
    assert api.unknown_fields("example.com/v1", "Nope", {"spec": {"x": 1}}) == []
    api.add_custom_resource(CRONTAB, CRONTAB_SCHEMA)
    obj = {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x", "nmae": "y"},
           "spec": {"cronSpec": "* * * * */5", "zz": 1, "jobs": [{"name": "a", "b": 2}]}, "status": {"free": 1}}
    assert api.unknown_fields("stable.example.com/v1", "CronTab", obj) == [
        "spec.jobs[0].b", "spec.zz", "metadata.nmae"]


def test_unknown_fields_are_capped_at_100_like_the_decoder(api: OpenAPI) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", **{f"f{i:03}": i for i in range(150)}}
    found = api.unknown_fields("v1", "ConfigMap", obj)
    assert len(found) == 100 and found[0] == "f000"


def test_strict_decoding_messages() -> None:
    paths = ["spec.foo", "spec.template.spec.containers[0].imagee"]
    assert strict_decoding_error(paths) == (
        'strict decoding error: unknown field "spec.foo", unknown field "spec.template.spec.containers[0].imagee"')
    assert unknown_field_warnings(paths) == ['unknown field "spec.foo"',
                                             'unknown field "spec.template.spec.containers[0].imagee"']


# --------------------------------------------------------------------------------------------------
# Real kubectl against a throwaway server serving these documents
# --------------------------------------------------------------------------------------------------


def kubectl_binaries() -> dict[str, str | None]:
    found = shutil.which("kubectl")
    if found is None:
        return {"current": None, "1.27": None}
    old = Path(os.path.realpath(found)).with_name("kubectl.1.27")
    return {"current": found, "1.27": str(old) if old.exists() else None}


def discovery_app(api: OpenAPI, resources: list[ResourceInfo], requests: list[str]) -> web.Application:
    """Just enough of an API server for kubectl: legacy discovery, OpenAPI v2/v3, and a POST echo."""

    def resource_list(group_version: str, infos: list[ResourceInfo]) -> dict:
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": [
            {"name": i.plural, "singularName": i.singular_name, "namespaced": i.namespaced, "kind": i.kind,
             "verbs": list(i.verbs), "shortNames": list(i.short_names)} for i in infos]}

    async def handle(request: web.Request) -> web.StreamResponse:
        requests.append(f"{request.method} {request.rel_url}")
        path = request.path
        if path == "/api":
            return web.json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}]})
        if path == "/apis":
            groups: dict[str, list[str]] = {}
            for info in resources:
                if info.group and info.version not in groups.setdefault(info.group, []):
                    groups[info.group].append(info.version)
            return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                 "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]}} for g, vs in groups.items()]})
        for gv in {(i.group, i.version) for i in resources}:
            if path == "/" + group_version_path(*gv):
                infos = [i for i in resources if (i.group, i.version) == gv]
                return web.json_response(resource_list(infos[0].api_version, infos))
        if path == "/openapi/v2":
            content_type = negotiate_v2(request.headers.get("Accept"))
            if content_type == V2_PROTOBUF:
                return web.Response(body=api.v2_protobuf_bytes(), headers={"Content-Type": content_type})
            if content_type is None:
                return web.Response(status=406)
            return web.Response(body=api.v2_document_bytes()[0], content_type="application/json")
        if path == "/openapi/v3":
            return web.Response(body=api.v3_root_bytes(), content_type="application/json")
        if path.startswith("/openapi/v3/"):
            found = api.v3_document_bytes(path[len("/openapi/v3/"):])
            if found is not None:
                return web.Response(body=found[0], content_type="application/json", headers={"ETag": f'"{found[1]}"'})
        if request.method == "POST":
            return web.Response(body=await request.read(), status=201, content_type="application/json")
        return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                                  "message": "not found", "code": 404}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def run_kubectl(binary: str, port: int, home: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        binary, "--server", f"http://127.0.0.1:{port}", "--cache-dir", str(home / "cache"), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"HOME": str(home), "KUBECONFIG": str(home / "no-config"), "PATH": os.environ.get("PATH", "")})
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=20)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out.decode(), err.decode()


DEPLOYMENT_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: nginx, image: nginx}]}
"""


@pytest.mark.slow
@pytest.mark.parametrize("version", ["current", "1.27"])
async def test_real_kubectl_explain_and_strict_create(version: str, tmp_path: Path) -> None:
    binary = kubectl_binaries()[version]
    if binary is None:
        pytest.skip(f"no kubectl binary for {version!r} (looked for `kubectl` on PATH and kubectl.1.27 beside it)")
    api = OpenAPI(list(BUILTIN_RESOURCES))
    api.add_custom_resource(CRONTAB, CRONTAB_SCHEMA)
    requests: list[str] = []
    runner = web.AppRunner(discovery_app(api, [*BUILTIN_RESOURCES, CRONTAB], requests))
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(DEPLOYMENT_YAML)
    try:
        code, out, err = await run_kubectl(binary, port, tmp_path, "explain", "deployment.spec.replicas")
        assert code == 0, err
        assert "KIND:       Deployment" in out and "FIELD: replicas <integer>" in out
        assert "Number of desired pods." in out

        code, out, err = await run_kubectl(binary, port, tmp_path, "explain", "crontab.spec.cronSpec")
        assert code == 0, err
        assert "The cron schedule, in crontab syntax." in out

        requests.clear()
        code, out, err = await run_kubectl(binary, port, tmp_path, "create", "-f", str(manifest))
        assert code == 0, err
        posts = [r for r in requests if r.startswith("POST ")]
        assert posts and "fieldValidation=Strict" in posts[-1], posts
        if version != "1.27":  # 1.29+ read /openapi/v2 only when v3 shows no fieldValidation on PATCH
            assert not [r for r in requests if r.startswith("GET /openapi/v2")], requests
    finally:
        await runner.cleanup()
