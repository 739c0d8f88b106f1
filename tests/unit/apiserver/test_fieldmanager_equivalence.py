"""The optimized managedFields code against its frozen reference (test_fieldmanager_reference.py).

minik.apiserver.fieldmanager (with patchmeta, patch and the Go-JSON helpers of api.validation) was
rewritten for speed; its outputs must stay exactly those of the reference: the same values, of the same
JSON types, with keys in the same order (hence the same bytes once encoded), and the same errors. The
objects are random, built from the kinds' schemas so that typed paths (structs, maps, list-maps with
defaulted keys, sets, atomic lists, struct zero values) are all exercised, with a seeded generator so
a failure is reproducible from its seed.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import orjson
import pytest

from minik.api import validation
from minik.apiserver import fieldmanager as fm
from minik.apiserver import patch, patchmeta
from minik.apiserver.patchmeta import GENERIC_OBJECT, PatchSchema, schema_for
from tests.unit.apiserver import test_fieldmanager_reference as ref

KINDS = [*patchmeta._SCHEMAS, ("example.com", "Widget")]  # the last one has no schema (a custom resource)
API_VERSIONS = {"": "v1", "apps": "apps/v1", "batch": "batch/v1"}

SCALARS: list[Any] = [0, 1, 2, 1.0, 2.5, -3, 10**20, True, False, None, "a", "b", "", "x y", "<&>", "é", "\u2028",
                      'q"uo\\te', "\x01", "tab\t", "😀"]
KEYS = ["a", "b", "c", "name", "value", "x.y", "<k>", "é", "f:odd", ".", "image", "replicas", "app", "0", "\ud800"]
KEY_VALUES: list[Any] = ["a", "b", "c", 80, 443, 80.0, "TCP", "UDP", True, None]
MANAGERS = [f"m{i}" for i in range(12)] + ["kubectl", "kubectl-client-side-apply", "kube-controller-manager", ""]
TIMES = [f"2026-01-01T00:00:{i:02d}Z" for i in range(30)] + ["", "not-a-time", "2026-01-01T00:00:05+01:00"]


# --------------------------------------------------------------------------------------------------
# Random objects shaped by the schemas


def scalar(rng: random.Random) -> Any:
    return rng.choice(SCALARS)


def untyped(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth <= 0 or roll < 0.5:
        return scalar(rng)
    if roll < 0.8:
        return {rng.choice(KEYS): untyped(rng, depth - 1) for _ in range(rng.randint(0, 3))}
    return [untyped(rng, depth - 1) for _ in range(rng.randint(0, 3))]


def value_for(schema: PatchSchema, rng: random.Random, depth: int) -> Any:
    if rng.random() < 0.04:  # the wrong type now and then: typed walks must cope as Kubernetes does
        return untyped(rng, 1)
    kind = schema.kind
    if kind == "struct":
        out = {}
        for name, member in schema.fields.items():
            if rng.random() < 0.55 and depth > 0:
                out[name] = value_for(member, rng, depth - 1)
        for _ in range(rng.randint(0, 2)):
            out[rng.choice(KEYS)] = untyped(rng, depth - 1)
        return dict(rng.sample(list(out.items()), len(out)))  # any key order
    if kind == "map":
        elem = schema.elem or patchmeta.UNTYPED
        return {rng.choice(KEYS): value_for(elem, rng, depth - 1) for _ in range(rng.randint(0, 4))}
    if kind == "list":
        return list_for(schema, rng, depth)
    if kind == "scalar":
        return scalar(rng)
    return untyped(rng, min(depth, 3))


def list_for(schema: PatchSchema, rng: random.Random, depth: int) -> list:
    item = schema.item
    count = rng.randint(0, 4)
    if schema.list_type == "set":
        out = [rng.choice(["a", "b", "c", 1, 2, 1.0, True, None if rng.random() < 0.05 else "d"]) for _ in range(count)]
        if rng.random() < 0.05:
            out.append({"a": 1})
        return out
    if schema.list_type == "map" or schema.map_keys:
        out = []
        for _ in range(count):
            element = value_for(item, rng, depth - 1)
            if not isinstance(element, dict):
                if rng.random() < 0.7:
                    element = {}
            if isinstance(element, dict):
                for key in schema.map_keys:
                    if rng.random() < 0.93:  # a missing key (or its default) now and then
                        element[key] = rng.choice(KEY_VALUES)
                if "name" not in schema.map_keys and rng.random() < 0.3:
                    element["name"] = rng.choice(["a", "b"])
            out.append(element)
        return out
    return [value_for(item, rng, depth - 1) for _ in range(count)]


def random_object(rng: random.Random, group: str, kind: str) -> dict:
    schema = schema_for(group, kind) or GENERIC_OBJECT
    obj = value_for(schema, rng, 6)
    if not isinstance(obj, dict):
        obj = {}
    obj.pop("managedFields", None)
    meta = value_for(patchmeta.OBJECT_META, rng, 4)
    if not isinstance(meta, dict) or rng.random() < 0.02:
        meta = {}
    meta.pop("managedFields", None)
    meta.update(name=rng.choice(["a", "b"]), namespace="default")
    obj["metadata"] = meta
    obj["apiVersion"] = API_VERSIONS.get(group, f"{group}/v1")
    obj["kind"] = kind
    return obj


def mutate(value: Any, schema: PatchSchema, rng: random.Random, rate: float) -> Any:
    """A changed copy of `value`: leaves changed, members added and removed, items reordered."""
    if rng.random() < rate * 0.3:
        return value_for(schema, rng, 2)
    if isinstance(value, dict):
        out = {}
        for key, child in value.items():
            roll = rng.random()
            if roll < rate * 0.3 and key not in ("apiVersion", "kind"):
                continue
            out[key] = mutate(child, schema.field(key), rng, rate)
        if rng.random() < rate:
            key = rng.choice([*KEYS, *schema.fields])
            out[key] = value_for(schema.field(key), rng, 2)
        return out
    if isinstance(value, list):
        out = [mutate(item, schema.item, rng, rate) for item in value]
        if rng.random() < rate:
            rng.shuffle(out)
        if rng.random() < rate and out:
            out.pop(rng.randrange(len(out)))
        if rng.random() < rate:
            out.extend(list_for(schema, rng, 2)[:1])
        return out
    if rng.random() < rate:
        return value_for(schema, rng, 1)
    return value


def mutate_object(obj: dict, schema: PatchSchema, rng: random.Random, rate: float) -> dict:
    """`mutate` of a whole object, which stays an object with its apiVersion and kind."""
    out = {key: mutate(child, schema.field(key), rng, rate) if key not in ("apiVersion", "kind") else child
           for key, child in obj.items() if key in ("apiVersion", "kind", "metadata") or rng.random() > rate * 0.3}
    if rng.random() < rate:
        key = rng.choice([*KEYS, *schema.fields])
        out.setdefault(key, value_for(schema.field(key), rng, 3))
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta and isinstance(out.get("metadata"), dict):
        out["metadata"]["managedFields"] = copy.deepcopy(meta["managedFields"])  # the test decides on those
    return out


# --------------------------------------------------------------------------------------------------
# Comparing outcomes


def same(a: Any, b: Any) -> bool:
    """Identical JSON: same types (1, 1.0 and True differ), same values, same key order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


