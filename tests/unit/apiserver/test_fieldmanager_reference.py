"""A frozen copy of minik.apiserver.fieldmanager (with the helpers it uses from patchmeta, patch and
api.validation) as it was before its performance work: the reference that
test_fieldmanager_equivalence.py compares the optimized module against. Do not "fix" or speed up this
file; it is the specification. Only the schema *data* (PatchSchema instances, GoStruct, PatchError) is
shared with the live code; PatchSchema's navigation methods are frozen below as _sfield/_sitem/_snamed.

(Named test_fieldmanager_*.py only because that is where helper modules may live; it has no tests.)
"""

# ruff: noqa
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from minik.api.validation import GoStruct
from minik.apiserver.patch import PatchError
from minik.apiserver.patchmeta import GENERIC_OBJECT, UNTYPED, PatchSchema


def _sfield(schema: PatchSchema, name: str) -> PatchSchema:
    if schema.kind == "struct":
        return schema.fields.get(name, UNTYPED)
    if schema.kind == "map" and schema.elem is not None:
        return schema.elem
    return UNTYPED


def _sitem(schema: PatchSchema) -> PatchSchema:
    if schema.kind == "list" and schema.elem is not None:
        return schema.elem
    return UNTYPED


def _snamed(schema: PatchSchema) -> bool:
    return schema.kind in ("struct", "untyped")


# --- minik.api.validation -------------------------------------------------------------------------

_GO_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v"}


def go_quote(text: str) -> str:
    """strconv.Quote / fmt's %q: double quotes, Go escapes, printable Unicode kept as is."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'  # the common case, without a per-character loop
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():  # Python's notion equals Go's unicode.IsPrint (L, M, N, P, S and ' ')
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def go_format_float(value: float) -> str:
    """fmt's %v for a float64 (%g, shortest digits): exponent form below 1e-4 and from 1e6 up."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exp = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    exp10 = len(text) + int(exp) - 1
    prefix = "-" if sign else ""
    # strconv's 'g' with the shortest precision switches to %e at exponent < -4 or >= 6.
    if exp10 < -4 or exp10 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    point = exp10 + 1
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return prefix + text + "0" * (point - len(text))
    return f"{prefix}{text[:point]}.{text[point:]}"


_JSON_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _go_json_string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    if any(ch in encoded for ch in _JSON_HTML_ESCAPES):
        encoded = "".join(_JSON_HTML_ESCAPES.get(ch, ch) for ch in encoded)
    return encoded


def go_json(value: object) -> str:
    """encoding/json.Marshal output: compact, map keys sorted, HTML characters escaped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _go_json_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, Mapping):
        keys = list(value) if isinstance(value, GoStruct) else sorted(value, key=str)
        return "{" + ",".join(f"{_go_json_string(str(k))}:{go_json(value[k])}" for k in keys) + "}"
    if isinstance(value, Iterable):
        return "[" + ",".join(go_json(item) for item in value) + "]"
    return _go_json_string(str(value))



# --- minik.apiserver.patch ---

def deep_copy_json(value: Any) -> Any:
    """A copy of a JSON value (dicts and lists are copied, scalars shared: they are immutable)."""
    if isinstance(value, dict):
        return {k: deep_copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_copy_json(v) for v in value]
    return value



# --- minik.apiserver.patchmeta ---

def zero_value(schema: PatchSchema) -> dict:
    """The JSON of the empty Go object of this kind: struct fields as `{}`, non-omitempty slices as null.

    Server-side apply compares a created object against this, so that (as in Kubernetes) containers
    that always exist, like `spec` or `spec.template`, are not owned as a whole by the creator.
    """
    return with_zero_values({}, schema)


def with_zero_values(value: Any, schema: PatchSchema) -> Any:
    """`value` with the members Go always serializes added where missing (a new object; lists' items
    are filled too). Kubernetes compares typed objects, where those members always exist."""
    if isinstance(value, list) and schema.kind == "list":
        return [with_zero_values(item, _sitem(schema)) for item in value]
    if not isinstance(value, dict) or schema.kind != "struct":
        return value
    out = {key: with_zero_values(child, _sfield(schema, key)) for key, child in value.items()}
    for name, member in schema.fields.items():
        if name not in out and member.zero == "struct":
            out[name] = with_zero_values({}, member)
        elif name not in out and member.zero == "null":
            out[name] = None
    return out


# --- minik.apiserver.fieldmanager ---

LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
MAX_UPDATE_MANAGERS = 10  # DefaultMaxUpdateManagers
_TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024  # TotalAnnotationSizeLimitB
_KUBECTL_MANAGER = "kubectl"  # the only manager whose applies upgrade and sync the last-applied annotation
_BEFORE_FIRST_APPLY = "before-first-apply"
_CURRENT_OPERATION = "current-operation"
_ANCIENT_CHANGES = "ancient-changes"
_APPLY, _UPDATE = "Apply", "Update"

# Metadata a server sets; never taken from an applied configuration.
_SERVER_METADATA = (
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)

_ATOI = re.compile(r"[+-]?[0-9]+")
_ABSENT: Any = object()  # "no value" (a Go nil Value), as opposed to a JSON null


class _Owner(NamedTuple):
    """A fieldpath.VersionedSet: the fields one manager owns, the version it used, whether it applied."""

    fields: frozenset
    api_version: str
    applied: bool


class ManagedFieldsError(PatchError, ValueError):
    """`metadata.managedFields` of a request that cannot be decoded (answered 422 Invalid)."""

    def __init__(self, message: str) -> None:
        super().__init__(422, "Invalid", message)


class ApplyConflict(PatchError):
    """Server-side apply conflicts, worded as Kubernetes words them (409 Conflict).

    `conflicts` lists (manager, field path) pairs, `causes` the Status causes kube-apiserver sends.
    """

    def __init__(self, raw: list[tuple[str, tuple]]) -> None:
        self.raw = raw  # (manager identifier, path) pairs
        self.conflicts = [(_manager_name(manager_id), path_string(path)) for manager_id, path in raw]
        self.causes = [
            {"type": "FieldManagerConflict", "message": f"conflict with {_print_manager(m)}", "field": path_string(p)}
            for m, p in raw
        ]
        super().__init__(409, "Conflict", _conflict_message(raw))


def _conflict_message(raw: list[tuple[str, tuple]]) -> str:
    """getConflictMessage in managedfields/internal/conflict.go."""
    if len(raw) == 1:
        manager_id, path = raw[0]
        return f"Apply failed with 1 conflict: conflict with {_print_manager(manager_id)}: {path_string(path)}"
    by_manager: dict[str, list[tuple]] = {}
    for manager_id, path in raw:
        by_manager.setdefault(manager_id, []).append(path)
    lines: list[str] = []
    for manager_id in sorted(by_manager):
        lines.append(f"conflicts with {_print_manager(manager_id)}:")
        lines.extend(f"- {path_string(p)}" for p in by_manager[manager_id])
    return f"Apply failed with {len(raw)} conflicts: " + "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Manager identifiers (BuildManagerIdentifier): the JSON of the entry without fields and time.


def _manager_id(manager: str, operation: str, api_version: str, *, subresource: str) -> str:
    entry = {"manager": manager, "operation": operation}
    if api_version and operation != _APPLY:  # appliers keep one identity across versions
        entry["apiVersion"] = api_version
    if subresource:
        entry["subresource"] = subresource
    return "{" + ",".join(f"{go_json(k)}:{go_json(v)}" for k, v in entry.items() if v) + "}"


def _identity(manager_id: str) -> dict:
    try:
        decoded = json.loads(manager_id)
    except ValueError:
        return {"manager": manager_id}
    return decoded if isinstance(decoded, dict) else {"manager": manager_id}


def _manager_name(manager_id: str) -> str:
    return str(_identity(manager_id).get("manager", ""))


def _print_manager(manager_id: str) -> str:
    """printManager: `"name"`, plus the subresource, plus `using <apiVersion>` for updaters."""
    identity = _identity(manager_id)
    text = go_quote(str(identity.get("manager", "")))
    if identity.get("subresource"):
        text += f" with subresource {go_quote(str(identity['subresource']))}"
    if identity.get("operation") == _UPDATE:
        text += f" using {identity.get('apiVersion', '')}"
    return text


# --------------------------------------------------------------------------------------------------
# Path elements and field sets


def _freeze(value: Any) -> tuple:
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("num", value)  # 1 and 1.0 are the same element, as value.Equals says
    if isinstance(value, str):
        return ("str", value)
    return ("json", json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def _thaw(frozen: tuple) -> Any:
    if frozen[0] == "null":
        return None
    if frozen[0] == "json":
        return json.loads(frozen[1])
    return frozen[1]


def _value_order(frozen: tuple) -> tuple:
    """value.Compare's total order: numbers, strings, bools, lists, maps, null."""
    tag = frozen[0]
    if tag == "num":
        return (0, frozen[1])
    if tag == "str":
        return (1, frozen[1])
    if tag == "bool":
        return (2, frozen[1])
    if tag == "json":
        return (3 if frozen[1].startswith("[") else 4, frozen[1])
    return (5,)


