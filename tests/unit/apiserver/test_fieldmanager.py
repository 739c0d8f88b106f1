"""Tests of minik.apiserver.fieldmanager: fieldsV1, server-side apply and managedFields of updates.

Expected shapes and messages are the ones kube-apiserver produces (structured-merge-diff and
k8s.io/apimachinery/pkg/util/managedfields), e.g. what `kubectl get -o json --show-managed-fields` shows.
"""

from __future__ import annotations

import copy
import json

import pytest

from minik.apiserver.fieldmanager import (
    LAST_APPLIED_ANNOTATION,
    ApplyConflict,
    ManagedFieldsError,
    decode_managed_fields,
    fields_v1_to_set,
    iterate_paths,
    path_string,
    record_update,
    server_side_apply,
    set_to_fields_v1,
    to_field_set,
)
from minik.apiserver.patch import PatchError, apply_json_patch
from minik.apiserver.patchmeta import GENERIC_OBJECT, schema_for

DEPLOYMENT = schema_for("apps", "Deployment")
ANNOTATION_PATH = f".metadata.annotations.{LAST_APPLIED_ANNOTATION}"
T0, T1, T2, T3 = (f"2026-11-22T17:1{i}:00Z" for i in range(4))


def entries(obj: dict) -> list[dict]:
    return obj["metadata"].get("managedFields", [])


def entry(obj: dict, manager: str, operation: str | None = None) -> dict:
    found = [e for e in entries(obj) if e.get("manager") == manager and operation in (None, e["operation"])]
    assert len(found) == 1, entries(obj)
    return found[0]


def owned(obj: dict, manager: str, operation: str | None = None) -> set[str]:
    return {path_string(p) for p in fields_v1_to_set(entry(obj, manager, operation)["fieldsV1"])}


def managers(obj: dict) -> list[tuple[str, str]]:
    return [(e.get("manager", ""), e["operation"]) for e in entries(obj)]


def manifest(replicas: int = 2, image: str = "nginx:1.25", labels: dict | None = None, **extra) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default", "labels": labels or {"app": "nginx"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": image, "ports": [{"containerPort": 80}]}]},
            },
            **extra,
        },
    }


def stored(obj: dict, uid: str = "uid-1") -> dict:
    """What the registry would store: the object gets its server-set metadata."""
    out = copy.deepcopy(obj)
    out["metadata"].update({"uid": uid, "resourceVersion": "1", "creationTimestamp": T0})
    return out


def apply(live, applied, manager="kubectl", *, force=False, now=T1, schema=DEPLOYMENT, subresource=""):
    before_live, before_applied = copy.deepcopy(live), copy.deepcopy(applied)
    result = server_side_apply(
        live, applied, manager=manager, force=force, schema=schema, now=now, subresource=subresource
    )
    assert live == before_live and applied == before_applied  # pure
    return result if live is None else stored(result, live["metadata"]["uid"])


def update(old, new, manager, *, now=T2, schema=DEPLOYMENT, api_version="apps/v1", subresource=""):
    before_old, before_new = copy.deepcopy(old), copy.deepcopy(new)
    result = record_update(
        old, new, manager=manager, schema=schema, now=now, api_version=api_version, subresource=subresource
    )
    assert old == before_old and new == before_new  # pure
    return result


# --------------------------------------------------------------------------------------------------
# fieldsV1


BRIEF_EXAMPLE = (
    '{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:template":{"f:spec":{"f:containers":'
    '{"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:image":{},"f:name":{}}}}}}}'
)


@pytest.mark.parametrize(
    "text",
    [
        BRIEF_EXAMPLE,
        '{"f:a":{},"f:b":{".":{},"f:c":{}},"k:{\\"name\\":\\"x\\"}":{},'
        '"k:{\\"port\\":443,\\"protocol\\":\\"TCP\\"}":{".":{},"f:port":{}},'
        '"v:1":{},"v:\\"a\\"":{},"v:true":{},"i:0":{}}',
        '{"f:metadata":{"f:finalizers":{".":{},"v:\\"example.com/x\\"":{}}}}',
        "{}",
    ],
    ids=["brief example", "every element type in order", "set items", "empty"],
)
def test_fields_v1_round_trip_is_byte_exact(text):
    decoded = fields_v1_to_set(json.loads(text))
    assert json.dumps(set_to_fields_v1(decoded), separators=(",", ":")) == text


