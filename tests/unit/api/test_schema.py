"""CRD schema validation, pruning and defaulting (minik.api.schema) with Kubernetes' exact messages."""

from __future__ import annotations

import copy

import pytest

from minik.api import schema

ROOT = "spec.versions[0].schema.openAPIV3Schema"


def crd(spec_properties: dict, *, required: list[str] | None = None) -> dict:
    spec: dict = {"type": "object", "properties": spec_properties}
    if required:
        spec["required"] = required
    return {"type": "object", "properties": {"spec": spec}}


def errors(obj: dict, s: dict, **kw) -> list[tuple[str, str]]:
    return [(c.reason, c.error()) for c in schema.validate(obj, s, **kw)]


# --------------------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------------------

VALIDATE_CASES = [
    pytest.param({"replicas": {"type": "integer"}}, {"replicas": "three"},
                 [("FieldValueTypeInvalid",
                   'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"')],
                 id="type"),
    pytest.param({"replicas": {"type": "integer"}}, {"replicas": 3.0}, [], id="integral-float-is-an-integer"),
    pytest.param({"ratio": {"type": "number"}}, {"ratio": 3}, [], id="integer-is-a-number"),
    pytest.param({"on": {"type": "boolean"}}, {"on": 1},
                 [("FieldValueTypeInvalid",
                   'spec.on: Invalid value: "integer": spec.on in body must be of type boolean: "integer"')],
                 id="number-is-not-boolean"),
    pytest.param({"s": {"type": "string"}}, {"s": None},
                 [("FieldValueTypeInvalid",
                   'spec.s: Invalid value: "null": spec.s in body must be of type string: "null"')],
                 id="null-not-nullable"),
    pytest.param({"s": {"type": "string", "nullable": True}}, {"s": None}, [], id="nullable"),
    pytest.param({"color": {"type": "string", "enum": ["red", "green"]}}, {"color": "blue"},
                 [("FieldValueNotSupported",
                   'spec.color: Unsupported value: "blue": supported values: "red", "green"')],
                 id="enum"),
    pytest.param({"n": {"type": "integer", "enum": [1, 2]}}, {"n": 3},
                 [("FieldValueNotSupported", 'spec.n: Unsupported value: 3: supported values: "1", "2"')],
                 id="enum-non-string"),
    pytest.param({"replicas": {"type": "integer", "maximum": 10}}, {"replicas": 15},
                 [("FieldValueInvalid",
                   "spec.replicas: Invalid value: 15: spec.replicas in body should be less than or equal to 10")],
                 id="maximum"),
    pytest.param({"n": {"type": "integer", "minimum": 0, "exclusiveMinimum": True}}, {"n": 0},
                 [("FieldValueInvalid", "spec.n: Invalid value: 0: spec.n in body should be greater than 0")],
                 id="exclusive-minimum"),
    pytest.param({"x": {"type": "number", "maximum": 1.5, "exclusiveMaximum": True}}, {"x": 1.5},
                 [("FieldValueInvalid", "spec.x: Invalid value: 1.5: spec.x in body should be less than 1.5")],
                 id="exclusive-maximum-float"),
    pytest.param({"n": {"type": "integer", "multipleOf": 5}}, {"n": 7},
                 [("FieldValueInvalid", "spec.n: Invalid value: 7: spec.n in body should be a multiple of 5")],
                 id="multiple-of"),
    pytest.param({"name": {"type": "string", "maxLength": 3}}, {"name": "abcd"},
                 [("FieldValueTooLong", "spec.name: Too long: may not be more than 3 bytes")], id="max-length"),
    pytest.param({"name": {"type": "string", "minLength": 2}}, {"name": "a"},
                 [("FieldValueInvalid",
                   'spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long')],
                 id="min-length"),
    pytest.param({"name": {"type": "string", "pattern": "^[a-z]+$"}}, {"name": "A1"},
                 [("FieldValueInvalid", "spec.name: Invalid value: \"A1\": spec.name in body should match '^[a-z]+$'")],
                 id="pattern"),
    pytest.param({"l": {"type": "array", "items": {"type": "integer"}, "maxItems": 1}}, {"l": [1, 2]},
                 [("FieldValueTooMany", "spec.l: Too many: 2: must have at most 1 item")], id="max-items"),
    pytest.param({"l": {"type": "array", "items": {"type": "integer"}, "minItems": 2}}, {"l": [1]},
                 [("FieldValueInvalid", "spec.l: Invalid value: 1: spec.l in body should have at least 2 items")],
                 id="min-items"),
    pytest.param({"l": {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}}, {"l": [1, 2, 1]},
                 [("FieldValueInvalid", "spec.l: Invalid value: \"\": spec.l in body shouldn't contain duplicates")],
                 id="unique-items"),
    pytest.param({"l": {"type": "array", "items": {"type": "boolean"}, "uniqueItems": True}}, {"l": [1, True]}, [
        ("FieldValueTypeInvalid", 'spec.l[0]: Invalid value: "integer": spec.l[0] in body must be of type boolean: '
                                  '"integer"')], id="unique-items-bool-is-not-1"),
    pytest.param({"m": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 1}},
                 {"m": {"a": "1", "b": "2"}},
                 [("FieldValueTooMany", "spec.m: Too many: 2: must have at most 1 item")], id="max-properties"),
    pytest.param({"m": {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 2}},
                 {"m": {"a": "1"}},
                 [("FieldValueInvalid", "spec.m: Invalid value: 1: spec.m in body should have at least 2 properties")],
                 id="min-properties"),
    pytest.param({"m": {"type": "object", "additionalProperties": {"type": "string"}}}, {"m": {"a": 1}},
                 [("FieldValueTypeInvalid", 'spec.m.a: Invalid value: "integer": spec.m.a in body must be of type '
                                            'string: "integer"')], id="additional-properties"),
    pytest.param({"when": {"type": "string", "format": "date-time"}}, {"when": "yesterday"},
                 [("FieldValueTypeInvalid", 'spec.when: Invalid value: "yesterday": spec.when in body must be of type '
                                            'date-time: "yesterday"')], id="format-date-time"),
    pytest.param({"when": {"type": "string", "format": "date-time"}}, {"when": "2024-02-29T10:00:00.5+01:00"}, [],
                 id="format-date-time-ok"),
    pytest.param({"id": {"type": "string", "format": "uuid"}}, {"id": "not-a-uuid"},
                 [("FieldValueTypeInvalid", 'spec.id: Invalid value: "not-a-uuid": spec.id in body must be of type '
                                            'uuid: "not-a-uuid"')], id="format-uuid"),
    pytest.param({"n": {"type": "integer", "format": "int32"}}, {"n": True},
                 [("FieldValueTypeInvalid", 'spec.n: Invalid value: "": spec.n in body must be of type int32: ""')],
                 id="format-int32-wrong-type"),
    pytest.param({"n": {"type": "integer", "format": "int32"}}, {"n": 2**40}, [],
                 id="format-int32-range-not-enforced"),
    pytest.param({"x": {"type": "string", "format": "no-such-format"}}, {"x": "anything"}, [],
                 id="unknown-format-ignored"),
    pytest.param({"port": {"x-kubernetes-int-or-string": True}}, {"port": 1.5},
                 [("FieldValueTypeInvalid", 'spec.port: Invalid value: "number": spec.port in body must be of type '
                                            'integer,string: "number"')], id="int-or-string"),
    pytest.param({"port": {"x-kubernetes-int-or-string": True}}, {"port": "http"}, [], id="int-or-string-ok"),
    pytest.param({"c": {"type": "array", "items": {"type": "object", "required": ["name"],
                                                   "properties": {"name": {"type": "string"}}}}},
                 {"c": [{"name": "a"}, {}]},
                 [("FieldValueRequired", "spec.c[1].name: Required value")], id="items-required"),
    pytest.param({"any": {"x-kubernetes-preserve-unknown-fields": True}}, {"any": {"deep": [1, "x", None]}}, [],
                 id="preserve-unknown-fields-accepts-anything"),
    pytest.param({"tpl": {"type": "object", "x-kubernetes-embedded-resource": True,
                          "x-kubernetes-preserve-unknown-fields": True}},
                 {"tpl": {"apiVersion": "v1"}},
                 [("FieldValueRequired", "spec.tpl.kind: Required value: must not be empty")], id="embedded-resource"),
    pytest.param({"tpl": {"type": "object", "x-kubernetes-embedded-resource": True,
                          "x-kubernetes-preserve-unknown-fields": True}},
                 {"tpl": {"apiVersion": "v1", "kind": "Not_A_Kind"}},
                 [("FieldValueInvalid", 'spec.tpl.kind: Invalid value: "Not_A_Kind": may have mixed case, but should '
                   "otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
                   "with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
                   "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")],
                 id="embedded-resource-kind"),
]


