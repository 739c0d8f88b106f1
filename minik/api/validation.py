"""Field validation with Kubernetes' exact wording: name rules, field errors and ObjectMeta checks.

Role in the flow: registry strategies call these before anything is written to storage; the API server
turns the returned `Cause`s into a 422 Status (reason Invalid) whose `message` and `details.causes` match
kube-apiserver character for character, so kubectl prints the same text. Selectors and quantities reuse
the name rules and the error formatting.

Sources mirrored (Kubernetes 1.33):
- k8s.io/apimachinery/pkg/util/validation            name rules and their messages (regex text included)
- k8s.io/apimachinery/pkg/util/validation/field      Error/ErrorBody formats, ErrorList.ToAggregate
- k8s.io/apimachinery/pkg/api/validation             ValidateObjectMeta(Accessor) and ...Update
- k8s.io/apimachinery/pkg/api/errors                 NewInvalid's message
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from .quantity import QuantityError, parse_quantity

# Reasons (metav1.CauseType values, equal to field.ErrorType).
FIELD_VALUE_REQUIRED = "FieldValueRequired"
FIELD_VALUE_INVALID = "FieldValueInvalid"
FIELD_VALUE_NOT_SUPPORTED = "FieldValueNotSupported"
FIELD_VALUE_DUPLICATE = "FieldValueDuplicate"
FIELD_VALUE_FORBIDDEN = "FieldValueForbidden"
FIELD_VALUE_TOO_LONG = "FieldValueTooLong"
FIELD_VALUE_TOO_MANY = "FieldValueTooMany"
FIELD_VALUE_TYPE_INVALID = "FieldValueTypeInvalid"
FIELD_VALUE_NOT_FOUND = "FieldValueNotFound"
INTERNAL_ERROR = "InternalError"

# field.ErrorType.String(): the words that start every cause message.
_REASON_TEXT = {
    FIELD_VALUE_NOT_FOUND: "Not found",
    FIELD_VALUE_REQUIRED: "Required value",
    FIELD_VALUE_DUPLICATE: "Duplicate value",
    FIELD_VALUE_INVALID: "Invalid value",
    FIELD_VALUE_NOT_SUPPORTED: "Unsupported value",
    FIELD_VALUE_FORBIDDEN: "Forbidden",
    FIELD_VALUE_TOO_LONG: "Too long",
    FIELD_VALUE_TOO_MANY: "Too many",
    INTERNAL_ERROR: "Internal error",
    FIELD_VALUE_TYPE_INVALID: "Invalid value",
}

FIELD_IMMUTABLE_ERROR_MSG = "field is immutable"
IS_NEGATIVE_ERROR_MSG = "must be greater than or equal to 0"
TOTAL_ANNOTATION_SIZE_LIMIT_B = 256 * (1 << 10)  # 256 KiB, counted in bytes of keys plus values

FINALIZER_ORPHAN_DEPENDENTS = "orphan"
FINALIZER_DELETE_DEPENDENTS = "foregroundDeletion"


# --------------------------------------------------------------------------------------------------
# Go value rendering: causes quote bad values the way Go's fmt/json do, so we must too.
# --------------------------------------------------------------------------------------------------

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


class GoStruct(dict):
    """A dict that Go would marshal as a struct: keys keep their order instead of being sorted."""


_JSON_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


# The characters a JSON string cannot hold as they are (quote, backslash, control characters) and those
# Go escapes besides (HTML characters, U+2028/U+2029): a string without any is written as it is.
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f<>&\u2028\u2029]')


def _go_json_string(text: str) -> str:
    if _JSON_ESCAPED.search(text) is None:  # the common case: nothing to escape
        return f'"{text}"'
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


# --------------------------------------------------------------------------------------------------
# Causes: field.Error as the StatusCause the API returns.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cause:
    """One validation failure, already rendered: `message` is Kubernetes' ErrorBody (without the field)."""

    reason: str
    message: str
    field: str

    def to_dict(self) -> dict[str, str]:
        """The metav1.StatusCause JSON object; like Go's omitempty, empty members are left out."""
        out: dict[str, str] = {}
        if self.reason:
            out["reason"] = self.reason
        if self.message:
            out["message"] = self.message
        if self.field:
            out["field"] = self.field
        return out

    def error(self) -> str:
        """field.Error.Error(): `<field>: <body>`, the form used inside aggregated messages."""
        return f"{self.field}: {self.message}"

    def __str__(self) -> str:
        return self.error()


