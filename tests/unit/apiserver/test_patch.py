"""Tests of minik.apiserver.patch (JSON, merge and strategic merge patch) and patchmeta's schemas.

Expected results follow evanphx/json-patch v4, RFC 7386 and k8s.io/apimachinery strategicpatch as
kube-apiserver runs them, including their documented quirks.
"""

from __future__ import annotations

import copy

import pytest

from minik.api.resources import BUILTIN_RESOURCES
from minik.apiserver.patch import (
    INVALID_REQUEST_MESSAGE,
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)
from minik.apiserver.patchmeta import GENERIC_OBJECT, UNTYPED, schema_for, zero_value

DEPLOYMENT = schema_for("apps", "Deployment")
POD = schema_for("", "Pod")
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"

# --------------------------------------------------------------------------------------------------
# JSON patch

JSON_PATCH_CASES = [
    ("add member", {"a": 1}, [{"op": "add", "path": "/b", "value": 2}], {"a": 1, "b": 2}),
    ("add replaces a member", {"a": 1}, [{"op": "add", "path": "/a", "value": 3}], {"a": 3}),
    ("add without value adds null", {}, [{"op": "add", "path": "/a"}], {"a": None}),
    ("add into array", {"l": [1, 2]}, [{"op": "add", "path": "/l/1", "value": 9}], {"l": [1, 9, 2]}),
    ("add at array end index", {"l": [1, 2]}, [{"op": "add", "path": "/l/2", "value": 9}], {"l": [1, 2, 9]}),
    ("add dash appends", {"l": [1, 2]}, [{"op": "add", "path": "/l/-", "value": 9}], {"l": [1, 2, 9]}),
    ("add negative index", {"l": [1, 2]}, [{"op": "add", "path": "/l/-3", "value": 9}], {"l": [9, 1, 2]}),
    ("add nested", {"a": {"b": {}}}, [{"op": "add", "path": "/a/b/c", "value": [1]}], {"a": {"b": {"c": [1]}}}),
    ("add into array item", {"l": [{"x": 1}]}, [{"op": "add", "path": "/l/0/y", "value": 2}],
     {"l": [{"x": 1, "y": 2}]}),
    ("remove member", {"a": 1, "b": 2}, [{"op": "remove", "path": "/a"}], {"b": 2}),
    ("remove array item", {"l": [1, 2, 3]}, [{"op": "remove", "path": "/l/1"}], {"l": [1, 3]}),
    ("remove negative index", {"l": [1, 2, 3]}, [{"op": "remove", "path": "/l/-1"}], {"l": [1, 2]}),
    ("replace member", {"a": 1}, [{"op": "replace", "path": "/a", "value": {"b": 2}}], {"a": {"b": 2}}),
    ("replace missing member adds it (evanphx v4)", {"a": 1}, [{"op": "replace", "path": "/b", "value": 2}],
     {"a": 1, "b": 2}),
    ("replace array item", {"l": [1, 2]}, [{"op": "replace", "path": "/l/0", "value": 5}], {"l": [5, 2]}),
    ("replace whole document", {"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}], {"b": 2}),
    ("move member", {"a": {"b": 1}}, [{"op": "move", "from": "/a/b", "path": "/c"}], {"a": {}, "c": 1}),
    ("move array item", {"l": [1, 2, 3]}, [{"op": "move", "from": "/l/0", "path": "/l/-"}], {"l": [2, 3, 1]}),
    ("copy member", {"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}], {"a": {"b": 1}, "c": {"b": 1}}),
    ("copy missing member copies null (evanphx v4)", {"a": 1}, [{"op": "copy", "from": "/x", "path": "/c"}],
     {"a": 1, "c": None}),
    ("test then add", {"a": [1, {"b": None}]}, [
        {"op": "test", "path": "/a", "value": [1, {"b": None}]},
        {"op": "add", "path": "/c", "value": True},
    ], {"a": [1, {"b": None}], "c": True}),
    ("test null matches missing member", {"a": 1}, [{"op": "test", "path": "/x", "value": None}], {"a": 1}),
    ("test whole document", {"a": 1}, [{"op": "test", "path": "", "value": {"a": 1}}], {"a": 1}),
    ("pointer escapes ~1 and ~0", {"a/b": 1, "m~n": 2}, [
        {"op": "remove", "path": "/a~1b"},
        {"op": "replace", "path": "/m~0n", "value": 3},
    ], {"m~n": 3}),
    ("first segment of a path without slash is ignored", {"a": 1}, [{"op": "add", "path": "x/b", "value": 2}],
     {"a": 1, "b": 2}),
    ("label with slash, as kubectl sends", {"metadata": {"labels": {}}},
     [{"op": "add", "path": "/metadata/labels/app.kubernetes.io~1name", "value": "web"}],
     {"metadata": {"labels": {"app.kubernetes.io/name": "web"}}}),
    ("csaupgrade: replace managedFields and resourceVersion",
     {"metadata": {"resourceVersion": "5", "managedFields": [{"manager": "a"}]}},
     [{"op": "replace", "path": "/metadata/managedFields", "value": [{"manager": "kubectl"}]},
      {"op": "replace", "path": "/metadata/resourceVersion", "value": "5"}],
     {"metadata": {"resourceVersion": "5", "managedFields": [{"manager": "kubectl"}]}}),
    ("empty patch", {"a": 1}, [], {"a": 1}),
]


@pytest.mark.parametrize(
    ("doc", "ops", "expected"), [c[1:] for c in JSON_PATCH_CASES], ids=[c[0] for c in JSON_PATCH_CASES]
)
def test_json_patch(doc, ops, expected):
    before_doc, before_ops = copy.deepcopy(doc), copy.deepcopy(ops)
    assert apply_json_patch(doc, ops) == expected
    assert doc == before_doc and ops == before_ops  # pure


JSON_PATCH_FAILURES = [
    ("failed test", {"a": 1}, [{"op": "test", "path": "/a", "value": 2}], "testing value /a failed"),
    ("test distinguishes 1 and 1.0", {"a": 1}, [{"op": "test", "path": "/a", "value": 1.0}], "testing value /a failed"),
    ("test distinguishes true and 1", {"a": 1}, [{"op": "test", "path": "/a", "value": True}],
     "testing value /a failed"),
    ("test without value on a member", {"a": 1}, [{"op": "test", "path": "/a"}], "testing value /a failed"),
    ("test of a missing array index", {"l": []}, [{"op": "test", "path": "/l/0", "value": 1}],
     "error in test for path"),
    ("remove missing member", {"a": 1}, [{"op": "remove", "path": "/b"}], "Unable to remove nonexistent key: b"),
    ("remove out of range", {"l": [1]}, [{"op": "remove", "path": "/l/1"}], "invalid index referenced"),
    ("replace out of range", {"l": [1]}, [{"op": "replace", "path": "/l/5", "value": 2}], "doc is missing key: /l/5"),
    ("add under missing parent", {}, [{"op": "add", "path": "/a/b", "value": 1}], 'doc is missing path: "/a/b"'),
    ("add under a scalar", {"a": 1}, [{"op": "add", "path": "/a/b", "value": 1}], "doc is missing path"),
    ("add past the array end", {"l": [1]}, [{"op": "add", "path": "/l/3", "value": 1}], "invalid index referenced"),
    ("add at a non-numeric index", {"l": [1]}, [{"op": "add", "path": "/l/x", "value": 1}], "not a proper array index"),
    ("add at the root path", {}, [{"op": "add", "path": "", "value": {}}], "doc is missing path"),
    ("unknown op", {}, [{"op": "bogus", "path": "/a"}], "Unexpected kind: bogus"),
    ("op missing", {}, [{"path": "/a"}], "Unexpected kind: unknown"),
    ("path missing", {}, [{"op": "add", "value": 1}], "add operation failed to decode path"),
    ("path not a string", {}, [{"op": "remove", "path": 3}], "cannot unmarshal number"),
    ("move from missing", {}, [{"op": "move", "from": "/x", "path": "/y"}], "Unable to remove nonexistent key: x"),
    ("move into its own child", {"a": {}}, [{"op": "move", "from": "/a", "path": "/a/b"}], "missing destination path"),
    ("replace document with a scalar", {}, [{"op": "replace", "path": "", "value": 1}], "must be object or array"),
    ("later op fails after earlier ones applied", {"a": 1},
     [{"op": "add", "path": "/b", "value": 2}, {"op": "test", "path": "/b", "value": 3}], "testing value /b failed"),
]


@pytest.mark.parametrize(
    ("doc", "ops", "detail"), [c[1:] for c in JSON_PATCH_FAILURES], ids=[c[0] for c in JSON_PATCH_FAILURES]
)
def test_json_patch_that_does_not_apply_is_422_with_the_generic_message(doc, ops, detail):
    before = copy.deepcopy(doc)
    with pytest.raises(PatchError) as info:
        apply_json_patch(doc, ops)
    assert (info.value.code, info.value.reason) == (422, "Invalid")
    assert str(info.value) == info.value.message == INVALID_REQUEST_MESSAGE
    assert detail in info.value.detail
    assert doc == before


@pytest.mark.parametrize(
    ("ops", "code", "reason", "message"),
    [
        ({"op": "add"}, 400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        ("nope", 400, "BadRequest", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
        (["add"], 400, "BadRequest", "json: cannot unmarshal string into Go value of type jsonpatch.Operation"),
        ([{"op": "test", "path": "/a"}] * 10001, 413, "RequestEntityTooLarge",
         "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"),
    ],
    ids=["object", "string", "string op", "too many ops"],
)
def test_json_patch_malformed(ops, code, reason, message):
    with pytest.raises(PatchError) as info:
        apply_json_patch({"a": 1}, ops)
    assert (info.value.code, info.value.reason, info.value.message) == (code, reason, message)


def test_json_patch_result_that_is_not_an_object_is_invalid():
    with pytest.raises(PatchError) as info:
        apply_json_patch({"a": 1}, [{"op": "replace", "path": "", "value": [1]}])
    assert (info.value.code, info.value.reason) == (422, "Invalid")
    assert "cannot unmarshal array" in info.value.message


def test_json_patch_result_does_not_alias_the_patch():
    ops = [{"op": "add", "path": "/a", "value": {"b": [1]}}]
    result = apply_json_patch({}, ops)
    result["a"]["b"].append(2)
    assert ops[0]["value"] == {"b": [1]}


# --------------------------------------------------------------------------------------------------
# JSON merge patch

MERGE_PATCH_CASES = [
    # RFC 7386 appendix A
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    # evanphx: nulls are pruned from new values, in arrays too
    ({}, {"a": [1, None, {"b": None}]}, {"a": [1, {}]}),
    ({"a": "x"}, {"a": {"b": None, "c": 1}}, {"a": {"c": 1}}),
    # a null member of the live object is replaced like a missing one
    ({"a": None}, {"a": {"b": 1, "c": None}}, {"a": {"b": 1}}),
    # kubectl rollout restart, sent as a merge patch to custom resources
    ({"spec": {"template": {"metadata": {"labels": {"a": "b"}}}}},
     {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2026-11-22T17:10:34Z"}}}}},
     {"spec": {"template": {"metadata": {"labels": {"a": "b"},
                                         "annotations": {RESTARTED_AT: "2026-11-22T17:10:34Z"}}}}}),
]


@pytest.mark.parametrize(("doc", "patch", "expected"), MERGE_PATCH_CASES)
def test_merge_patch(doc, patch, expected):
    before_doc, before_patch = copy.deepcopy(doc), copy.deepcopy(patch)
    assert apply_merge_patch(doc, patch) == expected
    assert doc == before_doc and patch == before_patch


@pytest.mark.parametrize(
    ("patch", "code", "reason"),
    [(None, 400, "BadRequest"), ("x", 400, "BadRequest"), (3, 400, "BadRequest"), ([{"a": 1}], 422, "Invalid")],
)
def test_merge_patch_that_is_not_an_object(patch, code, reason):
    with pytest.raises(PatchError) as info:
        apply_merge_patch({"a": 1}, patch)
    assert (info.value.code, info.value.reason) == (code, reason)
    if code == 400:
        assert info.value.message == "Invalid JSON Patch"


# --------------------------------------------------------------------------------------------------
# Strategic merge patch


def deployment(containers=None, **spec_extra) -> dict:
    containers = containers if containers is not None else [
        {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80, "protocol": "TCP"}]},
        {"name": "sidecar", "image": "busybox", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a.example/x"]},
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers, "tolerations": [{"key": "a"}],
                         "volumes": [{"name": "data", "emptyDir": {}}]},
            },
            **spec_extra,
        },
    }


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def containers_of(obj: dict) -> list:
    return pod_spec(obj)["containers"]


def smp(patch: dict, doc: dict | None = None) -> dict:
    doc = doc if doc is not None else deployment()
    before_doc, before_patch = copy.deepcopy(doc), copy.deepcopy(patch)
    result = apply_strategic_merge_patch(doc, patch, DEPLOYMENT)
    assert doc == before_doc and patch == before_patch  # pure
    return result


def test_kubectl_client_side_apply_patch():
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}\n"}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
            "containers": [{"image": "nginx:1.26", "name": "nginx"}],
        }}},
    }
    result = smp(patch)
    expected = deployment()
    expected["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{...}\n"}
    containers_of(expected)[0]["image"] = "nginx:1.26"
    assert result == expected