@pytest.mark.parametrize(("properties", "spec", "want"), VALIDATE_CASES)
def test_validate(properties: dict, spec: dict, want: list) -> None:
    assert errors({"spec": spec}, crd(properties)) == want


def test_validate_reports_missing_required_fields_at_the_root_and_below() -> None:
    s = crd({"a": {"type": "string"}}, required=["a"])
    s["required"] = ["spec"]
    assert errors({}, s) == [("FieldValueRequired", "spec: Required value")]
    assert errors({"spec": {}}, s) == [("FieldValueRequired", "spec.a: Required value")]


def test_validate_prefixes_fields_with_the_given_path() -> None:
    got = errors({"spec": {"n": "x"}}, crd({"n": {"type": "integer"}}), path="status")
    assert got == [("FieldValueTypeInvalid",
                    'status.spec.n: Invalid value: "string": spec.n in body must be of type integer: "string"')]


def test_validate_reports_every_failure_in_kube_openapi_order() -> None:
    s = crd({"a": {"type": "integer", "maximum": 1}, "b": {"type": "string", "enum": ["x"]}})
    got = [field for field, _ in ((c.field, c) for c in schema.validate({"spec": {"a": 2, "b": "y"}}, s))]
    assert got == ["spec.a", "spec.b"]


def test_validate_junctors() -> None:
    one_of = crd({"v": {"type": "integer", "oneOf": [{"minimum": 10}, {"maximum": 0}]}})
    assert errors({"spec": {"v": 20}}, one_of) == []
    got = errors({"spec": {"v": 5}}, one_of)
    assert got[0] == ("FieldValueInvalid",
                      '<nil>: Invalid value: "": "spec.v" must validate one and only one schema (oneOf). '
                      "Found none valid")
    negated = crd({"v": {"type": "string", "not": {"enum": ["forbidden"]}}})
    assert errors({"spec": {"v": "forbidden"}}, negated) == [
        ("FieldValueInvalid", '<nil>: Invalid value: "": "spec.v" must not validate the schema (not)')]


