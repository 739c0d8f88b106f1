"""PATCH bodies applied to objects: JSON patch, JSON merge patch and strategic merge patch.

Role in the flow: storage -> registry -> **API server** -> clients. The PATCH handler reads the live
object from the registry, calls one of the `apply_*` functions here to build the new object, then hands
that object to the registry as an update (server-side apply lives in `minik.apiserver.fieldmanager`).
All functions are pure: the live object and the patch are never mutated, a new object is returned.

Behaviour follows what kube-apiserver runs, read from the sources:
- JSON patch (RFC 6902): gopkg.in/evanphx/json-patch.v4, quirks included (`replace` of a missing map key
  adds it, negative array indices count from the end, `copy` of a missing key copies null, a path
  without a leading slash ignores its first segment).
- JSON merge patch (RFC 7386): evanphx/json-patch.v4 `MergePatch` (nulls are pruned from new values).
- Strategic merge patch: k8s.io/apimachinery/pkg/util/strategicpatch `StrategicMergeMapPatch`, driven
  by the Go struct tags recorded in `minik.apiserver.patchmeta`.
- Errors and their HTTP codes: k8s.io/apiserver/pkg/endpoints/handlers/patch.go. A JSON patch that does
  not apply is answered 422 with the generic message of `errors.NewGenericServerResponse` (the detail
  is kept in `PatchError.detail`); strategic-merge errors that kube-apiserver does not map to a status
  come back as 500 with an empty reason, as `responsewriters.ErrorToAPIStatus` answers them.

Deliberate differences (documented bugs of the Go code that no client relies on): values that the Go
code copies "as is" are copied without `$`-directives and without nulls (the typed decoding that kube
does right after has the same effect), a `$deleteFromPrimitiveList` for a list the object does not have
is a no-op instead of creating the list, and empty lists never fail with "no elements in any of the
given slices".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from minik.api.validation import go_format_float, go_json, go_quote

if TYPE_CHECKING:
    from minik.apiserver.patchmeta import PatchSchema

MAX_JSON_PATCH_OPERATIONS = 10000  # maxJSONPatchOperations in handlers/patch.go

# The generic text of errors.NewGenericServerResponse for 422: kube-apiserver drops the detail.
INVALID_REQUEST_MESSAGE = "the server rejected our request due to an error in our request"

DIRECTIVE_MARKER = "$patch"
RETAIN_KEYS_DIRECTIVE = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST_PREFIX = "$deleteFromPrimitiveList"
SET_ELEMENT_ORDER_PREFIX = "$setElementOrder"

_ATOI = re.compile(r"[+-]?[0-9]+\Z")  # what strconv.Atoi accepts


class PatchError(Exception):
    """A patch that cannot be applied, with the answer kube-apiserver gives for it.

    `code` is the HTTP status, `reason` the metav1.StatusReason ("" is StatusReasonUnknown, what an
    unconverted Go error becomes), `message` the Status message, `detail` the underlying error text
    when the message is a generic one.
    """

    def __init__(self, code: int, reason: str, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.detail = detail or message


def _bad_request(message: str) -> PatchError:
    return PatchError(400, "BadRequest", message)


def _unprocessable(detail: str) -> PatchError:
    return PatchError(422, "Invalid", INVALID_REQUEST_MESSAGE, detail=detail)


def _unknown_error(message: str) -> PatchError:
    return PatchError(500, "", message)


def _not_an_object(patched: object) -> PatchError:
    """What decoding a patched document that is no longer an object into the typed object gives
    (errors.NewInvalid with an empty GroupKind and name, hence the message's odd start)."""
    detail = f"json: cannot unmarshal {_json_kind(patched)} into Go value of type map[string]interface {{}}"
    return PatchError(422, "Invalid", f' "" is invalid: patch: Invalid value: {go_quote(go_json(patched))}: {detail}')


# --------------------------------------------------------------------------------------------------
# Shared JSON helpers


def deep_copy_json(value: Any) -> Any:
    """A copy of a JSON value (dicts and lists are copied, scalars shared: they are immutable)."""
    if isinstance(value, dict):
        return _copy_dict(value)
    if isinstance(value, list):
        return _copy_list(value)
    return value


def _copy_dict(value: dict) -> dict:
    out = {}
    for key, child in value.items():
        kind = type(child)
        if kind is dict:
            child = _copy_dict(child)
        elif kind is list:
            child = _copy_list(child)
        elif kind is not str and (isinstance(child, dict) or isinstance(child, list)):
            child = deep_copy_json(child)
        out[key] = child
    return out


def _copy_list(value: list) -> list:
    out = []
    for child in value:
        kind = type(child)
        if kind is dict:
            child = _copy_dict(child)
        elif kind is list:
            child = _copy_list(child)
        elif kind is not str and (isinstance(child, dict) or isinstance(child, list)):
            child = deep_copy_json(child)
        out.append(child)
    return out


def _json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    return "number"


def _same_json(a: object, b: object) -> bool:
    """Equality of two decoded JSON values the way their encodings compare: 1, 1.0 and true differ."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_json(v, b[k]) for k, v in a.items())  # type: ignore[union-attr]
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    return a == b


def _go_value(value: object) -> str:
    """fmt's %v of a decoded JSON value (maps print with sorted keys, as Go does)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_format_float(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_value(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_value(v) for v in value) + "]"
    return str(value)


def _go_type(value: object) -> str:
    """reflect.TypeOf(value).String() for a decoded JSON value (ints are int64, as kube decodes them)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    return "map[string]interface {}"


# --------------------------------------------------------------------------------------------------
# JSON patch (RFC 6902), as evanphx/json-patch v4 applies it


class _OpFailed(Exception):
    """One JSON patch operation did not apply; the message is evanphx's error text."""


def apply_json_patch(doc: dict, ops: list) -> dict:
    """Apply an RFC 6902 patch (already decoded from JSON) to `doc` and return the new document.

    Raises PatchError: 400 when `ops` is not a list of objects, 413 past 10000 operations, 422 (with the
    generic message) when an operation does not apply, including a failed `test`.
    """
    if not isinstance(ops, list):
        raise _bad_request(f"json: cannot unmarshal {_json_kind(ops)} into Go value of type jsonpatch.Patch")
    for op in ops:
        if not isinstance(op, dict) and op is not None:
            raise _bad_request(f"json: cannot unmarshal {_json_kind(op)} into Go value of type jsonpatch.Operation")
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(
            413,
            "RequestEntityTooLarge",
            "Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}",
        )
    root: list[Any] = [deep_copy_json(doc)]  # a one-slot box, so `replace ""` can swap the document
    for op in ops:
        try:
            _apply_operation(root, op or {})
        except _OpFailed as err:
            raise _unprocessable(str(err)) from None
    result = root[0]
    if not isinstance(result, dict):
        raise _not_an_object(result)
    return result


def _apply_operation(root: list[Any], op: dict) -> None:
    kind = op.get("op")
    handler = _OPERATIONS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise _OpFailed(f"Unexpected kind: {kind if isinstance(kind, str) else 'unknown'}")
    handler(root, op)


def _op_string(op: dict, name: str, what: str) -> str:
    value = op.get(name)
    if value is None:
        raise _OpFailed(f"{what}: missing value")
    if not isinstance(value, str):
        raise _OpFailed(f"{what}: json: cannot unmarshal {_json_kind(value)} into Go value of type string")
    return value


def _op_value(op: dict) -> Any:
    """The operation's value, copied so that the result never aliases the patch."""
    return deep_copy_json(op.get("value"))


def _decode_pointer_token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


class _Container:
    """A map or array inside the document with the get/set/add/remove semantics of evanphx v4."""

    def __init__(self, target: dict | list) -> None:
        self.target = target

    def get(self, key: str) -> Any:
        if isinstance(self.target, dict):
            return self.target.get(key)  # a missing key reads as null, it is not an error
        return self.target[self._index(key, len(self.target))]

    def set(self, key: str, value: Any) -> None:
        if isinstance(self.target, dict):
            self.target[key] = value
        else:
            self.target[self._index(key, len(self.target))] = value

    def add(self, key: str, value: Any) -> None:
        if isinstance(self.target, dict):
            self.target[key] = value
            return
        if key == "-":
            self.target.append(value)
            return
        if not _ATOI.match(key):
            raise _OpFailed(
                f"value was not a proper array index: '{key}': strconv.Atoi: parsing {go_json(key)}: invalid syntax"
            )
        index, size = int(key), len(self.target) + 1
        if index >= size or index < -size:
            raise _OpFailed(f"Unable to access invalid index: {index}: invalid index referenced")
        self.target.insert(index + size if index < 0 else index, value)

    def remove(self, key: str) -> None:
        if isinstance(self.target, dict):
            if key not in self.target:
                raise _OpFailed(f"Unable to remove nonexistent key: {key}: missing value")
            del self.target[key]
        else:
            del self.target[self._index(key, len(self.target))]

    @staticmethod
    def _index(key: str, size: int) -> int:
        if not _ATOI.match(key):
            raise _OpFailed(f"strconv.Atoi: parsing {go_json(key)}: invalid syntax")
        index = int(key)
        if index >= size or index < -size:
            raise _OpFailed(f"Unable to access invalid index: {index}: invalid index referenced")
        return index + size if index < 0 else index


def _find_container(root: list[Any], path: str) -> tuple[_Container, str] | None:
    """evanphx's findObject: the container holding the last token, or None when the path is missing."""
    tokens = path.split("/")
    if len(tokens) < 2:
        return None
    current = root[0]
    for token in tokens[1:-1]:  # the first token is dropped whatever it is (evanphx does the same)
        if not isinstance(current, (dict, list)):
            return None
        try:
            current = _Container(current).get(_decode_pointer_token(token))
        except _OpFailed:
            return None
        if not isinstance(current, (dict, list)):
            return None
    if not isinstance(current, (dict, list)):
        return None
    return _Container(current), _decode_pointer_token(tokens[-1])


def _need_container(root: list[Any], path: str, message: str) -> tuple[_Container, str]:
    found = _find_container(root, path)
    if found is None:
        raise _OpFailed(message)
    return found


def _get(container: _Container, key: str, what: str) -> Any:
    try:
        return container.get(key)
    except _OpFailed as err:
        raise _OpFailed(f"{what}: {err}") from None


def _op_add(root: list[Any], op: dict) -> None:
    path = _op_string(op, "path", "add operation failed to decode path")
    container, key = _need_container(
        root, path, f'add operation does not apply: doc is missing path: "{path}": missing value'
    )
    try:
        container.add(key, _op_value(op))
    except _OpFailed as err:
        raise _OpFailed(f"error in add for path: '{path}': {err}") from None


def _op_remove(root: list[Any], op: dict) -> None:
    path = _op_string(op, "path", "remove operation failed to decode path")
    container, key = _need_container(
        root, path, f'remove operation does not apply: doc is missing path: "{path}": missing value'
    )
    try:
        container.remove(key)
    except _OpFailed as err:
        raise _OpFailed(f"error in remove for path: '{path}': {err}") from None


def _op_replace(root: list[Any], op: dict) -> None:
    path = _op_string(op, "path", "replace operation failed to decode path")
    if path == "":
        value = _op_value(op)
        if not isinstance(value, (dict, list)):
            raise _OpFailed("replace operation value must be object or array")
        root[0] = value
        return
    container, key = _need_container(
        root, path, f"replace operation does not apply: doc is missing path: {path}: missing value"
    )
    try:
        container.get(key)  # only arrays can fail here: a missing map key is replaced (added)
    except _OpFailed:
        raise _OpFailed(f"replace operation does not apply: doc is missing key: {path}: missing value") from None
    container.set(key, _op_value(op))


def _op_move(root: list[Any], op: dict) -> None:
    source = _op_string(op, "from", "move operation failed to decode from")
    container, key = _need_container(
        root, source, f"move operation does not apply: doc is missing from path: {source}: missing value"
    )
    value = _get(container, key, f"error in move for path: '{key}'")
    try:
        container.remove(key)
    except _OpFailed as err:
        raise _OpFailed(f"error in move for path: '{key}': {err}") from None
    path = _op_string(op, "path", "move operation failed to decode path")
    container, key = _need_container(
        root, path, f"move operation does not apply: doc is missing destination path: {path}: missing value"
    )
    try:
        container.add(key, value)
    except _OpFailed as err:
        raise _OpFailed(f"error in move for path: '{path}': {err}") from None


def _op_copy(root: list[Any], op: dict) -> None:
    source = _op_string(op, "from", "copy operation failed to decode from")
    container, key = _need_container(
        root, source, f"copy operation does not apply: doc is missing from path: {source}: missing value"
    )
    value = deep_copy_json(_get(container, key, f"error in copy for from: '{source}'"))
    path = _op_string(op, "path", "copy operation failed to decode path")
    container, key = _need_container(
        root, path, f"copy operation does not apply: doc is missing destination path: {path}: missing value"
    )
    try:
        container.add(key, value)
    except _OpFailed as err:
        raise _OpFailed(f"error while adding value during copy: {err}") from None


def _op_test(root: list[Any], op: dict) -> None:
    path = _op_string(op, "path", "test operation failed to decode path")
    failed = _OpFailed(f"testing value {path} failed: test failed")
    if path == "":
        if not _same_json(root[0], op.get("value")):
            raise failed
        return
    container, key = _need_container(
        root, path, f"test operation does not apply: is missing path: {path}: missing value"
    )
    actual = _get(container, key, f"error in test for path: '{path}'")
    expected = op.get("value")
    # evanphx: a missing or null member passes against an absent or null value, nothing else does.
    if actual is None:
        if expected is not None:
            raise failed
        return
    if "value" not in op or not _same_json(actual, expected):
        raise failed


_OPERATIONS: Mapping[str, Callable[[list[Any], dict], None]] = {
    "add": _op_add,
    "remove": _op_remove,
    "replace": _op_replace,
    "move": _op_move,
    "copy": _op_copy,
    "test": _op_test,
}


# --------------------------------------------------------------------------------------------------
# JSON merge patch (RFC 7386), as evanphx/json-patch v4 MergePatch applies it


def apply_merge_patch(doc: dict, patch: Any) -> dict:
    """Apply an RFC 7386 merge patch (already decoded) to `doc` and return the new document.

    Raises PatchError 400 ("Invalid JSON Patch") for a null or scalar patch, 422 when the patch is an
    array (the result would no longer be an object).
    """
    if isinstance(patch, list):
        raise _not_an_object(_prune_nulls(patch))
    if not isinstance(patch, dict):
        raise _bad_request("Invalid JSON Patch")
    result = deep_copy_json(doc)
    _merge_docs(result, patch)
    return result


def _merge_docs(doc: dict, patch: dict) -> None:
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
        elif key in doc:
            doc[key] = _merge_value(doc[key], value)
        else:
            doc[key] = _prune_nulls(value)


def _merge_value(current: Any, patch: Any) -> Any:
    if not isinstance(current, dict):
        return _prune_nulls(patch)
    if not isinstance(patch, dict):
        return deep_copy_json(patch)  # evanphx does not prune here
    _merge_docs(current, patch)
    return current


def _prune_nulls(value: Any) -> Any:
    """A copy of `value` without null members, recursively; nulls in arrays are dropped too."""
    if isinstance(value, dict):
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_nulls(v) for v in value if v is not None]
    return value