def test_kubectl_rollout_restart_patch():
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2026-11-22T17:10:34Z"}}}}}
    result = smp(patch)
    assert result["spec"]["template"]["metadata"] == {
        "labels": {"app": "web"},
        "annotations": {RESTARTED_AT: "2026-11-22T17:10:34Z"},
    }
    assert containers_of(result) == containers_of(deployment())


def test_null_deletes_and_missing_null_is_ignored():
    result = smp({"spec": {"replicas": None, "paused": None, "strategy": {"rollingUpdate": None}}})
    assert "replicas" not in result["spec"] and "paused" not in result["spec"]
    assert result["spec"]["strategy"] == {"type": "RollingUpdate"}


def test_maps_merge_recursively_and_scalars_replace():
    result = smp({"metadata": {"labels": {"tier": "front"}}, "spec": {"replicas": 5}})
    assert result["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert result["spec"]["replicas"] == 5


def test_new_values_are_taken_without_nulls_or_directives():
    result = smp({"spec": {"minReadySeconds": 3, "template": {"spec": {
        "securityContext": {"runAsUser": 1, "fsGroup": None, "$patch": "replace"}}}}})
    assert result["spec"]["minReadySeconds"] == 3
    assert pod_spec(result)["securityContext"] == {"runAsUser": 1}


def test_merge_list_updates_item_by_key_and_keeps_other_fields():
    result = smp({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox:2"}]}}}})
    sidecar = containers_of(result)[1]
    env = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert sidecar == {"name": "sidecar", "image": "busybox:2", "env": env}
    assert [c["name"] for c in containers_of(result)] == ["nginx", "sidecar"]


def test_merge_list_new_item_goes_before_server_only_items():
    # mergeSortedSlice puts a patch item that the server does not know before the server's items.
    result = smp({"spec": {"template": {"spec": {"containers": [{"name": "new", "image": "x"}]}}}})
    assert [c["name"] for c in containers_of(result)] == ["new", "nginx", "sidecar"]


def test_merge_list_patch_order_wins_for_items_it_names():
    result = smp({"spec": {"template": {"spec": {"containers": [{"name": "sidecar"}, {"name": "nginx"}]}}}})
    assert [c["name"] for c in containers_of(result)] == ["sidecar", "nginx"]


def test_nested_merge_keys_containers_ports_and_env():
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "nginx", "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}]},
        {"name": "sidecar", "env": [{"name": "B", "value": "3"}, {"name": "A", "$patch": "delete"}]},
    ]}}}}
    result = smp(patch)
    nginx, sidecar = containers_of(result)
    assert nginx["ports"] == [{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 443}]
    assert sidecar["env"] == [{"name": "B", "value": "3"}]


