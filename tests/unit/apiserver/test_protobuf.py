"""Protobuf request bodies (minik.apiserver.protobuf), checked against what real kubectl sends.

kubectl ≥ 1.32 sends typed-client bodies as Kubernetes protobuf; kubectl 1.31 sends the same objects
as JSON. The real-world tests capture both from the same commands and require `decode_object` of the
protobuf body to equal the JSON body exactly (key order included). The unit tests build bodies with a
tiny encoder below and pin the encoding/json rules the decoder reproduces.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minik.apiserver.protobuf import MAX_DEPTH, PROTOBUF, ProtobufError, decode_object

ROOT = Path(__file__).resolve().parents[3]

# --------------------------------------------------------------------------------------------------
# A minimal protobuf encoder (what gogo's generated Marshal writes)
# --------------------------------------------------------------------------------------------------


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative numbers: two's complement, 10 bytes, like gogo's uint64(v)
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def num(number: int, value: int) -> bytes:
    return key(number, 0) + varint(value)


def data(number: int, value: bytes | str) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return key(number, 2) + varint(len(raw)) + raw


def msg(number: int, *parts: bytes) -> bytes:
    return data(number, b"".join(parts))


def f64(number: int, value: float) -> bytes:
    return key(number, 1) + struct.pack("<d", value)


def entry(number: int, map_key: str, *value: bytes) -> bytes:
    """One map entry message {1 key, 2 value}."""
    return msg(number, data(1, map_key), *value)


def body(api_version: str, kind: str, *raw: bytes, extra: bytes = b"") -> bytes:
    """magic + runtime.Unknown{typeMeta, raw, contentEncoding "", contentType ""}, as gogo writes it."""
    return (b"k8s\x00" + msg(1, data(1, api_version), data(2, kind)) + msg(2, *raw)
            + data(3, "") + data(4, "") + extra)


# ObjectMeta as gogo writes it: every non-pointer field, empty or not, and an empty creationTimestamp.
def object_meta(name: str, *more: bytes) -> bytes:
    return msg(1, data(1, name), data(2, ""), data(3, ""), data(4, ""), data(5, ""), data(6, ""),
               num(7, 0), msg(8), *more)


def decode(*parts: bytes, api_version: str = "v1", kind: str = "ConfigMap") -> dict:
    return decode_object(body(api_version, kind, *parts))


# --------------------------------------------------------------------------------------------------
# Envelope, omitempty, pointers
# --------------------------------------------------------------------------------------------------


def test_configmap_as_kubectl_sends_it() -> None:
    obj = decode(object_meta("c"), entry(2, "empty", data(2, "")), entry(2, "a", data(2, "b")))
    assert orjson.dumps(obj) == orjson.dumps({
        "kind": "ConfigMap", "apiVersion": "v1",
        "metadata": {"name": "c", "creationTimestamp": None}, "data": {"a": "b", "empty": ""}})


def test_present_pointers_survive_even_when_zero() -> None:
    spec = msg(2, num(1, 0), msg(3, msg(2, msg(2, data(1, "c"), data(2, "nginx")))), num(7, 0))
    obj = decode(object_meta("d"), spec, api_version="apps/v1", kind="Deployment")
    assert obj["spec"]["replicas"] == 0  # *int32 written because non-nil
    assert "paused" not in obj["spec"]  # bool false with omitempty: dropped
    assert "revisionHistoryLimit" not in obj["spec"]  # nil pointer: absent
    assert obj["spec"]["selector"] is None  # *LabelSelector without omitempty: null
    assert obj["spec"]["template"]["spec"]["containers"] == [{"name": "c", "image": "nginx", "resources": {}}]
    assert obj["spec"]["strategy"] == {}  # encoding/json never omits a struct
    assert obj["status"] == {}


def test_non_omitempty_fields_print_zero_and_null() -> None:
    obj = decode(object_meta("sa"), kind="TokenRequest", api_version="authentication.k8s.io/v1")
    assert obj["spec"] == {"audiences": None, "expirationSeconds": None, "boundObjectRef": None}
    assert obj["status"] == {"token": "", "expirationTimestamp": None}


def test_inline_structs_are_flattened() -> None:
    volume = msg(1, data(1, "cfg"), msg(2, msg(19, msg(1, data(1, "settings")), num(3, 0o644), num(4, 0))))
    obj = decode(object_meta("p"), msg(2, volume), kind="Pod")
    assert obj["spec"]["volumes"] == [{"name": "cfg", "configMap": {"name": "settings", "defaultMode": 420,
                                                                   "optional": False}}]


def test_delete_options_decode_under_any_group_version() -> None:
    options = decode(num(1, 0), data(4, "Foreground"), data(5, "All"), api_version="apps/v1",
                     kind="DeleteOptions")
    assert options == {"kind": "DeleteOptions", "apiVersion": "apps/v1", "gracePeriodSeconds": 0,
                       "propagationPolicy": "Foreground", "dryRun": ["All"]}
    assert decode(api_version="v1", kind="DeleteOptions") == {"kind": "DeleteOptions", "apiVersion": "v1"}


def test_eviction_keeps_an_empty_delete_options() -> None:
    obj = decode(object_meta("p1"), msg(2), api_version="policy/v1", kind="Eviction")
    assert obj["deleteOptions"] == {}


def test_unknown_fields_are_skipped() -> None:
    obj = decode(object_meta("c", num(900, 5)), num(99, 1), data(98, "x"), f64(97, 1.0), key(96, 5) + b"\0\0\0\0")
    assert obj == {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c", "creationTimestamp": None}}


def test_repeated_singular_messages_merge() -> None:
    obj = decode(msg(1, data(1, "a")), msg(1, data(3, "ns")))  # protobuf merges both halves
    assert obj["metadata"] == {"name": "a", "namespace": "ns", "creationTimestamp": None}


# --------------------------------------------------------------------------------------------------
# Scalars
# --------------------------------------------------------------------------------------------------


def test_negative_varints() -> None:
    spec = msg(2, num(5, -5), num(25, -7), msg(14, num(2, -1), num(5, -(1 << 63))))
    obj = decode(spec, kind="Pod")["spec"]
    assert obj["activeDeadlineSeconds"] == -5  # int64
    assert obj["priority"] == -7  # int32 written as a 10-byte varint
    assert obj["securityContext"] == {"runAsUser": -1, "fsGroup": -(1 << 63)}


def test_int32_keeps_the_low_32_bits() -> None:
    five_byte_minus_one = key(25, 0) + b"\xff\xff\xff\xff\x0f"  # what a 32-bit encoder would write
    assert decode(msg(2, five_byte_minus_one), kind="Pod")["spec"]["priority"] == -1
    assert decode(msg(2, num(25, 1 << 32 | 3)), kind="Pod")["spec"]["priority"] == 3


def test_packed_and_unpacked_repeated_scalars() -> None:
    packed = data(4, varint(1) + varint(2) + varint(-7))
    unpacked = num(4, 8) + num(4, 9)
    spec = msg(2, msg(14, packed, unpacked))
    assert decode(spec, kind="Pod")["spec"]["securityContext"] == {"supplementalGroups": [1, 2, -7, 8, 9]}


def test_invalid_utf8_is_replaced_like_encoding_json() -> None:
    assert decode(msg(1, data(1, b"a\xffb")))["metadata"]["name"] == "a\ufffdb"


# --------------------------------------------------------------------------------------------------
# Maps and bytes
# --------------------------------------------------------------------------------------------------


def test_maps_are_sorted_last_key_wins_and_missing_values_are_zero() -> None:
    obj = decode(entry(2, "z", data(2, "1")), entry(2, "a", data(2, "old")), entry(2, "a", data(2, "new")),
                 entry(2, "m"))
    assert list(obj["data"].items()) == [("a", "new"), ("m", ""), ("z", "1")]


def test_bytes_become_base64() -> None:
    obj = decode(object_meta("s"), entry(2, "k", data(2, "v")), entry(2, "bin", data(2, b"\xff\x00\x01")),
                 entry(2, "empty", data(2, b"")), entry(2, "nothing"), data(3, "Opaque"), kind="Secret")
    assert obj["data"] == {"bin": "/wAB", "empty": "", "k": "dg==", "nothing": ""}
    assert obj["type"] == "Opaque"


def test_empty_maps_and_lists_are_omitted() -> None:
    obj = decode(object_meta("c"), kind="ConfigMap")
    assert "data" not in obj and "binaryData" not in obj
    assert "labels" not in obj["metadata"] and "finalizers" not in obj["metadata"]


# --------------------------------------------------------------------------------------------------
# Types with their own marshalling
# --------------------------------------------------------------------------------------------------


def test_time_keeps_seconds_and_zero_time_is_null() -> None:
    created = msg(8, num(1, 1767323105), num(2, 999_999_999))  # Time drops the nanos
    deleted = msg(9, num(1, 0))  # pointer, present: the epoch
    meta = decode(msg(1, data(1, "c"), created, deleted))["metadata"]
    assert meta["creationTimestamp"] == "2026-01-02T03:05:05Z"
    assert meta["deletionTimestamp"] == "1970-01-01T00:00:00Z"
    year_one = msg(8, num(1, -62135596800))  # time.Time{} as gogo writes it
    assert decode(msg(1, year_one))["metadata"]["creationTimestamp"] is None
    assert decode(msg(1, msg(8)))["metadata"]["creationTimestamp"] is None
    assert decode(msg(1, msg(8, num(1, -62135596800 - 86400))))["metadata"]["creationTimestamp"] == \
        "0000-12-31T00:00:00Z"


def test_micro_time_truncates_to_microseconds() -> None:
    obj = decode(object_meta("e"), msg(2, num(1, 1767323105), num(2, 123_456_789)),
                 api_version="events.k8s.io/v1", kind="Event")
    assert obj["eventTime"] == "2026-01-02T03:05:05.123456Z"
    lease = decode(msg(2, msg(3, num(1, 1767323105)), num(5, 0)), api_version="coordination.k8s.io/v1",
                   kind="Lease")
    assert lease["spec"] == {"acquireTime": "2026-01-02T03:05:05.000000Z", "leaseTransitions": 0}


def test_quantity_is_its_string() -> None:
    spec = msg(2, entry(1, "cpu", msg(2, data(1, "500m"))), entry(1, "pods"), data(2, "BestEffort"))
    obj = decode(spec, kind="ResourceQuota")
    assert obj["spec"] == {"hard": {"cpu": "500m", "pods": "0"}, "scopes": ["BestEffort"]}
    with pytest.raises(ProtobufError, match="empty quantity"):
        decode(msg(2, entry(1, "cpu", msg(2, data(1, "")))), kind="ResourceQuota")


def test_int_or_string() -> None:
    def port(*target: bytes) -> list:
        return decode(msg(2, msg(1, num(3, 80), msg(4, *target))), kind="Service")["spec"]["ports"]

    assert port(num(1, 0), num(2, 8080), data(3, "")) == [{"port": 80, "targetPort": 8080}]
    assert port(num(1, 1), num(2, 0), data(3, "http")) == [{"port": 80, "targetPort": "http"}]
    assert port() == [{"port": 80, "targetPort": 0}]  # intstr.IntOrString{} (omitempty keeps structs)
    with pytest.raises(ProtobufError, match="IntOrString"):
        port(num(1, 5))


def test_raw_extension_is_the_embedded_json() -> None:
    kind = {"api_version": "apps/v1", "kind": "ControllerRevision"}
    obj = decode(object_meta("r"), msg(2, data(1, b'{"spec": {"a": [1, 2.5]}}')), num(3, 4), **kind)
    assert obj["data"] == {"spec": {"a": [1, 2.5]}} and obj["revision"] == 4
    # Structs are never omitted: ObjectMeta{} prints, RawExtension{} marshals as null.
    assert orjson.dumps(decode(num(3, 0), **kind)) == orjson.dumps({
        "kind": "ControllerRevision", "apiVersion": "apps/v1", "metadata": {"creationTimestamp": None},
        "data": None, "revision": 0})
    assert decode(msg(2), **kind)["data"] is None
    with pytest.raises(ProtobufError, match="not JSON"):
        decode(msg(2, data(1, b"{nope")), **kind)


def test_managed_fields_v1_is_raw_json() -> None:
    managed = msg(17, data(1, "kubectl"), data(2, "Update"), msg(4, num(1, 0)), data(6, "FieldsV1"),
                  msg(7, data(1, b'{"f:data":{".":{}}}')))
    meta = decode(msg(1, managed))["metadata"]
    assert meta["managedFields"] == [{"manager": "kubectl", "operation": "Update", "time": "1970-01-01T00:00:00Z",
                                      "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {".": {}}}}]


def crd(schema: bytes) -> dict:
    version = msg(7, data(1, "v1"), num(2, 1), num(3, 1), msg(4, msg(1, schema)))
    spec = msg(2, data(1, "example.com"), msg(3, data(1, "crontabs"), data(4, "CronTab")), data(4, "Namespaced"),
               version)
    obj = decode(object_meta("crontabs.example.com"), spec, api_version="apiextensions.k8s.io/v1",
                 kind="CustomResourceDefinition")
    return obj["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_crd_schema_custom_marshalling() -> None:
    schema = crd(
        data(5, "object")
        + entry(29, "replicas", msg(2, data(5, "integer"), f64(9, 5.0), f64(11, -1.5), msg(8, data(1, b"1"))))
        + entry(29, "tags", msg(2, data(5, "array"), msg(24, msg(1, data(5, "string")))))
        + entry(29, "tuple", msg(2, msg(24, msg(2, data(5, "string")), msg(2, data(5, "integer")))))
        + entry(29, "free", msg(2, num(38, 1), msg(30, num(1, 0))))
        + entry(29, "labels", msg(2, msg(30, num(1, 1), msg(2, data(5, "string")))))
        + entry(32, "a", msg(2, data(2, "b"), data(2, "c")))
        + msg(20, data(1, b'"x"')) + msg(20, data(1, b"7"))
    )
    assert schema == {
        "type": "object",
        "enum": ["x", 7],
        "properties": {
            "free": {"additionalProperties": False, "x-kubernetes-preserve-unknown-fields": True},
            "labels": {"additionalProperties": {"type": "string"}},
            "replicas": {"type": "integer", "default": 1, "maximum": 5, "minimum": -1.5},
            "tags": {"type": "array", "items": {"type": "string"}},
            "tuple": {"items": [{"type": "string"}, {"type": "integer"}]},
        },
        "dependencies": {"a": ["b", "c"]},
    }


def test_crd_schema_nesting_is_bounded() -> None:
    nested = data(5, "object")
    for _ in range(MAX_DEPTH + 5):
        nested = msg(28, nested)  # not: {not: {...}}
    with pytest.raises(ProtobufError, match="nested"):
        crd(nested)


# --------------------------------------------------------------------------------------------------
# Errors: never a crash, always ProtobufError
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("payload", "message"), [
    (b"", "prefix"),
    (b'{"kind": "ConfigMap"}', "prefix"),
    (b"k8s\x01" + msg(1), "prefix"),
    (b"k8s\x00", "no protobuf decoding for /, Kind="),
    (b"k8s\x00" + msg(1, data(1, "rbac.authorization.k8s.io/v1"), data(2, "Role")),
     "no protobuf decoding for rbac.authorization.k8s.io/v1, Kind=Role"),
    (b"k8s\x00" + msg(1, data(1, "v1"), data(2, "Frobnicator")), "no protobuf decoding for /v1, Kind=Frobnicator"),
    (b"k8s\x00" + msg(1, data(1, "a/b/c"), data(2, "Pod")), "GroupVersion"),
    (body("v1", "ConfigMap", extra=data(3, "gzip")), "contentEncoding"),
    (body("v1", "ConfigMap", extra=data(4, "application/json")), "contentType"),
    (body("v1", "ConfigMap", num(1, 3)), "wire type"),  # metadata as a varint
    (body("v1", "ConfigMap", key(5, 3)), "wire type 3"),  # groups
    (body("v1", "ConfigMap", key(0, 0) + b"\x00"), "field number 0"),
    (body("v1", "ConfigMap", key(2, 0) + b"\xff" * 11), "overflows"),
    (body("v1", "ConfigMap", key(2, 2) + varint(1000) + b"ab"), "past the end"),
    (body("v1", "Pod", msg(2, data(4, b"\x01\x02\x03"), key(4, 1))), "end of data"),
])
def test_malformed_bodies_raise_protobuf_error(payload: bytes, message: str) -> None:
    with pytest.raises(ProtobufError, match=re.escape(message)):
        decode_object(payload)


def test_non_bytes_input() -> None:
    with pytest.raises(ProtobufError):
        decode_object("k8s\x00")  # type: ignore[arg-type]


REAL_LOOKING = body("apps/v1", "Deployment", object_meta("d", entry(11, "app", data(2, "d"))),
                    msg(2, num(1, 3), msg(2, entry(1, "app", data(2, "d"))),
                        msg(3, object_meta("", entry(11, "app", data(2, "d"))),
                            msg(2, msg(2, data(1, "nginx"), data(2, "nginx"), msg(6, num(3, 80), data(4, "TCP")),
                                       msg(8, entry(2, "cpu", msg(2, data(1, "100m")))))))),
                    msg(3))


def test_every_truncation_is_an_error_or_an_object() -> None:
    assert decode_object(REAL_LOOKING)["spec"]["replicas"] == 3
    for cut in range(len(REAL_LOOKING)):
        try:
            result = decode_object(REAL_LOOKING[:cut])
        except ProtobufError:
            continue
        assert isinstance(result, dict)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_corruption_never_crashes(draw: st.DataObject) -> None:
    blob = bytearray(REAL_LOOKING)
    for _ in range(draw.draw(st.integers(1, 6))):
        blob[draw.draw(st.integers(4, len(blob) - 1))] = draw.draw(st.integers(0, 255))
    try:
        assert isinstance(decode_object(bytes(blob)), dict)
    except ProtobufError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(tail: bytes) -> None:
    try:
        assert isinstance(decode_object(b"k8s\x00" + tail), dict)
    except ProtobufError:
        pass


# --------------------------------------------------------------------------------------------------
# Data file and generator
# --------------------------------------------------------------------------------------------------


def test_field_tables_load_lazily() -> None:
    code = ("import minik.apiserver.protobuf as p; assert p._schema.cache_info().currsize == 0; "
            f"p.decode_object({body('v1', 'DeleteOptions')!r}); assert p._schema.cache_info().currsize == 1")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=30)


@pytest.fixture(scope="module")
def gen():
    """scripts/gen_protobuf.py as a module (dataclasses need it in sys.modules while it loads)."""
    spec = importlib.util.spec_from_file_location("_minik_gen_protobuf", ROOT / "scripts" / "gen_protobuf.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


GO_SNIPPET = '''
package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Widget is a test type. `backquotes` in comments are ignored.
type Widget struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	Spec WidgetSpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
}

type Mode string

type WidgetSpec struct {
	Inline `json:",inline" protobuf:"bytes,9,opt,name=inline"`
	Replicas *int32 `json:"replicas,omitempty" protobuf:"bytes,1,opt,name=replicas"`
	Mode Mode `json:"mode" protobuf:"bytes,2,opt,name=mode,casttype=Mode"`
	Limits map[string]resource.Quantity `json:"limits,omitempty" protobuf:"bytes,3,rep,name=limits"`
	Blob []byte `json:"blob,omitempty" protobuf:"bytes,4,opt,name=blob"`
	Created metav1.Time `json:"created,omitempty" protobuf:"bytes,5,opt,name=created"`
}

type Inline struct {
	Weights []int64 `json:"weights" protobuf:"varint,1,rep,name=weights"`
}
'''


def test_generator_reads_go_struct_tags(gen) -> None:
    widgets = gen.GoPackage("k8s.io/api/widgets/v1")
    gen.parse_go_file(GO_SNIPPET, widgets)
    meta = gen.GoPackage(gen.META)
    gen.parse_go_file("package v1\ntype ObjectMeta struct {\n"
                      "\tName string `json:\"name,omitempty\" protobuf:\"bytes,1,opt,name=name\"`\n}\n"
                      "type TypeMeta struct {\n}\n", meta)
    resolver = gen.Resolver({widgets.path: widgets, meta.path: meta})
    resolver.require(widgets.path, "Widget")
    resolver.run()
    assert resolver.messages["widgets/v1.Widget"] == {"fields": [
        [1, "metadata", "o", "m:meta/v1.ObjectMeta"], [2, "spec", "o", "m:widgets/v1.WidgetSpec"]]}
    assert resolver.messages["widgets/v1.WidgetSpec"] == {"fields": [
        [9, "", "i", "m:widgets/v1.Inline"],
        [1, "replicas", "po", "i32"],  # the Go type decides the wire form, not the (wrong) tag
        [2, "mode", "", "s"],
        [3, "limits", "o", ["map", "s", "@Quantity"]],
        [4, "blob", "o", "y"],
        [5, "created", "o", "@Time"],
    ]}
    assert resolver.messages["widgets/v1.Inline"] == {"fields": [[1, "weights", "", ["list", "i64"]]]}


def test_data_file_covers_the_served_kinds(gen) -> None:
    from minik.apiserver import protobuf

    kinds = protobuf._schema().kinds
    assert set(kinds) == {f"{g}/{v}/{k}" for g, v, k, _, _ in gen.KINDS}
    assert protobuf.DATA_FILE.stat().st_size < 100_000


# --------------------------------------------------------------------------------------------------
# Real kubectl: protobuf from ≥ 1.32 must decode to exactly the JSON that 1.31 sends
# --------------------------------------------------------------------------------------------------


def kubectl_binaries() -> dict[str, str | None]:
    """`current` is kubectl on PATH (1.32 here); the others sit beside its real file."""
    found = shutil.which("kubectl")
    if found is None:
        return {"current": None, "1.31": None, "1.33": None}
    beside = Path(os.path.realpath(found)).parent
    return {"current": found, **{v: str(beside / f"kubectl.{v}") if (beside / f"kubectl.{v}").exists() else None
                                 for v in ("1.31", "1.33")}}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    content_type: str
    body: bytes
    user_agent: str

    def decoded(self) -> object:
        if self.content_type.startswith(PROTOBUF):
            return decode_object(self.body)
        return orjson.loads(self.body) if self.body else None


# A CronJob full of pointer zeros, negative numbers, quantities, int-or-strings and inline structs, for
# `kubectl create job --from=cronjob/cj` to copy into a Job.
CONTAINER = {
    "name": "c", "image": "nginx:1", "args": ["--x=1", ""],
    "ports": [{"name": "http", "containerPort": 8080, "hostPort": 0}, {"containerPort": 53, "protocol": "UDP"}],
    "env": [{"name": "E", "value": ""},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}}],
    "resources": {"limits": {"cpu": "0.5", "memory": "128Mi"}, "requests": {"ephemeral-storage": "0"}},
    "livenessProbe": {"httpGet": {"path": "/h", "port": 8080, "httpHeaders": [{"name": "X", "value": "y"}]},
                      "terminationGracePeriodSeconds": 0},
    "readinessProbe": {"tcpSocket": {"port": "http"}},
    "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
    "securityContext": {"runAsGroup": 0, "allowPrivilegeEscalation": False,
                        "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}},
}
POD_SPEC = {
    "restartPolicy": "OnFailure", "terminationGracePeriodSeconds": 0, "nodeSelector": {"b": "2", "a": "1"},
    "automountServiceAccountToken": False, "priority": -5,
    "securityContext": {"runAsUser": 0, "runAsNonRoot": False, "supplementalGroups": [1, 2, -7],
                        "sysctls": [{"name": "net.x", "value": "1"}]},
    "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]}]}}},
    "volumes": [
        {"name": "cm", "configMap": {"name": "cfg", "items": [{"key": "k", "path": "p", "mode": 420}],
                                     "optional": True}},
        {"name": "ed", "emptyDir": {"medium": "Memory", "sizeLimit": "1.5Gi"}},
        {"name": "proj", "projected": {"sources": [
            {"serviceAccountToken": {"expirationSeconds": 3600, "path": "token"}}]}}],
    "containers": [CONTAINER],
}
JOB_SPEC = {
    "completions": 2, "parallelism": 0, "backoffLimit": 0, "suspend": False,
    "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1, 2, -3]}}]},
    "template": {"metadata": {"labels": {"app": "z"}}, "spec": POD_SPEC},
}
CRONJOB = {
    "kind": "CronJob", "apiVersion": "batch/v1",
    "metadata": {"name": "cj", "namespace": "default", "uid": "1234", "creationTimestamp": "2024-05-06T07:08:09Z"},
    "spec": {"schedule": "*/5 * * * *", "concurrencyPolicy": "Forbid",
             "jobTemplate": {"metadata": {"labels": {"team": "a"}, "annotations": {"note": "n"}}, "spec": JOB_SPEC},
             "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 0, "startingDeadlineSeconds": 0,
             "timeZone": "UTC"},
}
DRAINED_POD = {"metadata": {"name": "p1", "namespace": "default", "ownerReferences": [
    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u", "controller": True}]},
    "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]}, "status": {"phase": "Running"}}
# group/version → (plural, kind, namespaced, extra); pods/eviction and serviceaccounts/token name their group.
DISCOVERY = {
    "v1": [("configmaps", "ConfigMap", True, {}), ("secrets", "Secret", True, {}),
           ("namespaces", "Namespace", False, {}), ("services", "Service", True, {}),
           ("serviceaccounts", "ServiceAccount", True, {}),
           ("serviceaccounts/token", "TokenRequest", True, {"group": "authentication.k8s.io", "version": "v1"}),
           ("resourcequotas", "ResourceQuota", True, {}), ("pods", "Pod", True, {}),
           ("pods/eviction", "Eviction", True, {"group": "policy", "version": "v1"}), ("nodes", "Node", False, {})],
    "apps/v1": [("deployments", "Deployment", True, {})],
    "batch/v1": [("jobs", "Job", True, {}), ("cronjobs", "CronJob", True, {})],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True, {})],
}


def fake_api_server(recorded: list[Recorded]) -> web.Application:
    """Discovery, a 201 echo of created objects, and what `create job --from` and `drain` read."""

    def resource_list(group_version: str) -> dict:
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": [
            {"name": name, "singularName": "", "namespaced": namespaced, "kind": kind,
             "verbs": ["create", "get", "list", "delete", "patch", "update", "watch"], **extra}
            for name, kind, namespaced, extra in DISCOVERY[group_version]]}

    def status(code: int, reason: str) -> web.Response:
        outcome = "Failure" if code >= 400 else "Success"
        return web.json_response({"kind": "Status", "apiVersion": "v1", "status": outcome, "reason": reason,
                                  "code": code}, status=code)

    async def handle(request: web.Request) -> web.StreamResponse:
        record = Recorded(request.method, request.path, request.headers.get("Content-Type", ""),
                          await request.read(), request.headers.get("User-Agent", ""))
        recorded.append(record)
        path, method = request.path, request.method
        if path == "/api":
            return web.json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}]})
        if path == "/apis":
            return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                 "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]}}
                for gv in DISCOVERY if "/" in gv]})
        if path == "/api/v1" or path.removeprefix("/apis/") in DISCOVERY:
            return web.json_response(resource_list(path.removeprefix("/api/").removeprefix("/apis/")))
        if method == "POST":
            obj = record.decoded()
            if isinstance(obj, dict) and obj.get("kind") == "TokenRequest":
                obj["status"]["token"] = "fake-token"
            return web.json_response(obj, status=201)
        if method == "GET" and path == "/apis/batch/v1/namespaces/default/cronjobs/cj":
            return web.json_response(CRONJOB)
        if method == "GET" and path == "/api/v1/nodes/n1":
            return web.json_response({"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n1"}, "spec": {}})
        if method == "PATCH" and path == "/api/v1/nodes/n1":
            return web.json_response({"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n1"},
                                      "spec": {"unschedulable": True}})
        if method == "GET" and path == "/api/v1/pods":
            return web.json_response({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [DRAINED_POD]})
        if method == "DELETE":
            return status(200, "")
        return status(404, "NotFound")  # includes drain's wait for the deleted pod

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


@asynccontextmanager
async def serving(recorded: list[Recorded]) -> AsyncIterator[int]:
    runner = web.AppRunner(fake_api_server(recorded))
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        await web.SockSite(runner, sock).start()
        yield sock.getsockname()[1]
    finally:
        await runner.cleanup()


async def run_kubectl(binary: str, home: Path, args: tuple[str, ...]) -> list[Recorded]:
    """Run one kubectl command against its own fake server; the requests it sent that carry a body."""
    recorded: list[Recorded] = []
    async with serving(recorded) as port:
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
    assert proc.returncode == 0, f"{binary} {' '.join(args)}: {err.decode()}{out.decode()}"
    return [r for r in recorded if r.method not in ("GET", "HEAD")]


BINARY_FILE = b"\xff\x00\x01abc"  # not UTF-8: kubectl puts it in binaryData
# (name, kubectl arguments, whether kubectl ≥ 1.32 sends the bodies as protobuf)
COMMANDS = [
    ("configmap", ("create", "configmap", "c", "--from-literal=a=b", "--from-literal=empty=",
                   "--from-file=bin={tmp}/bin.dat"), True),
    ("secret", ("create", "secret", "generic", "s", "--from-literal=k=v", "--from-literal=e=", "--type=Opaque"), True),
    ("docker-registry", ("create", "secret", "docker-registry", "r", "--docker-username=u", "--docker-password=p",
                         "--docker-server=x"), True),
    ("deployment", ("create", "deployment", "d", "--image=nginx", "--replicas=0", "--port=80"), True),
    ("job", ("create", "job", "j", "--image=busybox", "--", "echo", "hi"), True),
    ("cronjob", ("create", "cronjob", "cj", "--image=busybox", "--schedule=*/5 * * * *", "--restart=OnFailure"), True),
    ("job-from-cronjob", ("create", "job", "j2", "--from=cronjob/cj"), True),
    ("namespace", ("create", "namespace", "n"), True),
    ("service", ("create", "service", "clusterip", "svc", "--tcp=80:8080"), True),
    ("nodeport", ("create", "service", "nodeport", "np", "--tcp=80:http", "--node-port=30080"), True),
    ("serviceaccount", ("create", "serviceaccount", "sa"), True),
    ("quota", ("create", "quota", "q", "--hard=cpu=1,memory=1G,pods=2", "--scopes=BestEffort"), True),
    ("token", ("create", "token", "sa", "--audience=a", "--duration=10m", "--bound-object-kind=Pod",
               "--bound-object-name=p", "--bound-object-uid=u1"), True),
    ("drain-delete", ("drain", "n1", "--force", "--disable-eviction", "--grace-period=0", "--timeout=10s"), True),
    # The Eviction itself still goes out as JSON from 1.32/1.33 (observed); compared all the same.
    ("drain-evict", ("drain", "n1", "--force", "--timeout=10s"), False),
]


def minor_version(user_agent: str) -> int:
    found = re.match(r"\S*/v1\.(\d+)\.", user_agent)  # "<binary name>/v1.33.1 (linux/amd64) ..."
    assert found, user_agent
    return int(found.group(1))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "args", "protobuf"), COMMANDS, ids=[c[0] for c in COMMANDS])
async def test_real_kubectl_protobuf_bodies_decode_to_their_json(name: str, args: tuple[str, ...], protobuf: bool,
                                                                 tmp_path: Path) -> None:
    binaries = kubectl_binaries()
    if binaries["1.31"] is None:
        pytest.skip("no kubectl.1.31 beside kubectl's real file: nothing sends the JSON reference")
    newer = [b for v, b in binaries.items() if v != "1.31" and b is not None]
    if not newer:
        pytest.skip("no kubectl ≥ 1.32 (looked for `kubectl` on PATH and kubectl.1.33 beside it)")
    (tmp_path / "bin.dat").write_bytes(BINARY_FILE)
    args = tuple(a.replace("{tmp}", str(tmp_path)) for a in args)
    homes = [tmp_path / f"home{i}" for i in range(len(newer) + 1)]
    reference, *others = await asyncio.gather(*(
        run_kubectl(binary, home, args) for binary, home in zip([binaries["1.31"], *newer], homes, strict=True)))

    assert reference, "kubectl 1.31 sent no body"
    assert all(r.content_type.split(";")[0].endswith("json") for r in reference)  # JSON, or a JSON patch
    expected = [(r.method, r.path, orjson.dumps(r.decoded())) for r in reference]
    for sent in others:
        if protobuf and minor_version(sent[0].user_agent) >= 32:  # drain's cordon PATCH stays JSON
            assert {r.content_type for r in sent if r.method != "PATCH"} == {PROTOBUF}, sent[0].user_agent
        assert [(r.method, r.path, orjson.dumps(r.decoded())) for r in sent] == expected, sent[0].user_agent

    if name == "deployment":
        assert decode_object(others[0][0].body)["spec"]["replicas"] == 0
    if name == "drain-delete":
        assert others[0][-1].decoded() == {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}