def containers(value: Any, out: set[int]) -> set[int]:
    if isinstance(value, (dict, list)):
        out.add(id(value))
        for child in value.values() if isinstance(value, dict) else value:
            containers(child, out)
    return out


def outcome(call, *args, **kwargs) -> tuple[str, Any]:
    try:
        return "ok", call(*args, **kwargs)
    except patch.PatchError as err:
        detail = (type(err).__name__, err.code, err.reason, err.message, err.detail, str(err))
        if isinstance(err, (fm.ApplyConflict, ref.ApplyConflict)):
            detail += (err.raw, err.conflicts, err.causes)
        return "error", detail


def check(name: str, args: tuple, kwargs: dict) -> tuple[str, Any]:
    """Run the live and the reference function: the same outcome and inputs untouched. The result
    shares no container with the inputs, except that record_update's result may share the members
    of `new` (below the top level and metadata, which are new) instead of copying them."""
    values = [arg for arg in args if not isinstance(arg, PatchSchema)]
    before = copy.deepcopy(values)
    live = outcome(getattr(fm, name), *args, **kwargs)
    assert same(values, before), "the live implementation mutated its input"
    expected = outcome(getattr(ref, name), *args, **kwargs)
    assert same(live, expected), f"{name} differs:\n live: {live!r}\n  ref: {expected!r}"
    if live[0] == "ok" and isinstance(live[1], (dict, list)):
        result = live[1]
        mine = values
        if name == "record_update":
            new = values[1]
            mine = [values[0]]
            assert result is not new and result.get("metadata") is not new.get("metadata")
            meta = result.get("metadata")
            if isinstance(meta, dict) and meta.get("managedFields") is not None:
                shared = containers(meta["managedFields"], set()) & containers(new, set())
                assert not shared, "record_update returned managedFields shared with its input"
        shared = containers(result, set()) & containers(mine, set())
        assert not shared, f"{name} returned containers shared with its input"
    return live