def test_fields_v1_decoding_is_lenient_like_structured_merge_diff():
    # "." may come anywhere, keys in any order, null means a leaf, unknown element types are dropped
    messy = {"f:b": {"f:c": None, ".": {}}, "f:a": {}, "r:future": {"f:x": {}}, "f:only-unknown": {"z:q": {}}}
    paths = fields_v1_to_set(messy)
    assert {path_string(p) for p in paths} == {".a", ".b", ".b.c", ".only-unknown"}
    assert list(set_to_fields_v1(paths)) == ["f:a", "f:b", "f:only-unknown"]
    assert list(set_to_fields_v1(paths)["f:b"]) == [".", "f:c"]


@pytest.mark.parametrize(
    "fields",
    [[], "f:a", {"x": {}}, {"fx": {}}, {"k:notjson": {}}, {"k:[1]": {}}, {"i:abc": {}}, {"f:a": []}, {"v:": {}}],
)
def test_fields_v1_that_cannot_be_decoded(fields):
    with pytest.raises(ValueError):
        fields_v1_to_set(fields)


def test_path_strings_and_iteration_order():
    paths = fields_v1_to_set(json.loads(
        '{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\\"name\\":\\"nginx\\"}":'
        '{"f:image":{},"f:ports":{"k:{\\"containerPort\\":80,\\"protocol\\":\\"TCP\\"}":{}}}}}},'
        '"f:list":{"i:0":{},"v:\\"a\\"":{},"v:1.5":{}}}}'
    ))
    assert [path_string(p) for p in iterate_paths(paths)] == [
        ".spec.replicas",
        '.spec.list[=1.5]',
        '.spec.list[="a"]',
        ".spec.list[0]",
        '.spec.template.spec.containers[name="nginx"].image',
        '.spec.template.spec.containers[name="nginx"].ports[containerPort=80,protocol="TCP"]',
    ]


def test_apply_field_set_has_items_as_members_but_not_named_fields():
    paths = to_field_set(manifest(), DEPLOYMENT)
    assert set_to_fields_v1(paths)["f:metadata"] == {"f:labels": {"f:app": {}}, "f:name": {}, "f:namespace": {}}
    containers = set_to_fields_v1(paths)["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert containers == {'k:{"name":"nginx"}': {
        ".": {}, "f:image": {}, "f:name": {},
        "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
    }}
    assert set_to_fields_v1(paths)["f:spec"]["f:selector"] == {}  # LabelSelector is structType=atomic


# --------------------------------------------------------------------------------------------------
# record_update: creates, updates and non-apply patches


def test_create_owns_everything_in_the_kubernetes_shape():
    # Containers are Go structs, so a typed container always has `resources: {}`: Kubernetes credits
    # it to the creator as `f:resources: {}`, whether or not the request had it.
    expected = json.loads(BRIEF_EXAMPLE)
    expected["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']["f:resources"] = {}
    created = update(None, {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default", "labels": {"app": "nginx"},
                     "uid": "u", "creationTimestamp": T0},
        "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}},
    }, "kubectl-create", now=T0)
    assert entries(created) == [{
        "manager": "kubectl-create",
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": T0,
        "fieldsType": "FieldsV1",
        "fieldsV1": expected,
    }]