def _pe_order(pe: tuple) -> tuple:
    """PathElement.Compare: fields, then keys, then values, then indices."""
    tag = pe[0]
    if tag == "f":
        return (0, pe[1])
    if tag == "k":
        return (1, tuple((name, _value_order(v)) for name, v in pe[1]))
    if tag == "v":
        return (2, _value_order(pe[1]))
    return (3, pe[1])


def _value_string(frozen: tuple) -> str:
    """value.ToString, as conflict messages print values."""
    value = _thaw(frozen)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_format_float(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, list):
        return "[" + ",".join(_value_string(_freeze(v)) for v in value) + "]"
    return "".join(f"{k}={_value_string(_freeze(v))}" for k, v in sorted(value.items()))


def path_string(path: Iterable[tuple]) -> str:
    """fieldpath.Path.String: `.spec.template.spec.containers[name="nginx"].image`."""
    parts = []
    for pe in path:
        if pe[0] == "f":
            parts.append("." + pe[1])
        elif pe[0] == "k":
            parts.append("[" + ",".join(f"{name}={_value_string(v)}" for name, v in pe[1]) + "]")
        elif pe[0] == "v":
            parts.append(f"[={_value_string(pe[1])}]")
        else:
            parts.append(f"[{pe[1]}]")
    return "".join(parts)


def _pe_key(pe: tuple) -> str:
    """The fieldsV1 key of a path element (serializePathElementToWriter)."""
    if pe[0] == "f":
        return "f:" + pe[1]
    if pe[0] == "k":
        return "k:{" + ",".join(f"{go_json(name)}:{go_json(_thaw(v))}" for name, v in pe[1]) + "}"
    if pe[0] == "v":
        return "v:" + go_json(_thaw(pe[1]))
    return f"i:{pe[1]}"


def _parse_pe(key: str) -> tuple | None:
    """DeserializePathElement; None for element types this version does not know (they are dropped)."""
    if len(key) < 2:
        raise ValueError("key must be 2 characters long:")
    if key[1] != ":":
        raise ValueError(f"missing colon: {key}")
    kind, body = key[0], key[2:]
    if kind == "f":
        return ("f", body)
    if kind == "v":
        return ("v", _freeze(json.loads(body)))
    if kind == "k":
        fields = json.loads(body)
        if not isinstance(fields, dict):
            raise ValueError(f"expected a JSON object in {key}")
        return ("k", tuple(sorted(((n, _freeze(v)) for n, v in fields.items()), key=lambda item: item[0])))
    if kind == "i":
        if not _ATOI.fullmatch(body):
            raise ValueError(f'strconv.Atoi: parsing "{body}": invalid syntax')
        return ("i", int(body))
    return None


def _trie(paths: Iterable[tuple]) -> dict:
    """The tree of a set: path element -> [is member, children]."""
    root: dict = {}
    for path in paths:
        node = root
        for depth, pe in enumerate(path):
            entry = node.setdefault(pe, [False, {}])
            if depth == len(path) - 1:
                entry[0] = True
            node = entry[1]
    return root