def stamp(obj: dict, rng: random.Random) -> dict:
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    if isinstance(meta, dict):
        meta.update(uid="uid-1", resourceVersion=str(rng.randint(1, 99)), creationTimestamp=TIMES[0])
    return out


ODD_FIELDS: list[dict] = [
    {"f:spec": {"f:list": {"i:0": {}, "i:3": {".": {}, "f:x": {}}, "i:-1": {}}, "f:a": {"v:\"a\"": {}, "v:1.5": {},
              "v:true": {}, "v:null": {}, 'v:{"a":1}': {}, "v:[1,2]": {}}}},
    {"f:metadata": {"f:labels": {".": {}, "f:a": {}}, "f:finalizers": {"v:\"x\"": {}}}, "z:unknown": {"f:q": {}},
     "f:spec": {"k:{\"name\":\"a\"}": {".": {}, "f:image": {}}, 'k:{"port":80,"protocol":"TCP"}': None}},
    {"f:data": {"f:a": {}, "f:b": {}, "f:<k>": {}, "f:é": {}, "f:.": {}}, "f:status": {".": {}, "f:phase": {}}},
    {},
]


def corrupt(live: dict, rng: random.Random) -> dict:
    """Now and then, live managedFields that cannot be decoded (they then count as none)."""
    if rng.random() < 0.04 and isinstance(live.get("metadata"), dict):
        live["metadata"]["managedFields"] = rng.choice([[{"operation": "bogus"}], "x", [{"manager": 1}]])
    return live


def request_managed_fields(live: dict, rng: random.Random) -> Any:
    """What a client sends back as managedFields: usually the live ones, sometimes not."""
    entries = (live.get("metadata") or {}).get("managedFields")
    roll = rng.random()
    if roll < 0.55:
        return copy.deepcopy(entries)
    if roll < 0.7:
        return fm._ABSENT
    if roll < 0.75:
        return rng.choice([[], [{}]])
    if roll < 0.8:
        return rng.choice(["nope", [1], [{"manager": "a", "operation": "Patch", "apiVersion": "v1"}],
                           [{"manager": "a", "operation": "Update"}],
                           [{"manager": "a", "operation": "Update", "apiVersion": "v1", "fieldsType": "X"}],
                           [{"manager": "a", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
                             "fieldsV1": {"x": {}}}]])
    if roll < 0.85:  # a client-written entry, with element types this code never produces itself
        extra = {"manager": rng.choice(MANAGERS), "operation": rng.choice(["Update", "Apply"]),
                 "apiVersion": rng.choice(["v1", "apps/v1"]), "time": rng.choice(TIMES), "fieldsType": "FieldsV1",
                 "fieldsV1": rng.choice(ODD_FIELDS), "subresource": rng.choice(["", "status"])}
        return [*copy.deepcopy(entries or []), extra]
    if isinstance(entries, list) and entries:
        changed = copy.deepcopy(entries)
        victim = rng.choice(changed)
        if isinstance(victim, dict):
            victim["manager"] = rng.choice(MANAGERS)
            victim["time"] = rng.choice(TIMES)
        return changed
    return copy.deepcopy(entries)


# --------------------------------------------------------------------------------------------------
# The properties


SEEDS = range(400)