def test_set_element_order_reorders_and_merges():
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "nginx"}],
        "containers": [{"name": "nginx", "image": "nginx:2"}],
    }}}}
    result = smp(patch)
    assert [(c["name"], c["image"]) for c in containers_of(result)] == [("sidecar", "busybox"), ("nginx", "nginx:2")]


def test_set_element_order_alone_reorders():
    order = [{"name": "sidecar"}, {"name": "nginx"}]
    result = smp({"spec": {"template": {"spec": {"$setElementOrder/containers": order}}}})
    assert [c["name"] for c in containers_of(result)] == ["sidecar", "nginx"]


def test_set_element_order_that_contradicts_the_patch_list_is_an_error():
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}],
        "containers": [{"name": "nginx", "image": "a"}, {"name": "sidecar", "image": "b"}],
    }}}}
    with pytest.raises(PatchError) as info:
        smp(patch)
    assert (info.value.code, info.value.reason) == (500, "")
    assert "doesn't match $setElementOrder list" in info.value.message


def test_patch_replace_directive_on_a_list():
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x"}, {"$patch": "replace"}]}}}}
    assert containers_of(smp(patch)) == [{"name": "only", "image": "x"}]


def test_patch_delete_directive_on_a_list_item():
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "$patch": "delete"}]}}}}
    assert [c["name"] for c in containers_of(smp(patch))] == ["sidecar"]