# --------------------------------------------------------------------------------------------------
# Strategic merge patch (k8s.io/apimachinery/pkg/util/strategicpatch, StrategicMergeMapPatch)


def apply_strategic_merge_patch(doc: dict, patch: Any, schema: PatchSchema | None) -> dict:
    """Apply a Kubernetes strategic merge patch to `doc`, using the patch metadata in `schema`.

    Raises PatchError: 415 when there is no schema (custom resources), 400 for a malformed patch or
    directive, 422 for lists of lists, 500 (reason "") for the other strategic-merge errors.
    """
    if schema is None:
        raise PatchError(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        )
    if not isinstance(patch, dict):
        raise _bad_request(
            f"json: cannot unmarshal {_json_kind(patch)} into Go value of type map[string]interface {{}}"
        )
    return _merge_map(deep_copy_json(doc), patch, schema)


def is_directive_key(key: str) -> bool:
    """Keys that only steer a strategic merge and never belong in an object."""
    return key in (DIRECTIVE_MARKER, RETAIN_KEYS_DIRECTIVE) or key.startswith(
        (SET_ELEMENT_ORDER_PREFIX, DELETE_FROM_PRIMITIVE_LIST_PREFIX)
    )


def _clean(value: Any) -> Any:
    """A patch value taken as is: copied without directive keys and null members.

    kube-apiserver copies such values verbatim and then decodes the result into the Go type, which
    drops the unknown `$` keys and turns nulls into absent fields; this is the same, done on JSON.
    """
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None and not is_directive_key(k)}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _split_strategy(schema: PatchSchema) -> str:
    """The patch strategy without `retainKeys` (extractRetainKeysPatchStrategy)."""
    parts = [p for p in schema.patch_strategy.split(",") if p and p != "retainKeys"]
    return parts[0] if parts else ""