def set_to_fields_v1(paths: Iterable[tuple]) -> dict:
    """Encode a field set as fieldsV1 (Set.ToJSON): sorted elements, "." first for member parents."""
    return _emit_fields(_trie(paths), include_self=False)


def _emit_fields(children: dict, *, include_self: bool) -> dict:
    out: dict = {}
    if include_self and children:
        out["."] = {}
    for pe in sorted(children, key=_pe_order):
        member, grandchildren = children[pe]
        out[_pe_key(pe)] = _emit_fields(grandchildren, include_self=member) if grandchildren else {}
    return out


def fields_v1_to_set(fields: Any) -> frozenset:
    """Decode fieldsV1 (Set.FromJSON). Raises ValueError for what Kubernetes cannot decode either."""
    if fields is None:
        return frozenset()
    if not isinstance(fields, dict):
        raise ValueError("fieldsV1 must be a JSON object")
    out: set = set()
    _read_fields(fields, (), out)
    return frozenset(out)


def _read_fields(node: dict, prefix: tuple, out: set) -> bool:
    """readIterV1; returns whether `node` had any known child."""
    found = False
    for key, child in node.items():
        if key == ".":
            continue
        pe = _parse_pe(key)
        if pe is None:
            continue
        if child is None:
            child = {}
        if not isinstance(child, dict):
            raise ValueError(f"the value of {key} must be a JSON object")
        path = prefix + (pe,)
        has_children = _read_fields(child, path, out)
        if not has_children or "." in child:
            out.add(path)
        found = True
    return found


def iterate_paths(paths: Iterable[tuple]) -> Iterator[tuple]:
    """Set.Iterate order: at each level the members (sorted), then the children (sorted)."""
    yield from _iterate(_trie(paths), ())


def _iterate(children: dict, prefix: tuple) -> Iterator[tuple]:
    ordered = sorted(children, key=_pe_order)
    for pe in ordered:
        if children[pe][0]:
            yield prefix + (pe,)
    for pe in ordered:
        if children[pe][1]:
            yield from _iterate(children[pe][1], prefix + (pe,))


def _recursive_difference(paths: frozenset, excluded: frozenset) -> frozenset:
    """Set.RecursiveDifference: drop the paths that are, or are below, an excluded path."""
    if not excluded:
        return paths
    return frozenset(p for p in paths if not any(p[: len(e)] == e for e in excluded))


def _group(paths: Iterable[tuple]) -> tuple[set, dict]:
    """Split relative paths into members of this level and, per element, the paths below it."""
    members: set = set()
    below: dict = {}
    for path in paths:
        if len(path) == 1:
            members.add(path[0])
        elif path:
            below.setdefault(path[0], set()).add(path[1:])
    return members, below


def _f(name: str) -> tuple:
    return ("f", name)


def _path(*names: str) -> tuple:
    return tuple(_f(n) for n in names)


# stripMetaManager: fields no manager ever owns.
_STRIPPED = frozenset(
    [_path("apiVersion"), _path("kind"), _path("metadata")]
    + [
        _path("metadata", name)
        for name in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    ]
)


def _ignored_fields(subresource: str, reset_fields: Iterable[str] | None) -> frozenset:
    """The reset fields of the strategies: by default writes to the main resource never own status,
    and writes to /status never own spec; `reset_fields` (top-level names) overrides that."""
    if reset_fields is not None:
        return frozenset(_path(name) for name in reset_fields)
    if subresource == "":
        return frozenset([_path("status")])
    if subresource == "status":
        return frozenset([_path("spec")])
    return frozenset()


# --------------------------------------------------------------------------------------------------
# Typed walks over JSON values (structured-merge-diff's typed package)


def _smd_equal(a: Any, b: Any) -> bool:
    """value.Equals: numbers compare numerically (1 == 1.0), everything else by type and value."""
    a_num = isinstance(a, (int, float)) and not isinstance(a, bool)
    b_num = isinstance(b, (int, float)) and not isinstance(b, bool)
    if a_num or b_num:
        return a_num and b_num and a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_smd_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(_smd_equal(x, y) for x, y in zip(a, b))
    return a == b


def _list_items(schema: PatchSchema, items: list) -> list[tuple[tuple, Any]] | None:
    """The path element of each item of an associative list, or None if the list cannot be keyed
    (missing keys, wrong item types, duplicates): such lists are then handled as atomic."""
    out: list[tuple[tuple, Any]] = []
    seen: set = set()
    for item in items:
        pe = _item_pe(schema, item)
        if pe is None or pe in seen:
            return None
        seen.add(pe)
        out.append((pe, item))
    return out


def _item_pe(schema: PatchSchema, item: Any) -> tuple | None:
    if schema.list_type == "set":
        if isinstance(item, (dict, list)) or item is None:
            return None
        return ("v", _freeze(item))
    if not isinstance(item, dict):
        return None
    key: list[tuple[str, tuple]] = []
    for name in schema.map_keys:
        if name in item:
            key.append((name, _freeze(item[name])))
        elif name in schema.key_defaults:
            key.append((name, _freeze(schema.key_defaults[name])))
        else:
            return None
    return ("k", tuple(sorted(key, key=lambda pair: pair[0])))


def _item_error(schema: PatchSchema, item: Any) -> str:
    """Why an item of an associative list cannot be keyed (keyedAssociativeListItemToPathElement)."""
    if schema.list_type == "set":
        if isinstance(item, dict):
            return "associative list without keys has an element that's a map type"
        if isinstance(item, list):
            return "not supported: associative list with lists as elements"
        return "associative list without keys has an element that's an explicit null"
    if item is None:
        return "associative list with keys may not have a null element"
    if not isinstance(item, dict):
        return "associative list with keys may not have non-map elements"
    missing = next(n for n in schema.map_keys if n not in item and n not in schema.key_defaults)
    return (
        f'associative list with keys has an element that omits key field "{missing}" '
        "(and doesn't have default value)"
    )