def test_patch_replace_directive_on_a_map():
    result = smp({"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}})
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_patch_delete_directive_on_a_map_empties_it():
    result = smp({"spec": {"strategy": {"$patch": "delete"}}})
    assert result["spec"]["strategy"] == {}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"spec": {"strategy": {"$patch": "merge"}}}, "unknown patch type: merge in map: map[$patch:merge]"),
        ({"spec": {"strategy": {"$patch": "bogus"}}}, "unknown patch type: bogus in map"),
        ({"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "merge"}]}}}},
         "merging lists cannot yet be specified in the patch"),
        ({"spec": {"template": {"spec": {"containers": [{"image": "a"}]}}}},
         "map: map[image:a] does not contain declared merge key: name"),
        ({"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}},
         "does not contain declared merge key: name"),
        ({"metadata": {"finalizers": ["b", 3]}}, "list element types are not identical"),
    ],
    ids=["$patch merge on a map", "unknown map directive", "$patch merge on an item", "missing merge key",
         "delete without key", "mixed element types"],
)
def test_strategic_merge_errors_kube_leaves_unconverted_are_500(patch, message):
    with pytest.raises(PatchError) as info:
        smp(patch)
    assert (info.value.code, info.value.reason) == (500, "")
    assert message in info.value.message


@pytest.mark.parametrize(
    ("patch", "code", "reason", "message"),
    [
        ({"spec": {"strategy": {"$retainKeys": "type"}}}, 400, "BadRequest", "invalid patch format of retainKeys"),
        ({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}, 400, "BadRequest",
         "invalid patch format of retainKeys"),
        ({"metadata": {"$deleteFromPrimitiveList": ["a"]}}, 400, "BadRequest",
         "invalid patch format of primitive list"),
        ({"spec": {"template": {"spec": {"$setElementOrderX/containers": []}}}}, 400, "BadRequest",
         "invalid patch format of setElementOrder list"),
        ({"metadata": {"finalizers": [["a"]]}}, 422, "Invalid", INVALID_REQUEST_MESSAGE),
    ],
    ids=["retainKeys not a list", "key outside retainKeys", "bad deletion list key", "bad order key", "list of lists"],
)
def test_strategic_merge_errors_kube_converts(patch, code, reason, message):
    with pytest.raises(PatchError) as info:
        smp(patch)
    assert (info.value.code, info.value.reason, info.value.message) == (code, reason, message)


