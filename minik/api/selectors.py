"""Label and field selectors: parsing `?labelSelector=` / `?fieldSelector=` and metav1.LabelSelector.

Role in the flow: the API server parses the query parameters of list and watch requests with these
(a SelectorError becomes 400 BadRequest with the same message kube-apiserver gives) and filters every
object through `matches`; controllers and the scheduler build selectors from spec.selector dicts.
Mirrors k8s.io/apimachinery/pkg/labels/selector.go (lexer, parser, Requirement),
pkg/fields/selector.go and metav1.LabelSelectorAsSelector.

A selector is compiled once into a closure; `matches` is run for every object of a list (10k+), so it
does dict lookups only: no parsing, no regular expressions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from minik.api import validation

# selection.Operator values, as Kubernetes spells them.
OP_EQUALS = "="
OP_DOUBLE_EQUALS = "=="
OP_NOT_EQUALS = "!="
OP_IN = "in"
OP_NOT_IN = "notin"
OP_EXISTS = "exists"
OP_DOES_NOT_EXIST = "!"
OP_GREATER_THAN = "gt"
OP_LESS_THAN = "lt"

_BINARY_OPERATORS = (OP_IN, OP_NOT_IN, OP_EQUALS, OP_DOUBLE_EQUALS, OP_NOT_EQUALS, OP_GREATER_THAN, OP_LESS_THAN)
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_MISSING = object()  # stands for an absent label, so that "" and absent differ

Labels = Mapping[str, str]


class SelectorError(ValueError):
    """An unparsable or invalid selector; the API answers it with 400 BadRequest and this message."""


def _parse_int64(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64): optional sign, ASCII digits, int64 range; else None."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not body.isascii() or not body.isdigit():
        return None
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


# --------------------------------------------------------------------------------------------------
# Requirements
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requirement:
    """labels.Requirement: `key <operator> values`. Build through `new_requirement` to validate it."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        op = self.operator
        if op == OP_EXISTS:
            return self.key
        if op == OP_DOES_NOT_EXIST:
            return "!" + self.key
        shown = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if op in (OP_IN, OP_NOT_IN):
            return f"{self.key} {op} ({shown})"
        symbol = {OP_GREATER_THAN: ">", OP_LESS_THAN: "<"}.get(op, op)
        return f"{self.key}{symbol}{shown}"

    def matches(self, labels: Labels | None) -> bool:
        return _compile_requirement(self)(labels or {})


_IN_EMPTY = "for 'in', 'notin' operators, values set can't be empty"
_EXACT_ONE = "exact-match compatibility requires one single value"
_EXISTS_NONE = "values set must be empty for exists and does not exist"
_GT_LT_ONE = "for 'Gt', 'Lt' operators, exactly one value is required"
_GT_LT_INTEGER = "for 'Gt', 'Lt' operators, the value must be an integer"


def _operator_causes(operator: str, vals: tuple[str, ...], *, shown: object, prefix: str) -> list[validation.Cause]:
    """NewRequirement's arity and operator checks. `shown` is how the value list prints."""
    values_path = f"{prefix}values"
    if operator in (OP_IN, OP_NOT_IN):
        return [] if vals else [validation.invalid(values_path, shown, _IN_EMPTY)]
    if operator in (OP_EQUALS, OP_DOUBLE_EQUALS, OP_NOT_EQUALS):
        return [] if len(vals) == 1 else [validation.invalid(values_path, shown, _EXACT_ONE)]
    if operator in (OP_EXISTS, OP_DOES_NOT_EXIST):
        return [validation.invalid(values_path, shown, _EXISTS_NONE)] if vals else []
    if operator in (OP_GREATER_THAN, OP_LESS_THAN):
        causes = [] if len(vals) == 1 else [validation.invalid(values_path, shown, _GT_LT_ONE)]
        causes += [
            validation.invalid(f"{values_path}[{i}]", value, _GT_LT_INTEGER)
            for i, value in enumerate(vals)
            if _parse_int64(value) is None
        ]
        return causes
    supported = (*_BINARY_OPERATORS, OP_EXISTS, OP_DOES_NOT_EXIST)
    return [validation.not_supported(f"{prefix}operator", operator, supported)]


