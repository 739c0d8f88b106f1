"""Validation: Kubernetes' cause formats, name rules and ObjectMeta checks, word for word."""

from __future__ import annotations

import pytest

from minik.api import validation as v

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
    "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation "
    "is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
QUALIFIED_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)

# --------------------------------------------------------------------------------------------------
# causes
# --------------------------------------------------------------------------------------------------


def test_invalid_name_cause_is_kubernetes_status_cause() -> None:
    cause = v.invalid("metadata.name", "Foo", v.dns1123_subdomain("Foo")[0])
    assert cause.to_dict() == {
        "reason": "FieldValueInvalid",
        "message": f'Invalid value: "Foo": {SUBDOMAIN_MSG}',
        "field": "metadata.name",
    }
    assert cause.error() == f'metadata.name: Invalid value: "Foo": {SUBDOMAIN_MSG}'


@pytest.mark.parametrize(
    ("cause", "reason", "message"),
    [
        (v.required("spec.x"), "FieldValueRequired", "Required value"),
        (v.required("spec.x", "must be set"), "FieldValueRequired", "Required value: must be set"),
        (v.forbidden("spec.x", "not allowed"), "FieldValueForbidden", "Forbidden: not allowed"),
        (v.invalid("spec.x", 3, "must be even"), "FieldValueInvalid", "Invalid value: 3: must be even"),
        (v.invalid("spec.x", True, "no"), "FieldValueInvalid", "Invalid value: true: no"),
        (v.invalid("spec.x", 1.5, "no"), "FieldValueInvalid", "Invalid value: 1.5: no"),
        (v.invalid("spec.x", 1e6, "no"), "FieldValueInvalid", "Invalid value: 1e+06: no"),
        (v.invalid("spec.x", None, "no"), "FieldValueInvalid", "Invalid value: null: no"),
        (v.invalid("spec.x", ["a", "<b>"], "no"), "FieldValueInvalid", 'Invalid value: ["a","\\u003cb\\u003e"]: no'),
        (
            v.invalid("spec.x", {"b": 1, "a": [True]}, "no"),
            "FieldValueInvalid",
            'Invalid value: {"a":[true],"b":1}: no',
        ),
        (v.invalid("spec.x", "x"), "FieldValueInvalid", 'Invalid value: "x"'),
        (
            v.type_invalid("spec.x", "7", "must be an integer"),
            "FieldValueTypeInvalid",
            'Invalid value: "7": must be an integer',
        ),
        (
            v.not_supported("spec.restartPolicy", "Sometimes", ["Always", "OnFailure", "Never"]),
            "FieldValueNotSupported",
            'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
        ),
        (v.not_supported("spec.x", "y", []), "FieldValueNotSupported", 'Unsupported value: "y"'),
        (v.duplicate("spec.ports[1].name", "http"), "FieldValueDuplicate", 'Duplicate value: "http"'),
        (
            v.too_long("metadata.annotations", "", 262144),
            "FieldValueTooLong",
            "Too long: may not be more than 262144 bytes",
        ),
        (v.too_long("x", "", 1), "FieldValueTooLong", "Too long: may not be more than 1 byte"),
        (v.too_long("x", "", -1), "FieldValueTooLong", "Too long: value is too long"),
        (v.too_many("spec.items", 5, 4), "FieldValueTooMany", "Too many: 5: must have at most 4 items"),
        (v.not_found("spec.x", "y"), "FieldValueNotFound", 'Not found: "y"'),
        (v.internal_error("spec.x", "boom"), "InternalError", "Internal error: boom"),
    ],
)
def test_cause_constructors(cause: v.Cause, reason: str, message: str) -> None:
    assert (cause.reason, cause.message) == (reason, message)


def test_cause_to_dict_omits_empty_members_and_cause_is_frozen() -> None:
    assert v.required("").to_dict() == {"reason": "FieldValueRequired", "message": "Required value"}
    with pytest.raises(AttributeError):
        v.required("x").field = "y"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("tab\there\n", '"tab\\there\\n"'),
        ("\x00\x7f", '"\\x00\\x7f"'),
        ("héllo ☃", '"héllo ☃"'),
        ("\u200b", '"\\u200b"'),
        ("\U000e0001", '"\\U000e0001"'),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert v.go_quote(text) == quoted