def test_retain_keys_clears_the_keys_not_listed():
    result = smp({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_in_list_items_as_kubectl_sends_for_volumes():
    patch = {"spec": {"template": {"spec": {"volumes": [
        {"$retainKeys": ["configMap", "name"], "name": "data", "configMap": {"name": "cm"}}]}}}}
    assert pod_spec(smp(patch))["volumes"] == [{"name": "data", "configMap": {"name": "cm"}}]


def test_primitive_merge_list_is_a_union_with_new_items_first():
    result = smp({"metadata": {"finalizers": ["b.example/y", "a.example/x"]}})
    assert result["metadata"]["finalizers"] == ["b.example/y", "a.example/x"]
    result = smp({"metadata": {"finalizers": ["b.example/y"]}})
    assert result["metadata"]["finalizers"] == ["b.example/y", "a.example/x"]


def test_delete_from_primitive_list():
    doc = deployment()
    doc["metadata"]["finalizers"] = ["a", "b", "c", "b"]
    result = smp({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zzz"]}}, doc)
    assert result["metadata"]["finalizers"] == ["a", "c"]


def test_delete_from_primitive_list_that_does_not_exist_changes_nothing():
    doc = deployment()
    del doc["metadata"]["finalizers"]
    assert "finalizers" not in smp({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}, doc)["metadata"]


def test_set_element_order_for_primitive_list():
    doc = deployment()
    doc["metadata"]["finalizers"] = ["a", "b"]
    result = smp({"metadata": {"$setElementOrder/finalizers": ["b", "c", "a"], "finalizers": ["c"]}}, doc)
    assert result["metadata"]["finalizers"] == ["b", "c", "a"]


def test_lists_without_strategy_are_replaced():
    result = smp({"spec": {"template": {"spec": {"tolerations": [{"key": "b"}]}}}})
    assert pod_spec(result)["tolerations"] == [{"key": "b"}]
    result = smp({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "args": ["x"]}]}}}})
    assert containers_of(result)[0]["args"] == ["x"]