def new_requirement(key: str, operator: str, values: Iterable[str] | None, *, path: str = "") -> Requirement:
    """labels.NewRequirement: validates key, operator arity and values with Kubernetes' messages.

    `path` prefixes the error fields as field.WithPath would ("" gives Kubernetes' bare "key",
    "values[0]"...). `values=None` stands for Go's nil slice (rendered `null` in messages).
    """
    prefix = f"{path}." if path else ""
    vals = tuple(values or ())
    causes: list[validation.Cause] = []
    key_errors = validation.qualified_name(key)
    if key_errors:
        causes.append(validation.invalid(f"{prefix}key", key, "; ".join(key_errors)))
    causes += _operator_causes(operator, vals, shown=None if values is None else list(vals), prefix=prefix)
    for i, value in enumerate(vals):
        value_errors = validation.label_value(value)
        if value_errors:
            causes.append(validation.invalid(f"{prefix}values[{i}][{key}]", value, "; ".join(value_errors)))
    if causes:
        raise SelectorError(validation.aggregate_message(causes))
    return Requirement(key, operator, vals)


def _compile_requirement(req: Requirement) -> Callable[[Labels], bool]:
    """One requirement as a closure over precomputed values (Requirement.Matches)."""
    key, op, values = req.key, req.operator, req.values
    if op == OP_EXISTS:
        return lambda labels: key in labels
    if op == OP_DOES_NOT_EXIST:
        return lambda labels: key not in labels
    if op in (OP_IN, OP_EQUALS, OP_DOUBLE_EQUALS):
        if len(values) == 1:
            only = values[0]
            return lambda labels: labels.get(key, _MISSING) == only
        allowed = frozenset(values)
        return lambda labels: labels.get(key, _MISSING) in allowed
    if op in (OP_NOT_IN, OP_NOT_EQUALS):
        refused = frozenset(values)
        return lambda labels: labels.get(key, _MISSING) not in refused
    if op in (OP_GREATER_THAN, OP_LESS_THAN):
        bound = _parse_int64(values[0]) if len(values) == 1 else None
        if bound is None:
            return lambda labels: False
        greater = op == OP_GREATER_THAN

        def compare(labels: Labels) -> bool:
            raw = labels.get(key)
            number = _parse_int64(raw) if isinstance(raw, str) else None
            if number is None:
                return False
            return number > bound if greater else number < bound

        return compare
    return lambda labels: False


def _compile(requirements: tuple[Requirement, ...]) -> Callable[[Labels], bool]:
    """All requirements ANDed. Equality requirements collapse into one C-level dict-items subset test."""
    wanted: dict[str, str] = {}
    others: list[Callable[[Labels], bool]] = []
    for req in requirements:
        single_equal = req.operator in (OP_EQUALS, OP_DOUBLE_EQUALS, OP_IN) and len(req.values) == 1
        if not single_equal:
            others.append(_compile_requirement(req))
            continue
        if wanted.get(req.key, req.values[0]) != req.values[0]:
            return lambda labels: False  # a=1,a=2 can never hold
        wanted[req.key] = req.values[0]
    wanted_items = wanted.items()
    if not others:
        if not wanted:
            return lambda labels: True
        return lambda labels: wanted_items <= labels.items()
    checks = tuple(others)

    def check(labels: Labels) -> bool:
        if wanted and not wanted_items <= labels.items():
            return False
        for one in checks:
            if not one(labels):
                return False
        return True

    return check