def _body(reason: str, rendered_value: str | None, detail: str) -> str:
    text = _REASON_TEXT.get(reason, f"<unknown error {go_quote(reason)}>")
    if rendered_value is not None:
        text = f"{text}: {rendered_value}"
    if detail:
        text = f"{text}: {detail}"
    return text


def required(path: str, detail: str = "") -> Cause:
    return Cause(FIELD_VALUE_REQUIRED, _body(FIELD_VALUE_REQUIRED, None, detail), path)


def forbidden(path: str, detail: str) -> Cause:
    return Cause(FIELD_VALUE_FORBIDDEN, _body(FIELD_VALUE_FORBIDDEN, None, detail), path)


def invalid(path: str, value: object, detail: str = "") -> Cause:
    return Cause(FIELD_VALUE_INVALID, _body(FIELD_VALUE_INVALID, render_value(value), detail), path)


def type_invalid(path: str, value: object, detail: str = "") -> Cause:
    return Cause(FIELD_VALUE_TYPE_INVALID, _body(FIELD_VALUE_TYPE_INVALID, render_value(value), detail), path)


def duplicate(path: str, value: object) -> Cause:
    return Cause(FIELD_VALUE_DUPLICATE, _body(FIELD_VALUE_DUPLICATE, render_value(value), ""), path)


def not_found(path: str, value: object) -> Cause:
    return Cause(FIELD_VALUE_NOT_FOUND, _body(FIELD_VALUE_NOT_FOUND, render_value(value), ""), path)


def not_supported(path: str, value: object, valid_values: Iterable[object]) -> Cause:
    """`Unsupported value: "x": supported values: "a", "b"` (each valid value quoted with %q)."""
    quoted = [go_quote(str(v)) for v in valid_values]
    detail = "supported values: " + ", ".join(quoted) if quoted else ""
    return Cause(FIELD_VALUE_NOT_SUPPORTED, _body(FIELD_VALUE_NOT_SUPPORTED, render_value(value), detail), path)


def too_long(path: str, value: object, max_len: int) -> Cause:
    """The value itself is never printed (it may be huge); `value` is accepted only to mirror field.TooLong."""
    del value
    if max_len >= 0:
        detail = f"may not be more than {max_len} {'byte' if max_len == 1 else 'bytes'}"
    else:
        detail = "value is too long"
    return Cause(FIELD_VALUE_TOO_LONG, _body(FIELD_VALUE_TOO_LONG, None, detail), path)


def too_many(path: str, actual: int, max_quantity: int) -> Cause:
    if max_quantity >= 0:
        detail = f"must have at most {max_quantity} {'item' if max_quantity == 1 else 'items'}"
    else:
        detail = "has too many items"
    rendered = str(actual) if actual >= 0 else None
    return Cause(FIELD_VALUE_TOO_MANY, _body(FIELD_VALUE_TOO_MANY, rendered, detail), path)


def internal_error(path: str, detail: str) -> Cause:
    return Cause(INTERNAL_ERROR, _body(INTERNAL_ERROR, None, detail), path)


def aggregate_message(causes: Iterable[Cause]) -> str:
    """ErrorList.ToAggregate().Error(): duplicates dropped; one error bare, several as `[a, b]`."""
    seen: dict[str, None] = {}
    for cause in causes:
        seen.setdefault(cause.error(), None)
    messages = list(seen)
    if len(messages) == 1:
        return messages[0]
    return "[" + ", ".join(messages) + "]"


def format_invalid_message(kind: str, name: str, causes: list[Cause]) -> str:
    """errors.NewInvalid's Status message: `Pod "x" is invalid: <aggregate>`.

    `kind` is the qualified kind as Kubernetes prints a GroupKind: "Pod", "Deployment.apps".
    """
    if not causes:
        return f"{kind} {go_quote(name)} is invalid"
    return f"{kind} {go_quote(name)} is invalid: {aggregate_message(causes)}"


# --------------------------------------------------------------------------------------------------
# Name rules (util/validation). Each returns the list of problems as Kubernetes words them.
# --------------------------------------------------------------------------------------------------