@pytest.mark.parametrize("seed", SEEDS)
def test_record_update_matches_the_reference(seed):
    rng = random.Random(seed)
    group, kind = rng.choice(KINDS)
    schema = schema_for(group, kind)
    typed = schema or GENERIC_OBJECT
    api_version = API_VERSIONS.get(group, f"{group}/v1")
    obj = random_object(rng, group, kind)
    old = None
    if rng.random() < 0.1:  # an object that existed before tracking started
        old = stamp(obj, rng)
        obj = mutate_object(old, typed, rng, 0.2)
    status, live = check("record_update", (old, obj), dict(
        manager=rng.choice(MANAGERS), schema=schema, now=rng.choice(TIMES), api_version=api_version,
        operation=rng.choice(["Update", "Update", "Apply"]), subresource=rng.choice(["", "", "status"]),
        reset_fields=rng.choice([None, None, (), ("spec",)]),
    ))
    if status != "ok":
        return
    live = stamp(live, rng)
    for _ in range(rng.randint(1, 14)):
        new = mutate_object(live, typed, rng, rng.choice([0.02, 0.1, 0.3]))
        if not isinstance(new.get("metadata"), dict):
            new["metadata"] = {}
        requested = request_managed_fields(live, rng)
        new["metadata"].pop("managedFields", None)
        if requested is not fm._ABSENT:
            new["metadata"]["managedFields"] = requested
        status, result = check("record_update", (live, new), dict(
            manager=rng.choice(MANAGERS), schema=schema, now=rng.choice(TIMES),
            api_version=rng.choice([api_version, api_version, "v2"]),
            operation=rng.choice(["Update", "Update", "Update", "Apply"]),
            subresource=rng.choice(["", "", "", "status", "scale"]),
            reset_fields=rng.choice([None, None, None, (), ("spec", "status")]),
        ))
        if status == "ok":
            live = corrupt(stamp(result, rng), rng)


@pytest.mark.parametrize("seed", SEEDS)
def test_server_side_apply_matches_the_reference(seed):
    rng = random.Random(seed)
    group, kind = rng.choice(KINDS)
    schema = schema_for(group, kind)
    typed = schema or GENERIC_OBJECT
    config = random_object(rng, group, kind)
    live = None
    if rng.random() < 0.3:  # an object created without apply, possibly with an old last-applied annotation
        status, created = check("record_update", (None, random_object(rng, group, kind)), dict(
            manager=rng.choice(MANAGERS), schema=schema, now=TIMES[1], api_version=config["apiVersion"],
        ))
        live = stamp(created, rng) if status == "ok" else None
        if live is not None and rng.random() < 0.3:
            live["metadata"].pop("managedFields", None)
        if live is not None and rng.random() < 0.5:
            last = mutate_object(config, typed, rng, 0.1)
            live["metadata"].setdefault("annotations", {})
            if isinstance(live["metadata"]["annotations"], dict):
                live["metadata"]["annotations"][ref.LAST_APPLIED_ANNOTATION] = rng.choice(
                    [json.dumps(last), ref.go_json(last), "{not json", json.dumps(config)]
                )
    for _ in range(rng.randint(1, 8)):
        manager = rng.choice(["kubectl", "kubectl", "m1", "m2", "m3"])
        applied = config if rng.random() < 0.5 else mutate_object(config, typed, rng, rng.choice([0.05, 0.2]))
        if rng.random() < 0.05 and isinstance(applied.get("metadata", {}), dict):
            applied = copy.deepcopy(applied)
            applied.setdefault("metadata", {})["managedFields"] = []
        if manager == "kubectl" and rng.random() < 0.3 and isinstance(applied.get("metadata"), dict):
            applied = copy.deepcopy(applied)
            annotations = applied["metadata"].setdefault("annotations", {})
            if isinstance(annotations, dict):
                annotations[ref.LAST_APPLIED_ANNOTATION] = "{}"
        status, result = check("server_side_apply", (live, applied), dict(
            manager=manager, force=rng.random() < 0.4, schema=schema, now=rng.choice(TIMES),
            subresource=rng.choice(["", "", "", "status"]), reset_fields=rng.choice([None, None, ()]),
        ))
        if status == "ok":
            live = corrupt(stamp(result, rng), rng)
            config = applied
        if live is not None and rng.random() < 0.3:  # someone else updates in between
            new = mutate_object(live, typed, rng, 0.1)
            if isinstance(new.get("metadata"), dict):
                status, result = check("record_update", (live, new), dict(
                    manager=rng.choice(MANAGERS), schema=schema, now=rng.choice(TIMES),
                    api_version=config["apiVersion"], subresource=rng.choice(["", "status"]),
                ))
                if status == "ok":
                    live = stamp(result, rng)