def test_format_invalid_message() -> None:
    name_cause = v.invalid("metadata.name", "Foo", v.dns1123_subdomain("Foo")[0])
    assert v.format_invalid_message("Pod", "Foo", [name_cause]) == (
        f'Pod "Foo" is invalid: metadata.name: Invalid value: "Foo": {SUBDOMAIN_MSG}'
    )
    two = [v.required("spec.containers"), v.invalid("spec.replicas", -1, "must be greater than or equal to 0")]
    assert v.format_invalid_message("Deployment.apps", "web", two + two[:1]) == (
        'Deployment.apps "web" is invalid: [spec.containers: Required value, '
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0]"
    )
    assert v.format_invalid_message("Pod", 'we"ird', []) == 'Pod "we\\"ird" is invalid'


# --------------------------------------------------------------------------------------------------
# name rules
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("validator", "value", "errors"),
    [
        (v.dns1123_subdomain, "my-app.example.com", []),
        (v.dns1123_subdomain, "Foo", [SUBDOMAIN_MSG]),
        (v.dns1123_subdomain, "a" * 254, ["must be no more than 253 characters"]),
        (v.dns1123_subdomain, "ok\n", [SUBDOMAIN_MSG]),  # Go's `$` does not accept a trailing newline
        (v.dns1123_subdomain, "", [SUBDOMAIN_MSG]),
        (v.dns1123_label, "kube-system", []),
        (v.dns1123_label, "a.b", ["must not contain dots"]),
        (v.dns1123_label, "-a", [LABEL_MSG]),
        (v.dns1123_label, "a" * 64, ["must be no more than 63 characters"]),
        (v.dns1035_label, "web", []),
        (v.dns1035_label, "1web", [DNS1035_MSG]),
        (v.qualified_name, "example.com/MyName", []),
        (v.qualified_name, "app", []),
        (v.qualified_name, "/app", ["prefix part must be non-empty"]),
        (v.qualified_name, "Example.com/app", [f"prefix part {SUBDOMAIN_MSG}"]),
        (v.qualified_name, "example.com/", ["name part must be non-empty", f"name part {QUALIFIED_MSG}"]),
        (v.qualified_name, "a" * 64, ["name part must be no more than 63 characters"]),
        (
            v.qualified_name,
            "a/b/c",
            [
                f"a qualified name {QUALIFIED_MSG} with an optional DNS subdomain prefix and '/' "
                "(e.g. 'example.com/MyName')"
            ],
        ),
        (v.label_value, "", []),
        (v.label_value, "v1.2_3-x", []),
        (v.label_value, "-x", [LABEL_VALUE_MSG]),
        (v.label_value, "é", [LABEL_VALUE_MSG]),
        (v.c_identifier, "_MY_VAR1", []),
        (
            v.c_identifier,
            "1x",
            [
                "a valid C identifier must start with alphabetic character or '_', followed by a string of "
                "alphanumeric characters or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName', "
                "regex used for validation is '[A-Za-z_][A-Za-z0-9_]*')"
            ],
        ),
        (v.env_var_name, "my.env-name", []),
        (v.env_var_name, "..x", ["must not start with '..'"]),
        (v.path_segment_name, "ok", []),
        (v.path_segment_name, "..", ["may not be '..'"]),
        (v.path_segment_name, "a/b%c", ["may not contain '/'", "may not contain '%'"]),
        (v.port_name, "http", []),
        (v.port_name, "123", ["must contain at least one letter (a-z)"]),
        (v.port_name, "-a--b-", ["must not contain consecutive hyphens", "must not begin or end with a hyphen"]),
        (
            v.port_name,
            "HTTP",
            [
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "must contain at least one letter (a-z)",
            ],
        ),
        (v.port_name, "a" * 16, ["must be no more than 15 characters"]),
        (v.ip_address, "10.0.0.1", []),
        (v.ip_address, "2001:db8::ffff", []),
        (v.ip_address, "010.000.000.001", []),  # ParseIPSloppy takes leading zeros
        (v.ip_address, "fe80::1%eth0", ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]),
        (v.ip_address, "10.0.0", ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]),
    ],
)
def test_name_rules(validator, value: str, errors: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert validator(value) == errors


def test_relaxed_env_var_names() -> None:
    assert v.env_var_name("1 weird:name", relaxed=True) == []
    assert v.env_var_name("", relaxed=True) == ["environment variable name must be non-empty"]
    msg = "a valid environment variable name must consist only of printable ASCII characters other than '='"
    assert v.env_var_name("a=b", relaxed=True) == [msg]
    assert v.env_var_name("é", relaxed=True) == [msg]
    assert v.env_var_name("1x") != []


@pytest.mark.parametrize(
    ("port", "errors"),
    [(1, []), (65535, [])] + [(bad, ["must be between 1 and 65535, inclusive"]) for bad in (0, 65536, -1)],
)
def test_port_number(port: int, errors: list[str]) -> None:
    assert v.port_number(port) == errors


def test_mask_trailing_dash() -> None:
    assert v.mask_trailing_dash("web-") == "wea"  # Kubernetes replaces the last two characters
    assert v.mask_trailing_dash("-") == "-"
    assert v.mask_trailing_dash("web") == "web"


# --------------------------------------------------------------------------------------------------
# ObjectMeta on create
# --------------------------------------------------------------------------------------------------


def _errors(causes: list[v.Cause]) -> list[str]:
    return [c.error() for c in causes]


def test_valid_object_meta_has_no_causes() -> None:
    meta = {
        "name": "web-1",
        "namespace": "default",
        "labels": {"app": "web", "example.com/tier": ""},
        "annotations": {"Example.COM/Note": "anything at all"},
        "finalizers": ["example.com/cleanup", "kubernetes"],
        "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u1", "controller": True}
        ],
        "generation": 1,
    }
    assert v.validate_object_meta(meta, namespaced=True) == []


