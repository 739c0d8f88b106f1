"""Kubernetes protobuf request bodies, decoded into the dict the same object would be as JSON.

Role in the flow: storage → registry → **API server** → clients. Since client-go 1.32 (kubernetes PR
#125314) typed clientsets send request bodies as `application/vnd.kubernetes.protobuf`, with no JSON
fallback: kubectl ≥ 1.32 `create configmap|secret|deployment|job|...`, `drain` (policy/v1 Eviction)
and Go tools built on client-go. minik answers in JSON (every client accepts it) and only has to read
these bodies; `operations.decode_body` calls `decode_object` and the rest of the server sees the
same dict a JSON body would have produced.

Wire format (k8s.io/apimachinery/pkg/runtime/serializer/protobuf): the magic prefix `k8s\\x00`, then
a `runtime.Unknown` {1 typeMeta {1 apiVersion, 2 kind}, 2 raw, 3 contentEncoding, 4 contentType};
`raw` is the object's message, numbered by the `protobuf:"..."` struct tags of its Go type.

The decoded dict is what encoding/json would print for the Go struct gogo's Unmarshal produces:
  * gogo writes every non-pointer field, zero values included, and pointer fields only when non-nil;
    so zero-valued non-pointer fields tagged `omitempty` are dropped, present pointers are kept even
    when zero (`replicas: 0`), and non-omitempty fields always appear (null for a nil slice/map).
  * encoding/json never omits a struct, even with omitempty (`metadata: {}`, `status: {}`); metav1.Time
    prints null when zero (`creationTimestamp: null`).
  * map keys come out sorted, []byte as base64, embedded (`json:",inline"`) structs flattened.
  * special types as apimachinery marshals them: Time (RFC 3339, seconds only), MicroTime (6
    fractional digits), Quantity (its string), IntOrString (int or string), RawExtension / FieldsV1 /
    apiextensions JSON (the embedded JSON), JSONSchemaPropsOr{Array,Bool,StringArray} (marshal.go).

The per-type field tables come from `protobuf_data.json.gz`, generated from the Go sources by
`scripts/gen_protobuf.py`, and are loaded on first use so that server start stays fast. Unknown field
numbers are skipped, as gogo skips them; malformed input raises `ProtobufError` (the API layer
answers 400 BadRequest with its message).
"""

from __future__ import annotations

import base64
import functools
import gzip
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

__all__ = ["DATA_FILE", "MAX_DEPTH", "PROTOBUF", "ProtobufError", "decode_object"]

PROTOBUF = "application/vnd.kubernetes.protobuf"
DATA_FILE = Path(__file__).with_name("protobuf_data.json.gz")
MAGIC = b"k8s\x00"
# Nested messages allowed before a body is refused (CRD schemas nest; 100 is far beyond real ones and
# keeps the recursion well inside Python's default limit).
MAX_DEPTH = 100

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
_MASK64 = (1 << 64) - 1
# Wire type each scalar code is written with (packed repeated fields come as LEN).
_SCALAR_WIRE = {"s": _LEN, "y": _LEN, "b": _VARINT, "i32": _VARINT, "i64": _VARINT, "u32": _VARINT,
                "u64": _VARINT, "f64": _FIXED64, "f32": _FIXED32}
_ZERO = {"s": "", "b": False, "i32": 0, "i64": 0, "u32": 0, "u64": 0, "f64": 0, "f32": 0}
# time.Time{}: January 1, year 1, 00:00:00 UTC, in Unix seconds.
_ZERO_TIME_SECONDS = -62135596800


class ProtobufError(ValueError):
    """A request body that is not valid Kubernetes protobuf for a kind minik can decode."""


# --------------------------------------------------------------------------------------------------
# Field tables (loaded lazily)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    number: int
    name: str
    pointer: bool
    omitempty: bool
    inline: bool
    skip: bool  # json:"-"
    type: tuple  # ("scalar", code) | ("special", name) | ("msg", name) | ("list", t) | ("map", k, v)


@dataclass(frozen=True, slots=True)
class _Message:
    name: str
    fields: tuple[_Field, ...]  # in Go struct order, which is encoding/json's output order
    by_number: dict[int, _Field]
    marshal: str  # "" for plain structs, else the MarshalJSON behaviour ("raw", "or_array", ...)