@pytest.mark.parametrize("seed", range(150))
def test_field_set_functions_match_the_reference(seed):
    rng = random.Random(seed)
    group, kind = rng.choice(KINDS)
    typed = schema_for(group, kind) or GENERIC_OBJECT
    obj = random_object(rng, group, kind)
    other = mutate_object(obj, typed, rng, 0.2)
    status, paths = check("to_field_set", (obj, typed), {})
    assert status == "ok"
    check("set_to_fields_v1", (paths,), {})
    assert list(fm.iterate_paths(paths)) == list(ref.iterate_paths(paths))
    for path in paths:
        assert fm.path_string(path) == ref.path_string(path)
    encoded = fm.set_to_fields_v1(paths)
    assert fm.fields_v1_to_set(encoded) == ref.fields_v1_to_set(encoded)
    assert fm._compare(obj, other, typed) == ref._compare(obj, other, typed)
    assert same(patchmeta.with_zero_values(obj, typed), ref.with_zero_values(obj, typed))
    assert same(patchmeta.zero_value(typed), ref.zero_value(typed))
    assert same(patch.deep_copy_json(obj), ref.deep_copy_json(obj))
    entries = fm.record_update(None, obj, manager="m", schema=typed, now=TIMES[3], api_version="v1")["metadata"]
    decoded = fm.decode_managed_fields(entries.get("managedFields"))
    assert decoded == ref.decode_managed_fields(entries.get("managedFields"))
    assert same(fm.encode_managed_fields(*decoded), ref.encode_managed_fields(*decoded))


GO_VALUES: list[Any] = [
    *SCALARS, "", "plain", "with space", "a<b", "a>b", "a&b", "\u2028\u2029", "\x7f", "\ud7ff", "\ue000", "\ufeff",
    "\x00\x1f", "\u0085", "\u00a0", "😀<", 0.1, 1e21, 1e-7, 123456789.0, -0.0, float("inf"), float("-inf"),
    float("nan"), 1e6, 999999.0, 1e-4, 1.5e-5, 2**63, -(2**63), [], {}, [1, "a", None], {"b": 1, "a": [True, {}]},
    {"é": 1, "e": 2, "<": 3}, validation.GoStruct(b=1, a=2), (1, 2), {1: "int key"},
]


@pytest.mark.parametrize("value", GO_VALUES, ids=repr)
def test_go_json_helpers_match_the_reference(value):
    for name in ("go_json", "render_value"):
        try:
            expected = ("ok", getattr(ref, name)(value))
        except (ValueError, TypeError, OverflowError) as err:
            expected = ("error", type(err))
        try:
            live = ("ok", getattr(validation, name)(value))
        except (ValueError, TypeError, OverflowError) as err:
            live = ("error", type(err))
        assert live == expected, name
    if isinstance(value, str):
        assert validation.go_quote(value) == ref.go_quote(value)
        assert validation._go_json_string(value) == ref._go_json_string(value)
    if isinstance(value, float):
        assert validation.go_format_float(value) == ref.go_format_float(value)


@pytest.mark.parametrize("seed", range(50))
def test_go_json_strings_match_the_reference(seed):
    rng = random.Random(seed)
    alphabet = "ab <>&\"\\/\n\t\x00\x1f\x7f\u2028\u2029é😀\ud800"
    for _ in range(50):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        assert validation._go_json_string(text) == ref._go_json_string(text), repr(text)
        assert validation.go_quote(text) == ref.go_quote(text), repr(text)
        assert validation.go_json({text: [text]}) == ref.go_json({text: [text]}), repr(text)