def _merge_map(original: dict, patch: dict, schema: PatchSchema) -> dict:
    """mergeMap: merge `patch` into `original` (our own copy, updated in place and returned)."""
    patch = dict(patch)  # directives are consumed from this shallow copy, never from the caller's patch
    if DIRECTIVE_MARKER in patch:
        return _map_directive(patch)
    _apply_retain_keys(original, patch)
    _merge_set_element_orders(original, patch, schema)
    for key, patch_value in patch.items():
        _merge_map_entry(original, key, patch_value, schema=schema)
    return original


def _map_directive(patch: dict) -> dict:
    directive = patch[DIRECTIVE_MARKER]
    if directive == "replace":
        return _clean(patch)
    if directive == "delete":
        return {}
    raise _unknown_error(f"unknown patch type: {_go_value(directive)} in map: {_go_value(patch)}")


def _merge_map_entry(original: dict, key: str, patch_value: Any, *, schema: PatchSchema) -> None:
    is_delete_list = key.startswith(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
    if is_delete_list:
        key = _extract_key(key, DELETE_FROM_PRIMITIVE_LIST_PREFIX)
    if patch_value is None:
        original.pop(key, None)
        return
    if key not in original:
        if not is_delete_list:  # deleting from a list the object does not have changes nothing
            original[key] = _clean(patch_value)
        return
    current = original[key]
    if _go_type(current) != _go_type(patch_value):
        if not is_delete_list:
            original[key] = _clean(patch_value)
        return
    child = schema.field(key)
    if isinstance(current, dict):
        if _split_strategy(child) == "replace":
            original[key] = _clean(patch_value)
        else:
            original[key] = _merge_map(current, patch_value, child)
    elif isinstance(current, list):
        original[key] = _merge_slice_handler(current, patch_value, child, is_delete_list=is_delete_list)
    else:
        original[key] = patch_value


def _extract_key(key: str, prefix: str) -> str:
    parts = key.split("/", 1)
    if len(parts) <= 1 or parts[0] != prefix:
        if prefix == DELETE_FROM_PRIMITIVE_LIST_PREFIX:
            raise _bad_request("invalid patch format of primitive list")
        raise _bad_request("invalid patch format of setElementOrder list")
    return parts[1]


def _apply_retain_keys(original: dict, patch: dict) -> None:
    """applyRetainKeysDirective: keep only the listed keys of `original`."""
    if RETAIN_KEYS_DIRECTIVE not in patch:
        return
    retained = patch.pop(RETAIN_KEYS_DIRECTIVE)
    if not isinstance(retained, list):
        raise _bad_request("invalid patch format of retainKeys")
    keys = {k for k in retained if isinstance(k, str)}
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_FROM_PRIMITIVE_LIST_PREFIX, SET_ELEMENT_ORDER_PREFIX)):
            continue
        if key not in keys:
            raise _bad_request("invalid patch format of retainKeys")
    for key in [k for k in original if k not in keys]:
        del original[key]