def _byte_len(value: str) -> int:
    # Go measures strings in bytes; only non-ASCII text needs the encode.
    return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def empty_error() -> str:
    return "must be non-empty"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


# Go's regexp `^...$` never matches before a trailing newline, so every pattern is used with fullmatch.
DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_ERR_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1123_SUBDOMAIN_ERR_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL_ERR_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
DNS1035_LABEL_MAX_LENGTH = 63
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QUALIFIED_NAME_ERR_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)
QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
LABEL_VALUE_ERR_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
LABEL_VALUE_MAX_LENGTH = 63
C_IDENTIFIER_FMT = "[A-Za-z_][A-Za-z0-9_]*"
C_IDENTIFIER_ERR_MSG = (
    "a valid C identifier must start with alphabetic character or '_', followed by a string of alphanumeric "
    "characters or '_'"
)
ENV_VAR_NAME_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
ENV_VAR_NAME_ERR_MSG = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', "
    "and must not start with a digit"
)
RELAXED_ENV_VAR_NAME_ERR_MSG = (
    "a valid environment variable name must consist only of printable ASCII characters other than '='"
)

_DNS1123_LABEL_RE = re.compile(DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = re.compile(DNS1035_LABEL_FMT)
_QUALIFIED_NAME_RE = re.compile(QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = re.compile(LABEL_VALUE_FMT)
_C_IDENTIFIER_RE = re.compile(C_IDENTIFIER_FMT)
_ENV_VAR_NAME_RE = re.compile(ENV_VAR_NAME_FMT)
_PORT_NAME_CHARSET_RE = re.compile("[-a-z0-9]+")
_PORT_NAME_ONE_LETTER_RE = re.compile("[a-z]")


def dns1123_label(value: str) -> list[str]:
    """IsDNS1123Label: Namespace names, most label-like names."""
    errs = []
    if _byte_len(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            errs.append("must not contain dots")  # a valid subdomain: the length is checked, so it is dots
        else:
            errs.append(regex_error(DNS1123_LABEL_ERR_MSG, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def dns1123_subdomain(value: str) -> list[str]:
    """IsDNS1123Subdomain: the name rule of most kinds (Pods, ConfigMaps, Deployments...)."""
    errs = []
    if _byte_len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(regex_error(DNS1123_SUBDOMAIN_ERR_MSG, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def dns1035_label(value: str) -> list[str]:
    """IsDNS1035Label: Service names (they become DNS labels and must start with a letter)."""
    errs = []
    if _byte_len(value) > DNS1035_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errs.append(regex_error(DNS1035_LABEL_ERR_MSG, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def _prefixed(prefix: str, msgs: list[str]) -> list[str]:
    return [prefix + m for m in msgs]


def qualified_name(value: str) -> list[str]:
    """IsQualifiedName: label and annotation keys, finalizers: `[dns-subdomain/]name`."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + empty_error())
        else:
            errs.extend(_prefixed("prefix part ", dns1123_subdomain(prefix)))
    else:
        return [
            "a qualified name "
            + regex_error(QUALIFIED_NAME_ERR_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part " + empty_error())
    elif _byte_len(name) > QUALIFIED_NAME_MAX_LENGTH:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        examples = ("MyName", "my.name", "123-abc")
        errs.append("name part " + regex_error(QUALIFIED_NAME_ERR_MSG, QUALIFIED_NAME_FMT, *examples))
    return errs


def label_value(value: str) -> list[str]:
    """IsValidLabelValue: empty, or up to 63 alphanumerics with '-', '_', '.' inside."""
    errs = []
    if _byte_len(value) > LABEL_VALUE_MAX_LENGTH:
        errs.append(max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(regex_error(LABEL_VALUE_ERR_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def c_identifier(value: str) -> list[str]:
    """IsCIdentifier (format only, no length limit)."""
    if _C_IDENTIFIER_RE.fullmatch(value):
        return []
    return [regex_error(C_IDENTIFIER_ERR_MSG, C_IDENTIFIER_FMT, "my_name", "MY_NAME", "MyName")]


def _ch_dir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def env_var_name(value: str, relaxed: bool = False) -> list[str]:
    """IsEnvVarName (looser than a C identifier: '-' and '.' allowed), or IsRelaxedEnvVarName.

    `relaxed=True` is the RelaxedEnvironmentVariableValidation rule (on by default from 1.32):
    any printable ASCII except '='.
    """
    if relaxed:
        errs = []
        if not value:
            errs.append("environment variable name " + empty_error())
        if any(not (" " <= ch <= "~") or ch == "=" for ch in value):
            errs.append(RELAXED_ENV_VAR_NAME_ERR_MSG)
        return errs
    errs = []
    if not _ENV_VAR_NAME_RE.fullmatch(value):
        errs.append(regex_error(ENV_VAR_NAME_ERR_MSG, ENV_VAR_NAME_FMT, "my.env-name", "MY_ENV.NAME", "MyEnvName1"))
    errs.extend(_ch_dir_prefix(value))
    return errs


def port_name(value: str) -> list[str]:
    """IsValidPortName: IANA service name, at most 15 lowercase characters with a letter, no '--'."""
    errs = []
    if _byte_len(value) > 15:
        errs.append(max_len_error(15))
    if not _PORT_NAME_CHARSET_RE.fullmatch(value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_ONE_LETTER_RE.search(value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value and (value[0] == "-" or value[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def port_number(value: int) -> list[str]:
    """IsValidPortNum: 1..65535."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return []
    return [inclusive_range_error(1, 65535)]


def _parse_ip_sloppy(value: str) -> bool:
    # netutils.ParseIPSloppy: Go's net.ParseIP, which also takes IPv4 octets with leading zeros
    # (read as decimal) and rejects IPv6 zones.
    if not value or "%" in value:
        return False
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    octets = value.split(".")
    return len(octets) == 4 and all(o.isascii() and o.isdigit() and len(o) <= 3 and int(o) <= 255 for o in octets)


def ip_address(value: str) -> list[str]:
    """IsValidIP's detail for a bad address (IPv4 or IPv6)."""
    if _parse_ip_sloppy(value):
        return []
    return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]


def path_segment_name(value: str) -> list[str]:
    """path.IsValidPathSegmentName: what every name needs to be usable in a URL."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in value]


def mask_trailing_dash(name: str) -> str:
    """generic.maskTrailingDash: lets a generateName prefix end in '-' (Kubernetes drops two chars)."""
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


# --------------------------------------------------------------------------------------------------
# ObjectMeta (api/validation/objectmeta.go)
# --------------------------------------------------------------------------------------------------

NameValidator = Callable[[str], list[str]]


def validate_labels(labels: object, path: str) -> list[Cause]:
    """v1validation.ValidateLabels: keys are qualified names, values label values; the path is the map."""
    if labels is None:
        return []
    if not isinstance(labels, Mapping):
        return [type_invalid(path, labels, "must be an object")]
    causes = []
    for key in sorted(labels, key=str):  # Go walks the map in random order; sorted keeps output stable
        value = labels[key]
        causes.extend(invalid(path, key, msg) for msg in qualified_name(str(key)))
        if not isinstance(value, str):
            causes.append(type_invalid(path, value, "must be a string"))
            continue
        causes.extend(invalid(path, value, msg) for msg in label_value(value))
    return causes


def validate_annotations(annotations: object, path: str) -> list[Cause]:
    """ValidateAnnotations: keys are qualified names (case-insensitively); total size at most 256 KiB."""
    if annotations is None:
        return []
    if not isinstance(annotations, Mapping):
        return [type_invalid(path, annotations, "must be an object")]
    causes = []
    total = 0
    for key in sorted(annotations, key=str):
        value = annotations[key]
        causes.extend(invalid(path, key, msg) for msg in qualified_name(str(key).lower()))
        if not isinstance(value, str):
            causes.append(type_invalid(path, value, "must be a string"))
            continue
        total += _byte_len(str(key)) + _byte_len(value)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_B:
        causes.append(too_long(path, "", TOTAL_ANNOTATION_SIZE_LIMIT_B))
    return causes


def _group_version(api_version: str) -> tuple[str, str] | None:
    # schema.ParseGroupVersion; None when it has more than one '/'.
    if api_version in ("", "/"):
        return "", ""
    count = api_version.count("/")
    if count == 0:
        return "", api_version
    if count == 1:
        group, version = api_version.split("/")
        return group, version
    return None


def _owner_reference_struct(ref: Mapping) -> GoStruct:
    out = GoStruct()
    for key in ("apiVersion", "kind", "name", "uid"):
        out[key] = ref.get(key, "")
    for key in ("controller", "blockOwnerDeletion"):
        if ref.get(key) is not None:
            out[key] = ref[key]
    return out


def _validate_owner_reference(ref: Mapping, path: str) -> list[Cause]:
    causes = []
    api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
    group, version = _group_version(api_version) or ("", "")
    if not version:
        causes.append(invalid(f"{path}.apiVersion", api_version, "version must not be empty"))
    if not kind:
        causes.append(invalid(f"{path}.kind", kind, "must not be empty"))
    if not ref.get("name"):
        causes.append(invalid(f"{path}.name", str(ref.get("name") or ""), "must not be empty"))
    if not ref.get("uid"):
        causes.append(invalid(f"{path}.uid", str(ref.get("uid") or ""), "must not be empty"))
    if (group, version, kind) == ("", "v1", "Event"):  # BannedOwners
        causes.append(invalid(path, _owner_reference_struct(ref), "/v1, Kind=Event is disallowed from being an owner"))
    return causes


def validate_owner_references(refs: object, path: str) -> list[Cause]:
    """ValidateOwnerReferences: required members, no Event owners, at most one controller."""
    if refs is None:
        return []
    if not isinstance(refs, list):
        return [type_invalid(path, refs, "must be an array")]
    causes: list[Cause] = []
    first_controller = ""
    for ref in refs:
        if not isinstance(ref, Mapping):
            causes.append(type_invalid(path, ref, "must be an object"))
            continue
        causes.extend(_validate_owner_reference(ref, path))
        if ref.get("controller") is True:
            current = f"{ref.get('kind', '')}/{ref.get('name', '')}"
            if first_controller:
                detail = (
                    'Only one reference can have Controller set to true. Found "true" in references for '
                    f"{first_controller} and {current}"
                )
                shown = [_owner_reference_struct(r) if isinstance(r, Mapping) else r for r in refs]
                causes.append(invalid(path, shown, detail))
            else:
                first_controller = current
    return causes


def validate_finalizers(finalizers: object, path: str) -> list[Cause]:
    """ValidateFinalizers: qualified names; `orphan` and `foregroundDeletion` are mutually exclusive."""
    if finalizers is None:
        return []
    if not isinstance(finalizers, list):
        return [type_invalid(path, finalizers, "must be an array")]
    causes = []
    for finalizer in finalizers:
        if not isinstance(finalizer, str):
            causes.append(type_invalid(path, finalizer, "must be a string"))
            continue
        causes.extend(invalid(path, finalizer, msg) for msg in qualified_name(finalizer))
    if FINALIZER_ORPHAN_DEPENDENTS in finalizers and FINALIZER_DELETE_DEPENDENTS in finalizers:
        detail = f"finalizer {FINALIZER_ORPHAN_DEPENDENTS} and {FINALIZER_DELETE_DEPENDENTS} cannot be both set"
        causes.append(invalid(path, finalizers, detail))
    return causes


def _string_member(meta: Mapping, key: str, *, path: str, causes: list[Cause]) -> str:
    value = meta.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        causes.append(type_invalid(f"{path}.{key}", value, "must be a string"))
        return ""
    return value


def _validate_common(meta: Mapping, *, namespaced: bool, path: str) -> list[Cause]:
    # validateObjectMetaAccessorWithOptsCommon
    causes: list[Cause] = []
    namespace = _string_member(meta, "namespace", path=path, causes=causes)
    if namespaced:
        if not namespace:
            causes.append(required(f"{path}.namespace"))
        else:
            causes.extend(invalid(f"{path}.namespace", namespace, msg) for msg in dns1123_label(namespace))
    elif namespace:
        causes.append(forbidden(f"{path}.namespace", "not allowed on this type"))
    generation = meta.get("generation")
    if isinstance(generation, int) and not isinstance(generation, bool) and generation < 0:
        causes.append(invalid(f"{path}.generation", generation, IS_NEGATIVE_ERROR_MSG))
    causes.extend(validate_labels(meta.get("labels"), f"{path}.labels"))
    causes.extend(validate_annotations(meta.get("annotations"), f"{path}.annotations"))
    causes.extend(validate_owner_references(meta.get("ownerReferences"), f"{path}.ownerReferences"))
    causes.extend(validate_finalizers(meta.get("finalizers"), f"{path}.finalizers"))
    return causes


def validate_object_meta(
    meta: Mapping | None,
    *,
    namespaced: bool,
    name_validator: NameValidator = dns1123_subdomain,
    path: str = "metadata",
) -> list[Cause]:
    """ValidateObjectMetaAccessor on create; expects name generation to have happened already.

    `name_validator` is the kind's name rule (dns1123_subdomain for most kinds, dns1035_label for
    Services, dns1123_label for Namespaces, path_segment_name for the generic pass). managedFields are
    not validated here.
    """
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):
        return [type_invalid(path, meta, "must be an object")]
    causes: list[Cause] = []
    generate_name = _string_member(meta, "generateName", path=path, causes=causes)
    name = _string_member(meta, "name", path=path, causes=causes)
    if generate_name:
        masked = mask_trailing_dash(generate_name)
        causes.extend(invalid(f"{path}.generateName", generate_name, msg) for msg in name_validator(masked))
    if not name:
        causes.append(required(f"{path}.name", "name or generateName is required"))
    else:
        causes.extend(invalid(f"{path}.name", name, msg) for msg in name_validator(name))
    causes.extend(_validate_common(meta, namespaced=namespaced, path=path))
    return causes


def _go_string_slice(values: list[str]) -> str:
    # fmt's %#v of a []string
    return "[]string{" + ", ".join(go_quote(v) for v in values) + "}"


_STRING_META_KEYS = frozenset({"name", "namespace", "uid", "generateName"})


def _immutable(new: Mapping, old: Mapping, key: str, *, path: str) -> list[Cause]:
    new_value, old_value = new.get(key), old.get(key)
    if key in _STRING_META_KEYS:  # Go strings: absent and "" are the same value
        new_value, old_value = new_value or "", old_value or ""
    if new_value == old_value:
        return []
    return [invalid(f"{path}.{key}", new_value, FIELD_IMMUTABLE_ERROR_MSG)]


def validate_object_meta_update(new: Mapping, old: Mapping, path: str = "metadata") -> list[Cause]:
    """ValidateObjectMetaAccessorUpdate: immutable identity, resourceVersion present, generation kept.

    As in kube-apiserver the registry prepares `new` first (rest.BeforeUpdate): it copies
    `resourceVersion` from storage for unconditional updates, and uid, creationTimestamp, deletion
    fields and generation from the old object where Kubernetes ignores client changes. What is left
    different is reported here.
    """
    new = new or {}
    old = old or {}
    causes: list[Cause] = []
    if old.get("deletionTimestamp") is not None:
        new_finalizers = new.get("finalizers") or []
        old_finalizers = set(old.get("finalizers") or [])
        extra = sorted({f for f in new_finalizers if isinstance(f, str)} - old_finalizers)
        if extra:
            detail = (
                "no new finalizers can be added if the object is being deleted, "
                f"found new finalizers {_go_string_slice(extra)}"
            )
            causes.append(forbidden(f"{path}.finalizers", detail))
    if not new.get("resourceVersion"):
        resource_version = str(new.get("resourceVersion") or "")
        causes.append(invalid(f"{path}.resourceVersion", resource_version, "must be specified for an update"))
    new_generation, old_generation = new.get("generation") or 0, old.get("generation") or 0
    if isinstance(new_generation, int) and isinstance(old_generation, int) and new_generation < old_generation:
        causes.append(invalid(f"{path}.generation", new_generation, "must not be decremented"))
    for key in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
        causes.extend(_immutable(new, old, key, path=path))
    causes.extend(validate_labels(new.get("labels"), f"{path}.labels"))
    causes.extend(validate_annotations(new.get("annotations"), f"{path}.annotations"))
    causes.extend(validate_owner_references(new.get("ownerReferences"), f"{path}.ownerReferences"))
    return causes


def resource_list(resources: object, path: str) -> list[Cause]:
    """Causes for a ResourceList (`{"cpu": "100m", ...}`): each amount a valid, non-negative quantity."""
    causes = []
    for name, amount in resources.items() if isinstance(resources, dict) else ():
        try:
            if parse_quantity(amount) < 0:
                causes.append(invalid(f"{path}[{name}]", amount, "must be greater than or equal to 0"))
        except QuantityError as exc:
            causes.append(invalid(f"{path}[{name}]", amount, str(exc)))
    return causes