def test_type_change_takes_the_patch_value():
    result = smp({"spec": {"strategy": "Recreate", "template": {"spec": {"containers": {"not": "a list"}}}}})
    assert result["spec"]["strategy"] == "Recreate"
    assert pod_spec(result)["containers"] == {"not": "a list"}


def test_unknown_fields_merge_as_maps_and_replace_as_lists():
    doc = deployment()
    doc["spec"]["custom"] = {"a": 1, "list": [1, 2]}
    result = smp({"spec": {"custom": {"b": 2, "list": [3]}}}, doc)
    assert result["spec"]["custom"] == {"a": 1, "b": 2, "list": [3]}


def test_owner_references_merge_by_uid():
    doc = {"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}, {"uid": "2", "name": "b"}]}}
    result = apply_strategic_merge_patch(doc, {"metadata": {"ownerReferences": [{"uid": "2", "name": "c"}]}}, POD)
    assert result["metadata"]["ownerReferences"] == [{"uid": "1", "name": "a"}, {"uid": "2", "name": "c"}]


def test_pod_status_conditions_merge_by_type():
    doc = {"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Initialized", "status": "True"}]}}
    result = apply_strategic_merge_patch(doc, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}, POD)
    assert result["status"]["conditions"] == [
        {"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}]


def test_service_ports_merge_by_port():
    svc = schema_for("", "Service")
    doc = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    result = apply_strategic_merge_patch(doc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, svc)
    assert result["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]


def test_node_taints_are_replaced_and_pod_cidrs_merge():
    node = schema_for("", "Node")
    doc = {"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}], "podCIDRs": ["10.0.0.0/24"]}}
    patch = {"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}], "podCIDRs": ["10.0.1.0/24"]}}
    result = apply_strategic_merge_patch(doc, patch, node)
    assert result["spec"]["taints"] == [{"key": "b", "effect": "NoSchedule"}]
    assert sorted(result["spec"]["podCIDRs"]) == ["10.0.0.0/24", "10.0.1.0/24"]


def test_directive_keys_never_reach_the_result():
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}, {"name": "n3"}],
        "containers": [
            {"name": "n3", "image": "x", "$retainKeys": ["name"], "env": [{"name": "Q", "$patch": "delete"}]}],
        "$deleteFromPrimitiveList/imagePullSecrets": [],
    }}}}
    text = repr(smp(patch))
    assert "$" not in text


def test_strategic_merge_refused_without_schema_and_for_non_objects():
    with pytest.raises(PatchError) as info:
        apply_strategic_merge_patch({}, {}, None)
    assert (info.value.code, info.value.reason) == (415, "UnsupportedMediaType")
    with pytest.raises(PatchError) as info:
        apply_strategic_merge_patch({}, [], DEPLOYMENT)
    assert (info.value.code, info.value.reason) == (400, "BadRequest")


def test_strategic_merge_patch_cronjob_pod_template_shares_container_metadata():
    cronjob = schema_for("batch", "CronJob")
    doc = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}]}}}}}}
    patch = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "2"}]}}}}}}
    result = apply_strategic_merge_patch(doc, patch, cronjob)
    assert result["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"] == [{"name": "a", "image": "2"}]


# --------------------------------------------------------------------------------------------------
# patchmeta


def test_every_builtin_kind_has_a_schema():
    for info in BUILTIN_RESOURCES:
        assert schema_for(info.group, info.kind) is not None, info.kind
    assert schema_for("autoscaling", "Scale") is not None
    assert schema_for("example.com", "Widget") is None