# --------------------------------------------------------------------------------------------------
# prune / unknown_fields / prune_nulls / default
# --------------------------------------------------------------------------------------------------

PRUNE_SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {"type": "object", "properties": {
            "replicas": {"type": "integer"},
            "list": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "ports": {"type": "object", "additionalProperties": {
                "type": "object", "properties": {"port": {"type": "integer"}}}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                     "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}},
            "tpl": {"type": "object", "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}}},
        }},
    },
}

PRUNE_CASES = [
    pytest.param({"spec": {"replicas": 1, "foo": 2}}, {"spec": {"replicas": 1}}, ["spec.foo"], id="unknown-field"),
    pytest.param({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n", "odd": 1}, "top": 1},
                 {"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n", "odd": 1}}, ["top"],
                 id="type-and-object-meta-kept-at-the-root"),
    pytest.param({"spec": {"list": [{"name": "a", "bar": 1}, {"baz": 2}]}},
                 {"spec": {"list": [{"name": "a"}, {}]}}, ["spec.list[0].bar", "spec.list[1].baz"], id="list-items"),
    pytest.param({"spec": {"labels": {"a": "b"}, "ports": {"http": {"port": 80, "proto": "TCP"}}}},
                 {"spec": {"labels": {"a": "b"}, "ports": {"http": {"port": 80}}}}, ["spec.ports.http.proto"],
                 id="maps"),
    pytest.param({"spec": {"free": {"anything": [1], "known": {"a": "x", "b": "y"}}}},
                 {"spec": {"free": {"anything": [1], "known": {"a": "x"}}}}, ["spec.free.known.b"],
                 id="preserve-unknown-fields-still-prunes-known-children"),
    pytest.param({"spec": {"tpl": {"apiVersion": "v1", "kind": "Pod", "metadata": {"x": 1}, "spec": {"x": "a", "y": 1},
                                   "extra": True}}},
                 {"spec": {"tpl": {"apiVersion": "v1", "kind": "Pod", "metadata": {"x": 1}, "spec": {"x": "a"}}}},
                 ["spec.tpl.extra", "spec.tpl.spec.y"], id="embedded-resource-keeps-type-and-object-meta"),
    pytest.param({"zeta": 1, "alpha": {"b": 1}}, {}, ["alpha", "zeta"], id="sorted-like-kubernetes"),
]


@pytest.mark.parametrize(("obj", "want", "unknown"), PRUNE_CASES)
def test_prune(obj: dict, want: dict, unknown: list[str]) -> None:
    original = copy.deepcopy(obj)
    paths: list[str] = []
    assert schema.prune(obj, PRUNE_SCHEMA, unknown_paths=paths) == want
    assert paths == unknown
    assert schema.unknown_fields(obj, PRUNE_SCHEMA) == unknown
    assert obj == original, "prune must not modify its input"