def test_create_marks_containers_go_serializes_as_present_without_dot():
    created = update(None, manifest(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}), "m", now=T0)
    spec = entry(created, "m")["fieldsV1"]["f:spec"]
    assert "." not in spec and "." not in spec["f:strategy"] and "." not in spec["f:template"]
    assert spec["f:strategy"]["f:rollingUpdate"] == {".": {}, "f:maxSurge": {}}
    assert "." not in spec["f:template"]["f:spec"]["f:containers"]
    assert spec["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']["f:ports"]["."] == {}


def test_update_adds_changed_fields_to_the_writer_and_takes_them_from_others():
    live = stored(update(None, manifest(), "creator", now=T0))
    changed = copy.deepcopy(live)
    changed["spec"]["replicas"] = 5
    changed["metadata"]["labels"]["tier"] = "web"
    result = update(live, changed, "scaler")
    assert owned(result, "scaler") == {".spec.replicas", ".metadata.labels.tier"}
    assert ".spec.replicas" not in owned(result, "creator")
    assert entry(result, "scaler")["time"] == T2 and entry(result, "creator")["time"] == T0


def test_update_that_changes_nothing_adds_no_entry():
    live = stored(update(None, manifest(), "creator", now=T0))
    assert entries(update(live, copy.deepcopy(live), "other")) == entries(live)


def test_update_removing_a_field_removes_it_from_its_owner():
    live = stored(update(None, manifest(labels={"app": "nginx", "tier": "x"}), "creator", now=T0))
    changed = copy.deepcopy(live)
    del changed["metadata"]["labels"]["tier"]
    assert ".metadata.labels.tier" not in owned(update(live, changed, "editor"), "creator")


def test_same_manager_updates_merge_into_one_entry_per_version_and_subresource():
    live = stored(update(None, manifest(), "ctl", now=T0))
    changed = copy.deepcopy(live)
    changed["spec"]["replicas"] = 7
    result = update(live, changed, "ctl")
    assert managers(result) == [("ctl", "Update")]
    assert ".spec.replicas" in owned(result, "ctl") and ".metadata.labels.app" in owned(result, "ctl")
    status = copy.deepcopy(stored(result))
    status["status"] = {"replicas": 7}
    result = update(stored(result), status, "ctl", subresource="status")
    assert [(e["manager"], e.get("subresource")) for e in entries(result)] == [("ctl", None), ("ctl", "status")]
    [sub] = [e for e in entries(result) if e.get("subresource") == "status"]
    assert sub["fieldsV1"] == {"f:status": {"f:replicas": {}}}


def test_status_written_through_the_main_resource_is_not_owned():
    live = stored(update(None, manifest(), "creator", now=T0))
    changed = copy.deepcopy(live)
    changed["status"] = {"replicas": 3}
    assert managers(update(live, changed, "writer")) == [("creator", "Update")]


def test_existing_object_without_managed_fields_is_not_tracked():
    live = stored(manifest())
    changed = copy.deepcopy(live)
    changed["spec"]["replicas"] = 9
    assert "managedFields" not in update(live, changed, "writer")["metadata"]


@pytest.mark.parametrize("reset", [[], [{}]])
def test_request_can_reset_managed_fields(reset):
    live = stored(update(None, manifest(), "creator", now=T0))
    changed = copy.deepcopy(live)
    changed["metadata"]["managedFields"] = reset
    changed["spec"]["replicas"] = 4
    assert "managedFields" not in update(live, changed, "writer")["metadata"]


def test_request_managed_fields_are_honoured_and_the_live_ones_kept_when_absent():
    live = stored(update(None, manifest(), "creator", now=T0))
    without = copy.deepcopy(live)
    del without["metadata"]["managedFields"]
    assert entries(update(live, without, "x")) == entries(live)
    rewritten = copy.deepcopy(live)
    rewritten["metadata"]["managedFields"][0]["manager"] = "renamed"
    assert managers(update(live, rewritten, "x")) == [("renamed", "Update")]


def test_subresource_writes_ignore_the_request_managed_fields():
    live = stored(update(None, manifest(), "creator", now=T0))
    changed = copy.deepcopy(live)
    changed["metadata"]["managedFields"] = [{"manager": "forged", "operation": "Update", "apiVersion": "apps/v1",
                                             "fieldsType": "FieldsV1", "fieldsV1": {}}]
    changed["status"] = {"readyReplicas": 1}
    result = update(live, changed, "controller", subresource="status")
    assert managers(result) == [("creator", "Update"), ("controller", "Update")]


@pytest.mark.parametrize(
    ("managed_fields", "message"),
    [
        ("nope", "must be a list"),
        (["nope"], "metadata.managedFields[0]: must be an object"),
        ([{"manager": "a", "operation": "Patch", "apiVersion": "v1", "fieldsType": "FieldsV1"}],
         "operation must be `Apply` or `Update`"),
        ([{"manager": "a", "operation": "Update", "fieldsType": "FieldsV1"}], "apiVersion must not be empty"),
        ([{"manager": "a", "operation": "Update", "apiVersion": "v1"}], "missing fieldsType in managed fields entry 0"),
        ([{"manager": "a", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV2"}],
         'invalid fieldsType "FieldsV2"'),
        ([{"manager": "a", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"q": {}}}],
         "metadata.managedFields[0].fieldsV1: error decoding set"),
        ([{"manager": 5, "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1"}],
         "manager: must be a string"),
    ],
)
def test_malformed_request_managed_fields_are_a_clear_error(managed_fields, message):
    live = stored(update(None, manifest(), "creator", now=T0))
    changed = copy.deepcopy(live)
    changed["metadata"]["managedFields"] = managed_fields
    with pytest.raises(ManagedFieldsError) as info:
        update(live, changed, "writer")
    assert isinstance(info.value, ValueError)
    assert (info.value.code, info.value.reason) == (422, "Invalid")
    assert message in str(info.value)


def test_malformed_live_managed_fields_count_as_none():
    live = stored(manifest())
    live["metadata"]["managedFields"] = [{"operation": "bogus"}]
    applied = apply(live, manifest(), "kubectl")
    assert managers(applied)[0] == ("kubectl", "Apply")
    assert ("before-first-apply", "Update") in managers(applied)


def test_too_many_update_managers_are_merged_into_ancient_changes():
    live = stored(update(None, manifest(), "creator", now="2026-01-01T00:00:00Z"))
    for i in range(11):
        changed = copy.deepcopy(live)
        changed["metadata"]["labels"][f"l{i}"] = "x"
        live = stored(update(live, changed, f"m{i:02d}", now=f"2026-01-01T00:00:{i + 1:02d}Z"))
    names = [name for name, _ in managers(live)]
    assert len(names) == 10 and "ancient-changes" in names and "creator" not in names and "m00" not in names
    ancient = owned(live, "ancient-changes")
    assert ".metadata.labels.l0" in ancient and ".spec.replicas" in ancient


def test_entries_are_sorted_apply_first_then_by_time():
    live = apply(None, manifest(), "applier", now=T1)
    live = stored(live)
    changed = copy.deepcopy(live)
    changed["spec"]["paused"] = True
    live = stored(update(live, changed, "b-updater", now=T3))
    changed = copy.deepcopy(live)
    changed["spec"]["minReadySeconds"] = 5
    live = stored(update(live, changed, "z-updater", now=T2))
    assert managers(live) == [("applier", "Apply"), ("z-updater", "Update"), ("b-updater", "Update")]


# --------------------------------------------------------------------------------------------------
# server_side_apply


def test_apply_create_returns_the_applied_object_with_an_apply_entry():
    applied = manifest()
    applied["metadata"].update({"resourceVersion": "9", "uid": "x", "generation": 3})
    applied["status"] = {"replicas": 99}
    created = server_side_apply(None, applied, manager="kubectl", force=False, schema=DEPLOYMENT, now=T1)
    expected = manifest()
    assert (created["apiVersion"], created["kind"], created["spec"]) == (expected["apiVersion"], expected["kind"],
                                                                         expected["spec"])
    assert "status" not in created
    assert {k: v for k, v in created["metadata"].items() if k != "managedFields"} == expected["metadata"]
    [e] = entries(created)
    assert (e["manager"], e["operation"], e["apiVersion"], e["time"], e["fieldsType"]) == (
        "kubectl", "Apply", "apps/v1", T1, "FieldsV1")
    assert "f:status" not in e["fieldsV1"] and "f:name" not in e["fieldsV1"]["f:metadata"]


def test_reapplying_the_same_configuration_changes_nothing():
    live = apply(None, manifest(), now=T1)
    live = stored(live)
    again = apply(live, manifest(), now=T3)
    assert again == live  # same object, same managedFields, time untouched


def test_reapplying_without_a_field_removes_it():
    live = stored(apply(None, manifest(labels={"app": "nginx", "tier": "web"}, minReadySeconds=5), now=T1))
    smaller = manifest()
    result = apply(live, smaller, now=T2)
    assert result["metadata"]["labels"] == {"app": "nginx"}
    assert "minReadySeconds" not in result["spec"]
    assert ".metadata.labels.tier" not in owned(result, "kubectl")
    assert entry(result, "kubectl")["time"] == T2


def test_reapplying_without_a_list_item_removes_it():
    two = manifest()
    two["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    live = stored(apply(None, two, now=T1))
    result = apply(live, manifest(), now=T2)
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == ["nginx"]


def test_removed_field_stays_when_another_manager_owns_it():
    live = stored(apply(None, manifest(labels={"app": "nginx", "tier": "web"}), now=T1))
    other = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx", "labels": {"tier": "web"}}}
    live = apply(live, other, "other", now=T2)
    result = apply(live, manifest(), "kubectl", now=T3)
    assert result["metadata"]["labels"] == {"app": "nginx", "tier": "web"}
    assert owned(result, "other") == {".metadata.labels.tier"}


def test_removed_field_stays_when_an_updater_owns_it():
    live = stored(apply(None, manifest(labels={"app": "nginx", "tier": "web"}), now=T1))
    changed = copy.deepcopy(live)
    changed["metadata"]["labels"]["tier"] = "db"
    live = stored(update(live, changed, "editor", now=T2))
    result = apply(live, manifest(), now=T3)
    assert result["metadata"]["labels"] == {"app": "nginx", "tier": "db"}


def test_unowned_fields_survive_pruning():
    live = stored(apply(None, manifest(labels={"app": "nginx", "tier": "web"}), now=T1))
    live["spec"]["progressDeadlineSeconds"] = 600  # set by defaulting: nobody owns it
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    result = apply(live, manifest(), now=T2)
    assert result["spec"]["progressDeadlineSeconds"] == 600
    assert result["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert "tier" not in result["metadata"]["labels"]


def test_conflict_between_two_appliers_and_force():
    live = stored(apply(None, manifest(replicas=2), "a", now=T1))
    with pytest.raises(ApplyConflict) as info:
        apply(live, manifest(replicas=3), "b", now=T2)
    conflict = info.value
    assert (conflict.code, conflict.reason) == (409, "Conflict")
    assert str(conflict) == 'Apply failed with 1 conflict: conflict with "a": .spec.replicas'
    assert conflict.conflicts == [("a", ".spec.replicas")]
    assert conflict.causes == [
        {"type": "FieldManagerConflict", "message": 'conflict with "a"', "field": ".spec.replicas"}]
    forced = apply(live, manifest(replicas=3), "b", force=True, now=T2)
    assert forced["spec"]["replicas"] == 3
    assert ".spec.replicas" not in owned(forced, "a") and ".spec.replicas" in owned(forced, "b")
    assert ".metadata.labels.app" in owned(forced, "a") and ".metadata.labels.app" in owned(forced, "b")


def test_equal_values_are_shared_without_conflict():
    live = stored(apply(None, manifest(), "a", now=T1))
    shared = apply(live, manifest(), "b", now=T2)
    assert owned(shared, "a") == owned(shared, "b")
    assert shared["spec"] == live["spec"]


def test_conflict_message_for_several_fields_and_managers():
    live = stored(update(None, manifest(), "creator", now=T0))
    live = apply(live, {"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": "nginx", "labels": {"team": "a"}}}, "labeler", now=T1)
    bad = manifest(replicas=5, image="nginx:2", labels={"app": "nginx", "team": "b"})
    with pytest.raises(ApplyConflict) as info:
        apply(live, bad, "intruder", now=T2)
    assert str(info.value) == (
        "Apply failed with 3 conflicts: "
        'conflicts with "creator" using apps/v1:\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="nginx"].image\n'
        'conflicts with "labeler":\n'
        "- .metadata.labels.team"
    )
    assert len(info.value.conflicts) == 3


def test_update_after_apply_moves_ownership():
    live = stored(apply(None, manifest(replicas=2), "kubectl", now=T1))
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 10
    live = stored(update(live, scaled, "kube-controller-manager", now=T2))
    assert ".spec.replicas" not in owned(live, "kubectl")
    assert owned(live, "kube-controller-manager") == {".spec.replicas"}
    # the applier no longer owns replicas, so re-applying without it leaves the value alone...
    without = manifest()
    del without["spec"]["replicas"]
    assert apply(live, without, "kubectl", now=T3)["spec"]["replicas"] == 10
    # ...and applying it again conflicts with the updater
    with pytest.raises(ApplyConflict) as info:
        apply(live, manifest(replicas=2), "kubectl", now=T3)
    assert str(info.value) == (
        'Apply failed with 1 conflict: conflict with "kube-controller-manager" using apps/v1: .spec.replicas'
    )


def test_apply_to_an_object_created_without_managed_fields_credits_before_first_apply():
    live = stored(manifest(replicas=2))
    result = apply(live, manifest(replicas=2), "kubectl", now=T1)
    assert managers(result) == [("kubectl", "Apply"), ("before-first-apply", "Update")]
    with pytest.raises(ApplyConflict) as info:
        apply(live, manifest(replicas=4), "other", now=T1)
    assert '"before-first-apply" using apps/v1' in str(info.value)


def test_apply_keys_use_defaults_and_merge_with_explicit_values():
    live = stored(apply(None, manifest(), now=T1))
    explicit = manifest()
    explicit["spec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"containerPort": 80, "protocol": "TCP", "name": "http"}]
    result = apply(live, explicit, now=T2)
    assert result["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "protocol": "TCP", "name": "http"}]


def test_apply_orders_list_items_like_the_configuration():
    two = manifest()
    two["spec"]["template"]["spec"]["containers"].append({"name": "b", "image": "b"})
    live = stored(apply(None, two, now=T1))
    swapped = copy.deepcopy(two)
    swapped["spec"]["template"]["spec"]["containers"].reverse()
    result = apply(live, swapped, now=T2)
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == ["b", "nginx"]


def test_apply_set_list_items_are_owned_one_by_one():
    pod = schema_for("", "Pod")
    base = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    a = copy.deepcopy(base)
    a["metadata"]["finalizers"] = ["a.example/x"]
    live = stored(apply(None, a, "a", schema=pod, now=T1))
    b = copy.deepcopy(base)
    b["metadata"]["finalizers"] = ["b.example/y"]
    live = apply(live, b, "b", schema=pod, now=T2)
    assert live["metadata"]["finalizers"] == ["a.example/x", "b.example/y"]
    assert owned(live, "a") == {'.metadata.finalizers[="a.example/x"]'}
    live = apply(live, base, "a", schema=pod, now=T3)
    assert live["metadata"]["finalizers"] == ["b.example/y"]


def test_apply_atomic_lists_and_maps_are_owned_whole():
    live = stored(apply(None, manifest(), "a", now=T1))
    changed = manifest()
    changed["spec"]["selector"] = {"matchLabels": {"app": "nginx", "x": "y"}}
    with pytest.raises(ApplyConflict) as info:
        apply(live, changed, "b", now=T2)
    assert info.value.conflicts == [("a", ".spec.selector")]


def test_custom_resources_without_schema_have_granular_maps_and_atomic_lists():
    def cr(spec):
        return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}

    live = stored(apply(None, cr({"size": 1, "items": [1, 2]}), "a", schema=None, now=T1))
    assert owned(live, "a") == {".spec.size", ".spec.items"}
    live = apply(live, cr({"color": "red"}), "b", schema=None, now=T2)
    assert live["spec"] == {"size": 1, "items": [1, 2], "color": "red"}
    with pytest.raises(ApplyConflict) as info:
        apply(live, cr({"items": [3]}), "b", schema=None, now=T3)
    assert info.value.conflicts == [("a", ".spec.items")]
    assert apply(live, cr({"size": 1}), "a", schema=None, now=T3)["spec"] == {"size": 1, "color": "red"}
    assert GENERIC_OBJECT.field("metadata").field("labels").kind == "map"


def test_apply_never_takes_status_on_the_main_resource_and_only_status_on_status():
    live = stored(apply(None, manifest(), now=T1))
    live["status"] = {"replicas": 2}
    with_status = manifest(replicas=2)
    with_status["status"] = {"replicas": 50}
    assert apply(live, with_status, now=T2)["status"] == {"replicas": 2}
    status_apply = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"},
                    "spec": {"replicas": 100}, "status": {"readyReplicas": 2}}
    result = apply(live, status_apply, "controller", subresource="status", now=T2)
    assert result["spec"]["replicas"] == 2 and result["status"] == {"replicas": 2, "readyReplicas": 2}
    sub = entry(result, "controller")
    assert (sub["subresource"], sub["fieldsV1"]) == ("status", {"f:status": {"f:readyReplicas": {}}})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(kind="StatefulSet"), "invalid object type: apps/v1, Kind=StatefulSet"),
        (lambda m: m.update(apiVersion="apps/v2"), "invalid object type: apps/v2, Kind=Deployment"),
        (lambda m: m["metadata"].update(managedFields=[]), "metadata.managedFields must be nil"),
    ],
    ids=["kind", "version", "managedFields"],
)
def test_apply_rejects_objects_it_cannot_apply(change, message):
    live = stored(apply(None, manifest(), now=T1))
    bad = manifest()
    change(bad)
    with pytest.raises(PatchError) as info:
        apply(live, bad, now=T2)
    assert (info.value.code, info.value.reason, info.value.message) == (400, "BadRequest", message)