@pytest.mark.parametrize("seed", range(40))
def test_many_updaters_match_the_reference(seed):
    """Long histories: past ten updaters the oldest merge into "ancient-changes"."""
    rng = random.Random(seed)
    group, kind = rng.choice(KINDS)
    schema = schema_for(group, kind)
    typed = schema or GENERIC_OBJECT
    api_version = API_VERSIONS.get(group, f"{group}/v1")
    status, live = check("record_update", (None, random_object(rng, group, kind)), dict(
        manager="creator", schema=schema, now=TIMES[0], api_version=api_version,
    ))
    live = stamp(live, rng)
    for step in range(25):
        new = mutate_object(live, typed, rng, 0.15)
        if not isinstance(new.get("metadata"), dict):
            continue
        labels = new["metadata"].get("labels")
        new["metadata"]["labels"] = {**(labels if isinstance(labels, dict) else {}), f"l{step}": "x"}
        status, result = check("record_update", (live, new), dict(
            manager=rng.choice(MANAGERS), schema=schema, now=rng.choice(TIMES),
            api_version=rng.choice([api_version, "v2"]), subresource=rng.choice(["", "", "status"]),
        ))
        if status == "ok":
            live = stamp(result, rng)


# --------------------------------------------------------------------------------------------------
# The memos of the optimized module: they must never change an answer


def clear_memos() -> None:
    for memo in (fm._DECODED, fm._ENCODED, fm._NAMED, fm._PARSED, fm._PE_KEYS):
        memo.clear()


@pytest.mark.parametrize("seed", range(60))
def test_answers_do_not_depend_on_what_is_memoized(seed):
    """The same writes with memos emptied before every call, then with memos warm: same answers."""
    rng = random.Random(seed)
    group, kind = rng.choice(KINDS)
    schema = schema_for(group, kind)
    typed = schema or GENERIC_OBJECT
    api_version = API_VERSIONS.get(group, f"{group}/v1")
    writes = []
    live = stamp(random_object(rng, group, kind), rng)
    live = fm.record_update(None, live, manager="creator", schema=schema, now=TIMES[0], api_version=api_version)
    for _ in range(6):
        new = mutate_object(live, typed, rng, 0.1)
        writes.append((live, new, rng.choice(MANAGERS), rng.choice(["", "status"])))
        try:
            live = stamp(fm.record_update(live, new, manager=writes[-1][2], schema=schema, now=TIMES[2],
                                          api_version=api_version, subresource=writes[-1][3]), rng)
        except patch.PatchError:
            pass
    for cold in (True, False, False):
        for old, new, manager, subresource in writes:
            if cold:
                clear_memos()
            check("record_update", (old, new), dict(manager=manager, schema=schema, now=TIMES[2],
                                                    api_version=api_version, subresource=subresource))