def _node(schema: PatchSchema, *values: Any) -> str:
    """How a node is walked: "map" (member by member), "list" (item by item) or "leaf"."""
    present = [v for v in values if v is not _ABSENT and v is not None]
    if schema.kind in ("struct", "map", "untyped"):
        if schema.atomic or (schema.kind == "untyped" and not present):
            return "leaf"
        return "map" if all(isinstance(v, dict) for v in present) else "leaf"
    if schema.kind == "list" and schema.list_type in ("map", "set"):
        return "list" if all(isinstance(v, list) for v in present) else "leaf"
    return "leaf"


def _as(kind: type, value: Any) -> Any:
    return value if isinstance(value, kind) else None


def to_field_set(value: Any, schema: PatchSchema) -> frozenset:
    """TypedValue.ToFieldSet: every leaf, list item and "member" map entry of `value`."""
    out: set = set()
    _tfs(value, schema, (), out=out)
    out.discard(())
    return frozenset(out)


def _tfs(value: Any, schema: PatchSchema, path: tuple, *, out: set) -> None:
    node = _node(schema, value)
    if node == "leaf":
        out.add(path)
    elif node == "map" and isinstance(value, dict):
        for key, child in value.items():
            child_path = path + (_f(key),)
            _tfs(child, _sfield(schema, key), child_path, out=out)
            if child is None or child == {} or not _snamed(schema):
                out.add(child_path)
    elif node == "list" and isinstance(value, list):
        items = _list_items(schema, value)
        if items is None:
            out.add(path)
            return
        for pe, item in items:
            _tfs(item, _sitem(schema), path + (pe,), out=out)
            out.add(path + (pe,))


class _Comparison(NamedTuple):
    added: frozenset
    modified: frozenset
    removed: frozenset


def _compare(lhs: Any, rhs: Any, schema: PatchSchema, *, excluded: frozenset = frozenset()) -> _Comparison:
    """TypedValue.Compare (a merge whose rules record added, modified and removed fields).

    Both sides get the members Go always serializes, as the typed objects Kubernetes compares have
    them: whether a container existed before decides whether its writer owns it as a whole.
    """
    added: set = set()
    modified: set = set()
    removed: set = set()
    _cmp(with_zero_values(lhs, schema), with_zero_values(rhs, schema), schema, path=(), out=(added, modified, removed))
    sets = [_recursive_difference(frozenset(s - {()}), excluded) for s in (added, modified, removed)]
    return _Comparison(*sets)


def _cmp(lhs: Any, rhs: Any, schema: PatchSchema, *, path: tuple, out: tuple[set, set, set]) -> None:
    added, modified, removed = out
    node = _container_node(schema, lhs, rhs)
    if node == "leaf":
        if lhs is _ABSENT:
            added.add(path)
        elif rhs is _ABSENT:
            removed.add(path)
        elif not _smd_equal(lhs, rhs):
            modified.add(path)
        return
    if node == "map":
        left, right = _as(dict, lhs) or {}, _as(dict, rhs) or {}
        for key in [*left, *(k for k in right if k not in left)]:
            _cmp(left.get(key, _ABSENT), right.get(key, _ABSENT), _sfield(schema, key), path=path + (_f(key),), out=out)
    else:
        left_items = dict(_list_items(schema, _as(list, lhs) or []) or [])
        right_items = dict(_list_items(schema, _as(list, rhs) or []) or [])
        for pe in [*left_items, *(p for p in right_items if p not in left_items)]:
            _cmp(left_items.get(pe, _ABSENT), right_items.get(pe, _ABSENT), _sitem(schema), path=path + (pe,), out=out)
    # the post-item hook: a container that appeared or disappeared is itself added or removed
    if lhs is _ABSENT:
        added.add(path)
    elif rhs is _ABSENT:
        removed.add(path)


def _container_node(schema: PatchSchema, lhs: Any, rhs: Any) -> str:
    """`_node`, plus the two rules of merge: empty/null on both sides is a leaf, and so is a list
    whose items cannot be keyed."""
    node = _node(schema, lhs, rhs)
    if node == "map":
        if not _as(dict, lhs) and not _as(dict, rhs):
            return "leaf"
    elif node == "list":
        left, right = _as(list, lhs), _as(list, rhs)
        if not left and not right:
            return "leaf"
        if _list_items(schema, left or []) is None or _list_items(schema, right or []) is None:
            return "leaf"
    return node


def _merge(lhs: Any, rhs: Any, schema: PatchSchema) -> Any:
    """TypedValue.Merge with ruleKeepRHS: `rhs` wins on every leaf, containers merge."""
    node = _container_node(schema, lhs, rhs)
    if node == "leaf":
        return deep_copy_json(rhs if rhs is not _ABSENT else lhs)
    if node == "map":
        left, right = _as(dict, lhs) or {}, _as(dict, rhs) or {}
        merged = {}
        for key in [*left, *(k for k in right if k not in left)]:
            value = _merge(left.get(key, _ABSENT), right.get(key, _ABSENT), _sfield(schema, key))
            if value is not _ABSENT:
                merged[key] = value
        return merged or _ABSENT
    left_items = _list_items(schema, _as(list, lhs) or []) or []
    right_items = _list_items(schema, _as(list, rhs) or []) or []
    items = [_merge(lv, rv, _sitem(schema)) for _, lv, rv in _pair_items(left_items, right_items)]
    return [v for v in items if v is not _ABSENT] or _ABSENT