def test_prune_without_a_schema_keeps_only_type_and_object_meta() -> None:
    obj = {"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "x"}, "spec": {"a": 1}}
    assert schema.prune(obj, None) == {"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "x"}}


def test_prune_with_preserve_unknown_fields_at_the_root_keeps_everything() -> None:
    obj = {"apiVersion": "a/v1", "kind": "K", "spec": {"a": {"b": [1, 2]}}}
    assert schema.prune(obj, {"type": "object", "x-kubernetes-preserve-unknown-fields": True}) == obj
    assert schema.unknown_fields(obj, {"type": "object", "x-kubernetes-preserve-unknown-fields": True}) == []


def test_prune_nulls_drops_only_non_nullable_nulls_without_defaults() -> None:
    s = crd({"a": {"type": "string"}, "b": {"type": "string", "nullable": True},
             "c": {"type": "string", "default": "x"}})
    assert schema.prune_nulls({"spec": {"a": None, "b": None, "c": None}}, s) == {"spec": {"b": None, "c": None}}


DEFAULT_SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {"type": "object", "default": {}, "properties": {
            "replicas": {"type": "integer", "default": 1},
            "mode": {"type": "string", "nullable": True, "default": "auto"},
            "tags": {"type": "array", "default": ["a"], "items": {"type": "string"}},
            "containers": {"type": "array", "items": {"type": "object", "properties": {
                "pull": {"type": "string", "default": "IfNotPresent"}}}},
            "limits": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                "max": {"type": "integer", "default": 10}}}},
        }},
    },
}

DEFAULT_CASES = [
    pytest.param({}, {"spec": {"replicas": 1, "mode": "auto", "tags": ["a"]}}, id="defaults-inside-a-defaulted-object"),
    pytest.param({"spec": {"replicas": 3, "mode": None}}, {"spec": {"replicas": 3, "mode": None, "tags": ["a"]}},
                 id="nullable-null-is-kept"),
    pytest.param({"spec": None}, {"spec": {"replicas": 1, "mode": "auto", "tags": ["a"]}},
                 id="non-nullable-null-is-defaulted"),
    pytest.param({"spec": {"replicas": 2, "mode": "x", "tags": [], "containers": [{}, {"pull": "Always"}]}},
                 {"spec": {"replicas": 2, "mode": "x", "tags": [],
                           "containers": [{"pull": "IfNotPresent"}, {"pull": "Always"}]}}, id="list-items"),
    pytest.param({"spec": {"replicas": 2, "mode": "x", "tags": [], "limits": {"cpu": {}}}},
                 {"spec": {"replicas": 2, "mode": "x", "tags": [], "limits": {"cpu": {"max": 10}}}},
                 id="map-values"),
]


@pytest.mark.parametrize(("obj", "want"), DEFAULT_CASES)
def test_default(obj: dict, want: dict) -> None:
    original = copy.deepcopy(obj)
    assert schema.default(obj, DEFAULT_SCHEMA) == want
    assert obj == original, "default must not modify its input"


def test_default_values_are_copies() -> None:
    first = schema.default({}, DEFAULT_SCHEMA)
    first["spec"]["tags"].append("mutated")
    assert DEFAULT_SCHEMA["properties"]["spec"]["properties"]["tags"]["default"] == ["a"]
    assert schema.default({}, DEFAULT_SCHEMA)["spec"]["tags"] == ["a"]


# --------------------------------------------------------------------------------------------------
# validate_schema_definition
# --------------------------------------------------------------------------------------------------

GOOD = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {"type": "object", "required": ["cronSpec"], "properties": {
            "cronSpec": {"type": "string", "pattern": r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$"},
            "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
            "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}},
            "raw": {"x-kubernetes-preserve-unknown-fields": True},
            "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                         "x-kubernetes-preserve-unknown-fields": True},
        }},
        "status": {"type": "object", "properties": {"phase": {"type": "string", "enum": ["A", "B"]}}},
    },
}


def with_spec(**properties: dict) -> dict:
    return {"type": "object", "properties": {"spec": {"type": "object", "properties": properties}}}


SPEC = f"{ROOT}.properties[spec]"