@pytest.mark.parametrize(
    ("containers", "problem"),
    [
        ([{"image": "x"}], 'element 0: associative list with keys has an element that omits key field "name" '
                           "(and doesn't have default value)"),
        ([{"name": "a"}, {"name": "a"}], 'duplicate entries for key [name="a"]'),
        (["a"], "element 0: associative list with keys may not have non-map elements"),
    ],
)
def test_apply_rejects_associative_lists_it_cannot_key(containers, problem):
    bad = manifest()
    bad["spec"]["template"]["spec"]["containers"] = containers
    with pytest.raises(PatchError) as info:
        apply(None, bad)
    assert (info.value.code, info.value.reason) == (500, "")
    assert info.value.message == (
        "failed to create typed patch object (default/nginx; apps/v1, Kind=Deployment): "
        f".spec.template.spec.containers: {problem}"
    )


def test_live_lists_that_cannot_be_keyed_are_handled_as_atomic():
    live = stored(update(None, manifest(), "creator", now=T0))
    live["spec"]["template"]["spec"]["containers"].append({"name": "nginx", "image": "dup"})
    result = apply(live, manifest(replicas=2), "kubectl", now=T1)  # no crash
    assert result["spec"]["template"]["spec"]["containers"][0]["name"] == "nginx"


# --------------------------------------------------------------------------------------------------
# kubectl apply: client-side -> server-side migration (kubectl >= 1.26)


