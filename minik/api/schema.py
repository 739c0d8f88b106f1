"""Custom resources against their CRD's openAPIV3Schema: validation, pruning, defaulting.

Role in the flow: the registry's custom-resource strategy runs these on every write, between decoding
(API server) and storage; the CRD strategy runs `validate_schema_definition` when a CustomResourceDefinition
is created or updated. The order kube-apiserver uses, and callers should follow, is

    prune (unknown fields dropped, paths reported for fieldValidation) -> prune_nulls -> default -> validate

Sources mirrored (Kubernetes 1.33):
- k8s.io/kube-openapi/pkg/validation/validate          the schema validator and its error texts
- k8s.io/apiextensions-apiserver/pkg/apiserver/validation   kube-openapi results -> field errors
- k8s.io/apiextensions-apiserver/pkg/apiserver/schema/{pruning,defaulting,objectmeta}
- k8s.io/apiextensions-apiserver/pkg/apiserver/schema/validation.go, complete.go   (structural schemas)
- k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation   (openAPIV3Schema keyword checks)

Schemas are plain dicts as they appear in the CRD (JSON). Error paths inside messages are kube-openapi's
(`spec.list[0].name`), `Cause.field` follows apiextensions (the same, prefixed by `path`), while schema
definition errors use field.Path notation (`openAPIV3Schema.properties[spec].type`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
from dataclasses import dataclass
from datetime import date, datetime

from minik.api.validation import (
    Cause,
    dns1035_label,
    forbidden,
    go_format_float,
    go_json,
    go_quote,
    invalid,
    not_supported,
    required,
    too_long,
    too_many,
    type_invalid,
)
from .meta import json_copy

META_FIELDS = ("apiVersion", "kind", "metadata")
_IN = "body"  # kube-openapi validates request bodies; the word appears in every message
_OPENAPI_V3_TYPES = ("array", "boolean", "integer", "number", "object", "string")


# --------------------------------------------------------------------------------------------------
# Validation (kube-openapi's SchemaValidator, as apiextensions-apiserver drives it)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Failure:
    """A kube-openapi validation error before apiextensions turns it into a field error."""

    code: str  # "type", "required", "enum", "too_long", "max_items", "max_properties", "composite", "other"
    name: str  # kube-openapi's dotted path, "" at the root
    detail: str  # kube-openapi's message (err.Error())
    value: object = ""
    limit: int = -1
    values: tuple = ()


def validate(obj: object, schema: dict, *, path: str = "") -> list[Cause]:
    """Validate `obj` against a structural schema; `path` prefixes every field (like ValidateCustomResource).

    Returns apiextensions' causes in kube-openapi's order, followed by the embedded-resource checks
    (apiVersion/kind of `x-kubernetes-embedded-resource` objects) that apiextensions runs next.
    """
    run = _Validator()
    run.value(obj, schema or {}, "")
    causes = [_to_cause(f, path) for f in run.failures]
    causes.extend(_validate_embedded(obj, schema, path))
    return causes


def _child(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _to_cause(f: _Failure, prefix: str) -> Cause:
    """kubeOpenAPIResultToFieldErrors: pick the field.Error constructor for each kube-openapi code."""
    name = f.name[1:] if f.name.startswith(".") else f.name
    field = _child(prefix, name) if f.name and f.name != "." else prefix
    field = field or "<nil>"  # a nil *field.Path prints as <nil>, and kubectl shows exactly that
    if f.code == "required":
        return required(field, "")
    if f.code == "enum":
        shown = [v if isinstance(v, str) else go_json(v) for v in f.values]
        return not_supported(field, f.value, shown)
    if f.code == "too_long":
        return too_long(field, f.value, f.limit)
    if f.code in ("max_items", "max_properties"):
        actual = f.value if isinstance(f.value, int) else -1
        return too_many(field, actual, f.limit)
    if f.code == "type":
        return type_invalid(field, f.value, f.detail)
    if f.code == "composite":  # not a *Validation error: apiextensions reports it at the root path
        return invalid(prefix or "<nil>", "", f.detail)
    return invalid(field, f.value, f.detail)


def _data_type(data: object) -> tuple[str, str]:
    """schemaInfoForType: the JSON type and format kube-openapi infers from a decoded value."""
    if isinstance(data, bool):
        return "boolean", ""
    if isinstance(data, int):
        return "integer", "int64"
    if isinstance(data, float):
        return "number", "float64"
    if isinstance(data, str):
        return "string", ""
    if isinstance(data, list):
        return "array", ""
    if isinstance(data, dict):
        return "object", ""
    return "", ""


def _schema_types(s: dict) -> list[str]:
    if s.get("x-kubernetes-int-or-string"):
        return ["integer", "string"]  # ConvertJSONSchemaProps widens the type for int-or-string
    t = s.get("type")
    if isinstance(t, list):
        return list(t)
    return [t] if t else []


def _is_json_integer(f: float) -> bool:
    return math.isfinite(f) and f.is_integer() and abs(f) <= 2**53


def _type_error(name: str, type_name: str, value: object) -> _Failure:
    """errors.InvalidType: the quoted suffix appears only when the offending value is a string."""
    prefix = f"{name} in {_IN} must be of type {type_name}"
    detail = f"{prefix}: {go_quote(value)}" if isinstance(value, str) else prefix
    return _Failure("type", name, detail, value)


def _num(value: int | float) -> str:
    return str(value) if isinstance(value, int) else go_format_float(value)


class _Validator:
    """One kube-openapi SchemaValidator run; failures accumulate in kube-openapi's order."""

    def __init__(self) -> None:
        self.failures: list[_Failure] = []

    def fail(self, code: str, name: str, detail: str, **kw) -> None:
        self.failures.append(_Failure(code, name, detail, **kw))

    def value(self, data: object, s: dict, name: str) -> None:
        """SchemaValidator.Validate: type, allOf/anyOf/oneOf/not, string, format, number, array, enum, object."""
        if data is None:
            self.type(None, s, name)
            self.enum(None, s, name)
            return
        self.type(data, s, name)
        self.junctors(data, s, name)
        if isinstance(data, str):
            self.string(data, s, name)
            self.format(data, s, name)
        elif isinstance(data, (int, float)) and not isinstance(data, bool):
            self.number(data, s, name)
        elif isinstance(data, list):
            self.array(data, s, name)
        self.enum(data, s, name)
        if isinstance(data, dict):
            self.object(data, s, name)

    def type(self, data: object, s: dict, name: str) -> None:
        """typeValidator.Validate, including its quirk of naming the format instead of the type."""
        types, fmt = _schema_types(s), s.get("format") or ""
        if not types and not fmt:
            return
        if data is None:
            if types and "null" not in types and not s.get("nullable"):
                self.failures.append(_type_error(name, ",".join(types), "null"))
            return
        sch_type, data_format = _data_type(data)
        is_float_int = sch_type == "number" and _is_json_integer(data) and "integer" in types
        is_int_float = sch_type == "integer" and "number" in types
        stringish = isinstance(data, (str, list))
        if not stringish and fmt and not (sch_type in types or data_format == fmt or is_float_int or is_int_float):
            self.failures.append(_type_error(name, fmt, data_format))
        elif not ("number" in types or "integer" in types) and fmt and stringish:
            return  # a formatted string: the format validator decides
        elif not (sch_type in types or is_float_int or is_int_float):
            self.failures.append(_type_error(name, ",".join(types), sch_type))

    def _alternative(self, data: object, s: dict, name: str) -> list[_Failure]:
        sub = _Validator()
        sub.value(data, s, name)
        return sub.failures

    def junctors(self, data: object, s: dict, name: str) -> None:
        """schemaPropsValidator: allOf/anyOf/oneOf/not with go-openapi's 'best failure' reporting."""
        quoted = go_quote(name)
        any_of = [self._alternative(data, sub, name) for sub in s.get("anyOf") or []]
        if any_of and all(any_of):
            self.fail("composite", name, f"{quoted} must validate at least one schema (anyOf)")
            self.failures.extend(min(any_of, key=len))  # stands in for go-openapi's highest MatchCount
        one_of = [self._alternative(data, sub, name) for sub in s.get("oneOf") or []]
        valid = sum(1 for r in one_of if not r)
        if one_of and valid != 1:
            extra = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
            self.fail("composite", name, f"{quoted} must validate one and only one schema (oneOf). {extra}")
            if valid == 0:
                self.failures.extend(min(one_of, key=len))
        all_of = [self._alternative(data, sub, name) for sub in s.get("allOf") or []]
        for failures in all_of:
            self.failures.extend(failures)
        valid = sum(1 for r in all_of if not r)
        if all_of and valid != len(all_of):
            extra = ". None validated" if valid == 0 else ""
            self.fail("composite", name, f"{quoted} must validate all the schemas (allOf){extra}")
        if isinstance(s.get("not"), dict) and not self._alternative(data, s["not"], name):
            self.fail("composite", name, f"{quoted} must not validate the schema (not)")

    def string(self, data: str, s: dict, name: str) -> None:
        """stringValidator: stops at the first failure, in the order maxLength, minLength, pattern."""
        max_length, min_length, pattern = s.get("maxLength"), s.get("minLength"), s.get("pattern")
        if max_length is not None and len(data) > max_length:
            self.fail("too_long", name, f"{name} in {_IN} should be at most {max_length} chars long",
                      value=data, limit=int(max_length))
        elif min_length is not None and len(data) < min_length:
            self.fail("other", name, f"{name} in {_IN} should be at least {min_length} chars long", value=data)
        elif pattern:
            try:
                matched, shown = re.search(pattern, data) is not None, pattern
            except re.error as exc:
                matched, shown = False, f"{pattern}, but pattern is invalid: {exc}"
            if not matched:
                self.fail("other", name, f"{name} in {_IN} should match '{shown}'", value=data)

    def format(self, data: str, s: dict, name: str) -> None:
        """formatValidator: only formats strfmt knows are checked; others are ignored, as in Kubernetes."""
        fmt = s.get("format")
        check = _FORMATS.get(fmt.lower().replace("-", "").replace("_", "")) if fmt else None
        if check is not None and not check(data):
            self.failures.append(_type_error(name, fmt, data))

    def number(self, data: int | float, s: dict, name: str) -> None:
        """numberValidator: multipleOf, then minimum, then maximum; ints compare against truncated bounds."""
        multiple_of = s.get("multipleOf")
        if multiple_of is not None and (failed := _not_multiple(data, multiple_of)) is not None:
            self.fail("other", name, f"{name} in {_IN} {failed}", value=data)
        for key, below in (("minimum", True), ("maximum", False)):
            if s.get(key) is None:
                continue
            bound = int(s[key]) if isinstance(data, int) else float(s[key])
            exclusive = bool(s.get("exclusiveMinimum" if below else "exclusiveMaximum"))
            outside = data < bound if below else data > bound
            if outside or (exclusive and data == bound):
                word = ("greater than" if below else "less than") + ("" if exclusive else " or equal to")
                self.fail("other", name, f"{name} in {_IN} should be {word} {_num(bound)}", value=data)

    def array(self, data: list, s: dict, name: str) -> None:
        """schemaSliceValidator: items first, then minItems, maxItems, uniqueItems."""
        items = s.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(data):
                self.value(item, items, f"{name}[{i}]")
        size, min_items, max_items = len(data), s.get("minItems"), s.get("maxItems")
        if min_items is not None and size < min_items:
            self.fail("other", name, f"{name} in {_IN} should have at least {min_items} items", value=size)
        if max_items is not None and size > max_items:
            self.fail("max_items", name, f"{name} in {_IN} should have at most {max_items} items",
                      value=size, limit=int(max_items))
        if s.get("uniqueItems") and _has_duplicates(data):
            self.fail("other", name, f"{name} in {_IN} shouldn't contain duplicates")

    def enum(self, data: object, s: dict, name: str) -> None:
        """basicCommonValidator: a null never matches (reflect cannot convert it), even when nullable."""
        enum = s.get("enum")
        if not enum:
            return
        if data is not None and any(v is not None and _json_equal(data, v) for v in enum):
            return
        shown = " ".join(v if isinstance(v, str) else go_json(v) for v in enum)
        self.fail("enum", name, f"{name} in {_IN} should be one of [{shown}]", value=data, values=tuple(enum))

    def object(self, data: dict, s: dict, name: str) -> None:
        """objectValidator: property counts (early exit), additionalProperties, properties, required."""
        count, min_props, max_props = len(data), s.get("minProperties"), s.get("maxProperties")
        if min_props is not None and count < min_props:
            self.fail("other", name, f"{name} in {_IN} should have at least {min_props} properties", value=count)
            return
        if max_props is not None and count > max_props:
            self.fail("max_properties", name, f"{name} in {_IN} should have at most {max_props} properties",
                      value=count, limit=int(max_props))
            return
        properties = s.get("properties") or {}
        additional = s.get("additionalProperties")
        for key, value in data.items():
            if key in properties:
                continue
            if additional is False:
                self.fail("other", name, f"{name}.{key} in {_IN} is a forbidden property", value=key)
            elif isinstance(additional, dict):
                self.value(value, additional, f"{name}.{key}")
        for prop, sub in properties.items():
            if prop in data:
                self.value(data[prop], sub, _child(name, prop))
        for key in s.get("required") or []:
            if key not in data:
                self.fail("required", f"{name}.{key}", f"{name}.{key} in {_IN} is required")