class LabelSelector:
    """A parsed, compiled label selector (labels.Selector); immutable once built."""

    __slots__ = ("_requirements", "_nothing", "_check")

    def __init__(self, requirements: Iterable[Requirement] = (), *, nothing: bool = False) -> None:
        # sorted by key like internalSelector.Add/parse (a stable sort keeps equal keys in input order)
        self._requirements = tuple(sorted(requirements, key=lambda r: r.key))
        self._nothing = nothing
        self._check = (lambda labels: False) if nothing else _compile(self._requirements)

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        return cls(nothing=True)

    @property
    def requirements(self) -> tuple[Requirement, ...]:
        return self._requirements

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (Selector.Empty); False for nothing()."""
        return not self._nothing and not self._requirements

    @property
    def matches_nothing(self) -> bool:
        return self._nothing

    def matches(self, labels: Labels | None) -> bool:
        return self._check(labels if labels is not None else {})

    def exact_value(self, key: str) -> str | None:
        """RequiresExactMatch: the single value `key` must have, if the selector pins one."""
        for req in self._requirements:
            if req.key == key:
                if req.operator in (OP_EQUALS, OP_DOUBLE_EQUALS, OP_IN) and len(req.values) == 1:
                    return req.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self._requirements)

    def __repr__(self) -> str:
        return "LabelSelector(<nothing>)" if self._nothing else f"LabelSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelSelector):
            return NotImplemented
        return self._nothing == other._nothing and self._requirements == other._requirements

    def __hash__(self) -> int:
        return hash((self._nothing, self._requirements))


# --------------------------------------------------------------------------------------------------
# The label selector lexer and parser (a port of labels.Lexer / labels.Parser, messages included)
# --------------------------------------------------------------------------------------------------

# lexer tokens (labels.Token)
(_ERROR, _EOS, _CLOSED_PAR, _COMMA, _NOT, _DOUBLE_EQUALS, _EQUALS, _GT, _IDENT, _IN, _LT, _NOT_EQUALS, _NOT_IN,
 _OPEN_PAR) = range(14)

_STRING_TO_TOKEN = {
    ")": _CLOSED_PAR,
    ",": _COMMA,
    "!": _NOT,
    "==": _DOUBLE_EQUALS,
    "=": _EQUALS,
    ">": _GT,
    "in": _IN,
    "<": _LT,
    "!=": _NOT_EQUALS,
    "notin": _NOT_IN,
    "(": _OPEN_PAR,
}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_END = "\0"  # Go's lexer reads byte 0 at the end of input, and treats a NUL byte the same way


class _Lexer:
    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0

    def _read(self) -> str:
        if self._pos < len(self._text):
            ch = self._text[self._pos]
            self._pos += 1
            return ch
        return _END

    def _unread(self) -> None:
        self._pos -= 1

    def _scan_identifier(self) -> tuple[int, str]:
        chars = []
        while True:
            ch = self._read()
            if ch == _END:
                break
            if ch in _SPECIAL or ch in _WHITESPACE:
                self._unread()
                break
            chars.append(ch)
        literal = "".join(chars)
        return _STRING_TO_TOKEN.get(literal, _IDENT), literal

    def _scan_special(self) -> tuple[int, str]:
        buffer = ""
        last: tuple[int, str] | None = None
        while True:
            ch = self._read()
            if ch == _END:
                break
            if ch not in _SPECIAL:
                self._unread()
                break
            buffer += ch
            if buffer in _STRING_TO_TOKEN:
                last = (_STRING_TO_TOKEN[buffer], buffer)
            elif last is not None:
                self._unread()
                break
        if last is None:
            return _ERROR, f"error expected: keyword found '{buffer}'"
        return last

    def lex(self) -> tuple[int, str]:
        ch = self._read()
        while ch in _WHITESPACE:
            ch = self._read()
        if ch == _END:
            return _EOS, ""
        self._unread()
        if ch in _SPECIAL:
            return self._scan_special()
        return self._scan_identifier()


_KEY_AND_OPERATOR, _VALUES = 0, 1


class _Parser:
    def __init__(self, text: str) -> None:
        lexer = _Lexer(text)
        self._items: list[tuple[int, str]] = []
        while True:
            item = lexer.lex()
            self._items.append(item)
            if item[0] == _EOS:
                break
        self._pos = 0

    def _lookahead(self, context: int) -> tuple[int, str]:
        tok, lit = self._items[self._pos]
        if context == _VALUES and tok in (_IN, _NOT_IN):
            tok = _IDENT  # "in"/"notin" are plain values after an operator
        return tok, lit

    def _consume(self, context: int) -> tuple[int, str]:
        item = self._lookahead(context)
        self._pos += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self._lookahead(_VALUES)
            if tok == _EOS:
                return requirements
            if tok not in (_IDENT, _NOT):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self._parse_requirement())
            except SelectorError as exc:
                raise SelectorError(f"unable to parse requirement: {exc}") from None
            tok, lit = self._consume(_VALUES)
            if tok == _EOS:
                return requirements
            if tok != _COMMA:
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            tok2, lit2 = self._lookahead(_VALUES)
            if tok2 not in (_IDENT, _NOT):
                raise SelectorError(f"found '{lit2}', expected: identifier after ','")

    def _parse_requirement(self) -> Requirement:
        key, operator = self._parse_key_and_infer_operator()
        if operator in (OP_EXISTS, OP_DOES_NOT_EXIST):
            return new_requirement(key, operator, [])
        operator = self._parse_operator()
        values = self._parse_values() if operator in (OP_IN, OP_NOT_IN) else self._parse_exact_value()
        return new_requirement(key, operator, sorted(values))

    def _parse_key_and_infer_operator(self) -> tuple[str, str]:
        operator = ""
        tok, lit = self._consume(_VALUES)
        if tok == _NOT:
            operator = OP_DOES_NOT_EXIST
            tok, lit = self._consume(_VALUES)
        if tok != _IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key_errors = validation.qualified_name(lit)
        if key_errors:
            # the parser validates with a nil field path, which Go prints as "<nil>"
            raise SelectorError(validation.invalid("<nil>", lit, "; ".join(key_errors)).error())
        if self._lookahead(_VALUES)[0] in (_EOS, _COMMA) and operator != OP_DOES_NOT_EXIST:
            operator = OP_EXISTS
        return lit, operator

    def _parse_operator(self) -> str:
        tok, lit = self._consume(_KEY_AND_OPERATOR)
        operator = {
            _IN: OP_IN,
            _EQUALS: OP_EQUALS,
            _DOUBLE_EQUALS: OP_DOUBLE_EQUALS,
            _GT: OP_GREATER_THAN,
            _LT: OP_LESS_THAN,
            _NOT_IN: OP_NOT_IN,
            _NOT_EQUALS: OP_NOT_EQUALS,
        }.get(tok)
        if operator is None:
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        return operator

    def _parse_values(self) -> set[str]:
        tok, lit = self._consume(_VALUES)
        if tok != _OPEN_PAR:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self._lookahead(_VALUES)
        if tok in (_IDENT, _COMMA):
            values = self._parse_identifiers_list()
            if self._consume(_VALUES)[0] != _CLOSED_PAR:
                raise SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok == _CLOSED_PAR:
            self._consume(_VALUES)
            return {""}
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def _parse_identifiers_list(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self._consume(_VALUES)
            if tok == _IDENT:
                values.add(lit)
                tok2, lit2 = self._lookahead(_VALUES)
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSED_PAR:
                    return values
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok != _COMMA:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")
            # "(," ",)" and ",," all stand for the empty value
            if not values:
                values.add("")
            tok2 = self._lookahead(_VALUES)[0]
            if tok2 == _CLOSED_PAR:
                values.add("")
                return values
            if tok2 == _COMMA:
                self._consume(_VALUES)
                values.add("")

    def _parse_exact_value(self) -> set[str]:
        if self._lookahead(_VALUES)[0] in (_EOS, _COMMA):
            return {""}
        tok, lit = self._consume(_VALUES)
        if tok == _IDENT:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse_label_selector(text: str) -> LabelSelector:
    """labels.Parse: `a=b,c!=d,e in (f,g),h notin (i),j,!k,l>1,m<5`; "" matches everything."""
    if not isinstance(text, str):
        raise SelectorError(f"label selector must be a string, not {type(text).__name__}")
    return LabelSelector(_Parser(text).parse())


_METAV1_OPERATORS = {"In": OP_IN, "NotIn": OP_NOT_IN, "Exists": OP_EXISTS, "DoesNotExist": OP_DOES_NOT_EXIST}


def label_selector_from_dict(selector: Mapping | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector: None matches nothing, {} everything; invalid -> SelectorError."""
    if selector is None:
        return LabelSelector.nothing()
    if not isinstance(selector, Mapping):
        raise SelectorError(f"label selector must be an object, not {type(selector).__name__}")
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
        raise SelectorError("matchLabels must be an object and matchExpressions an array")
    if not match_labels and not expressions:
        return LabelSelector.everything()
    requirements = []
    for key in sorted(match_labels, key=str):  # Go ranges over the map in random order
        value = match_labels[key]
        if not isinstance(key, str) or not isinstance(value, str):
            raise SelectorError("matchLabels keys and values must be strings")
        requirements.append(new_requirement(key, OP_EQUALS, [value]))
    for expression in expressions:
        requirements.append(_requirement_from_expression(expression))
    return LabelSelector(requirements)