def _pair_items(left: list[tuple[tuple, Any]], right: list[tuple[tuple, Any]]) -> list[tuple[tuple, Any, Any]]:
    """visitListItems' order: live items keep their place, applied items follow the applied order,
    items shared by both are merged where the applied order puts them."""
    left_index, right_index = dict(left), dict(right)
    left_order, right_order = [pe for pe, _ in left], [pe for pe, _ in right]
    shared = [pe for pe in right_order if pe in left_index]
    out: list[tuple[tuple, Any, Any]] = []
    emitted: set = set()
    li = ri = 0
    next_shared = shared.pop(0) if shared else None

    def advance() -> Any:
        return shared.pop(0) if shared else None

    while li < len(left_order) or ri < len(right_order):
        if li < len(left_order) and ri < len(right_order):
            pe = left_order[li]
            if pe == right_order[ri]:
                out.append((pe, left_index[pe], right_index[pe]))
                emitted.add(pe)
                li, ri = li + 1, ri + 1
                next_shared = advance()
                continue
            if pe in right_index and next_shared is not None and next_shared != pe:
                li += 1  # a shared item, but not the one wanted this round
                continue
        if li < len(left_order) and left_order[li] not in right_index:
            pe = left_order[li]
            out.append((pe, left_index[pe], _ABSENT))
            li += 1
            continue
        if ri < len(right_order):
            pe = right_order[ri]
            out.append((pe, left_index.get(pe, _ABSENT), right_index[pe]))
            emitted.add(pe)
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = advance()
            continue
        li += 1  # a shared item already merged from the applied side (Go would spin here forever)
    return out


def _remove_items(value: Any, paths: Iterable[tuple], schema: PatchSchema) -> Any:
    """TypedValue.RemoveItems: `value` without the given paths (relative to it).

    A map or list that ends up empty is returned as absent (Kubernetes leaves a null that the typed
    decoding then drops), except list items, which stay as `{}`.
    """
    members, below = _group(paths)
    node = _node(schema, value)
    if node == "map":
        if not value:
            return _ABSENT
        out = {}
        for key, child in value.items():
            pe = _f(key)
            if pe in members:
                continue
            kept = _remove_items(child, below[pe], _sfield(schema, key)) if pe in below else deep_copy_json(child)
            if kept is not _ABSENT:
                out[key] = kept
        return out or _ABSENT
    if node == "list":
        if not value:
            return _ABSENT
        items = _list_items(schema, value)
        if items is None:
            return _ABSENT  # an atomic list is removed whole
        kept_items = []
        for pe, item in items:
            if pe in members:
                continue
            kept = _remove_items(item, below[pe], _sitem(schema)) if pe in below else deep_copy_json(item)
            kept_items.append({} if kept is _ABSENT else kept)
        return kept_items or _ABSENT
    if isinstance(value, (dict, list)) or value is None:
        return _ABSENT  # atomic maps and lists, nulls
    return value


def _ensure_named_fields(paths: frozenset, schema: PatchSchema) -> frozenset:
    """Set.EnsureNamedFieldsAreMembers: every named field above a path becomes a member too."""
    out = set(paths)
    for path in paths:
        current: PatchSchema | None = schema
        for depth, pe in enumerate(path[:-1]):
            if current is None:
                break
            if pe[0] == "f":
                if _snamed(current):
                    out.add(path[: depth + 1])
                current = _sfield(current, pe[1])
            elif pe[0] == "k" and current.kind == "list":
                current = _sitem(current)
            else:
                current = None
    return frozenset(out)


# --------------------------------------------------------------------------------------------------
# merge.Updater


def _update_managers(
    old: Any,
    new: Any,
    managers: Mapping[str, _Owner],
    *,
    workflow: str,
    schema: PatchSchema,
    ignored: frozenset,
    force: bool,
) -> tuple[dict[str, _Owner], _Comparison]:
    """Updater.update: other managers lose the fields this write changed (or it conflicts) and the
    fields it removed."""
    comparison = _compare(old, new, schema, excluded=ignored)
    changed = comparison.modified | comparison.added
    conflicts = {}
    for key, owner in managers.items():
        if key != workflow and owner.fields & changed:
            conflicts[key] = owner.fields & changed
    if conflicts and not force:
        raise ApplyConflict([(key, path) for key in sorted(conflicts) for path in iterate_paths(conflicts[key])])
    out: dict[str, _Owner] = {}
    for key, owner in managers.items():
        if key != workflow:
            owner = owner._replace(fields=owner.fields - conflicts.get(key, frozenset()) - comparison.removed)
        if owner.fields:
            out[key] = owner
    return out, comparison


def _structured_update(
    old: Any,
    new: Any,
    managers: Mapping[str, _Owner],
    *,
    workflow: str,
    version: str,
    schema: PatchSchema,
    ignored: frozenset,
) -> dict[str, _Owner]:
    """Updater.Update: the writer owns what it changed or added, on top of what it owned."""
    managers, comparison = _update_managers(
        old, new, managers, workflow=workflow, schema=schema, ignored=ignored, force=True
    )
    previous = managers[workflow].fields if workflow in managers else frozenset()
    fields = (previous | comparison.modified | comparison.added) - comparison.removed
    fields = _recursive_difference(fields, ignored)
    managers.pop(workflow, None)
    if fields:
        managers[workflow] = _Owner(fields, version, False)
    return managers


def _structured_apply(
    live: dict,
    config: dict,
    managers: Mapping[str, _Owner],
    *,
    manager_id: str,
    version: str,
    schema: PatchSchema,
    ignored: frozenset,
    force: bool,
) -> tuple[dict | None, dict[str, _Owner]]:
    """Updater.Apply: merge, own the applied fields, prune what this applier dropped, check conflicts.
    The object is None when applying changed nothing."""
    merged = _merge(live, config, schema)
    merged = {} if merged is _ABSENT else merged
    last = managers.get(manager_id)
    applied_set = _recursive_difference(to_field_set(config, schema), ignored)
    managers = {**managers, manager_id: _Owner(applied_set, version, True)}
    merged = _prune(merged, managers, last, schema=schema)
    managers, _ = _update_managers(
        live, merged, managers, workflow=manager_id, schema=schema, ignored=ignored, force=force
    )
    if _smd_equal(live, merged):
        return None, managers
    return merged, managers


def _prune(merged: dict, managers: Mapping[str, _Owner], last: _Owner | None, *, schema: PatchSchema) -> dict:
    """Updater.prune: remove what the applier applied last time, did not apply now, and nobody else
    owns (addBackOwnedItems then addBackDanglingItems)."""
    if last is None or not last.fields:
        return merged
    last_named = _ensure_named_fields(last.fields, schema)
    pruned = _or_empty(_remove_items(merged, last_named, schema))
    managed = frozenset().union(*(owner.fields for owner in managers.values()))
    merged_set = _ensure_named_fields(to_field_set(merged, schema), schema)
    pruned_set = _ensure_named_fields(to_field_set(pruned, schema), schema)
    keep = pruned_set | _ensure_named_fields(managed, schema)
    pruned = _or_empty(_remove_items(merged, merged_set - keep, schema))
    pruned_set = _ensure_named_fields(to_field_set(pruned, schema), schema)
    return _or_empty(_remove_items(merged, (merged_set - pruned_set) & last_named, schema))