def test_name_is_required() -> None:
    assert _errors(v.validate_object_meta({"namespace": "default"}, namespaced=True)) == [
        "metadata.name: Required value: name or generateName is required"
    ]
    assert _errors(v.validate_object_meta(None, namespaced=False)) == [
        "metadata.name: Required value: name or generateName is required"
    ]


def test_name_and_generate_name_use_the_kind_rule() -> None:
    meta = {"name": "Web", "generateName": "Web-"}
    causes = v.validate_object_meta(meta, namespaced=False, name_validator=v.dns1035_label)
    assert _errors(causes) == [
        f'metadata.generateName: Invalid value: "Web-": {DNS1035_MSG}',
        f'metadata.name: Invalid value: "Web": {DNS1035_MSG}',
    ]
    # a generateName ending in "-" is fine (the dash is masked before checking)
    assert v.validate_object_meta({"name": "web-x7k2p", "generateName": "web-"}, namespaced=False) == []


def test_namespace_scope() -> None:
    assert _errors(v.validate_object_meta({"name": "a"}, namespaced=True)) == ["metadata.namespace: Required value"]
    assert _errors(v.validate_object_meta({"name": "a", "namespace": "Bad_NS"}, namespaced=True)) == [
        f'metadata.namespace: Invalid value: "Bad_NS": {LABEL_MSG}'
    ]
    forbidden = v.validate_object_meta({"name": "a", "namespace": "default"}, namespaced=False)
    assert [c.to_dict() for c in forbidden] == [
        {
            "reason": "FieldValueForbidden",
            "message": "Forbidden: not allowed on this type",
            "field": "metadata.namespace",
        }
    ]