def _merge_set_element_orders(original: dict, patch: dict, schema: PatchSchema) -> None:
    """mergePatchIntoOriginal: merge each list that has a `$setElementOrder/<list>` and order it."""
    for directive in [k for k in patch if k.startswith(SET_ELEMENT_ORDER_PREFIX)]:
        order = patch.pop(directive)
        if not isinstance(order, list):
            raise _unknown_error(f"expected a []interface {{}}, but received a {_go_type(order)}")
        key = _extract_key(directive, SET_ELEMENT_ORDER_PREFIX)
        found_original, found_patch = key in original, key in patch
        original_list = _typed_list(original.get(key)) if found_original else []
        patch_list = _typed_list(patch.get(key)) if found_patch else []
        child = schema.field(key)
        merge_key = child.merge_key
        _validate_patch_with_set_order(patch_list, order, merge_key)
        if not found_original and not found_patch:
            continue
        if found_original and found_patch:
            merged = _merge_slice_handler(original_list, patch_list, child, is_delete_list=False)
        elif found_original:
            merged = original_list
        elif _split_strategy(child) == "merge":
            merged = _merge_slice([], patch_list, child.item, merge_key=merge_key, is_delete_list=False)
        else:
            merged = _clean(patch_list)
        original[key] = _order_by_set_element_order(
            merged, order, merge_key, original_list=original_list, patch_list=patch_list
        )
        patch.pop(key, None)