@dataclass(frozen=True, slots=True)
class _Schema:
    kinds: dict[str, str]  # "<group>/<version>/<Kind>" → message name
    messages: dict[str, _Message]

    def message_for(self, group: str, version: str, kind: str) -> _Message | None:
        name = self.kinds.get(f"{group}/{version}/{kind}") or self.kinds.get(f"*/*/{kind}")
        return self.messages[name] if name else None


def _type(desc: Any) -> tuple:
    if isinstance(desc, list):
        if desc[0] == "list":
            return ("list", _type(desc[1]))
        return ("map", _type(desc[1]), _type(desc[2]))
    if desc.startswith("m:"):
        return ("msg", desc[2:])
    if desc.startswith("@"):
        return ("special", desc[1:])
    return ("scalar", desc)


@functools.lru_cache(maxsize=1)
def _schema() -> _Schema:
    """The field tables, read once on first use."""
    data = orjson.loads(gzip.decompress(DATA_FILE.read_bytes()))
    messages = {}
    for name, table in data["messages"].items():
        fields = tuple(
            _Field(num, json_name, "p" in flags, "o" in flags, "i" in flags, "x" in flags, _type(desc))
            for num, json_name, flags, desc in table["fields"]
        )
        messages[name] = _Message(name, fields, {f.number: f for f in fields}, table.get("marshal", ""))
    return _Schema(data["kinds"], messages)