def test_labels_and_annotations() -> None:
    causes = v.validate_object_meta(
        {"name": "a", "labels": {"bad key": "ok", "good": "-bad-"}, "annotations": {"a/b/c": "x"}}, namespaced=False
    )
    assert _errors(causes) == [
        f'metadata.labels: Invalid value: "bad key": name part {QUALIFIED_MSG}',
        f'metadata.labels: Invalid value: "-bad-": {LABEL_VALUE_MSG}',
        f"metadata.annotations: Invalid value: \"a/b/c\": a qualified name {QUALIFIED_MSG} with an optional DNS "
        "subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ]


def test_annotation_size_limit_counts_bytes() -> None:
    limit = v.TOTAL_ANNOTATION_SIZE_LIMIT_B
    at_limit = {"k": "x" * (limit - 1)}
    assert v.validate_object_meta({"name": "a", "annotations": at_limit}, namespaced=False) == []
    over = {"k": "é" * (limit // 2)}  # 2 bytes per character
    assert _errors(v.validate_object_meta({"name": "a", "annotations": over}, namespaced=False)) == [
        "metadata.annotations: Too long: may not be more than 262144 bytes"
    ]


def test_owner_references() -> None:
    refs = [
        {"apiVersion": "", "kind": "", "name": "", "uid": ""},
        {"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "u1"},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "u2", "controller": True},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "b", "uid": "u3", "controller": True},
    ]
    errors = _errors(v.validate_object_meta({"name": "a", "ownerReferences": refs}, namespaced=False))
    assert errors[:5] == [
        'metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty',
        'metadata.ownerReferences.kind: Invalid value: "": must not be empty',
        'metadata.ownerReferences.name: Invalid value: "": must not be empty',
        'metadata.ownerReferences.uid: Invalid value: "": must not be empty',
        'metadata.ownerReferences: Invalid value: {"apiVersion":"v1","kind":"Event","name":"e","uid":"u1"}: '
        "/v1, Kind=Event is disallowed from being an owner",
    ]
    assert len(errors) == 6
    assert errors[5].startswith('metadata.ownerReferences: Invalid value: [{"apiVersion":"",')
    assert errors[5].endswith(
        'Only one reference can have Controller set to true. '
        'Found "true" in references for ReplicaSet/a and ReplicaSet/b'
    )


def test_finalizers_and_generation() -> None:
    causes = v.validate_object_meta(
        {"name": "a", "finalizers": ["orphan", "foregroundDeletion", "bad/name/x"], "generation": -1}, namespaced=False
    )
    errors = _errors(causes)
    assert errors[0] == "metadata.generation: Invalid value: -1: must be greater than or equal to 0"
    assert errors[1].startswith('metadata.finalizers: Invalid value: "bad/name/x": a qualified name ')
    assert errors[2] == (
        'metadata.finalizers: Invalid value: ["orphan","foregroundDeletion","bad/name/x"]: '
        "finalizer orphan and foregroundDeletion cannot be both set"
    )


def test_wrong_member_types_become_type_invalid_causes() -> None:
    causes = v.validate_object_meta({"name": 5, "labels": ["a"], "finalizers": "x"}, namespaced=False)
    assert [(c.reason, c.field) for c in causes] == [
        ("FieldValueTypeInvalid", "metadata.name"),
        ("FieldValueRequired", "metadata.name"),
        ("FieldValueTypeInvalid", "metadata.labels"),
        ("FieldValueTypeInvalid", "metadata.finalizers"),
    ]


# --------------------------------------------------------------------------------------------------
# ObjectMeta on update
# --------------------------------------------------------------------------------------------------

OLD = {
    "name": "web",
    "namespace": "default",
    "uid": "u1",
    "resourceVersion": "5",
    "creationTimestamp": "2024-01-01T00:00:00Z",
    "generation": 3,
    "finalizers": ["a.io/x"],
}


def test_unchanged_update_is_valid() -> None:
    assert v.validate_object_meta_update(dict(OLD), OLD) == []
    assert v.validate_object_meta_update({**OLD, "labels": {"new": "label"}, "generation": 4}, OLD) == []


def test_immutable_fields() -> None:
    new = {**OLD, "name": "other", "namespace": "", "uid": "u2", "creationTimestamp": "2025-01-01T00:00:00Z"}
    assert _errors(v.validate_object_meta_update(new, OLD)) == [
        'metadata.name: Invalid value: "other": field is immutable',
        'metadata.namespace: Invalid value: "": field is immutable',
        'metadata.uid: Invalid value: "u2": field is immutable',
        'metadata.creationTimestamp: Invalid value: "2025-01-01T00:00:00Z": field is immutable',
    ]


def test_update_needs_resource_version_and_keeps_generation() -> None:
    new = {**OLD, "generation": 2}
    del new["resourceVersion"]
    assert _errors(v.validate_object_meta_update(new, OLD)) == [
        'metadata.resourceVersion: Invalid value: "": must be specified for an update',
        "metadata.generation: Invalid value: 2: must not be decremented",
    ]


def test_no_new_finalizers_while_deleting() -> None:
    deleting = {**OLD, "deletionTimestamp": "2024-02-01T00:00:00Z", "deletionGracePeriodSeconds": 0}
    new = {**deleting, "finalizers": ["a.io/x", "b.io/y", "a.io/z"]}
    assert _errors(v.validate_object_meta_update(new, deleting)) == [
        'metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, '
        'found new finalizers []string{"a.io/z", "b.io/y"}'
    ]
    removed = {**deleting, "finalizers": [], "deletionGracePeriodSeconds": 30}
    assert _errors(v.validate_object_meta_update(removed, deleting)) == [
        "metadata.deletionGracePeriodSeconds: Invalid value: 30: field is immutable"
    ]


def test_update_validates_new_labels() -> None:
    errors = _errors(v.validate_object_meta_update({**OLD, "labels": {"ok": "bad value"}}, OLD))
    assert errors == [f'metadata.labels: Invalid value: "bad value": {LABEL_VALUE_MSG}']