def _typed_list(value: Any) -> list:
    if not isinstance(value, list):
        raise _unknown_error(f"expected a []interface {{}}, but received a {_go_type(value)}")
    return value


def _order_by_set_element_order(
    merged: list, order: list, merge_key: str, *, original_list: list, patch_list: list
) -> list:
    if not merged:
        return merged
    kind = _element_kind(original_list + patch_list + merged)
    if not merge_key and kind == "map":
        return merged  # no key to order maps by (kube would crash comparing maps)
    if merge_key:
        patch_items, server_only = _partition_maps(merged, order, merge_key)
    else:
        patch_items, server_only = _partition_primitives(merged, order)
    return _normalize_element_order(
        patch_items, server_only, patch_order=order, server_order=original_list, merge_key=merge_key, kind=kind
    )


def _validate_patch_with_set_order(patch_list: list, order: list, merge_key: str) -> None:
    """validatePatchWithSetOrderList: the patch list must follow the `$setElementOrder` list."""
    if not order or not patch_list:
        return
    items = _without_deletions(patch_list) if merge_key else patch_list
    patch_index = order_index = 0
    while patch_index < len(items) and order_index < len(order):
        item = items[patch_index]
        if isinstance(item, dict) and DIRECTIVE_MARKER in item:
            patch_index += 1
            continue
        if _merge_key_value_equal(item, order[order_index], merge_key):
            patch_index += 1
        order_index += 1
    if patch_index < len(items) and order_index >= len(order):
        raise _unknown_error(
            f"The order in patch list:\n{_go_value(patch_list)}\n doesn't match "
            f"{SET_ELEMENT_ORDER_PREFIX} list:\n{_go_value(order)}\n"
        )