def client_side_apply_create(config: dict) -> dict:
    """`kubectl apply` of a new object: a create with the last-applied annotation."""
    body = copy.deepcopy(config)
    last_applied = json.dumps(config, sort_keys=True, separators=(",", ":")) + "\n"
    body["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: last_applied}
    return stored(update(None, body, "kubectl-client-side-apply", now=T0))


def csaupgrade_patch(obj: dict) -> list[dict]:
    """What kubectl's csaupgrade sends: the CSA entry's fields merged into kubectl's Apply entry."""
    fields = [e for e in entries(obj) if e["manager"] in ("kubectl-client-side-apply", "kubectl")]
    merged = set().union(*(fields_v1_to_set(e["fieldsV1"]) for e in fields))
    others = [e for e in entries(obj) if e not in fields]
    apply_entry = dict(entry(obj, "kubectl", "Apply"), fieldsV1=set_to_fields_v1(merged))
    return [
        {"op": "replace", "path": "/metadata/managedFields", "value": [apply_entry, *others]},
        {"op": "replace", "path": "/metadata/resourceVersion", "value": obj["metadata"]["resourceVersion"]},
    ]


def test_client_side_to_server_side_migration_with_equal_values():
    live = client_side_apply_create(manifest())
    assert ANNOTATION_PATH in owned(live, "kubectl-client-side-apply")
    # 1. kubectl apply --server-side: same values, so ownership is shared and nothing conflicts
    live = apply(live, manifest(), "kubectl", now=T1)
    assert managers(live) == [("kubectl", "Apply"), ("kubectl-client-side-apply", "Update")]
    assert owned(live, "kubectl") <= owned(live, "kubectl-client-side-apply")
    annotation = live["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
    assert json.loads(annotation) == manifest() and annotation.endswith("\n")  # kept in sync for kubectl
    # 2. the annotation is saved under its own applier, carrying nothing else
    only_annotation = {"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "nginx", "namespace": "default",
                                    "annotations": {LAST_APPLIED_ANNOTATION: annotation}}}
    live = apply(live, only_annotation, "kubectl-last-applied", now=T2)
    assert owned(live, "kubectl-last-applied") == {ANNOTATION_PATH}
    # 3. csaupgrade rewrites managedFields with a JSON patch, which is honoured as written
    patched = apply_json_patch(live, csaupgrade_patch(live))
    result = update(live, patched, "kubectl", now=T3)
    assert entries(result) == entries(patched)
    assert managers(result) == [("kubectl", "Apply"), ("kubectl-last-applied", "Apply")]
    # 4. from now on, dropping a field from the manifest removes it
    smaller = manifest(labels={"app": "nginx"})
    del smaller["spec"]["replicas"]
    final = apply(stored(result), smaller, "kubectl", now=T3)
    assert "replicas" not in final["spec"]


def test_migration_takes_over_fields_that_still_hold_their_last_applied_values():
    live = client_side_apply_create(manifest(replicas=2))
    result = apply(live, manifest(replicas=3, image="nginx:1.26"), "kubectl", now=T1)
    assert result["spec"]["replicas"] == 3
    assert ".spec.replicas" not in owned(result, "kubectl-client-side-apply")
    assert ".spec.replicas" in owned(result, "kubectl")
    # another manager is not allowed the same shortcut
    with pytest.raises(ApplyConflict):
        apply(live, manifest(replicas=3), "helm", now=T1)


def test_migration_still_conflicts_on_fields_changed_since_the_last_client_side_apply():
    live = client_side_apply_create(manifest(replicas=2))
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    live = stored(update(live, scaled, "kubectl-client-side-apply", now=T1))  # e.g. `kubectl scale` as the same manager
    with pytest.raises(ApplyConflict) as info:
        apply(live, manifest(replicas=3, image="nginx:1.26"), "kubectl", now=T2)
    assert info.value.conflicts == [("kubectl-client-side-apply", ".spec.replicas")]


def test_last_applied_annotation_is_only_synced_for_kubectl():
    live = client_side_apply_create(manifest())
    before = live["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
    assert apply(live, manifest(), "helm", now=T1)["metadata"]["annotations"][LAST_APPLIED_ANNOTATION] == before


def test_reset_fields_can_be_overridden_for_custom_resources_without_a_status_subresource():
    cr = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": {"phase": "Ready"}}
    default = server_side_apply(None, cr, manager="op", force=False, schema=None, now=T1)
    assert "status" not in default
    kept = server_side_apply(None, cr, manager="op", force=False, schema=None, now=T1, reset_fields=())
    assert kept["status"] == {"phase": "Ready"}
    assert entry(kept, "op")["fieldsV1"] == {"f:status": {"f:phase": {}}}
    live = stored(kept)
    changed = copy.deepcopy(live)
    changed["status"]["phase"] = "Failed"
    result = record_update(
        live, changed, manager="ctl", schema=None, now=T2, api_version="example.com/v1", reset_fields=()
    )
    assert owned(result, "ctl") == {".status.phase"}


def test_apply_with_only_the_last_applied_annotation_on_a_fresh_client_side_object():
    live = client_side_apply_create(manifest())
    annotation = live["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
    only = {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "nginx", "namespace": "default", "annotations": {LAST_APPLIED_ANNOTATION: annotation}}}
    result = apply(live, only, "kubectl-last-applied", now=T1)
    assert {k: v for k, v in result.items() if k != "metadata"} == {k: v for k, v in live.items() if k != "metadata"}
    assert managers(result) == [("kubectl-last-applied", "Apply"), ("kubectl-client-side-apply", "Update")]
    assert "time" not in entry(result, "kubectl-last-applied")  # nothing changed, as in Kubernetes


def test_decode_managed_fields_and_identity_of_entries():
    owners, times = decode_managed_fields([
        {"manager": "a", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:x": {}}},
        {"manager": "a", "operation": "Update", "apiVersion": "v1", "time": T1, "fieldsType": "FieldsV1",
         "subresource": "status"},
    ])
    assert set(owners) == {'{"manager":"a","operation":"Apply"}',
                           '{"manager":"a","operation":"Update","apiVersion":"v1","subresource":"status"}'}
    assert times['{"manager":"a","operation":"Apply"}'] is None