def _requirement_from_expression(expression: object) -> Requirement:
    if not isinstance(expression, Mapping):
        raise SelectorError("matchExpressions items must be objects")
    operator = expression.get("operator", "")
    if operator not in _METAV1_OPERATORS:
        raise SelectorError(f"{validation.go_quote(str(operator))} is not a valid label selector operator")
    values = expression.get("values")
    if values is not None and (not isinstance(values, list) or not all(isinstance(v, str) for v in values)):
        raise SelectorError("matchExpressions values must be an array of strings")
    key = expression.get("key", "")
    if not isinstance(key, str):
        raise SelectorError("matchExpressions key must be a string")
    # append([]string(nil), values...) is nil for an empty list: Kubernetes prints it as null
    return new_requirement(key, _METAV1_OPERATORS[operator], values or None)


def label_selector_from_set(labels: Mapping[str, str] | None) -> LabelSelector:
    """labels.SelectorFromValidatedSet: exact match of every pair; None or {} matches everything."""
    return LabelSelector(Requirement(k, OP_EQUALS, (v,)) for k, v in (labels or {}).items())


# --------------------------------------------------------------------------------------------------
# Field selectors (fields.ParseSelector)
# --------------------------------------------------------------------------------------------------


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not backslash-escaped; escapes stay in the terms."""
    if not text:
        return []
    terms = []
    start = 0
    in_slash = False
    for i, ch in enumerate(text):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """The first operator wins ('!=' before '==' before '='); the left side has no escapes."""
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def _unescape_value(value: str) -> str:
    if "\\" not in value and "," not in value and "=" not in value:
        return value
    out = []
    in_slash = False
    for ch in value:
        if in_slash:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch in ",=":
            # Go formats the rune with %v, i.e. as its number
            raise SelectorError(f"invalid field selector: unescapedRune character in value: {ord(ch)}")
        else:
            out.append(ch)
    if in_slash:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _escape_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


class FieldSelector:
    """A parsed field selector: an AND of `field=value` / `field!=value` terms."""

    __slots__ = ("_terms",)

    def __init__(self, terms: Iterable[tuple[str, str, str]] = ()) -> None:
        self._terms = tuple(terms)

    @property
    def requirements(self) -> list[tuple[str, str, str]]:
        """(field, operator, value) with operator "=" or "!=" (selection.Equals / NotEquals)."""
        return list(self._terms)

    @property
    def empty(self) -> bool:
        return not self._terms

    def fields(self) -> set[str]:
        return {field for field, _, _ in self._terms}

    def matches(self, fields: Mapping[str, str]) -> bool:
        """A field the object does not have compares as ""."""
        for field, op, value in self._terms:
            if (fields.get(field, "") == value) != (op == OP_EQUALS):
                return False
        return True

    def exact_value(self, field: str) -> str | None:
        """RequiresExactMatch: lets `metadata.name=x` become a point lookup."""
        for name, op, value in self._terms:
            if name == field and op == OP_EQUALS:
                return value
        return None

    def __str__(self) -> str:
        return ",".join(f"{field}{op}{_escape_value(value)}" for field, op, value in self._terms)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSelector) and self._terms == other._terms

    def __hash__(self) -> int:
        return hash(self._terms)


def parse_field_selector(text: str) -> FieldSelector:
    """fields.ParseSelector: `a=b,c==d,e!=f`; backslash escapes `\\,` `\\=` `\\\\` in values."""
    if not isinstance(text, str):
        raise SelectorError(f"field selector must be a string, not {type(text).__name__}")
    terms = []
    for part in sorted(_split_terms(text)):  # sorted raw, as Kubernetes does, for a stable order
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, raw_value = split
        value = _unescape_value(raw_value)
        if not field and not value:
            continue  # hasTerm.Transform turns an empty "=" into Everything
        terms.append((field, OP_NOT_EQUALS if op == "!=" else OP_EQUALS, value))
    return FieldSelector(terms)