def _without_deletions(items: list) -> list:
    for item in items:
        if not isinstance(item, dict):
            raise _unknown_error(f"expected a map[string]interface {{}}, but received a {_go_type(item)}")
    return [item for item in items if item.get(DIRECTIVE_MARKER) != "delete"]


def _merge_key_value_equal(left: Any, right: Any, merge_key: str) -> bool:
    if not merge_key:
        return _same_json(left, right)
    for side in (left, right):
        if not isinstance(side, dict):
            raise _unknown_error(f"expected a map[string]interface {{}}, but received a {_go_type(side)}")
        if merge_key not in side:
            raise _no_merge_key(side, merge_key)
    return _same_json(left[merge_key], right[merge_key])


def _no_merge_key(item: dict, merge_key: str) -> PatchError:
    return _unknown_error(f"map: {_go_value(item)} does not contain declared merge key: {merge_key}")


def _merge_slice_handler(original: list, patch: list, schema: PatchSchema, *, is_delete_list: bool) -> list:
    if _split_strategy(schema) == "merge":
        return _merge_slice(original, patch, schema.item, merge_key=schema.merge_key, is_delete_list=is_delete_list)
    if is_delete_list:
        return _delete_from_slice(original, patch)
    return _clean(patch)


def _element_kind(items: list) -> str:
    """sliceElementType: the one Go type shared by all items ("map" for objects)."""
    kinds = {_go_type(item) for item in items}
    if "[]interface {}" in kinds:
        raise _unprocessable("lists of lists are not supported")
    if len(kinds) > 1:
        raise _unknown_error(f"list element types are not identical: {_go_value(items)}")
    kind = kinds.pop() if kinds else "<nil>"
    return "map" if kind == "map[string]interface {}" else kind