def _or_empty(value: Any) -> dict:
    return {} if value is _ABSENT else value


# --------------------------------------------------------------------------------------------------
# The FieldManager chain


def _strip_meta(managers: dict[str, _Owner], manager_id: str) -> dict[str, _Owner]:
    owner = managers.get(manager_id)
    if owner is None:
        return managers
    out = dict(managers)
    fields = owner.fields - _STRIPPED
    if fields:
        out[manager_id] = owner._replace(fields=fields)
    else:
        del out[manager_id]
    return out


def _record_update(
    old: Any,
    new: Any,
    managers: Mapping[str, _Owner],
    *,
    times: Mapping[str, str | None],
    manager_id: str,
    version: str,
    now: str,
    schema: PatchSchema,
    ignored: frozenset,
) -> tuple[dict[str, _Owner], dict[str, str | None]]:
    """managedFieldsUpdater.Update around stripMeta and the structured update."""
    managers = _structured_update(
        old, new, managers, workflow=_CURRENT_OPERATION, version=version, schema=schema, ignored=ignored
    )
    managers = _strip_meta(managers, _CURRENT_OPERATION)
    times = dict(times)
    current = managers.pop(_CURRENT_OPERATION, None)
    if current is not None:  # this write changed something: its manager owns it, and it is dated
        previous = managers.get(manager_id)
        fields = current.fields | previous.fields if previous else current.fields
        managers[manager_id] = _Owner(fields, current.api_version, current.applied)
        times[manager_id] = now
    return managers, times


def _cap_managers(managers: dict[str, _Owner], times: dict[str, str | None]) -> tuple[dict, dict]:
    """capManagersManager: past 10 update entries, the oldest merge into "ancient-changes"."""
    updaters = [key for key, owner in managers.items() if not owner.applied]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return managers, times
    managers, times = dict(managers), dict(times)
    updaters.sort(key=lambda key: (_unix(times.get(key)), key))
    first_of_version: dict[str, str] = {}
    length = len(updaters)
    for key in updaters:
        if length <= MAX_UPDATE_MANAGERS:
            break
        owner = managers[key]
        bucket = _manager_id(_ANCIENT_CHANGES, _UPDATE, owner.api_version, subresource="")
        first = first_of_version.get(owner.api_version)
        if first is None:
            first_of_version[owner.api_version] = key
            continue
        if bucket not in managers:
            managers[bucket] = managers.pop(first)
        managers[bucket] = _Owner(owner.fields | managers[bucket].fields, owner.api_version, owner.applied)
        del managers[key]
        times[bucket] = times.pop(key, None)
        length -= 1
    return managers, times