# --------------------------------------------------------------------------------------------------
# Wire level
# --------------------------------------------------------------------------------------------------


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if shift >= 64:  # like gogo's ErrIntOverflowGenerated: at most 10 bytes
            raise ProtobufError("varint overflows 64 bits")
        if pos >= end:
            raise ProtobufError("unexpected end of data in a varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & _MASK64, pos
        shift += 7


def _scan(buf: bytes, spans: list[tuple[int, int]]) -> dict[int, list[tuple[int, Any]]]:
    """Field number → occurrences (wire type, value) of the messages in `spans`, in order.

    Several spans are one message split in parts: protobuf merges repeated occurrences of a singular
    message field, which is the same as concatenating them. A LEN value is a (start, end) span.
    """
    fields: dict[int, list[tuple[int, Any]]] = {}
    for pos, end in spans:
        while pos < end:
            key, pos = _varint(buf, pos, end)
            number, wire = key >> 3, key & 7
            if number <= 0 or number > 0x1FFFFFFF:
                raise ProtobufError(f"illegal field number {number}")
            if wire == _VARINT:
                value, pos = _varint(buf, pos, end)
            elif wire == _LEN:
                length, pos = _varint(buf, pos, end)
                if length > end - pos:
                    raise ProtobufError(f"field {number}: length {length} runs past the end of the data")
                value, pos = (pos, pos + length), pos + length
            elif wire in (_FIXED64, _FIXED32):
                size = 8 if wire == _FIXED64 else 4
                if size > end - pos:
                    raise ProtobufError(f"field {number}: unexpected end of data")
                value, pos = int.from_bytes(buf[pos:pos + size], "little"), pos + size
            else:  # 3/4 are the deprecated groups, which no Kubernetes message has; 6/7 do not exist
                raise ProtobufError(f"field {number}: unsupported wire type {wire}")
            fields.setdefault(number, []).append((wire, value))
    return fields


# --------------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------------


def _text(buf: bytes, span: tuple[int, int]) -> str:
    # gogo does not validate UTF-8; encoding/json replaces invalid bytes with U+FFFD.
    return buf[span[0]:span[1]].decode("utf-8", "replace")


def _number(code: str, value: int) -> Any:
    if code == "b":
        return value != 0
    if code == "i32":  # gogo accumulates into an int32: the low 32 bits, two's complement
        value &= 0xFFFFFFFF
        return value - (1 << 32) if value >= 1 << 31 else value
    if code == "i64":
        return value - (1 << 64) if value >= 1 << 63 else value
    if code == "u32":
        return value & 0xFFFFFFFF
    if code == "u64":
        return value
    raw = value.to_bytes(8 if code == "f64" else 4, "little")
    return _json_float(struct.unpack("<d" if code == "f64" else "<f", raw)[0])


def _json_float(value: float) -> float | int:
    """A float as decoding encoding/json's output gives it back: integral values print without a
    fraction or exponent below 1e21, so they come back as ints."""
    if not math.isfinite(value):
        raise ProtobufError(f"unsupported float value {value}")  # json: unsupported value
    if value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def _scalar(code: str, wire: int, value: Any, buf: bytes, where: str) -> Any:
    if wire != _SCALAR_WIRE[code]:
        raise ProtobufError(f"{where}: wrong wire type {wire}")
    if code == "s":
        return _text(buf, value)
    if code == "y":
        return base64.b64encode(buf[value[0]:value[1]]).decode("ascii")
    return _number(code, value)


def _packed(code: str, buf: bytes, span: tuple[int, int], where: str) -> list:
    """The elements of a packed repeated scalar field."""
    out, (pos, end) = [], span
    wire = _SCALAR_WIRE[code]
    if wire == _VARINT:
        while pos < end:
            value, pos = _varint(buf, pos, end)
            out.append(_number(code, value))
        return out
    size = 8 if wire == _FIXED64 else 4
    if (end - pos) % size:
        raise ProtobufError(f"{where}: packed data is not a multiple of {size} bytes")
    for start in range(pos, end, size):
        out.append(_number(code, int.from_bytes(buf[start:start + size], "little")))
    return out


def _spans(occurrences: list[tuple[int, Any]], where: str) -> list[tuple[int, int]]:
    for wire, _ in occurrences:
        if wire != _LEN:
            raise ProtobufError(f"{where}: wrong wire type {wire} for a message")
    return [value for _, value in occurrences]


class _Decoder:
    """Decodes one body; holds the buffer and the tables while walking the messages."""

    def __init__(self, schema: _Schema, buf: bytes):
        self.schema = schema
        self.buf = buf

    # -- messages ----------------------------------------------------------------------------------

    def message(self, name: str, spans: list[tuple[int, int]], depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ProtobufError(f"messages nested deeper than {MAX_DEPTH}")
        msg = self.schema.messages[name]
        fields = _scan(self.buf, spans)
        if msg.marshal:
            return self._custom(msg, fields, depth)
        out: dict[str, Any] = {}
        for f in msg.fields:
            if f.skip:
                continue
            value, empty = self.field(f, fields.get(f.number, []), depth)
            if f.inline:
                if value is not None:
                    out.update(value)
            elif not (empty and f.omitempty):
                out[f.name] = value
        return out

    def field(self, f: _Field, occurrences: list[tuple[int, Any]], depth: int) -> tuple[Any, bool]:
        """(JSON value, whether encoding/json's omitempty would drop it)."""
        kind, where = f.type[0], f.name or str(f.number)
        if kind == "list":
            items = self._list(f.type[1], occurrences, depth, where)
            return (items or None), not items  # an empty slice decodes as nil: null
        if kind == "map":
            entries = self._map(f.type[1], f.type[2], occurrences, depth, where)
            return (entries or None), not entries
        if f.pointer and not occurrences:
            return None, True
        if kind == "scalar":
            code = f.type[1]
            if not occurrences:
                return (None, True) if code == "y" else (_ZERO[code], True)  # nil []byte: null
            wire, value = occurrences[-1]
            result = _scalar(code, wire, value, self.buf, where)
            return result, (not f.pointer and result in ("", 0, False))
        # Structs: never omitted by encoding/json, so absent ones print as their zero value.
        return self.value(f.type, occurrences, depth, where), False

    def value(self, typ: tuple, occurrences: list[tuple[int, Any]], depth: int, where: str) -> Any:
        """A message or special value from its occurrences (none: the zero value)."""
        spans = _spans(occurrences, where)
        if typ[0] == "msg":
            return self.message(typ[1], spans, depth + 1)
        return self._special(typ[1], spans, where)

    def _list(self, elem: tuple, occurrences: list[tuple[int, Any]], depth: int, where: str) -> list:
        items: list = []
        for wire, value in occurrences:
            if elem[0] == "scalar":
                code = elem[1]
                if wire == _LEN and _SCALAR_WIRE[code] != _LEN:
                    items.extend(_packed(code, self.buf, value, where))  # packed repeated
                else:
                    items.append(_scalar(code, wire, value, self.buf, where))
            elif elem[0] in ("msg", "special"):
                items.append(self.value(elem, [(wire, value)], depth, where))
            else:
                raise ProtobufError(f"{where}: nested lists are not supported")
        return items

    def _map(self, key: tuple, val: tuple, occurrences: list[tuple[int, Any]], depth: int,
             where: str) -> dict:
        entries: dict[Any, Any] = {}
        for span in _spans(occurrences, where):
            entry = _scan(self.buf, [span])
            k = self._entry_part(key, entry.get(1, []), depth, where)
            entries[k] = self._entry_part(val, entry.get(2, []), depth, where)  # later keys win
        # encoding/json writes map keys sorted (byte order; code point order for valid UTF-8).
        return {k: entries[k] for k in sorted(entries)}

    def _entry_part(self, typ: tuple, occurrences: list[tuple[int, Any]], depth: int, where: str) -> Any:
        if typ[0] == "scalar":
            code = typ[1]
            if not occurrences:  # gogo starts from the zero value; map[string][]byte gets []byte{}
                return "" if code == "y" else _ZERO[code]
            wire, value = occurrences[-1]
            return _scalar(code, wire, value, self.buf, where)
        if typ[0] in ("msg", "special"):
            return self.value(typ, occurrences, depth, where)
        raise ProtobufError(f"{where}: composite map keys or values are not supported")

    # -- types with their own marshalling ----------------------------------------------------------

    def _special(self, name: str, spans: list[tuple[int, int]], where: str) -> Any:
        if name in ("Time", "MicroTime"):
            # Time.Unmarshal / MicroTime.Unmarshal replace the value: the last occurrence counts.
            return _timestamp(self.buf, spans[-1:], micro=name == "MicroTime", where=where)
        fields = _scan(self.buf, spans)
        if name == "Quantity":
            occurrences = fields.get(1)
            if not occurrences:
                return "0"  # Quantity{} marshals as "0"
            text = _scalar("s", *occurrences[-1], self.buf, where)
            if not text:
                raise ProtobufError(f"{where}: empty quantity")  # ParseQuantity("") fails
            return text
        if name == "IntOrString":
            kind = self._last_scalar(fields, 1, "i64", where)
            if kind == 0:
                return self._last_scalar(fields, 2, "i32", where)
            if kind == 1:
                return self._last_scalar(fields, 3, "s", where)
            raise ProtobufError(f"{where}: impossible IntOrString.Type {kind}")
        if name == "RawExtension":
            return self._raw_json(fields, where)
        raise ProtobufError(f"{where}: unknown special type {name}")

    def _last_scalar(self, fields: dict, number: int, code: str, where: str) -> Any:
        occurrences = fields.get(number)
        if not occurrences:
            return _ZERO[code]
        return _scalar(code, *occurrences[-1], self.buf, where)

    def _raw_json(self, fields: dict, where: str) -> Any:
        """Embedded JSON bytes (field 1) as a value; absent or empty marshals as null."""
        occurrences = fields.get(1)
        if not occurrences:
            return None
        wire, span = occurrences[-1]
        if wire != _LEN:
            raise ProtobufError(f"{where}: wrong wire type {wire}")
        raw = self.buf[span[0]:span[1]]
        if not raw.strip():
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ProtobufError(f"{where}: embedded data is not JSON: {exc}") from None

    def _custom(self, msg: _Message, fields: dict, depth: int) -> Any:
        """MarshalJSON of metav1.FieldsV1 and of the apiextensions JSON schema helper types."""
        if msg.marshal == "raw":
            return self._raw_json(fields, msg.name)

        def part(number: int) -> Any:
            f = msg.by_number[number]
            return self.field(f, fields.get(number, []), depth)[0]

        if msg.marshal == "or_array":  # items: a schema or a list of schemas
            return part(2) or part(1)
        if msg.marshal == "or_bool":  # additionalProperties: a schema, else the boolean
            schema = part(2)
            return schema if schema is not None else bool(part(1))
        if msg.marshal == "or_string_array":  # dependencies: a list of names, else a schema
            return part(2) or part(1)
        raise ProtobufError(f"{msg.name}: unknown marshalling {msg.marshal}")


# --------------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------------


def _timestamp(buf: bytes, spans: list[tuple[int, int]], *, micro: bool, where: str) -> str | None:
    """metav1.Time / MicroTime from a Timestamp {1 seconds, 2 nanos}; null when zero.

    Time keeps whole seconds (time_proto.go drops the nanos); MicroTime truncates nanos to
    microseconds (micro_time_proto.go). Both print in UTC.
    """
    if not spans or spans[0][0] == spans[0][1]:
        return None  # Unmarshal of no data: time.Time{}
    fields = _scan(buf, spans)
    seconds = _last_number(fields, 1, "i64", buf, where)
    nanos = _last_number(fields, 2, "i32", buf, where) if micro else 0
    whole = abs(nanos) // 1000 * 1000  # time.Duration.Truncate(Microsecond): toward zero
    nanos = whole if nanos >= 0 else -whole
    seconds += nanos // 1_000_000_000  # time.Unix normalizes nsec into [0, 1e9)
    nanos %= 1_000_000_000
    if seconds == _ZERO_TIME_SECONDS and nanos == 0:
        return None
    return _format_utc(seconds, nanos // 1000 if micro else None)


def _last_number(fields: dict, number: int, code: str, buf: bytes, where: str) -> int:
    occurrences = fields.get(number)
    if not occurrences:
        return 0
    return _scalar(code, *occurrences[-1], buf, where)


def _format_utc(seconds: int, micros: int | None) -> str:
    """RFC 3339 in UTC as Go's AppendFormat writes it, for any year (no datetime range limits)."""
    days, rest = divmod(seconds, 86400)
    year, month, day = _civil_from_days(days)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    sign, year = ("-", -year) if year < 0 else ("", year)
    text = f"{sign}{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    if micros is not None:
        text += f".{micros:06d}"
    return text + "Z"


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day count since 1970-01-01 (H. Hinnant's civil_from_days)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


# --------------------------------------------------------------------------------------------------
# Envelope
# --------------------------------------------------------------------------------------------------


def _split_api_version(api_version: str) -> tuple[str, str]:
    """schema.ParseGroupVersion: "v1" → ("", "v1"), "apps/v1" → ("apps", "v1")."""
    if api_version.count("/") > 1:
        raise ProtobufError(f"unexpected GroupVersion string: {api_version}")
    group, _, version = api_version.rpartition("/")
    return group, version


def decode_object(body: bytes) -> dict:
    """The JSON-shaped object of a Kubernetes protobuf body (magic prefix + runtime.Unknown)."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise ProtobufError("protobuf body must be bytes")
    buf = bytes(body)
    if not buf.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf body: missing the 'k8s\\x00' prefix")
    try:
        return _decode(buf)
    except ProtobufError:
        raise
    except RecursionError:
        raise ProtobufError("messages nested too deeply") from None
    except (IndexError, KeyError, TypeError, ValueError, struct.error) as exc:  # defensive: never crash
        raise ProtobufError(f"malformed protobuf body: {exc}") from None


def _decode(buf: bytes) -> dict:
    envelope = _scan(buf, [(len(MAGIC), len(buf))])
    type_meta = _scan(buf, _spans(envelope.get(1, []), "typeMeta"))
    api_version = _last_text(type_meta, 1, buf, "typeMeta.apiVersion")
    kind = _last_text(type_meta, 2, buf, "typeMeta.kind")
    encoding = _last_text(envelope, 3, buf, "contentEncoding")
    content_type = _last_text(envelope, 4, buf, "contentType")
    if encoding:
        raise ProtobufError(f"unsupported contentEncoding {encoding!r}")
    if content_type and content_type != PROTOBUF:
        raise ProtobufError(f"unsupported contentType {content_type!r} in the protobuf envelope")
    group, version = _split_api_version(api_version)
    schema = _schema()
    message = schema.message_for(group, version, kind)
    if message is None:
        raise ProtobufError(f"no protobuf decoding for {group}/{version}, Kind={kind}")
    raw = _spans(envelope.get(2, []), "raw")[-1:]  # Unknown.Raw: the last occurrence
    obj: dict[str, Any] = {}
    # TypeMeta comes first in every kind's struct; both fields are omitempty.
    if kind:
        obj["kind"] = kind
    if api_version:
        obj["apiVersion"] = api_version
    obj.update(_Decoder(schema, buf).message(message.name, raw, 1))
    return obj


def _last_text(fields: dict, number: int, buf: bytes, where: str) -> str:
    occurrences = fields.get(number)
    if not occurrences:
        return ""
    return _scalar("s", *occurrences[-1], buf, where)