def _merge_slice(
    original: list, patch: list, item_schema: PatchSchema, *, merge_key: str, is_delete_list: bool
) -> list:
    """mergeSlice: merge two lists that have the `merge` patch strategy."""
    if not original and not patch:
        return original
    kind = _element_kind(original + patch)
    if kind != "map":
        if is_delete_list:
            return _delete_from_slice(original, patch)
        merged = _dedupe(original + patch)
    else:
        if not merge_key:
            raise _unknown_error("cannot merge lists without merge key for type struct")
        original, patch = _merge_slice_special_elements(original, patch, merge_key)
        merged = _merge_slice_items(original, patch, merge_key, item_schema=item_schema)
    if merge_key:
        patch_items, server_only = _partition_maps(merged, patch, merge_key)
    else:
        patch_items, server_only = _partition_primitives(merged, patch)
    return _normalize_element_order(
        patch_items, server_only, patch_order=patch, server_order=original, merge_key=merge_key, kind=kind
    )


def _merge_slice_special_elements(original: list, patch: list, merge_key: str) -> tuple[list, list]:
    """mergeSliceWithSpecialElements: apply `$patch: delete|replace` items of a list of maps."""
    plain: list = []
    replace = False
    for item in patch:
        if DIRECTIVE_MARKER not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE_MARKER]
        if directive == "delete":
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            original = _delete_matching(original, merge_key, item[merge_key])
        elif directive == "replace":
            replace = True  # keep going: the other directive items still have to be dropped
        elif directive == "merge":
            raise _unknown_error("merging lists cannot yet be specified in the patch")
        else:
            raise _unknown_error(f"unknown patch type: {_go_value(directive)} in map: {_go_value(item)}")
    if replace:
        return _clean(plain), []
    return original, plain


def _delete_matching(original: list, merge_key: str, value: Any) -> list:
    """deleteMatchingEntries: drop every item whose merge key has `value`."""
    kept = list(original)
    while (index := _find_by_key(kept, merge_key, value)) is not None:
        del kept[index]
    return kept