def _not_multiple(data: int | float, factor: float) -> str | None:
    if isinstance(data, int) and int(factor) != 0:
        return None if data % int(factor) == 0 else f"should be a multiple of {int(factor)}"
    if factor < 0:
        return None  # kube-openapi reports "factor MultipleOf ... must be positive" only for float data
    if factor == 0:
        return None
    mult = (1 / factor * data) if factor < 1 else (data / factor)
    return None if _is_json_integer(float(mult)) else f"should be a multiple of {_num(float(factor))}"


def _has_duplicates(data: list) -> bool:
    seen: list = []
    for item in data:
        if any(_json_equal(item, other) for other in seen):
            return True
        seen.append(item)
    return False


def _json_equal(a: object, b: object) -> bool:
    """reflect.DeepEqual on decoded JSON: booleans are never numbers, 1 == 1.0 only after conversion."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


# -- formats (strfmt.Default; unknown formats are not validated, as in Kubernetes) ------------------

_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?")
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,255}}$){_LABEL}(?:\.{_LABEL})*\.?")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-([0-9a-fA-F])[0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_MAC = re.compile(r"[0-9a-fA-F]{2}([:-])(?:[0-9a-fA-F]{2}\1){4}[0-9a-fA-F]{2}")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?\s*(?:ns|us|µs|ms|s|m|h|d|w)\s*)+")


def _is_date_time(value: str) -> bool:
    m = _DATE_TIME.fullmatch(value)
    if not m:
        return False
    try:
        datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6] or 0))
    except ValueError:
        return False
    return True


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _is_byte(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_ip(value: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(value).version == version
    except ValueError:
        return False


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return "/" in value


def _uuid_version(version: str | None):
    def check(value: str) -> bool:
        m = _UUID.fullmatch(value)
        return bool(m) and (version is None or m[1] == version)
    return check


_FORMATS = {
    "datetime": _is_date_time,
    "date": _is_date,
    "byte": _is_byte,
    "ipv4": lambda v: _is_ip(v, 4),
    "ipv6": lambda v: _is_ip(v, 6),
    "cidr": _is_cidr,
    "hostname": lambda v: bool(_HOSTNAME.fullmatch(v)),
    "email": lambda v: bool(_EMAIL.fullmatch(v)),
    "mac": lambda v: bool(_MAC.fullmatch(v)),
    "uuid": _uuid_version(None),
    "uuid3": _uuid_version("3"),
    "uuid4": _uuid_version("4"),
    "uuid5": _uuid_version("5"),
    "bsonobjectid": lambda v: bool(re.fullmatch(r"[0-9a-fA-F]{24}", v)),
    "hexcolor": lambda v: bool(re.fullmatch(r"#?(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})", v)),
    "duration": lambda v: bool(_DURATION.fullmatch(v.strip())),
    "password": lambda v: True,
    "uri": lambda v: True,
}


# -- embedded resources (apiextensions schema/objectmeta validation) --------------------------------


def _validate_embedded(x: object, s: dict | None, path: str) -> list[Cause]:
    if not s:
        return []
    causes: list[Cause] = []
    if isinstance(x, dict):
        if s.get("x-kubernetes-embedded-resource"):
            causes.extend(_embedded_type_meta(x, path))
        properties = s.get("properties") or {}
        additional = s.get("additionalProperties")
        for key, value in x.items():
            if key in properties:
                causes.extend(_validate_embedded(value, properties[key], _child(path, key)))
            elif isinstance(additional, dict):
                causes.extend(_validate_embedded(value, additional, f"{path}[{key}]"))
    elif isinstance(x, list) and isinstance(s.get("items"), dict):
        for i, value in enumerate(x):
            causes.extend(_validate_embedded(value, s["items"], f"{path}[{i}]"))
    return causes


def _embedded_type_meta(x: dict, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for key in ("apiVersion", "kind"):
        if key not in x:
            causes.append(required(_child(path, key), "must not be empty"))
    for key in ("apiVersion", "kind"):
        if key not in x:
            continue
        value, field = x[key], _child(path, key)
        if not isinstance(value, str):
            causes.append(invalid(field, value, "must be a string"))
        elif not value:
            causes.append(invalid(field, value, "must not be empty"))
        elif key == "apiVersion" and value.count("/") > 1:
            causes.append(invalid(field, value, f"unexpected GroupVersion string: {value}"))
        elif key == "kind" and (errs := dns1035_label(value.lower())):
            causes.append(invalid(field, value, "may have mixed case, but should otherwise match: "
                                  + ",".join(errs)))
    return causes


# --------------------------------------------------------------------------------------------------
# Pruning, null pruning and defaulting (apiextensions-apiserver/pkg/apiserver/schema/...)
# --------------------------------------------------------------------------------------------------


def prune(obj: dict, schema: dict | None, *, unknown_paths: list[str] | None = None,
          is_resource_root: bool = True) -> dict:
    """A copy of `obj` without the fields `schema` does not specify, as PruneWithOptions produces.

    apiVersion, kind and metadata are always kept at a resource root and in embedded resources;
    `x-kubernetes-preserve-unknown-fields` keeps unknown fields below it. Pruned paths are appended to
    `unknown_paths` (sorted), in the form fieldValidation reports them (`spec.foo`, `spec.list[0].bar`).
    """
    s = dict(schema or {})
    if is_resource_root:
        s["x-kubernetes-embedded-resource"] = True
    pruner = _Pruner()
    result = pruner.prune(obj, s, "")
    if unknown_paths is not None:
        unknown_paths.extend(sorted(pruner.found))
    return result


def unknown_fields(obj: dict, schema: dict | None) -> list[str]:
    """The sorted paths pruning would drop: what fieldValidation=Strict/Warn reports for a custom resource."""
    paths: list[str] = []
    prune(obj, schema, unknown_paths=paths)
    return paths


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _additional_schema(s: dict) -> tuple[bool, dict | None]:
    """(present, schema): `additionalProperties: true/false` has no schema, so values get pruned empty."""
    if "additionalProperties" not in s or s["additionalProperties"] is None:
        return False, None
    ap = s["additionalProperties"]
    return True, ap if isinstance(ap, dict) else None


class _Pruner:
    """pruning.prune/skipPrune, building pruned copies and recording the dropped paths."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def prune(self, x: object, s: dict | None, path: str) -> object:
        if s is not None and s.get("x-kubernetes-preserve-unknown-fields"):
            return self.skip(x, s, path)
        if isinstance(x, dict):
            if s is None:
                self.found.extend(_join(path, k) for k in x)
                return {}
            return self.object(x, s, path, keep_unknown=False)
        if isinstance(x, list):
            items = s.get("items") if s is not None else None
            return [self.prune(v, items, f"{path}[{i}]") for i, v in enumerate(x)]
        return x

    def skip(self, x: object, s: dict, path: str) -> object:
        """Below x-kubernetes-preserve-unknown-fields: keep unknown fields, still prune known ones."""
        if isinstance(x, dict):
            return self.object(x, s, path, keep_unknown=True)
        if isinstance(x, list):
            items = s.get("items")
            return list(x) if items is None else [self.skip(v, items, f"{path}[{i}]") for i, v in enumerate(x)]
        return x

    def object(self, x: dict, s: dict, path: str, *, keep_unknown: bool) -> dict:
        embedded = bool(s.get("x-kubernetes-embedded-resource"))
        properties = s.get("properties") or {}
        has_additional, additional = _additional_schema(s)
        out: dict = {}
        for key, value in x.items():
            if embedded and key in META_FIELDS:
                out[key] = value
            elif key in properties:
                out[key] = self.prune(value, properties[key], _join(path, key))
            elif has_additional:
                out[key] = self.prune(value, additional, _join(path, key))
            elif keep_unknown:
                out[key] = value
            elif key not in META_FIELDS or path:
                self.found.append(_join(path, key))
        return out