def _unix(time: str | None) -> int:
    if not time:
        return 0
    try:
        return int(datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


# --------------------------------------------------------------------------------------------------
# managedFields on objects


def decode_managed_fields(entries: Any) -> tuple[dict[str, _Owner], dict[str, str | None]]:
    """DecodeManagedFields: the owners and times by manager identifier.

    Raises ManagedFieldsError (a ValueError) naming the entry and the problem.
    """
    if entries is None:
        return {}, {}
    if not isinstance(entries, list):
        raise ManagedFieldsError("metadata.managedFields: must be a list of ManagedFieldsEntry")
    managers: dict[str, _Owner] = {}
    times: dict[str, str | None] = {}
    for index, entry in enumerate(entries):
        key, owner, time = _decode_entry(index, entry)
        managers[key] = owner
        times[key] = time
    return managers, times


def _decode_entry(index: int, entry: Any) -> tuple[str, _Owner, str | None]:
    where = f"metadata.managedFields[{index}]"
    if not isinstance(entry, dict):
        raise ManagedFieldsError(f"{where}: must be an object")
    for name in ("manager", "operation", "apiVersion", "time", "fieldsType", "subresource"):
        if entry.get(name) is not None and not isinstance(entry[name], str):
            raise ManagedFieldsError(f"{where}.{name}: must be a string")
    operation = entry.get("operation") or ""
    if operation not in (_APPLY, _UPDATE):
        raise ManagedFieldsError(f"{where}.operation: operation must be `Apply` or `Update`")
    api_version = entry.get("apiVersion") or ""
    if not api_version:
        raise ManagedFieldsError(f"{where}.apiVersion: apiVersion must not be empty")
    fields_type = entry.get("fieldsType") or ""
    if fields_type != "FieldsV1":
        problem = f"invalid fieldsType {go_quote(fields_type)}" if fields_type else "missing fieldsType"
        raise ManagedFieldsError(f"{where}.fieldsType: {problem} in managed fields entry {index}")
    try:
        fields = fields_v1_to_set(entry.get("fieldsV1"))
    except ValueError as err:
        raise ManagedFieldsError(f"{where}.fieldsV1: error decoding set: {err}") from None
    key = _manager_id(entry.get("manager") or "", operation, api_version, subresource=entry.get("subresource") or "")
    return key, _Owner(fields, api_version, operation == _APPLY), entry.get("time")


def encode_managed_fields(managers: Mapping[str, _Owner], times: Mapping[str, str | None]) -> list[dict] | None:
    """encodeManagedFields: one entry per manager, sorted as Kubernetes sorts them; None when empty."""
    if not managers:
        return None
    entries = []
    for key, owner in managers.items():
        identity = _identity(key)
        entry: dict[str, Any] = {}
        if identity.get("manager"):
            entry["manager"] = identity["manager"]
        entry["operation"] = _APPLY if owner.applied else identity.get("operation", _UPDATE)
        entry["apiVersion"] = owner.api_version
        if times.get(key):
            entry["time"] = times[key]
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = set_to_fields_v1(owner.fields)
        if identity.get("subresource"):
            entry["subresource"] = identity["subresource"]
        entries.append(entry)
    entries.sort(
        key=lambda e: (
            e["operation"],
            _unix(e.get("time")),
            e.get("manager", ""),
            e["apiVersion"],
            e.get("subresource", ""),
        )
    )
    return entries


def _metadata(obj: Any) -> dict:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta if isinstance(meta, dict) else {}


def _annotations(obj: Any) -> dict:
    annotations = _metadata(obj).get("annotations")
    return annotations if isinstance(annotations, dict) else {}


def _without_managed_fields(obj: dict) -> dict:
    out = deep_copy_json(obj)
    if isinstance(out.get("metadata"), dict):
        out["metadata"].pop("managedFields", None)
    return out


def _with_managed_fields(obj: dict, managers: Mapping[str, _Owner], times: Mapping[str, str | None]) -> dict:
    out = dict(obj)
    meta = dict(_metadata(obj))
    encoded = encode_managed_fields(managers, times)
    if encoded is None:
        meta.pop("managedFields", None)
    else:
        meta["managedFields"] = encoded
    if meta or "metadata" in obj:
        out["metadata"] = meta
    return out


def _decode_or_empty(obj: Any) -> tuple[dict[str, _Owner], dict[str, str | None]]:
    """The live object's managedFields; undecodable ones count as none (emptyManagedFieldsOnErr)."""
    if obj is None:
        return {}, {}
    try:
        return decode_managed_fields(_metadata(obj).get("managedFields"))
    except ManagedFieldsError:
        return {}, {}


def _is_reset(entries: Any) -> bool:
    """isResetManagedFields: `[]` or `[{}]` asks to clear managedFields."""
    return entries == [] or entries == [{}]


# --------------------------------------------------------------------------------------------------
# Entry points


def record_update(
    old: dict | None,
    new: dict,
    *,
    manager: str,
    schema: PatchSchema | None,
    now: str,
    api_version: str,
    operation: str = _UPDATE,
    subresource: str = "",
    reset_fields: Iterable[str] | None = None,
) -> dict:
    """FieldManager.Update for a create, update or non-apply patch: `new` with its managedFields.

    The fields this write added or changed go to `manager` (one entry per manager, operation, version
    and subresource) and leave every other manager. The request's managedFields are honoured when it
    sets them (clients may rewrite them, as kubectl's client-side to server-side upgrade does; `[]`
    clears them); else the live ones are kept. Creates start tracking; an existing object that has no
    managedFields is not tracked (skipNonAppliedManager). Subresource writes always start from the
    live managedFields. `reset_fields` names the top-level fields the write may not own (default:
    "status" on the main resource, "spec" on /status; pass () for a custom resource without a
    status subresource).

    Raises ManagedFieldsError when the request's own managedFields cannot be decoded.
    """
    root = schema or GENERIC_OBJECT
    ignored = _ignored_fields(subresource, reset_fields)
    creating = old is None or not _metadata(old).get("uid")
    requested = _metadata(new).get("managedFields")
    if subresource:
        managers, times = _decode_or_empty(old)
    elif _is_reset(requested):
        managers, times = {}, {}
    else:
        managers, times = decode_managed_fields(requested)
        if not managers:
            managers, times = _decode_or_empty(old)
    new_body = _without_managed_fields(new)
    if not managers and not creating:
        return new_body
    old_body = zero_value(root) if old is None else _without_managed_fields(old)
    manager_id = _manager_id(manager or "unknown", operation, api_version, subresource=subresource)
    managers, times = _record_update(
        old_body,
        new_body,
        managers,
        times=times,
        manager_id=manager_id,
        version=api_version,
        now=now,
        schema=root,
        ignored=ignored,
    )
    if operation == _APPLY and manager_id in managers:
        managers[manager_id] = managers[manager_id]._replace(applied=True)
    managers, times = _cap_managers(managers, times)
    return _with_managed_fields(new_body, managers, times)


def server_side_apply(
    live: dict | None,
    applied: dict,
    *,
    manager: str,
    force: bool,
    schema: PatchSchema | None,
    now: str,
    subresource: str = "",
    reset_fields: Iterable[str] | None = None,
) -> dict:
    """FieldManager.Apply: the object after applying `applied` as `manager`, with its managedFields.

    For `live` None the result is the object to create. Fields of `applied` are set and owned by
    `manager`; fields it applied before and dropped now are removed unless someone else owns them;
    changing a field another manager owns is a conflict unless `force` (the field then changes hands).
    Server-owned metadata and, on the main resource, `status` are never taken from `applied`
    (`reset_fields` as for `record_update`).

    Raises ApplyConflict (409), or PatchError 400 for an object of another kind or version, or one
    that sets managedFields, and 500 for an associative list that cannot be keyed.
    """
    root = schema or GENERIC_OBJECT
    _check_applied(applied, live)
    version = applied["apiVersion"]
    ignored = _ignored_fields(subresource, reset_fields)
    config = _applied_config(applied, ignored)
    _check_lists(config, root, (), applied=applied)
    live_body = {} if live is None else _without_managed_fields(live)
    managers, times = ({}, {}) if live is None else _decode_or_empty(live)
    manager_id = _manager_id(manager or "unknown", _APPLY, version, subresource=subresource)

    def attempt(force_now: bool) -> tuple[dict, dict, dict]:
        return _apply_flow(
            live_body,
            config,
            managers,
            times=times,
            creating=live is None,
            manager_id=manager_id,
            version=version,
            now=now,
            schema=root,
            ignored=ignored,
            force=force_now,
        )

    try:
        obj, new_managers, new_times = attempt(force)
    except ApplyConflict as conflict:
        if not _conflicts_upgradable(conflict, manager, live_body, schema=root, version=version):
            raise
        obj, new_managers, new_times = attempt(True)
    if manager == _KUBECTL_MANAGER and _annotations(obj).get(LAST_APPLIED_ANNOTATION):
        obj = _set_last_applied(obj, applied)
    return _with_managed_fields(obj, new_managers, new_times)


def _apply_flow(
    live: dict,
    config: dict,
    managers: dict[str, _Owner],
    *,
    times: dict[str, str | None],
    creating: bool,
    manager_id: str,
    version: str,
    now: str,
    schema: PatchSchema,
    ignored: frozenset,
    force: bool,
) -> tuple[dict, dict, dict]:
    """skipNonApplied -> managedFieldsUpdater -> stripMeta -> structured apply."""
    if not managers and not creating:  # fields set before anyone applied belong to "before-first-apply"
        subresource = _identity(manager_id).get("subresource", "")
        managers, times = _record_update(
            zero_value(schema),
            live,
            {},
            times={},
            manager_id=_manager_id(_BEFORE_FIRST_APPLY, _UPDATE, version, subresource=subresource),
            version=version,
            now=now,
            schema=schema,
            ignored=ignored,
        )
    new, managers = _structured_apply(
        live, config, managers, manager_id=manager_id, version=version, schema=schema, ignored=ignored, force=force
    )
    managers = _strip_meta(managers, manager_id)
    times = dict(times)
    if new is None:
        return deep_copy_json(live), managers, times
    times[manager_id] = now
    return new, managers, times


def _conflicts_upgradable(
    conflict: ApplyConflict, manager: str, live: dict, *, schema: PatchSchema, version: str
) -> bool:
    """lastAppliedManager: kubectl's first server-side apply may take over the fields that
    client-side apply recorded in the last-applied annotation, when they still hold those values.
    Raises the remaining conflicts when only some are covered."""
    if manager != _KUBECTL_MANAGER:
        return False
    allowed = _allowed_from_last_applied(live, schema, version)
    if allowed is None:
        return False
    remaining = [(m, p) for m, p in conflict.raw if p not in allowed]
    if remaining:
        raise ApplyConflict(remaining) from None
    return True


def _allowed_from_last_applied(live: dict, schema: PatchSchema, version: str) -> frozenset | None:
    text = _annotations(live).get(LAST_APPLIED_ANNOTATION)
    if not isinstance(text, str) or not text:
        return None
    try:
        last_applied = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last_applied, dict) or last_applied.get("apiVersion") != version:
        return None
    comparison = _compare(last_applied, live, schema)
    return to_field_set(last_applied, schema) - comparison.modified - comparison.added - comparison.removed