@pytest.mark.parametrize(
    ("group", "kind", "path", "strategy", "merge_key", "list_type", "map_keys"),
    [
        ("", "Pod", ("spec", "containers"), "merge", "name", "map", ("name",)),
        ("", "Pod", ("spec", "initContainers"), "merge", "name", "map", ("name",)),
        ("", "Pod", ("spec", "ephemeralContainers"), "merge", "name", "map", ("name",)),
        ("", "Pod", ("spec", "volumes"), "merge,retainKeys", "name", "map", ("name",)),
        ("", "Pod", ("spec", "imagePullSecrets"), "merge", "name", "map", ("name",)),
        ("", "Pod", ("spec", "hostAliases"), "merge", "ip", "map", ("ip",)),
        ("", "Pod", ("spec", "tolerations"), "", "", "atomic", ()),
        ("", "Pod", ("spec", "topologySpreadConstraints"), "merge", "topologyKey", "map",
         ("topologyKey", "whenUnsatisfiable")),
        ("", "Pod", ("status", "conditions"), "merge", "type", "map", ("type",)),
        ("", "Pod", ("status", "podIPs"), "merge", "ip", "map", ("ip",)),
        ("", "Pod", ("metadata", "finalizers"), "merge", "", "set", ()),
        ("", "Pod", ("metadata", "ownerReferences"), "merge", "uid", "map", ("uid",)),
        ("", "Service", ("spec", "ports"), "merge", "port", "map", ("port", "protocol")),
        ("", "Node", ("spec", "taints"), "", "", "atomic", ()),
        ("", "Node", ("status", "addresses"), "merge", "type", "map", ("type",)),
        ("", "ServiceAccount", ("secrets",), "merge", "name", "map", ("name",)),
        ("batch", "Job", ("status", "conditions"), "merge", "type", "atomic", ()),
        ("apiextensions.k8s.io", "CustomResourceDefinition", ("status", "conditions"), "", "", "map", ("type",)),
    ],
)
def test_list_metadata(group, kind, path, strategy, merge_key, list_type, map_keys):
    node = schema_for(group, kind)
    for name in path:
        node = node.field(name)
    actual = (node.patch_strategy, node.merge_key, node.list_type, node.map_keys)
    assert actual == (strategy, merge_key, list_type, map_keys)


def test_container_metadata_is_shared_by_every_pod_template():
    paths = {
        ("apps", "Deployment"): ("spec", "template", "spec"),
        ("apps", "ReplicaSet"): ("spec", "template", "spec"),
        ("apps", "DaemonSet"): ("spec", "template", "spec"),
        ("apps", "StatefulSet"): ("spec", "template", "spec"),
        ("batch", "Job"): ("spec", "template", "spec"),
        ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
        ("", "Pod"): ("spec",),
    }
    for (group, kind), path in paths.items():
        node = schema_for(group, kind)
        for name in path:
            node = node.field(name)
        container = node.field("containers").item
        assert (container.field("ports").merge_key, container.field("ports").map_keys) == (
            "containerPort", ("containerPort", "protocol")), kind
        assert dict(container.field("ports").key_defaults) == {"protocol": "TCP"}
        assert container.field("env").merge_key == "name"
        assert container.field("volumeMounts").merge_key == "mountPath"
        assert container.field("volumeDevices").merge_key == "devicePath"


def test_atomic_structs_and_maps():
    assert DEPLOYMENT.field("spec").field("selector").atomic
    assert POD.field("spec").field("nodeSelector").atomic
    assert not POD.field("metadata").field("labels").atomic
    assert DEPLOYMENT.field("spec").field("strategy").patch_strategy == "retainKeys"


def test_unknown_fields_are_untyped():
    assert POD.field("nope") is UNTYPED
    assert UNTYPED.field("x") is UNTYPED and UNTYPED.item is UNTYPED
    assert POD.field("metadata").field("labels").field("any").kind == "scalar"


def test_zero_value_is_the_empty_go_object():
    assert zero_value(DEPLOYMENT) == {
        "metadata": {},
        "spec": {"selector": None, "template": {"metadata": {}, "spec": {"containers": None}}, "strategy": {}},
        "status": {},
    }
    assert zero_value(schema_for("", "ConfigMap")) == {"metadata": {}}
    assert zero_value(GENERIC_OBJECT) == {"metadata": {}}