DEFINITION_CASES = [
    pytest.param(with_spec(x={"description": "no type"}),
                 [f"{SPEC}.properties[x].type: Required value: must not be empty for specified object fields"],
                 id="type-required"),
    pytest.param({"type": "string"}, [f'{ROOT}.type: Invalid value: "string": must be object at the root'],
                 id="root-must-be-object"),
    pytest.param(with_spec(x={"type": "array"}), [f"{SPEC}.properties[x].items: Required value: must be specified"],
                 id="array-needs-items"),
    pytest.param(with_spec(x={"type": "array", "items": {}}),
                 [f"{SPEC}.properties[x].items.type: Required value: must not be empty for specified array items"],
                 id="items-need-a-type"),
    pytest.param(with_spec(x={"$ref": "#/definitions/x", "type": "object"}),
                 [f"{SPEC}.properties[x].$ref: Forbidden: $ref is not supported"], id="ref"),
    pytest.param(with_spec(x={"type": "array", "uniqueItems": True, "items": {"type": "string"}}),
                 [f"{SPEC}.properties[x].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime "
                  "complexity becomes quadratic"], id="unique-items"),
    pytest.param(with_spec(x={"type": "object", "properties": {"a": {"type": "string"}},
                              "additionalProperties": {"type": "string"}}),
                 [f"{SPEC}.properties[x].additionalProperties: Forbidden: additionalProperties and properties are "
                  "mutual exclusive"], id="properties-and-additional-properties"),
    pytest.param({"type": "object", "additionalProperties": {"type": "string"}},
                 [f"{ROOT}.additionalProperties: Forbidden: must not be used at the root"], id="root-additional"),
    pytest.param({"type": "object", "properties": {"metadata": {"type": "object", "properties": {
        "labels": {"type": "object"}}}}},
                 [f"{ROOT}.properties[metadata]: Forbidden: must not specify anything other than name and "
                  "generateName, but metadata is implicitly specified"], id="metadata-restricted"),
    pytest.param({"type": "object", "properties": {"metadata": {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 10}}}}}, [], id="metadata-name-allowed"),
    pytest.param({"type": "object", "properties": {"metadata": {"type": "object", "default": {"name": "x"}}}},
                 [f"{ROOT}.properties[metadata].default: Forbidden: must not be set in top-level metadata"],
                 id="metadata-default"),
    pytest.param(with_spec(x={"type": "string", "x-kubernetes-preserve-unknown-fields": False}),
                 [f"{SPEC}.properties[x].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or "
                  "undefined"], id="preserve-false"),
    pytest.param(with_spec(x={"type": "string", "allOf": [{"type": "string", "minLength": 1}]}),
                 [f"{SPEC}.properties[x].allOf[0].type: Forbidden: must be empty to be structural"],
                 id="type-inside-junctor"),
    pytest.param({"type": "object", "properties": {"spec": {"type": "object"}},
                  "anyOf": [{"properties": {"other": {"minimum": 1}}}]},
                 [f"{ROOT}.properties[other]: Required value: because it is defined in "
                  f"{ROOT}.anyOf[0].properties[other]"], id="completeness"),
    pytest.param(with_spec(x={"type": "array", "x-kubernetes-list-type": "map",
                              "items": {"type": "object", "properties": {"k": {"type": "string"}}}}),
                 [f"{SPEC}.properties[x].x-kubernetes-list-map-keys: Required value: must not be empty if "
                  "x-kubernetes-list-type is map"], id="list-map-needs-keys"),
    pytest.param(with_spec(x={"type": "object", "x-kubernetes-embedded-resource": True}),
                 [f"{SPEC}.properties[x].properties: Required value: must not be empty if "
                  "x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"],
                 id="embedded-needs-properties"),
    pytest.param(with_spec(x={"type": "integer", "default": "three"}),
                 [f'{SPEC}.properties[x].default: Invalid value: "string":  in body must be of type integer: "string"'],
                 id="default-must-validate"),
    pytest.param(with_spec(x={"type": "object", "properties": {"a": {"type": "string"}}, "default": {"b": 1}}),
                 [f'{SPEC}.properties[x].default: Invalid value: {{"b":1}}: must not have unknown fields'],
                 id="default-must-be-pruned"),
    pytest.param(with_spec(x={"type": "null"}),
                 [f"{SPEC}.properties[x].type: Forbidden: type cannot be set to null, use nullable as an alternative"],
                 id="null-type"),
]


def test_a_good_schema_is_accepted() -> None:
    assert schema.validate_schema_definition(GOOD, ROOT) == []


@pytest.mark.parametrize(("definition", "want"), DEFINITION_CASES)
def test_validate_schema_definition(definition: dict, want: list[str]) -> None:
    assert [c.error() for c in schema.validate_schema_definition(definition, ROOT)] == want