def _set_last_applied(obj: dict, applied: dict) -> dict:
    """lastAppliedUpdater: keep the annotation in sync with what kubectl applies (dropped if too big)."""
    last = deep_copy_json(applied)
    annotations = _metadata(last).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED_ANNOTATION, None)
    value = go_json(last) + "\n"  # runtime.Encode of an Unstructured: sorted keys, trailing newline
    out = dict(obj)
    meta = dict(_metadata(obj))
    annotations = dict(meta.get("annotations") or {})
    annotations[LAST_APPLIED_ANNOTATION] = value
    if sum(len(k) + len(str(v)) for k, v in annotations.items()) > _TOTAL_ANNOTATION_SIZE_LIMIT:
        del annotations[LAST_APPLIED_ANNOTATION]
    meta["annotations"] = annotations
    out["metadata"] = meta
    return out


def _gvk_string(obj: Mapping) -> str:
    api_version = obj.get("apiVersion") if isinstance(obj.get("apiVersion"), str) else ""
    group, _, version = api_version.rpartition("/")
    return f"{group}/{version}, Kind={obj.get('kind') if isinstance(obj.get('kind'), str) else ''}"


def _check_applied(applied: Any, live: dict | None) -> None:
    """versionCheckManager and structuredMergeManager's checks on the applied object."""
    if not isinstance(applied, dict):
        raise PatchError(400, "BadRequest", "error decoding YAML: the applied configuration must be an object")
    version = applied.get("apiVersion")
    mismatch = live is not None and any(
        live.get(name) and live.get(name) != applied.get(name) for name in ("apiVersion", "kind")
    )
    if not isinstance(version, str) or not version or mismatch:
        raise PatchError(400, "BadRequest", f"invalid object type: {_gvk_string(applied)}")
    if _metadata(applied).get("managedFields") is not None:
        raise PatchError(400, "BadRequest", "metadata.managedFields must be nil")


def _applied_config(applied: dict, ignored: frozenset) -> dict:
    """The applied object without what the server owns: its reset fields and server-set metadata."""
    config = {k: deep_copy_json(v) for k, v in applied.items() if (_f(k),) not in ignored}
    if isinstance(config.get("metadata"), dict):
        config["metadata"] = {k: v for k, v in config["metadata"].items() if k not in _SERVER_METADATA}
    return config


def _check_lists(value: Any, schema: PatchSchema, path: tuple, *, applied: dict) -> None:
    """The typed conversion of the applied object: associative lists must be keyable."""
    if isinstance(value, dict) and schema.kind in ("struct", "map", "untyped"):
        for key, child in value.items():
            _check_lists(child, _sfield(schema, key), path + (_f(key),), applied=applied)
    elif isinstance(value, list) and schema.kind == "list" and schema.list_type in ("map", "set"):
        seen: set = set()
        for index, item in enumerate(value):
            pe = _item_pe(schema, item)
            if pe is None:
                _list_error(applied, path, f"element {index}: {_item_error(schema, item)}")
            if pe in seen:
                _list_error(applied, path, f"duplicate entries for key {path_string((pe,))}")
            seen.add(pe)
            _check_lists(item, _sitem(schema), path + (pe,), applied=applied)


def _list_error(applied: dict, path: tuple, problem: str) -> None:
    meta = _metadata(applied)
    where = f"{meta.get('namespace', '')}/{meta.get('name', '')}; {_gvk_string(applied)}"
    raise PatchError(500, "", f"failed to create typed patch object ({where}): {path_string(path)}: {problem}")


# --- minik.api.validation.render_value -------------------------------------------------------------

def render_value(value: object) -> str:
    """How field.Error.ErrorBody prints a bad value: %q for strings, %v for scalars, JSON otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_format_float(value)
    return go_json(value)