def _merge_slice_items(original: list, patch: list, merge_key: str, *, item_schema: PatchSchema) -> list:
    """mergeSliceWithoutSpecialElements: merge items by key, append the new ones."""
    merged = list(original)
    for item in patch:
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        index = _find_by_key(merged, merge_key, item[merge_key])
        if index is None:
            merged.append(_clean(item))
        else:
            merged[index] = _merge_map(merged[index], item, item_schema)
    return merged


def _find_by_key(items: list, merge_key: str, value: Any) -> int | None:
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _unknown_error(f"value for key {index} is not a map")
        if merge_key in item and _same_json(item[merge_key], value):
            return index
    return None


def _delete_from_slice(current: list, to_delete: list) -> list:
    return [v for v in current if not any(_same_json(v, d) for d in to_delete)]


def _dedupe(items: list) -> list:
    out: list = []
    for item in items:
        if not any(_same_json(item, seen) for seen in out):
            out.append(item)
    return out


def _partition_primitives(items: list, partition_by: list) -> tuple[list, list]:
    inside = [v for v in items if any(_same_json(v, p) for p in partition_by)]
    outside = [v for v in items if not any(_same_json(v, p) for p in partition_by)]
    return inside, outside


def _partition_maps(items: list, partition_by: list, merge_key: str) -> tuple[list, list]:
    inside, outside = [], []
    for item in items:
        if not isinstance(item, dict):
            raise _unknown_error(f"expected a map[string]interface {{}}, but received a {_go_type(item)}")
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        (inside if _find_by_key(partition_by, merge_key, item[merge_key]) is not None else outside).append(item)
    return inside, outside


def _normalize_element_order(
    patch_items: list, server_only: list, *, patch_order: list, server_order: list, merge_key: str, kind: str
) -> list:
    """normalizeElementOrder: patch items in patch order, interleaved with server-only items."""
    patch_items = _normalize_slice_order(patch_items, patch_order, merge_key=merge_key, kind=kind)
    server_only = _normalize_slice_order(server_only, server_order, merge_key=merge_key, kind=kind)
    return _merge_sorted_slice(server_only, patch_items, server_order, merge_key=merge_key, kind=kind)


def _index_in(order: list, item: Any, *, merge_key: str, kind: str) -> int:
    def value_of(v: Any) -> Any:
        return v.get(merge_key) if kind == "map" and isinstance(v, dict) else v

    wanted = value_of(item)
    for index, candidate in enumerate(order):
        if _same_json(value_of(candidate), wanted):
            return index
    return -1


def _normalize_slice_order(to_sort: list, order: list, *, merge_key: str, kind: str) -> list:
    deletions: list = []
    if kind == "map":
        for item in to_sort + order:
            if not isinstance(item, dict):
                raise _unknown_error(f"expected a map[string]interface {{}}, but received a {_go_type(item)}")
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
        deletions = [v for v in to_sort if v.get(DIRECTIVE_MARKER) == "delete"]
        to_sort = [v for v in to_sort if v.get(DIRECTIVE_MARKER) != "delete"]
    ordered = sorted(to_sort, key=lambda v: _index_in(order, v, merge_key=merge_key, kind=kind))
    return ordered + deletions


def _merge_sorted_slice(left: list, right: list, server_order: list, *, merge_key: str, kind: str) -> list:
    """mergeSortedSlice: a server-only item goes first only when both items are known to the server
    and it comes first there; otherwise the patch item does."""
    out: list = []
    i = j = 0
    while i < len(left) and j < len(right):
        li = _index_in(server_order, left[i], merge_key=merge_key, kind=kind)
        ri = _index_in(server_order, right[j], merge_key=merge_key, kind=kind)
        if li >= 0 and ri >= 0 and li < ri:
            out.append(left[i])
            i += 1
        else:
            out.append(right[j])
            j += 1
    return out + left[i:] + right[j:]