NUMBER_KEYED = [
    # list-map keys and set items holding 80 and 80.0, true and 1: equal as path elements, written apart
    {"f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}}}},
    {"f:spec": {"f:ports": {'k:{"port":80.0,"protocol":"TCP"}': {".": {}, "f:port": {}}}}},
    {"f:metadata": {"f:finalizers": {"v:1": {}, "v:\"a\"": {}}}},
    {"f:metadata": {"f:finalizers": {"v:1.0": {}, "v:\"a\"": {}}}},
    {"f:metadata": {"f:finalizers": {"v:true": {}}}},
]


@pytest.mark.parametrize("order", [0, 1, 2, 3])
def test_equal_elements_written_differently_are_never_confused(order):
    """("num", 80) == ("num", 80.0): whichever the memos saw first, each set is written as itself."""
    clear_memos()
    fields = NUMBER_KEYED if order % 2 == 0 else NUMBER_KEYED[::-1]
    service = schema_for("", "Service")
    for _ in range(2):
        for fields_v1 in fields:
            decoded = fm.fields_v1_to_set(fields_v1)
            assert decoded == ref.fields_v1_to_set(fields_v1)
            assert fm.set_to_fields_v1(decoded) == ref.set_to_fields_v1(ref.fields_v1_to_set(fields_v1))
            entry = {"manager": "m", "operation": "Update", "apiVersion": "v1", "time": TIMES[1],
                     "fieldsType": "FieldsV1", "fieldsV1": fields_v1}
            obj = {"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "s", "uid": "u", "managedFields": [entry], "finalizers": ["a", 1.0]},
                   "spec": {"ports": [{"port": 80.0 if order > 1 else 80, "protocol": "TCP"}]}}
            new = copy.deepcopy(obj)
            new["spec"]["ports"].append({"port": 81, "protocol": "TCP"})
            new["metadata"]["finalizers"] = ["a"]
            check("record_update", (obj, new), dict(manager="w", schema=service, now=TIMES[2], api_version="v1"))


def test_decoding_memo_tells_null_from_nan():
    clear_memos()
    assert fm.fields_v1_to_set({"f:a": None}) == ref.fields_v1_to_set({"f:a": None})
    for fields in ({"f:a": float("nan")}, {"f:a": float("inf")}, {"f:a": {"f:b": float("nan")}}):
        with pytest.raises(ValueError):
            ref.fields_v1_to_set(fields)
        with pytest.raises(ValueError):
            fm.fields_v1_to_set(fields)


@pytest.mark.parametrize("seed", range(80))
def test_known_encodings_are_only_those_of_canonical_fields(seed):
    """Decoding fieldsV1 as set_to_fields_v1 writes it memoizes its encoding; any other spelling of
    the same set (keys out of order, "." misplaced or missing, nulls, non-canonical keys) must not."""
    rng = random.Random(seed)
    group, kind = rng.choice(KINDS)
    typed = schema_for(group, kind) or GENERIC_OBJECT
    paths = ref.to_field_set(random_object(rng, group, kind), typed)
    canonical = ref.set_to_fields_v1(paths)
    variants = [canonical, json.loads(json.dumps(canonical)), respell(canonical, rng), respell(canonical, rng)]
    for fields in variants:
        clear_memos()
        decoded = fm.fields_v1_to_set(fields)
        assert decoded == ref.fields_v1_to_set(fields)
        assert fm._encode_memoized(decoded) == ref.set_to_fields_v1(decoded)
        assert fm._encode_memoized(decoded) == ref.set_to_fields_v1(decoded)  # now from the memo


def respell(fields: dict, rng: random.Random) -> dict:
    """The same set written another way."""
    out: dict = {}
    items = list(fields.items())
    if rng.random() < 0.5:
        rng.shuffle(items)
    for key, child in items:
        child = respell(child, rng) if child else child
        roll = rng.random()
        if not child and roll < 0.2:
            child = None
        elif child and "." not in child and roll < 0.1:
            child = {**child, ".": {}}  # a member now, and out of place: another set, compared all the same
        if key.startswith("k:") and roll > 0.8:
            key = "k:" + json.dumps(json.loads(key[2:]), indent=None)  # spaces after separators
        out[key] = child
    return out


@pytest.mark.parametrize("seed", range(80))
def test_encodings_derived_by_deleting_paths(seed):
    """An owner that loses some fields: its encoding is derived from the one it had."""
    rng = random.Random(seed)
    group, kind = rng.choice(KINDS)
    typed = schema_for(group, kind) or GENERIC_OBJECT
    paths = ref.to_field_set(random_object(rng, group, kind), typed)
    if not paths:
        return
    clear_memos()
    canonical = ref.set_to_fields_v1(paths)
    base = fm.fields_v1_to_set(canonical)  # canonical: its encoding is known...
    try:
        text = orjson.dumps(canonical)
    except TypeError:  # a lone surrogate
        text = b'":null'
    if not all(fm._exact(pe) for path in base for pe in path) or b'":null' in text:
        # ...unless it holds numbers other than ints, what might be a NaN, or what is not UTF-8: never memoized
        assert base not in fm._ENCODED
        return
    assert base in fm._ENCODED
    members = sorted(base, key=repr)
    for _ in range(5):
        taken = set(rng.sample(members, rng.randint(1, min(len(members), 6))))
        smaller = frozenset(base - taken)
        known = base in fm._ENCODED
        fm._derive_encoding(base, smaller)
        if smaller and known:
            assert smaller in fm._ENCODED
        assert fm._encode_memoized(smaller) == ref.set_to_fields_v1(smaller)
        fm._ENCODED.pop(smaller, None)


# --------------------------------------------------------------------------------------------------
# Random schemas: shapes the built-in kinds do not have (null structs, lists keyed on members Go
# always serializes, atomic roots...) reach the corners of the typed walks


def random_schema(rng: random.Random, depth: int, *, keyed_by: tuple[str, ...] = ()) -> PatchSchema:
    kinds = ["struct", "struct", "map", "list", "scalar", "untyped"] if depth > 0 else ["scalar", "untyped"]
    kind = "struct" if keyed_by else rng.choice(kinds)
    if kind == "struct":
        names = rng.sample(KEYS, rng.randint(0, 4))
        fields = {}
        for name in {*names, *keyed_by}:
            member = random_schema(rng, depth - 1) if depth > 0 else patchmeta.UNTYPED
            zero = rng.choice(["", "", "struct", "null"])
            if zero == "struct" and member.kind != "struct":
                zero = "null"
            fields[name] = patchmeta.replace(member, zero=zero)
        return PatchSchema(kind="struct", fields=patchmeta.MappingProxyType(fields), atomic=rng.random() < 0.1)
    if kind == "map":
        return PatchSchema(kind="map", elem=random_schema(rng, depth - 1), atomic=rng.random() < 0.1)
    if kind == "list":
        list_type = rng.choice(["map", "map", "set", "atomic", ""])
        if list_type == "map":
            keys = tuple(rng.sample(["name", "value", "a"], rng.randint(1, 2)))
            if rng.random() < 0.05:
                keys = (*keys, keys[0])  # a name twice
            defaults = {keys[-1]: rng.choice(KEY_VALUES)} if rng.random() < 0.3 else {}
            item = random_schema(rng, depth - 1, keyed_by=keys if rng.random() < 0.5 else ())
            return PatchSchema(kind="list", elem=item, list_type="map", map_keys=keys,
                               key_defaults=patchmeta.MappingProxyType(defaults))
        item = patchmeta.SCALAR if list_type == "set" else random_schema(rng, depth - 1)
        return PatchSchema(kind="list", elem=item, list_type=list_type)
    return patchmeta.SCALAR if kind == "scalar" else patchmeta.UNTYPED


def random_root(rng: random.Random) -> PatchSchema:
    root = random_schema(rng, 4)
    if root.kind != "struct" or rng.random() < 0.2:
        return root
    fields = dict(root.fields)
    if rng.random() < 0.7:
        meta = patchmeta.OBJECT_META if rng.random() < 0.5 else random_schema(rng, 2)
        fields["metadata"] = patchmeta.replace(meta, zero=rng.choice(["struct", "", "null"]) if meta.kind == "struct"
                                               else rng.choice(["", "null"]))
    return patchmeta.replace(root, fields=patchmeta.MappingProxyType(fields))


@pytest.mark.parametrize("seed", range(300))
def test_random_schemas_match_the_reference(seed):
    rng = random.Random(seed)
    schema = random_root(rng)
    obj = value_for(schema, rng, 6)
    if not isinstance(obj, dict):
        obj = {"a": obj}
    obj.setdefault("metadata", {"name": "x"})
    if isinstance(obj["metadata"], dict):
        obj["metadata"].pop("managedFields", None)
    obj.update(apiVersion="example.com/v1", kind="Thing")
    status, live = check("record_update", (None, obj), dict(
        manager=rng.choice(MANAGERS), schema=schema, now=TIMES[1], api_version="example.com/v1",
        subresource=rng.choice(["", "status"]), reset_fields=rng.choice([None, (), ("a", "b")]),
        operation=rng.choice(["Update", "Apply"]),
    ))
    if status == "ok":
        live = stamp(live, rng)
        for _ in range(4):
            new = mutate_object(live, schema, rng, 0.2)
            if isinstance(new.get("metadata"), dict):
                status, result = check("record_update", (live, new), dict(
                    manager=rng.choice(MANAGERS), schema=schema, now=rng.choice(TIMES), api_version="example.com/v1",
                ))
                if status == "ok":
                    live = stamp(result, rng)
    applied = value_for(schema, rng, 5)
    if isinstance(applied, dict):
        applied.pop("managedFields", None)
        if isinstance(applied.get("metadata"), dict):
            applied["metadata"].pop("managedFields", None)
        applied.update(apiVersion="example.com/v1", kind="Thing")
        live_or_none = live if isinstance(live, dict) and rng.random() < 0.5 else None
        for manager in ("kubectl", "m1", "kubectl"):
            status, result = check("server_side_apply", (live_or_none, applied), dict(
                manager=manager, force=rng.random() < 0.5, schema=schema, now=TIMES[3],
            ))
            if status == "ok":
                live_or_none = stamp(result, rng)
                applied = mutate_object(applied, schema, rng, 0.2)
