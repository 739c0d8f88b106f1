"""Kubernetes' JSONPath dialect (client-go `util/jsonpath`), evaluated over plain JSON values.

Role in the flow: the bottom of the API layer (pure, no imports from above). The table layer (`minik.apiserver.tables`) evaluates a
CustomResourceDefinition's `additionalPrinterColumns[].jsonPath` with it, the registry can reject a
CRD whose path does not parse (`JsonPathError`), and clients such as a `wait --for=jsonpath=...`
implementation can reuse it. Objects are JSON as decoded by orjson (dict / list / str / int / float /
bool / None).

The parser and evaluator follow client-go's `parser.go` and `jsonpath.go` closely, quirks included,
because kubectl users write paths against that implementation:

* a template is literal text plus `{...}` actions; `compile_jsonpath` also accepts a bare expression
  (`.a.b`, `a.b`, `[0]`) the way kubectl's relaxed expressions do;
* `['a.b']` is NOT a single key: client-go re-parses the quoted key as `.a.b` (kubernetes/client-go
  #553, #1000); a dot inside a key must be escaped, `['a\\.b']` or `.a\\.b`;
* missing keys yield no result when `allow_missing_keys` (the CRD table convertor and kubectl wait
  both allow them); out-of-range indexes and comparisons of different types are errors;
* `range`/`end` templates parse but are not evaluated here (nothing server-side needs them).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["JsonPath", "JsonPathError", "JsonPathEvalError", "compile_jsonpath", "to_text"]


class JsonPathError(ValueError):
    """The expression is not valid JSONPath (client-go's parser rejects it)."""


class JsonPathEvalError(JsonPathError):
    """The expression parsed but cannot be evaluated against this object."""


# --- syntax tree ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Text:
    text: str


@dataclass(frozen=True, slots=True)
class _Field:
    name: str


@dataclass(frozen=True, slots=True)
class _Param:
    value: int = 0
    known: bool = False
    derived: bool = False  # the end of `[i]`, computed as i+1


@dataclass(frozen=True, slots=True)
class _Array:
    start: _Param
    end: _Param
    step: _Param


@dataclass(frozen=True, slots=True)
class _Number:
    value: int | float


@dataclass(frozen=True, slots=True)
class _Bool:
    value: bool


@dataclass(frozen=True, slots=True)
class _Wildcard:
    pass


@dataclass(frozen=True, slots=True)
class _Recursive:
    pass


@dataclass(frozen=True, slots=True)
class _Identifier:
    name: str


@dataclass(slots=True)
class _List:
    nodes: list = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Union:
    branches: tuple[_List, ...]


@dataclass(frozen=True, slots=True)
class _Filter:
    left: _List
    right: _List
    operator: str  # "exists" when the filter has no comparison


# --- parser (a transcription of client-go's parser.go) --------------------------------------------

_DICT_KEY = re.compile(r"^'([^']*)'$")
_SLICE = re.compile(r"^(-?[0-9]*)(:-?[0-9]*)?(:-?[0-9]*)?$")
_FILTER = re.compile(r"^([^!<>=]+)([!<>=]+)(.+?)$")
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
_TERMINATORS = frozenset(" \t\r\n.,[]$@{}")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def _is_alphanumeric(char: str) -> bool:
    # Go's unicode.IsLetter / IsDigit are the L* and Nd categories, which str.isalpha/isdecimal match.
    return char == "_" or char.isalpha() or char.isdecimal()


def _go_rune(char: str) -> str:
    """Go's %#U rendering of a rune, used in parser error messages."""
    return f"U+{ord(char):04X} '{char}'"


class _Parser:
    """One pass over a template; `parse()` returns the root list (text nodes and action lists)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> _List:
        root = _List()
        while True:
            brace = self.text.find("{", self.pos)
            if brace < 0:
                if self.pos < len(self.text):
                    root.nodes.append(_Text(self.text[self.pos:]))
                return root
            if brace > self.pos:
                root.nodes.append(_Text(self.text[self.pos:brace]))
            self.pos = brace + 1
            action = _List()
            root.nodes.append(action)
            self._parse_action(action)

    def _parse_action(self, cur: _List) -> None:
        """Parses up to and including the closing brace of one `{...}` action."""
        while True:
            rest = self.text[self.pos:]
            if rest.startswith("}"):
                self.pos += 1
                return
            if rest.startswith("[?("):
                self._parse_filter(cur)
                continue
            if rest.startswith(".."):
                self._parse_recursive(cur)
                continue
            if not rest or rest[0] in "\r\n":
                raise JsonPathError("unclosed action")
            self._parse_token(cur, rest[0])

    def _parse_token(self, cur: _List, char: str) -> None:
        if char in " @$":  # blanks and the current/root object are no-ops
            self.pos += 1
        elif char == "[":
            self._parse_array(cur)
        elif char in "\"'":
            self._parse_quote(cur, char)
        elif char == ".":
            self.pos += 1
            self._parse_field(cur)
        elif char in "+-" or char.isdecimal():
            self._parse_number(cur)
        elif _is_alphanumeric(char):
            self._parse_identifier(cur)
        else:
            raise JsonPathError(f"unrecognized character in action: {_go_rune(char)}")

    def _scan_word(self, *, escapes: bool = True) -> str:
        """Consumes up to the next terminator; in fields a backslash escapes the next character."""
        start = self.pos
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if escapes and char == "\\":
                self.pos += 2
                continue
            if char in _TERMINATORS:
                break
            self.pos += 1
        self.pos = min(self.pos, len(self.text))
        return self.text[start:self.pos]

    def _parse_field(self, cur: _List) -> None:
        word = self._scan_word()
        cur.nodes.append(_Wildcard() if word == "*" else _Field(word.replace("\\", "")))

    def _parse_identifier(self, cur: _List) -> None:
        word = self._scan_word(escapes=False)
        if word in ("true", "false"):
            cur.nodes.append(_Bool(word == "true"))
        else:
            cur.nodes.append(_Identifier(word))

    def _parse_number(self, cur: _List) -> None:
        start = self.pos
        if self.text[self.pos] in "+-":
            self.pos += 1
        while self.pos < len(self.text) and (self.text[self.pos] == "." or self.text[self.pos].isdecimal()):
            self.pos += 1
        word = self.text[start:self.pos]
        if _INT.fullmatch(word):
            cur.nodes.append(_Number(int(word)))
        elif _FLOAT.fullmatch(word):
            cur.nodes.append(_Number(float(word)))
        else:
            raise JsonPathError(f"cannot parse number {word}")

    def _parse_recursive(self, cur: _List) -> None:
        if cur.nodes and isinstance(cur.nodes[-1], _Recursive):
            raise JsonPathError("invalid multiple recursive descent")
        self.pos += 2
        cur.nodes.append(_Recursive())
        if self.pos < len(self.text) and _is_alphanumeric(self.text[self.pos]):
            self._parse_field(cur)

    def _parse_quote(self, cur: _List, quote: str) -> None:
        start = self.pos
        self.pos += 1
        while True:
            if self.pos >= len(self.text) or self.text[self.pos] == "\n":
                raise JsonPathError("unterminated quoted string")
            char = self.text[self.pos]
            self.pos += 1
            if char == quote and self.text[self.pos - 2] != "\\":
                break
        cur.nodes.append(_Text(_unquote(self.text[start:self.pos])))

    def _parse_array(self, cur: _List) -> None:
        close = self._find_array_end()
        inner = self.text[self.pos + 1:close]
        self.pos = close + 1
        if inner == "*":
            inner = ":"
        parts = inner.split(",")
        if len(parts) > 1:
            cur.nodes.append(_Union(tuple(_parse_sub_action(f"[{part.strip(' ')}]") for part in parts)))
            return
        key = _DICT_KEY.match(inner)
        if key:
            # client-go re-parses the key as a dotted path, so ['a.b'] means .a.b (see module doc)
            cur.nodes.extend(_parse_sub_action("." + key.group(1)).nodes)
            return
        cur.nodes.append(_parse_slice(inner))

    def _find_array_end(self) -> int:
        for index in range(self.pos + 1, len(self.text)):
            if self.text[index] == "]":
                return index
            if self.text[index] == "\n":
                break
        raise JsonPathError("unterminated array")

    def _parse_filter(self, cur: _List) -> None:
        self.pos += len("[?(")
        start = self.pos
        self.pos = self._find_filter_end()
        if self.pos >= len(self.text) or self.text[self.pos] != "]":
            raise JsonPathError("unclosed array expect ]")
        self.pos += 1
        expression = self.text[start:self.pos - 2]
        comparison = _FILTER.match(expression)
        if comparison is None:
            cur.nodes.append(_Filter(_parse_sub_action(expression), _List(), "exists"))
            return
        left, operator, right = comparison.groups()
        cur.nodes.append(_Filter(_parse_sub_action(left), _parse_sub_action(right), operator))

    def _find_filter_end(self) -> int:
        """Index just past the `)` closing a filter; quotes may hide one `)` (client-go's rule)."""
        begin = end = False
        pair = ""
        pos = self.pos
        while True:
            if pos >= len(self.text) or self.text[pos] == "\n":
                raise JsonPathError("unterminated filter")
            char = self.text[pos]
            pos += 1
            if char in "\"'":
                if not begin:
                    begin, pair = True, char
                elif self.text[pos - 2] != "\\" and char == pair:
                    end = True
            elif char == ")" and begin == end:
                return pos


def _parse_sub_action(text: str) -> _List:
    """client-go's parseAction: parse `{text}` and keep its first action."""
    root = _Parser("{" + text + "}").parse()
    first = root.nodes[0]
    return first if isinstance(first, _List) else _List([first])


def _parse_slice(inner: str) -> _Array:
    match = _SLICE.match(inner)
    if match is None:
        raise JsonPathError(f"invalid array index {inner}")
    start_text, end_text, step_text = match.groups()
    start = _Param(int(start_text), True) if start_text else _Param()
    if end_text is None:
        end = _Param(start.value + 1, True, derived=True)
    else:
        end = _Param(int(end_text[1:]), True) if end_text[1:] else _Param()
    step = _Param(int(step_text[1:]), True) if step_text and step_text[1:] else _Param()
    return _Array(start, end, step)


def _unquote(quoted: str) -> str:
    """client-go's UnquoteExtend: Go string unquoting that also accepts single quotes."""
    if len(quoted) < 2 or quoted[-1] != quoted[0]:
        raise JsonPathError(f"unquote string {quoted} error invalid syntax")
    quote, body = quoted[0], quoted[1:-1]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        char, index = _unescape(body, index + 1, quote)
        out.append(char)
    return "".join(out)


def _unescape(body: str, index: int, quote: str) -> tuple[str, int]:
    """Decodes the escape starting at body[index] (just past the backslash), like strconv.UnquoteChar."""
    if index >= len(body):
        raise JsonPathError("unquote string error invalid syntax")
    char = body[index]
    if char in _ESCAPES:
        return _ESCAPES[char], index + 1
    if char in "'\"":
        if char != quote:
            raise JsonPathError("unquote string error invalid syntax")
        return char, index + 1
    widths = {"x": 2, "u": 4, "U": 8}
    if char in widths:
        digits = body[index + 1:index + 1 + widths[char]]
        if len(digits) != widths[char] or not all(d in "0123456789abcdefABCDEF" for d in digits):
            raise JsonPathError("unquote string error invalid syntax")
        return chr(int(digits, 16)), index + 1 + widths[char]
    raise JsonPathError("unquote string error invalid syntax")


# --- evaluation ----------------------------------------------------------------------------------


def _children(value: object) -> list:
    """What `*` and `..` descend into; Go indexes a string byte by byte, so we do too."""
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    if isinstance(value, str):
        return list(value.encode())
    return []


def _go_type(value: object) -> str:
    """The Go type name unstructured JSON would have, for error messages."""
    if isinstance(value, bool):
        return "bool"
    names = {dict: "map[string]interface {}", list: "[]interface {}", str: "string", int: "int64",
             float: "float64"}
    return names.get(type(value), "interface {}")


def _comparable_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    raise JsonPathEvalError("invalid type for comparison")


def _compare(operator: str, left: object, right: object) -> bool:
    """Go text/template's eq/lt family: both sides must be the same basic kind."""
    kind = _comparable_kind(left)
    if kind != _comparable_kind(right):
        raise JsonPathEvalError("incompatible types for comparison")
    if operator == "==":
        return left == right
    if operator == "!=":
        return left != right
    if operator not in ("<", ">", "<=", ">="):
        raise JsonPathEvalError(f"unrecognized filter operator {operator}")
    if kind == "bool":
        raise JsonPathEvalError("invalid type for comparison")
    return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[operator]


@dataclass(frozen=True, slots=True)
class _Evaluator:
    allow_missing_keys: bool

    def walk(self, values: list, node: object) -> list:
        if isinstance(node, _List):
            return self.eval_list(values, node)
        if isinstance(node, _Text):
            return [node.text]
        if isinstance(node, (_Number, _Bool)):
            return [node.value for _ in values]
        handler = {
            _Field: self.eval_field, _Array: self.eval_array, _Filter: self.eval_filter,
            _Wildcard: self.eval_wildcard, _Recursive: self.eval_recursive, _Union: self.eval_union,
        }.get(type(node))
        if handler is None:
            assert isinstance(node, _Identifier)
            if node.name in ("range", "end"):
                raise JsonPathEvalError("range/end templates are not supported")
            raise JsonPathEvalError(f"unrecognized identifier {node.name}")
        return handler(values, node)

    def eval_list(self, values: list, node: _List) -> list:
        for child in node.nodes:
            values = self.walk(values, child)
        return values

    def eval_field(self, values: list, node: _Field) -> list:
        results = [value[node.name] for value in values if isinstance(value, dict) and node.name in value]
        if not results and values and not self.allow_missing_keys:
            raise JsonPathEvalError(f"{node.name} is not found")
        return results

    def eval_array(self, values: list, node: _Array) -> list:
        results: list = []
        for value in values:
            if value is None:
                continue
            if not isinstance(value, list):
                raise JsonPathEvalError(f"{_go_type(value)} is not array or slice")
            selected = self._slice(value, node)
            if selected is None:  # client-go stops at the first empty slice
                return results
            results.extend(selected)
        return results

    @staticmethod
    def _slice(value: list, node: _Array) -> list | None:
        length = len(value)
        start = node.start.value if node.start.known else 0
        if start < 0:
            start += length
        end = node.end.value if node.end.known else length
        if end < 0 or (end == 0 and node.end.derived):
            end += length
        if start == end:
            return None
        if start >= length or start < 0:
            raise JsonPathEvalError(f"array index out of bounds: index {start}, length {length}")
        if end > length or end < 0:
            raise JsonPathEvalError(f"array index out of bounds: index {end - 1}, length {length}")
        if start > end:
            raise JsonPathEvalError(f"starting index {start} is greater than ending index {end}")
        step = 1
        if node.step.known:
            if node.step.value <= 0:
                raise JsonPathEvalError("step must be > 0")
            step = node.step.value
        return value[start:end:step]

    def eval_filter(self, values: list, node: _Filter) -> list:
        results: list = []
        for value in values:
            if not isinstance(value, list):
                raise JsonPathEvalError(f"{to_text(value)} is not array or slice and cannot be filtered")
            results.extend(item for item in value if self._passes(item, node))
        return results

    def _passes(self, item: object, node: _Filter) -> bool:
        if node.operator == "exists":
            try:
                return bool(self.eval_list([item], node.left))
            except JsonPathEvalError:  # client-go ignores errors of an existence test
                return False
        lefts = self.eval_list([item], node.left)
        if len(lefts) != 1:
            if lefts:
                raise JsonPathEvalError("can only compare one element at a time")
            return False
        rights = self.eval_list([item], node.right)
        if len(rights) != 1:
            if rights:
                raise JsonPathEvalError("can only compare one element at a time")
            return False
        return _compare(node.operator, lefts[0], rights[0])

    def eval_wildcard(self, values: list, node: _Wildcard) -> list:
        return [child for value in values for child in _children(value)]

    def eval_recursive(self, values: list, node: _Recursive) -> list:
        results: list = []
        for value in values:
            children = _children(value)
            if children:
                results.append(value)
                results.extend(self.eval_recursive(children, node))
        return results

    def eval_union(self, values: list, node: _Union) -> list:
        return [result for branch in node.branches for result in self.eval_list(values, branch)]


# --- public API ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JsonPath:
    """A compiled template; immutable, so one instance can serve concurrent requests."""

    expression: str
    _root: _List = field(repr=False)

    def find_results(self, obj: object, *, allow_missing_keys: bool = True) -> list[list]:
        """client-go FindResults: one result list per template part (literal text or `{...}`)."""
        evaluator = _Evaluator(allow_missing_keys)
        return [evaluator.walk([obj], node) for node in self._root.nodes]

    def find(self, obj: object, *, allow_missing_keys: bool = True) -> list:
        """Every value the template selects, in order (results of all parts, flattened)."""
        parts = self.find_results(obj, allow_missing_keys=allow_missing_keys)
        return [value for part in parts for value in part]

    def render(self, obj: object, *, allow_missing_keys: bool = True) -> str:
        """client-go Execute: each part's values printed with Go's %v and joined by spaces."""
        parts = self.find_results(obj, allow_missing_keys=allow_missing_keys)
        return "".join(" ".join(to_text(value) for value in part) for part in parts)


def _relaxed(expression: str) -> str:
    """A bare expression becomes one action, like kubectl's RelaxedJSONPathExpression (`a.b` → `{.a.b}`)."""
    if "{" in expression:
        return expression
    if expression[:1] in (".", "[", "$", "@"):
        return "{" + expression + "}"
    return "{." + expression + "}"


def compile_jsonpath(expr: str) -> JsonPath:
    """Parses a JSONPath template (`{.status.phase}`) or a bare expression (`.status.phase`)."""
    if not isinstance(expr, str) or not expr:
        raise JsonPathError("jsonpath expression must be a non-empty string")
    return JsonPath(expr, _Parser(_relaxed(expr)).parse())


# --- Go %v rendering -----------------------------------------------------------------------------


def _go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64), which is what fmt's %v prints for a float64."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent  # position of the decimal point within digits
    prefix = "-" if sign else ""
    if point - 1 < -4 or point - 1 >= 6:  # shortest 'g' switches to %e at exponent 6
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        power = point - 1
        return f"{prefix}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return prefix + digits + "0" * (point - len(digits))
    return f"{prefix}{digits[:point]}.{digits[point:]}"


def to_text(value: object) -> str:
    """Go's fmt %v of an unstructured JSON value (`map[a:1 b:[x y]]`), as jsonpath prints it."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(to_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{to_text(value[key])}" for key in sorted(value)) + "]"
    return str(value)

