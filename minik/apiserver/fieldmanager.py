"""Server-side apply and `metadata.managedFields`: who owns which field of an object.

Role in the flow: storage -> registry -> **API server** -> clients. The API server calls
`server_side_apply` for PATCH with `application/apply-patch+yaml`, and `record_update` on every other
write (create, update, JSON/merge/strategic patch) just before handing the object to the registry, so
that `metadata.managedFields` always says which manager set which field. Pure functions: inputs are
never mutated, new objects are returned (record_update's shares the members of the object it is given,
below its top level and metadata, rather than copying them).

This is a port of the parts of sigs.k8s.io/structured-merge-diff (fieldpath sets, typed merge /
compare / remove / to-field-set, merge.Updater) and of k8s.io/apimachinery/pkg/util/managedfields/internal
(the FieldManager chain: version check, last-applied upgrade and sync, skip-non-applied, cap managers,
manager identifiers, times, stripped metadata) that kube-apiserver runs, on plain JSON objects typed by
`minik.apiserver.patchmeta` schemas.

Field sets are frozensets of paths; a path is a tuple of path elements:
    ("f", name)                   a field or map key             f:name
    ("k", ((key, value), ...))    an item of a list-map          k:{"name":"nginx"}
    ("v", value)                  an item of a set               v:"a"
    ("i", index)                  an item of an atomic list      i:0
Values inside path elements are "frozen" so they hash: ("num", 80), ("str", "x"), ("bool", True),
("null",) or ("json", "<canonical JSON>") for maps and lists.

Every write goes through here, so the hot paths are tuned (the answers are those of the plain
algorithms; tests/unit/apiserver/test_fieldmanager_equivalence.py holds them to a frozen copy of it):
schemas are resolved once into `_Info` nodes; comparisons fill in Go's zero values lazily and skip
subtrees that are the same on both sides; a create encodes the creator's fieldsV1 straight from the
object (`_create_fields`); decoded and encoded field sets are memoized (see "Memos").
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from minik.api.validation import go_format_float, go_json, go_quote
from minik.apiserver.patch import PatchError, deep_copy_json
from minik.apiserver.patchmeta import GENERIC_OBJECT, UNTYPED, PatchSchema, with_zero_values

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
    return _build_manager_id(manager, operation, api_version, subresource)


@functools.lru_cache(maxsize=1024)
def _build_manager_id(manager: str, operation: str, api_version: str, subresource: str) -> str:
    entry = {"manager": manager, "operation": operation}
    if api_version and operation != _APPLY:  # appliers keep one identity across versions
        entry["apiVersion"] = api_version
    if subresource:
        entry["subresource"] = subresource
    return "{" + ",".join(f"{go_json(k)}:{go_json(v)}" for k, v in entry.items() if v) + "}"


def _identity(manager_id: str) -> dict:
    """The entry a manager identifier stands for (a shared dict: read it, never change it)."""
    return _decode_identity(manager_id)


@functools.lru_cache(maxsize=1024)
def _decode_identity(manager_id: str) -> dict:
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
# Memos
#
# Objects of the same shape make the same field sets, over and over (every Pod of a ReplicaSet, every
# status update of a kubelet): decoded and encoded sets, path element keys and named-field closures
# are memoized. The memos only ever return what the plain computation returns:
# - Path elements holding numbers other than ints are equal to elements that encode differently
#   (("num", 1) == ("num", 1.0), written 1 and 1.0), so no memo keyed by elements or sets ever holds
#   one. _freeze counts the elements it makes of such numbers: work that did not move the count only
#   handled exact elements, whose equality means the same encoding. (List-map elements of a schema
#   naming a key twice are counted too: their encoding reads back with the name once.)
# - fieldsV1 is keyed by its JSON, which NaN and null share: JSON with nulls is not memoized.
# - Encodings are kept as JSON and read back, so every answer is a new object.

_CACHE_SIZE = 4096  # entries of each memo of path elements (they are emptied when full)


class _Memo(dict):
    """A memo of field sets, emptied when the paths it holds pass `budget` (sets can be large: the
    managedFields of a CustomResourceDefinition have thousands of paths)."""

    __slots__ = ("budget", "weight")

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.budget = budget
        self.weight = 0

    def put(self, key: Any, value: Any, weight: int) -> None:
        if weight > self.budget // 16:
            return  # too big to be worth keeping
        if self.weight + weight > self.budget:
            self.clear()
        self[key] = value
        self.weight += weight + 1

    def clear(self) -> None:
        super().clear()
        self.weight = 0


_inexact_numbers = 0  # how many path elements were made that must not be memoized (see _exact), ever
_PE_KEYS: dict[tuple, str] = {}  # path element -> fieldsV1 key, for elements that _exact() accepts


def _exact(pe: tuple) -> bool:
    """Whether equal path elements always encode alike: ("num", 1) == ("num", 1.0), but they are
    written 1 and 1.0, so elements with other numbers than ints are never memoized by equality."""
    if pe[0] == "k":
        for _, frozen in pe[1]:
            if frozen[0] == "num" and type(frozen[1]) is not int:
                return False
        return True
    if pe[0] == "v":
        return pe[1][0] != "num" or type(pe[1][1]) is int
    return type(pe[1]) is int or type(pe[1]) is str


# orjson options that make it refuse what is not plain JSON (subclasses, dataclasses, datetimes)
_SAME_OPTIONS = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


# --------------------------------------------------------------------------------------------------
# Path elements and field sets


def _freeze(value: Any) -> tuple:
    kind = type(value)
    if kind is str:
        return ("str", value)
    if kind is int:
        return ("num", value)
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        global _inexact_numbers
        _inexact_numbers += 1  # see _exact
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
    if not _exact(pe):
        return _encode_pe(pe)
    key = _PE_KEYS.get(pe)
    if key is None:
        key = _encode_pe(pe)
        if len(_PE_KEYS) >= _CACHE_SIZE:
            _PE_KEYS.clear()
        _PE_KEYS[pe] = key
    return key


def _encode_pe(pe: tuple) -> str:
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
        if not path:
            continue
        node = root
        if len(path) > 1:
            for pe in path[:-1]:
                entry = node.get(pe)
                if entry is None:
                    entry = node[pe] = [False, {}]
                node = entry[1]
        pe = path[-1]
        entry = node.get(pe)
        if entry is None:
            node[pe] = [True, {}]
        else:
            entry[0] = True
    return root


def set_to_fields_v1(paths: Iterable[tuple]) -> dict:
    """Encode a field set as fieldsV1 (Set.ToJSON): sorted elements, "." first for member parents."""
    return _emit_fields(_trie(paths), include_self=False)


def _emit_fields(children: dict, *, include_self: bool) -> dict:
    out: dict = {".": {}} if include_self and children else {}
    for pe in _sorted_elements(children) if len(children) > 1 else children:
        member, grandchildren = children[pe]
        key = "f:" + pe[1] if pe[0] == "f" else _pe_key(pe)
        out[key] = _emit_fields(grandchildren, include_self=member) if grandchildren else {}
    return out


def _sorted_elements(elements: Iterable[tuple]) -> list:
    """sorted(elements, key=_pe_order); field names alone sort as the tuples themselves do."""
    ordered = list(elements)
    if len(ordered) > 1:
        try:
            ordered.sort()
            plain = ordered[0][0] == "f" and ordered[-1][0] == "f"
        except TypeError:
            plain = False
        if not plain:
            ordered.sort(key=_pe_order)
    return ordered


def fields_v1_to_set(fields: Any) -> frozenset:
    """Decode fieldsV1 (Set.FromJSON). Raises ValueError for what Kubernetes cannot decode either."""
    if fields is None:
        return frozenset()
    if not isinstance(fields, dict):
        raise ValueError("fieldsV1 must be a JSON object")
    try:
        text: bytes | None = orjson.dumps(fields, option=_SAME_OPTIONS)
    except (TypeError, ValueError):
        text = None
    if text is not None and b'":null' in text:
        text = None  # NaN is written null too: only what reads back the same is memoized
    if text is not None:
        found = _DECODED.get(text)
        if found is not None:
            return found
    before = _inexact_numbers
    out: set = set()
    canonical = [text is not None]
    _read_fields(fields, (), out, canonical)
    decoded = frozenset(out)
    if text is not None and _inexact_numbers == before:
        _DECODED.put(text, decoded, len(decoded))
        if canonical[0] and decoded not in _ENCODED:  # as set_to_fields_v1 writes it: the encoding is known
            _ENCODED.put(decoded, text, len(decoded))
    return decoded


_DECODED = _Memo(100_000)  # fieldsV1 as JSON -> the set (always the same object)


def _read_fields(node: dict, prefix: tuple, out: set, canonical: list[bool]) -> bool:
    """readIterV1; returns whether `node` had any known child. canonical[0] is cleared unless `node`
    is written exactly as set_to_fields_v1 writes it (element order, keys, "." where it belongs)."""
    found = False
    previous: tuple | None = None  # the previous element (or _DOT), for the order check
    previous_key = ""
    parsed = _PARSED
    for key, child in node.items():
        if key == ".":
            if previous is not None:
                canonical[0] = False  # "." comes first
            previous = _DOT
            continue
        pe = parsed.get(key, _ABSENT) if type(key) is str else _ABSENT
        if pe is _ABSENT:
            pe = _parse_pe(key)
            if type(key) is str and (pe is None or _exact(pe)):
                if len(parsed) >= _CACHE_SIZE:
                    parsed.clear()
                parsed[key] = pe
        if pe is None:
            canonical[0] = False
            continue
        if canonical[0]:
            if pe[0] == "f":
                if previous is not None and previous is not _DOT and not (
                    previous_key < key if previous[0] == "f" else _pe_order(previous) < _pe_order(pe)
                ):
                    canonical[0] = False
            elif _pe_key(pe) != key or (
                previous is not None and previous is not _DOT and not _pe_order(previous) < _pe_order(pe)
            ):
                canonical[0] = False
        previous = pe
        previous_key = key
        found = True
        if type(child) is dict:
            if not child:
                out.add(prefix + (pe,))
            else:
                path = prefix + (pe,)
                if not _read_fields(child, path, out, canonical) or "." in child:
                    out.add(path)
        elif child is None:
            canonical[0] = False
            out.add(prefix + (pe,))
        elif isinstance(child, dict):
            canonical[0] = False
            path = prefix + (pe,)
            if not child or not _read_fields(child, path, out, canonical) or "." in child:
                out.add(path)
        else:
            raise ValueError(f"the value of {key} must be a JSON object")
    if previous is _DOT and not found:
        canonical[0] = False  # a member without children is written {}
    return found


_DOT = ("",)  # the "." of fieldsV1, for the order check of _read_fields


_PARSED: dict[str, tuple | None] = {}  # fieldsV1 key -> path element (or None: an unknown kind)


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
    lengths = {len(e) for e in excluded}
    if lengths == {1}:
        first = {e[0] for e in excluded}
        return frozenset(p for p in paths if not p or p[0] not in first)
    return frozenset(p for p in paths if not any(p[:n] in excluded for n in lengths))


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
        return _IGNORED_ON_MAIN
    if subresource == "status":
        return _IGNORED_ON_STATUS
    return frozenset()


_IGNORED_ON_MAIN = frozenset([_path("status")])
_IGNORED_ON_STATUS = frozenset([_path("spec")])


# --------------------------------------------------------------------------------------------------
# Typed walks over JSON values (structured-merge-diff's typed package)


def _smd_equal(a: Any, b: Any) -> bool:
    """value.Equals: numbers compare numerically (1 == 1.0), everything else by type and value."""
    kind = type(a)
    if kind is type(b) and kind in _PLAIN:
        return a == b
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


_PLAIN = frozenset([str, int, float, bool, type(None)])  # scalars value.Equals compares with ==


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


class _Comparison(NamedTuple):
    added: frozenset
    modified: frozenset
    removed: frozenset


_LEAF, _MAP, _LIST = 0, 1, 2


class _Info:
    """One schema node as the walks need it, resolved once: how it is walked, the schemas of its
    members and items (what PatchSchema.field / .item return), and the members Go always serializes.

    mode: _MAP (struct, map or untyped that is not atomic), _LIST (list-map or set) or _LEAF.
    zero: member name -> its zero value ({} filled in turn, or None) for structs, else empty.
    has_zero: whether with_zero_values can change a value of this schema (then leaf values are
    compared zero-filled, as the reference compares zero-filled objects).
    """

    __slots__ = (
        "schema", "mode", "fields", "default", "item", "zero", "has_zero", "set_list", "keys", "defaults",
        "key_fill", "zero_value", "kind", "named",
    )

    schema: PatchSchema
    mode: int
    fields: dict
    default: _Info
    item: _Info
    zero: dict
    has_zero: bool
    set_list: bool
    keys: tuple
    defaults: dict
    key_fill: bool
    zero_value: Any
    kind: str
    named: bool


_INFOS: dict[PatchSchema, _Info] = {}  # the nodes with_zero_values fills
_RAW_INFOS: dict[PatchSchema, _Info] = {}  # the same below a map or an untyped value, where it fills nothing
_MAX_INFOS = 20_000  # schemas are module constants; should they ever be made per request, this bounds the tables
_building = 0  # how deep _build_info is (the tables are only emptied outside it)


def _info(schema: PatchSchema) -> _Info:
    """The node of `schema` as the root of an object (with_zero_values fills it)."""
    info = _INFOS.get(schema)
    if info is None:
        if not _building and len(_INFOS) + len(_RAW_INFOS) > _MAX_INFOS:
            _INFOS.clear()
            _RAW_INFOS.clear()
        info = _build_info(schema, True)
    return info


def _raw_info(schema: PatchSchema) -> _Info:
    info = _RAW_INFOS.get(schema)
    return info if info is not None else _build_info(schema, False)


def _build_info(schema: PatchSchema, filled: bool) -> _Info:
    """with_zero_values fills structs and list items from the root down, and stops at maps and untyped
    values: below those, nodes are `filled=False` (no zero members, leaves compared as they are)."""
    global _building
    _building += 1
    try:
        return _fill_info(_Info(), schema, filled)
    finally:
        _building -= 1


def _fill_info(info: _Info, schema: PatchSchema, filled: bool) -> _Info:
    (_INFOS if filled else _RAW_INFOS)[schema] = info  # before the members: UNTYPED is its own member
    info.schema = schema
    kind = info.kind = schema.kind
    info.named = schema.named_fields
    if kind in ("struct", "map", "untyped"):
        info.mode = _LEAF if schema.atomic else _MAP
    elif kind == "list" and schema.list_type in ("map", "set"):
        info.mode = _LIST
    else:
        info.mode = _LEAF
    below = _info if filled else _raw_info  # structs and lists pass filling on, nothing else does
    info.fields = {name: below(member) for name, member in schema.fields.items()} if kind == "struct" else {}
    info.default = _raw_info(schema.elem if kind == "map" and schema.elem is not None else UNTYPED)
    info.item = below(schema.item) if kind == "list" else _raw_info(UNTYPED)
    info.zero = {}
    if filled and kind == "struct":
        for name, member in schema.fields.items():
            if member.zero == "struct":
                info.zero[name] = with_zero_values({}, member)
            elif member.zero == "null":
                info.zero[name] = None
    if filled and kind == "struct":
        info.has_zero = bool(info.zero) or any(member.has_zero for member in info.fields.values())
    elif filled and kind == "list":
        info.has_zero = info.item.has_zero
    else:
        info.has_zero = False
    info.set_list = schema.list_type == "set"
    info.keys = tuple(sorted(schema.map_keys))  # the order of the names in a "k" path element
    info.defaults = dict(schema.key_defaults)
    item = info.item
    info.key_fill = not info.set_list and any(name in item.zero or item.fields.get(name, item.default).has_zero
                                              for name in schema.map_keys)
    info.zero_value = with_zero_values({}, schema) if filled else {}
    return info


def _keyed_items(info: _Info, items: list, filled: bool = True) -> dict | None:
    """`_list_items` as a dict path element -> item, None when the list cannot be keyed. With
    `filled`, items are keyed as with_zero_values fills them (the comparison's view)."""
    out: dict = {}
    if info.set_list:
        for item in items:
            if isinstance(item, (dict, list)) or item is None:
                return None
            pe = ("v", _freeze(item))
            if pe in out:
                return None
            out[pe] = item
        return out
    keys, defaults = info.keys, info.defaults
    single = keys[0] if len(keys) == 1 else None
    if len(set(keys)) != len(keys):  # a name twice: its elements read back with it once, so never memoized
        global _inexact_numbers
        _inexact_numbers += 1
    for item in items:
        source = with_zero_values(item, info.item.schema) if filled and info.key_fill else item
        if not isinstance(source, dict):
            return None
        if single is not None:
            if single in source:
                pe = ("k", ((single, _freeze(source[single])),))
            elif single in defaults:
                pe = ("k", ((single, _freeze(defaults[single])),))
            else:
                return None
        else:
            key = []
            for name in keys:
                if name in source:
                    key.append((name, _freeze(source[name])))
                elif name in defaults:
                    key.append((name, _freeze(defaults[name])))
                else:
                    return None
            pe = ("k", tuple(key))
        if pe in out:
            return None
        out[pe] = item
    return out


_F_ELEMENTS: dict[str, tuple] = {}


def _fpe(name: str) -> tuple:
    """("f", name), interned: the same few names come up in every object."""
    pe = _F_ELEMENTS.get(name)
    if pe is None:
        pe = ("f", name)
        if len(_F_ELEMENTS) < 50_000 and type(name) is str:
            _F_ELEMENTS[name] = pe
    return pe


def _same(a: Any, b: Any) -> bool:
    """Whether two values are the same JSON (types, values and key order), so that comparing them
    finds nothing. False when unsure (nulls, which NaN also encodes to; values orjson cannot encode)."""
    try:
        if a != b:
            return False
        encoded = orjson.dumps(a, option=_SAME_OPTIONS)
        return encoded == orjson.dumps(b, option=_SAME_OPTIONS) and b"null" not in encoded
    except (TypeError, ValueError):
        return False


def to_field_set(value: Any, schema: PatchSchema) -> frozenset:
    """TypedValue.ToFieldSet: every leaf, list item and "member" map entry of `value`."""
    out: set = set()
    _tfs(value, _info(schema), (), out)
    out.discard(())
    return frozenset(out)


_EMPTY: dict = {}  # an empty object to compare against or read from: never written to


def _tfs(value: Any, info: _Info, path: tuple, out: set) -> None:
    """_node decides: a map walks members, a list items, a leaf is a member; null maps and lists add
    nothing (but an untyped null is a leaf)."""
    mode = info.mode
    if mode == _MAP:
        if isinstance(value, dict):
            fields, default, named = info.fields, info.default, info.named
            for key, child in value.items():
                child_path = path + (_F_ELEMENTS.get(key) or _fpe(key),)
                if isinstance(child, (dict, list)):
                    _tfs(child, fields.get(key, default), child_path, out)
                    if not named or child == _EMPTY:
                        out.add(child_path)
                else:  # a scalar is a leaf whatever the schema, and a null member is always a member
                    out.add(child_path)
            return
        if value is None and info.kind != "untyped":
            return
    elif mode == _LIST:
        if isinstance(value, list):
            items = _keyed_items(info, value, False)
            if items is None:
                out.add(path)
                return
            item = info.item
            for pe, child in items.items():
                child_path = path + (pe,)
                if isinstance(child, (dict, list)):
                    _tfs(child, item, child_path, out)
                out.add(child_path)
            return
        if value is None:
            return
    out.add(path)


def _compare(lhs: Any, rhs: Any, schema: PatchSchema, *, excluded: frozenset = frozenset()) -> _Comparison:
    """TypedValue.Compare (a merge whose rules record added, modified and removed fields).

    Both sides get the members Go always serializes, as the typed objects Kubernetes compares have
    them: whether a container existed before decides whether its writer owns it as a whole. (The
    members are filled in as the walk meets them, and subtrees that are the same on both sides are
    skipped: they add nothing.)
    """
    added: set = set()
    modified: set = set()
    removed: set = set()
    skip = _top_level_names(excluded)  # top-level fields: their subtrees are not walked at all
    _walk(lhs, rhs, _info(schema), (), added, modified, removed, skip)
    added.discard(())
    modified.discard(())
    removed.discard(())
    if excluded and skip is None:
        return _Comparison(*(_recursive_difference(frozenset(s), excluded) for s in (added, modified, removed)))
    return _Comparison(frozenset(added), frozenset(modified), frozenset(removed))


def _top_level_names(excluded: frozenset) -> set | None:
    """The names when every excluded path is a top-level field, else None."""
    if excluded and all(len(p) == 1 and p[0][0] == "f" for p in excluded):
        return {p[0][1] for p in excluded}
    return None


def _walk(lhs: Any, rhs: Any, info: _Info, path: tuple, added: set, modified: set, removed: set,
          skip: set | None = None) -> None:
    """_cmp on values not yet zero-filled (what with_zero_values would add is added here, lazily)."""
    mode = info.mode
    if mode == _MAP:
        left_map, right_map = isinstance(lhs, dict), isinstance(rhs, dict)
        if (
            (left_map or lhs is _ABSENT or lhs is None)
            and (right_map or rhs is _ABSENT or rhs is None)
            and ((left_map and (lhs or info.zero)) or (right_map and (rhs or info.zero)))
        ):
            _walk_map(lhs if left_map else None, rhs if right_map else None, info, path, added, modified, removed,
                      skip)
            if lhs is _ABSENT:
                added.add(path)
            elif rhs is _ABSENT:
                removed.add(path)
            return
    elif mode == _LIST:
        left_list, right_list = isinstance(lhs, list), isinstance(rhs, list)
        if (
            (left_list or lhs is _ABSENT or lhs is None)
            and (right_list or rhs is _ABSENT or rhs is None)
            and ((left_list and lhs) or (right_list and rhs))
        ):
            left = _keyed_items(info, lhs) if left_list else _EMPTY
            right = _keyed_items(info, rhs) if right_list and left is not None else _EMPTY
            if left is not None and right is not None:
                item = info.item
                for pe, lv in left.items():
                    _pair(lv, right.get(pe, _ABSENT), item, path, pe, added, modified, removed)
                for pe, rv in right.items():
                    if pe not in left:
                        _pair(_ABSENT, rv, item, path, pe, added, modified, removed)
                if lhs is _ABSENT:
                    added.add(path)
                elif rhs is _ABSENT:
                    removed.add(path)
                return
    if lhs is _ABSENT:
        added.add(path)
    elif rhs is _ABSENT:
        removed.add(path)
    elif not _leaf_equal(lhs, rhs, info):
        modified.add(path)


def _walk_map(left: dict | None, right: dict | None, info: _Info, path: tuple, added: set, modified: set,
              removed: set, skip: set | None) -> None:
    fields, default, zero = info.fields, info.default, info.zero
    if left is not None:
        for key, lv in left.items():
            if skip is not None and key in skip:
                continue
            if right is None:
                rv = _ABSENT
            else:
                rv = right.get(key, _ABSENT)
                if rv is _ABSENT and key in zero:
                    rv = zero[key]
                else:
                    kind = type(lv)
                    if kind is type(rv) and kind in _PLAIN:  # the same kind of scalar: a leaf (inlined)
                        if not lv == rv:
                            modified.add(path + (_F_ELEMENTS.get(key) or _fpe(key),))
                        continue
            _pair(lv, rv, fields.get(key, default), path, _F_ELEMENTS.get(key) or _fpe(key), added, modified,
                  removed)
    if right is not None:
        for key, rv in right.items():
            if left is not None and key in left or skip is not None and key in skip:
                continue
            if left is not None and key in zero:
                lv = zero[key]
            elif not isinstance(rv, (dict, list)):  # a new leaf (inlined)
                added.add(path + (_F_ELEMENTS.get(key) or _fpe(key),))
                continue
            else:
                lv = _ABSENT
            _pair(lv, rv, fields.get(key, default), path, _F_ELEMENTS.get(key) or _fpe(key), added, modified,
                  removed)
    if zero and (left is None) != (right is None):  # zero members only one side has: added or removed
        present = left if left is not None else right
        for key, value in zero.items():
            if key in present or skip is not None and key in skip:  # type: ignore[operator]
                continue
            lv, rv = (value, _ABSENT) if left is not None else (_ABSENT, value)
            _pair(lv, rv, fields[key], path, _fpe(key), added, modified, removed)


def _pair(lv: Any, rv: Any, info: _Info, path: tuple, pe: tuple, added: set, modified: set, removed: set) -> None:
    """One member or item: leaves are settled here, containers walked unless the same on both sides."""
    if lv is _ABSENT:
        if isinstance(rv, (dict, list)):
            _walk(lv, rv, info, path + (pe,), added, modified, removed)
        else:
            added.add(path + (pe,))
    elif rv is _ABSENT:
        if isinstance(lv, (dict, list)):
            _walk(lv, rv, info, path + (pe,), added, modified, removed)
        else:
            removed.add(path + (pe,))
    elif isinstance(lv, (dict, list)) or isinstance(rv, (dict, list)):
        if not _same(lv, rv):
            _walk(lv, rv, info, path + (pe,), added, modified, removed)
    elif not _smd_equal(lv, rv):
        modified.add(path + (pe,))


def _leaf_equal(lhs: Any, rhs: Any, info: _Info) -> bool:
    """value.Equals of the zero-filled values."""
    if info.has_zero and (isinstance(lhs, (dict, list)) or isinstance(rhs, (dict, list))):
        return _smd_equal(with_zero_values(lhs, info.schema), with_zero_values(rhs, info.schema))
    return _smd_equal(lhs, rhs)


def _merge(lhs: Any, rhs: Any, schema: PatchSchema) -> Any:
    """TypedValue.Merge with ruleKeepRHS: `rhs` wins on every leaf, containers merge."""
    return _merge_node(lhs, rhs, _info(schema))


def _merge_node(lhs: Any, rhs: Any, info: _Info) -> Any:
    """_merge; _container_node decides on the values as they are (not zero-filled)."""
    mode = info.mode
    if mode == _MAP:
        left_map, right_map = isinstance(lhs, dict), isinstance(rhs, dict)
        if (
            (left_map or lhs is _ABSENT or lhs is None)
            and (right_map or rhs is _ABSENT or rhs is None)
            and ((left_map and lhs) or (right_map and rhs))
        ):
            left = lhs if left_map else _EMPTY
            right = rhs if right_map else _EMPTY
            fields, default = info.fields, info.default
            merged = {}
            for key, lv in left.items():
                rv = right.get(key, _ABSENT)
                if isinstance(lv, (dict, list)) or isinstance(rv, (dict, list)):
                    value = _merge_node(lv, rv, fields.get(key, default))
                    if value is not _ABSENT:
                        merged[key] = value
                else:  # leaves on both sides (inlined): the right one wins
                    merged[key] = lv if rv is _ABSENT else rv
            for key, rv in right.items():
                if key not in left:
                    value = _merge_node(_ABSENT, rv, fields.get(key, default)) if isinstance(rv, (dict, list)) else rv
                    if value is not _ABSENT:
                        merged[key] = value
            return merged or _ABSENT
    elif mode == _LIST:
        left_list, right_list = isinstance(lhs, list), isinstance(rhs, list)
        if (
            (left_list or lhs is _ABSENT or lhs is None)
            and (right_list or rhs is _ABSENT or rhs is None)
            and ((left_list and lhs) or (right_list and rhs))
        ):
            left = _keyed_items(info, lhs, False) if left_list else _EMPTY
            right = _keyed_items(info, rhs, False) if right_list and left is not None else _EMPTY
            if left is not None and right is not None:
                item = info.item
                pairs = _pair_items(list(left.items()), list(right.items()))
                items = [_merge_node(lv, rv, item) for _, lv, rv in pairs]
                return [v for v in items if v is not _ABSENT] or _ABSENT
    return deep_copy_json(rhs if rhs is not _ABSENT else lhs)


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
    return _remove_node(value, paths, _info(schema))


def _remove_node(value: Any, paths: Iterable[tuple], info: _Info) -> Any:
    members, below = _group(paths)
    mode = info.mode
    if mode == _MAP and (isinstance(value, dict) or (value is None and info.kind != "untyped")):
        if not value:
            return _ABSENT
        fields, default = info.fields, info.default
        out = {}
        for key, child in value.items():
            pe = _F_ELEMENTS.get(key) or _fpe(key)
            if pe in members:
                continue
            kept = _remove_node(child, below[pe], fields.get(key, default)) if pe in below else deep_copy_json(child)
            if kept is not _ABSENT:
                out[key] = kept
        return out or _ABSENT
    if mode == _LIST and (isinstance(value, list) or value is None):
        if not value:
            return _ABSENT
        items = _keyed_items(info, value, False)
        if items is None:
            return _ABSENT  # an atomic list is removed whole
        item_info = info.item
        kept_items = []
        for pe, item in items.items():
            if pe in members:
                continue
            kept = _remove_node(item, below[pe], item_info) if pe in below else deep_copy_json(item)
            kept_items.append({} if kept is _ABSENT else kept)
        return kept_items or _ABSENT
    if isinstance(value, (dict, list)) or value is None:
        return _ABSENT  # atomic maps and lists, nulls
    return value


def _ensure_named_fields(paths: frozenset, schema: PatchSchema) -> frozenset:
    """Set.EnsureNamedFieldsAreMembers: every named field above a path becomes a member too.

    Memoized: the results only ever meet other sets and values through equality (never encoded)."""
    key = (schema, paths)
    found = _NAMED.get(key)
    if found is None:
        found = _ensure_named(paths, schema)
        _NAMED.put(key, found, len(paths) + len(found))
    return found


_NAMED = _Memo(100_000)  # (schema, set) -> the set with its named fields


def _ensure_named(paths: frozenset, schema: PatchSchema) -> frozenset:
    root = _info(schema)
    out = set(paths)
    for path in paths:
        current: _Info | None = root
        for depth in range(len(path) - 1):
            pe = path[depth]
            if pe[0] == "f":
                if current.named:  # type: ignore[union-attr]
                    out.add(path[: depth + 1])
                current = current.fields.get(pe[1], current.default)  # type: ignore[union-attr]
            elif pe[0] == "k" and current.kind == "list":  # type: ignore[union-attr]
                current = current.item  # type: ignore[union-attr]
            else:
                break
    return frozenset(out)


# --------------------------------------------------------------------------------------------------
# Creates: the creator's fieldsV1 straight from the object
#
# For a create the comparison is against the empty object, nobody owns anything yet, and what the
# creator ends up owning is encoded at once. `_create_fields` walks the object as `_walk` would
# (against the zero value) and writes fieldsV1 as set_to_fields_v1 would, with stripMeta applied on
# the way, without building the path sets: paths this comparison reports as removed belong to nobody
# and are not walked at all.


def _create_fields(zero: dict, new: dict, info: _Info, skip: set | None) -> dict:
    """set_to_fields_v1(what stripMeta leaves of the added and modified fields of `new` against `zero`).
    Both are objects and `info` is walked as a map (see `_creates_directly`)."""
    return _fields_map(zero, new, info, False, _STRIP_TRIE, skip)


def _creates_directly(zero: Any, new: dict, info: _Info, skip: set | None, ignored: frozenset) -> bool:
    """Whether the root is walked member by member, so that `_create_fields` applies."""
    if ignored and skip is None:
        return False
    return info.mode == _MAP and isinstance(zero, dict) and bool(zero or new or info.zero)


def _fields_node(lhs: Any, rhs: Any, info: _Info, keep: bool, strip: dict | None) -> dict | None:
    """The fieldsV1 of one node whose new value `rhs` is present: None when neither the node nor
    anything below it is owned. `keep` is False for a node stripMeta takes away (its members stay)."""
    mode = info.mode
    if mode == _MAP:
        left_map, right_map = isinstance(lhs, dict), isinstance(rhs, dict)
        if (
            (left_map or lhs is _ABSENT or lhs is None)
            and (right_map or rhs is None)
            and ((left_map and (lhs or info.zero)) or (right_map and (rhs or info.zero)))
        ):
            if not right_map:  # an object became null: everything below is removed, the node kept
                return None
            member = keep and lhs is _ABSENT
            out = _fields_map(lhs if left_map else None, rhs, info, member, strip, None)
            return out if out or member else None
    elif mode == _LIST:
        left_list, right_list = isinstance(lhs, list), isinstance(rhs, list)
        if (
            (left_list or lhs is _ABSENT or lhs is None)
            and (right_list or rhs is None)
            and ((left_list and lhs) or (right_list and rhs))
        ):
            left = _keyed_items(info, lhs) if left_list else _EMPTY
            right = _keyed_items(info, rhs) if right_list and left is not None else _EMPTY
            if left is not None and right is not None:
                if not right:  # the items went away: removed
                    return None
                member = keep and lhs is _ABSENT
                out = {".": {}} if member else {}
                item = info.item
                for pe in _sorted_elements(right):
                    lv = left.get(pe, _ABSENT)
                    if lv is _ABSENT:
                        child: dict | None = _added_fields(right[pe], item)
                    else:
                        child = _fields_node(lv, right[pe], item, True, None)
                    if child is not None:
                        out[_pe_key(pe)] = child
                if member:
                    return out if len(out) > 1 else {}
                return out or None
    # a leaf: owned when added or changed
    if keep and (lhs is _ABSENT or not _leaf_equal(lhs, rhs, info)):
        return {}
    return None


def _fields_map(left: dict | None, right: dict, info: _Info, member: bool, strip: dict | None,
                skip: set | None) -> dict:
    """The fieldsV1 below a node walked member by member ("." first when the node is owned)."""
    fields, default, zero = info.fields, info.default, info.zero
    names = list(right)
    if zero:  # members Go serializes that the right only has once filled in
        names.extend(name for name in zero if name not in right and (left is None or name in left))
    names.sort()
    out = {".": {}} if member else {}
    for name in names:
        if skip is not None and name in skip:
            continue
        rv = right[name] if name in right else zero[name]
        if left is None:
            lv = _ABSENT
        else:
            lv = left.get(name, _ABSENT)
            if lv is _ABSENT and name in zero:
                lv = zero[name]
        stripped = strip.get(_fpe(name)) if strip is not None else None
        if stripped is None and lv is not _ABSENT and not isinstance(rv, (dict, list)) and not isinstance(
            lv, (dict, list)
        ):  # a leaf on both sides (the common case, inlined): owned when changed
            if not _smd_equal(lv, rv):
                out["f:" + name] = {}
            continue
        if stripped is None:
            if lv is _ABSENT:
                out["f:" + name] = _added_fields(rv, fields.get(name, default))
                continue
            child = _fields_node(lv, rv, fields.get(name, default), True, None)
        else:
            child = _fields_node(lv, rv, fields.get(name, default), not stripped[0], stripped[1] or None)
        if child is not None:
            out["f:" + name] = child
    if member and len(out) == 1:
        return {}
    return out


def _added_fields(value: Any, info: _Info) -> dict:
    """`_fields_node` of a node that did not exist before (and is not stripped): it is owned, and so is
    everything below it."""
    mode = info.mode
    if mode == _MAP:
        if isinstance(value, dict) and (value or info.zero):
            fields, default, zero = info.fields, info.default, info.zero
            names = list(value)
            if zero:
                names.extend(name for name in zero if name not in value)
            names.sort()
            out: dict = {".": {}}
            for name in names:
                child = value[name] if name in value else zero[name]
                if isinstance(child, (dict, list)):
                    out["f:" + name] = _added_fields(child, fields.get(name, default))
                else:
                    out["f:" + name] = {}
            return out
    elif mode == _LIST:
        if isinstance(value, list) and value:
            items = _keyed_items(info, value)
            if items is not None:
                out = {".": {}}
                item = info.item
                for pe in _sorted_elements(items):
                    out[_pe_key(pe)] = _added_fields(items[pe], item)
                return out
    return {}


_STRIP_TRIE = _trie(_STRIPPED)


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
    exact_since: int | None = None,
) -> tuple[dict[str, _Owner], _Comparison]:
    """Updater.update: other managers lose the fields this write changed (or it conflicts) and the
    fields it removed. `exact_since`: the count of _inexact_numbers when the sets of `managers` were
    made, to memoize the encodings of the sets they shrink to when they were all exact."""
    comparison = _compare(old, new, schema, excluded=ignored)
    changed = comparison.modified | comparison.added
    removed = comparison.removed
    conflicts = {}
    for key, owner in managers.items():
        if key != workflow:
            taken = owner.fields & changed
            if taken:
                conflicts[key] = taken
    if conflicts and not force:
        raise ApplyConflict([(key, path) for key in sorted(conflicts) for path in iterate_paths(conflicts[key])])
    out: dict[str, _Owner] = {}
    for key, owner in managers.items():
        if key != workflow:
            fields = owner.fields
            if key in conflicts:
                fields = fields - conflicts[key]
            if removed and not fields.isdisjoint(removed):
                fields = fields - removed
            if fields is not owner.fields:  # untouched owners keep their set (and its memoized encoding)
                if exact_since == _inexact_numbers:
                    _derive_encoding(owner.fields, fields)
                owner = owner._replace(fields=fields)
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
    exact_since: int | None = None,
) -> dict[str, _Owner]:
    """Updater.Update: the writer owns what it changed or added, on top of what it owned."""
    managers, comparison = _update_managers(
        old, new, managers, workflow=workflow, schema=schema, ignored=ignored, force=True, exact_since=exact_since
    )
    if workflow in managers:
        fields = (managers[workflow].fields | comparison.modified | comparison.added) - comparison.removed
        fields = _recursive_difference(fields, ignored)
    else:  # what the comparison reports is already outside `ignored`, and added/modified/removed are disjoint
        fields = comparison.modified | comparison.added
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
    if live == merged and _smd_equal(live, merged):  # (value.Equals implies ==, which is quicker to refute)
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
    exact_since: int | None = None,
) -> tuple[dict[str, _Owner], dict[str, str | None]]:
    """managedFieldsUpdater.Update around stripMeta and the structured update."""
    managers = _structured_update(
        old, new, managers, workflow=_CURRENT_OPERATION, version=version, schema=schema, ignored=ignored,
        exact_since=exact_since,
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


@functools.lru_cache(maxsize=1024)
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
    return _encode_managed_fields(managers, times, memo=False)


def _encode_managed_fields(
    managers: Mapping[str, _Owner], times: Mapping[str, str | None], *, memo: bool
) -> list[dict] | None:
    """encode_managed_fields; `memo` when all sets hold only exact path elements (see _exact)."""
    if not managers:
        return None
    encode = _encode_memoized if memo else set_to_fields_v1
    entries = [
        _entry(key, owner.applied, owner.api_version, times.get(key), encode(owner.fields))
        for key, owner in managers.items()
    ]
    if len(entries) < 2:
        return entries
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


def _remember_encoding(fields: frozenset, encoded: bytes) -> None:
    """Memoize `encoded` (JSON of set_to_fields_v1(fields)) both ways: clients send managedFields back
    as they got them, so what is encoded now is what will be decoded next."""
    _ENCODED.put(fields, encoded, len(fields))
    if encoded not in _DECODED:
        _DECODED.put(encoded, fields, len(fields))


def _derive_encoding(base: frozenset, fields: frozenset) -> None:
    """Memoize the encoding of `fields`, a subset of `base`, from that of `base` when it is known:
    cheaper than encoding anew when an update takes a few fields from a manager."""
    encoded = _ENCODED.get(base)
    if encoded is None or fields in _ENCODED:
        return
    taken = base - fields
    if len(taken) > 32:
        return
    tree = orjson.loads(encoded)
    for path in taken:
        _delete_encoded(tree, path)
    _remember_encoding(fields, orjson.dumps(tree))  # (what was encoded once encodes again)


def _delete_encoded(tree: dict, path: tuple) -> None:
    """Make fieldsV1 `tree` that of its set without member `path` (whose node it has)."""
    nodes = [tree]
    keys = []
    node = tree
    for pe in path:
        key = "f:" + pe[1] if pe[0] == "f" else _pe_key(pe)
        keys.append(key)
        node = node[key]
        nodes.append(node)
    if len(node) > 1 or (node and "." not in node):  # it has children: it only stops being a member
        node.pop(".", None)
        return
    for depth in range(len(path), 0, -1):
        node, parent = nodes[depth], nodes[depth - 1]
        if depth == len(path) or not node:
            del parent[keys[depth - 1]]
        else:
            break
        if len(parent) == 1 and "." in parent:  # a member whose last child went: written {}
            parent.clear()
            return
        if parent:
            return


def _encode_memoized(fields: frozenset) -> dict:
    """set_to_fields_v1 of a set of exact path elements, memoized (as JSON, read back as new dicts)."""
    found = _ENCODED.get(fields)
    if found is not None:
        return orjson.loads(found)
    encoded = set_to_fields_v1(fields)
    try:
        text = orjson.dumps(encoded)
    except TypeError:  # not UTF-8 (a lone surrogate in a name): not memoized
        return encoded
    _remember_encoding(fields, text)
    return encoded


_ENCODED = _Memo(100_000)  # set -> its fieldsV1 as JSON


def _entry(manager_id: str, applied: bool, api_version: str, time: str | None, fields_v1: dict) -> dict:
    """One ManagedFieldsEntry, its members in the order Kubernetes writes them."""
    identity = _identity(manager_id)
    entry: dict[str, Any] = {}
    if identity.get("manager"):
        entry["manager"] = identity["manager"]
    entry["operation"] = _APPLY if applied else identity.get("operation", _UPDATE)
    entry["apiVersion"] = api_version
    if time:
        entry["time"] = time
    entry["fieldsType"] = "FieldsV1"
    entry["fieldsV1"] = fields_v1
    if identity.get("subresource"):
        entry["subresource"] = identity["subresource"]
    return entry


def _metadata(obj: Any) -> dict:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta if isinstance(meta, dict) else {}


def _annotations(obj: Any) -> dict:
    annotations = _metadata(obj).get("annotations")
    return annotations if isinstance(annotations, dict) else {}


def _without_managed_fields(obj: dict) -> dict:
    """`obj` without metadata.managedFields: a new object and metadata, sharing all other members."""
    out = dict(obj) if isinstance(obj, dict) else deep_copy_json(obj)  # (not an object: fails as it did)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta = out["metadata"] = dict(meta)
        meta.pop("managedFields", None)
    return out


def _with_managed_fields(
    obj: dict, managers: Mapping[str, _Owner], times: Mapping[str, str | None], *, memo: bool = False
) -> dict:
    out = dict(obj)
    meta = dict(_metadata(obj))
    encoded = _encode_managed_fields(managers, times, memo=memo)
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

    The result is a new object with new metadata; its other members are those of `new`, not copies.
    Raises ManagedFieldsError when the request's own managedFields cannot be decoded.
    """
    inexact = _inexact_numbers
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
    info = _info(root)
    manager_id = _manager_id(manager or "unknown", operation, api_version, subresource=subresource)
    if old is None and not managers:  # a plain create: the creator owns what it set, nobody else anything
        skip = _top_level_names(ignored)
        if _creates_directly(info.zero_value, new_body, info, skip, ignored):
            fields_v1 = _create_fields(info.zero_value, new_body, info, skip)
            meta = dict(_metadata(new_body))
            if fields_v1:
                meta["managedFields"] = [_entry(manager_id, operation == _APPLY, api_version, now, fields_v1)]
            else:
                meta.pop("managedFields", None)
            out = dict(new_body)
            if meta or "metadata" in new_body:
                out["metadata"] = meta
            return out
    old_body = info.zero_value if old is None else _without_managed_fields(old)
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
        exact_since=inexact,
    )
    if operation == _APPLY and manager_id in managers:
        managers[manager_id] = managers[manager_id]._replace(applied=True)
    managers, times = _cap_managers(managers, times)
    return _with_managed_fields(new_body, managers, times, memo=_inexact_numbers == inexact)


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
    inexact = _inexact_numbers
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
    return _with_managed_fields(obj, new_managers, new_times, memo=_inexact_numbers == inexact)


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
            _info(schema).zero_value,
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
    _check_node(value, _info(schema), path, applied)


def _check_node(value: Any, info: _Info, path: tuple, applied: dict) -> None:
    if isinstance(value, dict) and info.kind in ("struct", "map", "untyped"):
        fields, default = info.fields, info.default
        for key, child in value.items():
            if isinstance(child, (dict, list)):
                _check_node(child, fields.get(key, default), path + (_f(key),), applied)
    elif isinstance(value, list) and info.mode == _LIST:
        schema = info.schema
        seen: set = set()
        for index, item in enumerate(value):
            pe = _item_pe(schema, item)
            if pe is None:
                _list_error(applied, path, f"element {index}: {_item_error(schema, item)}")
            if pe in seen:
                _list_error(applied, path, f"duplicate entries for key {path_string((pe,))}")
            seen.add(pe)
            if isinstance(item, (dict, list)):
                _check_node(item, info.item, path + (pe,), applied)


def _list_error(applied: dict, path: tuple, problem: str) -> None:
    meta = _metadata(applied)
    where = f"{meta.get('namespace', '')}/{meta.get('name', '')}; {_gvk_string(applied)}"
    raise PatchError(500, "", f"failed to create typed patch object ({where}): {path_string(path)}: {problem}")