def _sub_schema(s: dict | None, key: str) -> dict | None:
    if s is None:
        return None
    properties = s.get("properties") or {}
    if key in properties:
        return properties[key]
    return _additional_schema(s)[1]


def prune_nulls(obj: object, schema: dict | None) -> object:
    """PruneNonNullableNullsWithoutDefaults: drop nulls the schema neither allows nor can default."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            sub = _sub_schema(schema, key)
            if value is None and sub is not None and not sub.get("nullable") and "default" not in sub:
                continue
            out[key] = prune_nulls(value, sub)
        return out
    if isinstance(obj, list):
        items = schema.get("items") if schema is not None else None
        return [prune_nulls(v, items) for v in obj]
    return obj


def _non_nullable_null(x: object, s: dict | None) -> bool:
    return x is None and s is not None and not s.get("nullable")


def default(obj: object, schema: dict | None) -> object:
    """Apply `default` values (deep-copied) to absent fields and to non-nullable nulls, depth first."""
    if schema is None:
        return obj
    if isinstance(obj, dict):
        out = dict(obj)
        properties = schema.get("properties") or {}
        for key, prop in properties.items():
            if "default" in prop and (key not in out or _non_nullable_null(out[key], prop)):
                out[key] = json_copy(prop["default"])
        additional = _additional_schema(schema)[1]
        for key, value in out.items():
            if key in properties:
                out[key] = default(value, properties[key])
            elif additional is not None:
                if _non_nullable_null(value, additional):
                    value = json_copy(additional.get("default"))
                out[key] = default(value, additional)
        return out
    if isinstance(obj, list):
        items = schema.get("items")
        if items is None:
            return list(obj)
        return [default(json_copy(items.get("default")) if _non_nullable_null(v, items) else v, items)
                for v in obj]
    return obj


# --------------------------------------------------------------------------------------------------
# Schema definitions: is a CRD's openAPIV3Schema acceptable (and structural)?
# --------------------------------------------------------------------------------------------------


def _fp_key(path: str, key: str) -> str:
    return f"{path}[{key}]"


def validate_schema_definition(schema: dict, path: str) -> list[Cause]:
    """Check a CRD version's openAPIV3Schema as kube-apiserver does on CRD create/update.

    `path` is where the schema sits, e.g. "spec.versions[0].schema.openAPIV3Schema". Keyword checks
    come first; when they pass, the structural-schema invariants (sorted, as Kubernetes sorts them)
    and finally the defaults (which must validate and be pruned).
    """
    if not isinstance(schema, dict):
        return [required(path, "")]
    causes = _keyword_checks(schema, path, root=True, in_meta=False, defaults_forbidden="")
    structural = sorted(_structural(schema, path, level="root") + _completeness(schema, path),
                        key=lambda c: c.error())
    if structural:
        return causes + structural
    return causes + _check_defaults(schema, path)


def _keyword_checks(s: dict, path: str, *, root: bool, in_meta: bool, defaults_forbidden: str) -> list[Cause]:
    """specStandardValidatorV3.validate plus ValidateCustomResourceDefinitionOpenAPISchema's own checks."""
    causes = _unsupported_keywords(s, path, in_meta=in_meta, defaults_forbidden=defaults_forbidden)
    if s.get("uniqueItems") is True:
        causes.append(forbidden(f"{path}.uniqueItems",
                                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"))
    has_additional = "additionalProperties" in s and s["additionalProperties"] is not None
    if has_additional and s.get("properties"):
        ap = s["additionalProperties"]
        if ap is False or isinstance(ap, dict):
            causes.append(forbidden(f"{path}.additionalProperties",
                                    "additionalProperties and properties are mutual exclusive"))
    if has_additional and isinstance(s["additionalProperties"], dict):
        reason = "inside additionalProperties applying to object metadata" if in_meta else defaults_forbidden
        causes += _keyword_checks(s["additionalProperties"], f"{path}.additionalProperties", root=False,
                                  in_meta=in_meta, defaults_forbidden=reason)
    for key, sub in (s.get("properties") or {}).items():
        if not isinstance(sub, dict):
            causes.append(invalid(_fp_key(f"{path}.properties", key), sub, "must be a schema object"))
            continue
        meta = (root or bool(s.get("x-kubernetes-embedded-resource"))) and key in META_FIELDS
        reason = f"in top-level {key}" if (root and key in META_FIELDS) else defaults_forbidden
        causes += _keyword_checks(sub, _fp_key(f"{path}.properties", key), root=False,
                                  in_meta=in_meta or meta, defaults_forbidden=reason)
    for junctor in ("allOf", "oneOf", "anyOf"):
        for i, sub in enumerate(s.get(junctor) or []):
            causes += _keyword_checks(sub, f"{path}.{junctor}[{i}]", root=False, in_meta=in_meta,
                                      defaults_forbidden=defaults_forbidden)
    if isinstance(s.get("not"), dict):
        causes += _keyword_checks(s["not"], f"{path}.not", root=False, in_meta=in_meta,
                                  defaults_forbidden=defaults_forbidden)
    if isinstance(s.get("items"), dict):
        causes += _keyword_checks(s["items"], f"{path}.items", root=False, in_meta=in_meta,
                                  defaults_forbidden=defaults_forbidden)
    return causes + _extension_checks(s, path)


def _unsupported_keywords(s: dict, path: str, *, in_meta: bool, defaults_forbidden: str) -> list[Cause]:
    causes: list[Cause] = []
    t = s.get("type")
    if t and t not in _OPENAPI_V3_TYPES and t != "null":
        causes.append(not_supported(f"{path}.type", t, _OPENAPI_V3_TYPES))
    if "default" in s and defaults_forbidden:
        causes.append(forbidden(f"{path}.default", f"must not be set {defaults_forbidden}"))
    for key, detail in (("id", "id is not supported"), ("additionalItems", "additionalItems is not supported"),
                        ("patternProperties", "patternProperties is not supported"),
                        ("definitions", "definitions is not supported"),
                        ("dependencies", "dependencies is not supported"), ("$ref", "$ref is not supported")):
        if s.get(key) not in (None, "", {}, []):
            causes.append(forbidden(f"{path}.{key}", detail))
    if t == "null":
        causes.append(forbidden(f"{path}.type", "type cannot be set to null, use nullable as an alternative"))
    if isinstance(s.get("items"), list):
        causes.append(forbidden(f"{path}.items", "items must be a schema object and not an array"))
    if in_meta and s.get("x-kubernetes-embedded-resource"):
        causes.append(forbidden(f"{path}.x-kubernetes-embedded-resource", "must not be used inside of resource meta"))
    return causes


def _extension_checks(s: dict, path: str) -> list[Cause]:
    causes: list[Cause] = []
    t = s.get("type") or ""
    if s.get("x-kubernetes-preserve-unknown-fields") is False:
        causes.append(invalid(f"{path}.x-kubernetes-preserve-unknown-fields", False, "must be true or undefined"))
    map_type = s.get("x-kubernetes-map-type")
    if map_type is not None:
        if t != "object":
            causes.append(_type_required_or_invalid(path, t, "must be object if x-kubernetes-map-type is specified"))
        if map_type not in ("atomic", "granular"):
            causes.append(not_supported(f"{path}.x-kubernetes-map-type", map_type, ["atomic", "granular"]))
    list_type = s.get("x-kubernetes-list-type")
    if list_type is not None:
        if t != "array":
            causes.append(_type_required_or_invalid(path, t, "must be array if x-kubernetes-list-type is specified"))
        if list_type not in ("atomic", "set", "map"):
            causes.append(not_supported(f"{path}.x-kubernetes-list-type", list_type, ["atomic", "set", "map"]))
    keys = s.get("x-kubernetes-list-map-keys") or []
    if keys and list_type is None:
        causes.append(required(f"{path}.x-kubernetes-list-type",
                               "must be map if x-kubernetes-list-map-keys is non-empty"))
    elif keys and list_type != "map":
        causes.append(invalid(f"{path}.x-kubernetes-list-type", list_type,
                              "must be map if x-kubernetes-list-map-keys is non-empty"))
    if list_type == "map":
        causes += _list_map_checks(s, path, keys)
    return causes


def _type_required_or_invalid(path: str, t: str, detail: str) -> Cause:
    return required(f"{path}.type", detail) if not t else invalid(f"{path}.type", t, detail)


def _list_map_checks(s: dict, path: str, keys: list[str]) -> list[Cause]:
    causes: list[Cause] = []
    items = s.get("items")
    if not keys:
        causes.append(required(f"{path}.x-kubernetes-list-map-keys",
                               "must not be empty if x-kubernetes-list-type is map"))
    if items is None:
        causes.append(required(f"{path}.items", "must have a schema if x-kubernetes-list-type is map"))
        return causes
    if not isinstance(items, dict):
        return causes
    if items.get("type") != "object":
        causes.append(invalid(f"{path}.items.type", items.get("type", ""),
                              "must be object if parent array's x-kubernetes-list-type is map"))
        return causes
    properties = items.get("properties") or {}
    for key in keys:
        if key not in properties:
            causes.append(invalid(f"{path}.x-kubernetes-list-map-keys", keys,
                                  "entries must all be names of item properties"))
        elif properties[key].get("type") in ("array", "object"):
            causes.append(invalid(_fp_key(f"{path}.items.properties", key) + ".type", "object",
                                  "must be a scalar type if parent array's x-kubernetes-list-type is map"))
    if len(set(keys)) != len(keys):
        causes.append(invalid(f"{path}.x-kubernetes-list-map-keys", keys, "must not contain duplicate entries"))
    return causes


# -- structural invariants (schema/validation.go) ---------------------------------------------------

_LEVEL_TYPE_DETAIL = {
    "root": "must not be empty at the root",
    "item": "must not be empty for specified array items",
    "field": "must not be empty for specified object fields",
}


def _structural(s: dict, path: str, *, level: str) -> list[Cause]:
    """validateStructuralInvariants for one node and everything below it (outside junctors)."""
    causes: list[Cause] = []
    t = s.get("type") or ""
    items = s.get("items")
    if t == "array" and items is None:
        causes.append(required(f"{path}.items", "must be specified"))
    if isinstance(items, dict):
        causes += _structural(items, f"{path}.items", level="item")
    for key, sub in (s.get("properties") or {}).items():
        if isinstance(sub, dict):
            causes += _structural(sub, _fp_key(f"{path}.properties", key), level="field")
    if s.get("additionalProperties") not in (None, False):
        if level == "root":
            causes.append(forbidden(f"{path}.additionalProperties", "must not be used at the root"))
        if isinstance(s["additionalProperties"], dict):
            causes += _structural(s["additionalProperties"], f"{path}.additionalProperties", level="field")
    causes += _structural_extensions(s, path)
    causes += _structural_junctors(s, path)
    int_or_string = bool(s.get("x-kubernetes-int-or-string"))
    preserve = bool(s.get("x-kubernetes-preserve-unknown-fields"))
    embedded = bool(s.get("x-kubernetes-embedded-resource"))
    if embedded and t != "object":
        causes.append(_type_required_or_invalid(path, t, "must be object if x-kubernetes-embedded-resource is true"))
    elif not t and not int_or_string and not preserve:
        causes.append(required(f"{path}.type", _LEVEL_TYPE_DETAIL[level]))
    if embedded and s.get("additionalProperties") not in (None, False):
        causes.append(forbidden(f"{path}.additionalProperties",
                                "must not be used if x-kubernetes-embedded-resource is set"))
    if level == "root" and t and t != "object":
        causes.append(invalid(f"{path}.type", t, "must be object at the root"))
    causes += _structural_meta(s, path, level=level, embedded=embedded)
    if embedded and not preserve and not s.get("properties"):
        causes.append(required(f"{path}.properties", "must not be empty if x-kubernetes-embedded-resource is true "
                                                     "without x-kubernetes-preserve-unknown-fields"))
    return causes


def _structural_extensions(s: dict, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if s.get("x-kubernetes-int-or-string") and s.get("x-kubernetes-preserve-unknown-fields"):
        causes.append(invalid(f"{path}.x-kubernetes-preserve-unknown-fields", True,
                              "must be false if x-kubernetes-int-or-string is true"))
    if s.get("x-kubernetes-int-or-string") and s.get("x-kubernetes-embedded-resource"):
        causes.append(invalid(f"{path}.x-kubernetes-embedded-resource", True,
                              "must be false if x-kubernetes-int-or-string is true"))
    pattern = s.get("pattern")
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            causes.append(invalid(f"{path}.pattern", pattern,
                                  f"must be a valid regular expression, but isn't: {exc}"))
    return causes


def _structural_meta(s: dict, path: str, *, level: str, embedded: bool) -> list[Cause]:
    causes: list[Cause] = []
    check = level == "root" or embedded
    properties = s.get("properties") or {}
    for key in ("kind", "apiVersion"):
        if key in properties and check and properties[key].get("type") != "string":
            causes.append(invalid(_fp_key(f"{path}.properties", key) + ".type", properties[key].get("type", ""),
                                  "must be string"))
    meta = properties.get("metadata")
    if isinstance(meta, dict):
        meta_path = _fp_key(f"{path}.properties", "metadata")
        if check and meta.get("type") != "object":
            causes.append(invalid(f"{meta_path}.type", meta.get("type", ""), "must be object"))
        if level == "root":
            # only name/generateName may be restricted; anything else (even a description) is refused
            rest = {k: v for k, v in meta.items() if k not in ("type", "default")}
            props = set((rest.pop("properties", None) or {}))
            if rest or not props <= {"name", "generateName"}:
                causes.append(forbidden(meta_path, "must not specify anything other than name and generateName, "
                                                   "but metadata is implicitly specified"))
    return causes


_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]
_NESTED_FORBIDDEN = (
    ("type", "must be empty to be structural"), ("default", "must be undefined to be structural"),
    ("title", "must be empty to be structural"), ("description", "must be empty to be structural"),
    ("nullable", "must be false to be structural"), ("externalDocs", "must be undefined to be structural"),
    ("x-kubernetes-preserve-unknown-fields", "must be false to be structural"),
    ("x-kubernetes-embedded-resource", "must be false to be structural"),
    ("x-kubernetes-int-or-string", "must be false to be structural"),
    ("x-kubernetes-list-map-keys", "must be empty to be structural"),
    ("x-kubernetes-list-type", "must be undefined to be structural"),
    ("x-kubernetes-map-type", "must be undefined to be structural"),
    ("x-kubernetes-validations", "must be empty to be structural"),
    ("additionalProperties", "must be undefined to be structural"),
)


def _structural_junctors(s: dict, path: str, *, skip_any_of: bool | None = None) -> list[Cause]:
    """validateValueValidation: what may appear inside allOf/anyOf/oneOf/not (value validations only)."""
    causes: list[Cause] = []
    any_of = s.get("anyOf") or []
    all_of = s.get("allOf") or []
    if skip_any_of is None:
        skip_any_of = any_of == _INT_OR_STRING_ANY_OF
    skip_first_all_of_any_of = bool(all_of) and (all_of[0].get("anyOf") or []) == _INT_OR_STRING_ANY_OF
    if not skip_any_of:
        for i, sub in enumerate(any_of):
            causes += _nested(sub, f"{path}.anyOf[{i}]", skip_any_of=False)
    for i, sub in enumerate(all_of):
        causes += _nested(sub, f"{path}.allOf[{i}]", skip_any_of=skip_first_all_of_any_of and i == 0)
    for i, sub in enumerate(s.get("oneOf") or []):
        causes += _nested(sub, f"{path}.oneOf[{i}]", skip_any_of=False)
    if isinstance(s.get("not"), dict):
        causes += _nested(s["not"], f"{path}.not", skip_any_of=False)
    return causes


def _nested(v: dict, path: str, *, skip_any_of: bool) -> list[Cause]:
    """validateNestedValueValidation."""
    causes = _structural_junctors(v, path, skip_any_of=skip_any_of)
    if isinstance(v.get("items"), dict):
        causes += _nested(v["items"], f"{path}.items", skip_any_of=False)
    for key, sub in (v.get("properties") or {}).items():
        causes += _nested(sub, _fp_key(f"{path}.properties", key), skip_any_of=False)
    for key, detail in _NESTED_FORBIDDEN:
        if v.get(key) not in (None, False, "", [], {}) or (key == "default" and "default" in v):
            if skip_any_of and key == "type":
                continue
            causes.append(forbidden(f"{path}.{key}", detail))
    if "metadata" in (v.get("properties") or {}):
        causes.append(forbidden(_fp_key(f"{path}.properties", "metadata"), "must not be specified in a nested context"))
    return causes


def _completeness(s: dict, path: str) -> list[Cause]:
    """validateStructuralCompleteness: properties named in junctors must exist in the structural part."""
    return _junctor_completeness(s, s, path, v_path=path)


def _junctor_completeness(v: dict, s: dict, s_path: str, *, v_path: str) -> list[Cause]:
    causes: list[Cause] = []
    for junctor in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(v.get(junctor) or []):
            causes += _complete(sub, s, s_path, v_path=f"{v_path}.{junctor}[{i}]")
    if isinstance(v.get("not"), dict):
        causes += _complete(v["not"], s, s_path, v_path=f"{v_path}.not")
    return causes


def _complete(v: dict, s: dict | None, s_path: str, *, v_path: str) -> list[Cause]:
    """validateNestedValueValidationCompleteness."""
    if s is None:
        return [required(s_path, f"because it is defined in {v_path}")]
    causes = _junctor_completeness(v, s, s_path, v_path=v_path)
    if isinstance(v.get("items"), dict):
        s_items = s.get("items") if isinstance(s.get("items"), dict) else None
        causes += _complete(v["items"], s_items, f"{s_path}.items", v_path=f"{v_path}.items")
    s_props = s.get("properties") or {}
    for key, sub in (v.get("properties") or {}).items():
        s_key, v_key = _fp_key(f"{s_path}.properties", key), _fp_key(f"{v_path}.properties", key)
        if key not in s_props:
            causes.append(required(s_key, f"because it is defined in {v_key}"))
        else:
            causes += _complete(sub, s_props[key], s_key, v_path=v_key)
    return causes


def _check_defaults(s: dict, path: str, *, in_meta: bool = False, root: bool = True) -> list[Cause]:
    """structuraldefaulting.ValidateDefaults: each default must validate and be pruned already.

    Inside TypeMeta/ObjectMeta Kubernetes coerces the default as object meta instead of pruning it (and
    keyword checks already forbid defaults in top-level metadata), so only validation applies there.
    """
    causes: list[Cause] = []
    if "default" in s:
        value = s["default"]
        field = f"{path}.default"
        embedded = bool(s.get("x-kubernetes-embedded-resource"))
        if not in_meta and isinstance(value, (dict, list)) and not _json_equal(
                _Pruner().prune(value, _root_clone(s, embedded), ""), value):
            causes.append(invalid(field, value, "must not have unknown fields"))
        else:
            causes += validate(value, s, path=field)
    meta_level = root or bool(s.get("x-kubernetes-embedded-resource"))
    for key, sub in (s.get("properties") or {}).items():
        if isinstance(sub, dict):
            causes += _check_defaults(sub, _fp_key(f"{path}.properties", key), root=False,
                                      in_meta=in_meta or (meta_level and key in META_FIELDS))
    if isinstance(s.get("items"), dict):
        causes += _check_defaults(s["items"], f"{path}.items", in_meta=in_meta, root=False)
    if isinstance(s.get("additionalProperties"), dict):
        causes += _check_defaults(s["additionalProperties"], f"{path}.additionalProperties", in_meta=in_meta,
                                  root=False)
    return causes


def _root_clone(s: dict, embedded: bool) -> dict:
    return {**s, "x-kubernetes-embedded-resource": True} if embedded else s
