"""Resource quantities ("500m", "1Gi", "12e6"): exact parsing and Kubernetes' canonical printing.

Role in the flow: the registry validates and canonicalizes quantities in specs (resources, limits,
quotas) before storage; the scheduler and quota controllers add and compare them as exact `Fraction`s
and print results back in the form kube-apiserver would. Mirrors
k8s.io/apimachinery/pkg/api/resource (quantity.go, suffix.go, amount.go).

Values are exact rationals: no float ever enters the arithmetic, which is the point of Quantity.
Parsing rounds anything finer than a nano (1e-9) away from zero, as ParseQuantity does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"
FORMATS = (DECIMAL_SI, BINARY_SI, DECIMAL_EXPONENT)

_SPLIT_RE_STRING = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
# The three errors ParseQuantity returns, word for word.
ERR_FORMAT_WRONG = f"quantities must match the regular expression '{_SPLIT_RE_STRING}'"
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"

_DIGITS = frozenset("0123456789")
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_MAX_INT64 = (1 << 63) - 1
_NANO = 10**9
# Exponents beyond this are refused: Kubernetes keeps them symbolically, an exact rational would
# need 10**exponent digits (a denial of service for "1e999999999").
_MAX_EXPONENT = 1000

_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIX_BY_EXPONENT = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_SUFFIX_BY_POWER = {0: "", 1: "Ki", 2: "Mi", 3: "Gi", 4: "Ti", 5: "Pi", 6: "Ei"}


class QuantityError(ValueError):
    """A string that is not a quantity; the message is the one Kubernetes gives."""


@dataclass(frozen=True, slots=True)
class _Scanned:
    """parseQuantityString's output: the pieces of `[sign]num[.denom]suffix`."""

    positive: bool
    num: str  # integer digits without leading zeros ("0" when none)
    denom: str  # fraction digits, possibly ""
    suffix: str


def _scan_digits(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _DIGITS:
        pos += 1
    return pos


def _scan(text: str) -> _Scanned:
    """A port of parseQuantityString: the same acceptance, so the same strings fail."""
    end = len(text)
    pos = 0
    positive = True
    if pos < end and text[0] in "+-":
        positive = text[0] == "+"
        pos += 1
    while pos < end and text[pos] == "0":  # leading zeros
        pos += 1
    if pos >= end:
        return _Scanned(positive, "0", "", "")
    num_end = _scan_digits(text, pos)
    num = text[pos:num_end] or "0"
    pos = num_end
    denom = ""
    if pos < end and text[pos] == ".":
        denom_end = _scan_digits(text, pos + 1)
        denom = text[pos + 1 : denom_end]
        pos = denom_end
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    pos = _scan_digits(text, pos)
    if pos < end:
        # a character that is neither digit, '.', suffix letter nor exponent sign
        raise QuantityError(ERR_FORMAT_WRONG)
    return _Scanned(positive, num, denom, text[suffix_start:])


def _interpret_suffix(suffix: str) -> tuple[int, int, str]:
    """suffixer.interpret: (base, exponent, format) or ERR_SUFFIX. No case folding, as upstream."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        exponent = _parse_go_int(suffix[1:])
        if exponent is None:
            raise QuantityError(ERR_SUFFIX)
        return 10, exponent, DECIMAL_EXPONENT
    raise QuantityError(ERR_SUFFIX)


def _parse_go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64) without Python's extras (spaces, underscores, Unicode digits)."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or any(ch not in _DIGITS for ch in body):
        return None
    value = int(text)
    return value if -_MAX_INT64 - 1 <= value <= _MAX_INT64 else None


def _round_to_nano(value: Fraction) -> Fraction:
    """Round away from zero to a multiple of 1e-9 ("if you want some resources, you get some")."""
    scaled = abs(value) * _NANO
    if scaled.denominator != 1:
        scaled = Fraction(math.ceil(scaled))
    return (scaled if value >= 0 else -scaled) / _NANO


def _as_text(text: str | int | float) -> str:
    # JSON numbers reach Quantity.UnmarshalJSON as their literal text; repr() is Python's equivalent.
    if isinstance(text, bool):
        raise QuantityError(ERR_FORMAT_WRONG)
    if isinstance(text, (int, float)):
        return repr(text)
    if not isinstance(text, str):
        raise QuantityError(ERR_FORMAT_WRONG)
    return text.strip()  # UnmarshalJSON trims surrounding whitespace before parsing


def _parse(text: str) -> tuple[Fraction, str, _Scanned | None]:
    if not text:
        raise QuantityError(ERR_FORMAT_WRONG)
    if text == "0":
        return Fraction(0), DECIMAL_SI, None
    scanned = _scan(text)
    base, exponent, fmt = _interpret_suffix(scanned.suffix)
    if abs(exponent) > _MAX_EXPONENT:
        raise QuantityError(ERR_NUMERIC)
    try:
        mantissa = int(scanned.num + scanned.denom)
    except ValueError as exc:  # more digits than Python converts (sys.int_info.default_max_str_digits)
        raise QuantityError(ERR_NUMERIC) from exc
    value = Fraction(mantissa, 10 ** len(scanned.denom)) * Fraction(base) ** exponent
    value = _round_to_nano(value)
    if fmt == BINARY_SI and value > _MAX_INT64:
        value = Fraction(_MAX_INT64)  # BinarySI amounts are capped at max int64
    if fmt == BINARY_SI and 0 < value < 1:
        fmt = DECIMAL_SI  # avoids rounding, and confusion
    if not scanned.positive:
        value = -value
    return value, fmt, scanned


def parse_quantity(text: str | int | float) -> Fraction:
    """ParseQuantity: the exact value of `text` ("100m" -> 1/10, "1Ki" -> 1024)."""
    return _parse(_as_text(text))[0]


def parse_quantity_with_format(text: str | int | float) -> tuple[Fraction, str]:
    """The value and the format Kubernetes remembers for it (the suffix family it was written in)."""
    value, fmt, _ = _parse(_as_text(text))
    return value, fmt


def _ceil_away_from_zero(value: Fraction) -> int:
    return math.ceil(value) if value >= 0 else math.floor(value)


def _coerce(q: Fraction | int | float | str) -> Fraction:
    if isinstance(q, Fraction):
        return q
    if isinstance(q, int) and not isinstance(q, bool):
        return Fraction(q)
    return parse_quantity(q)


def to_milli(q: Fraction | int | str) -> int:
    """MilliValue: ceil(q * 1000), away from zero; unbounded (Kubernetes would overflow int64)."""
    return _ceil_away_from_zero(_coerce(q) * 1000)


def to_int(q: Fraction | int | str) -> int:
    """Value: q rounded up to an integer, away from zero ("1m" -> 1)."""
    return _ceil_away_from_zero(_coerce(q))


def _strip_factor(value: int, factor: int) -> tuple[int, int]:
    times = 0
    while value and value % factor == 0:
        value //= factor
        times += 1
    return value, times


def _decimal_mantissa(q: Fraction) -> tuple[int, int]:
    """AsCanonicalBytes: mantissa and a base-10 exponent that is a multiple of 3, mantissa minimal."""
    nanos = _round_to_nano(q) * _NANO  # an exact integer after rounding
    magnitude, times = _strip_factor(abs(int(nanos)), 10)
    exponent = times - 9
    while exponent % 3:
        magnitude *= 10
        exponent -= 1
    return (magnitude if q > 0 else -magnitude), exponent


def _format_decimal(q: Fraction, fmt: str) -> str:
    mantissa, exponent = _decimal_mantissa(q)
    if fmt == DECIMAL_EXPONENT:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    if exponent > 18:
        # Kubernetes has no suffix past E and would drop it; print the same value in E instead.
        mantissa, exponent = mantissa * 10 ** (exponent - 18), 18
    return f"{mantissa}{_DECIMAL_SUFFIX_BY_EXPONENT[exponent]}"


def _format_binary(q: Fraction) -> str:
    magnitude, power = _strip_factor(abs(int(q)), 1024)
    if power > 6:
        magnitude, power = magnitude * 1024 ** (power - 6), 6  # no suffix past Ei
    sign = "-" if q < 0 else ""
    return f"{sign}{magnitude}{_BINARY_SUFFIX_BY_POWER[power]}"


def format_quantity(q: Fraction | int, format: str = DECIMAL_SI) -> str:  # noqa: A002 - Kubernetes' name
    """CanonicalizeBytes: the shortest exact form with the largest suffix of `format`.

    BinarySI falls back to DecimalSI for |q| < 1024 and for non-integers, as Kubernetes does
    ("1.5" -> "1500m", 1024Mi -> "1Gi", 1.5Gi -> "1536Mi", 512 in BinarySI -> "512").
    """
    if format not in FORMATS:
        raise ValueError(f"unknown quantity format {format!r}; expected one of {', '.join(FORMATS)}")
    q = Fraction(q)
    if q == 0:
        return "0"
    if format == BINARY_SI and (-1024 < q < 1024 or q.denominator != 1):
        format = DECIMAL_SI
    if format == BINARY_SI:
        return _format_binary(q)
    return _format_decimal(q, format)


def _keeps_original_text(scanned: _Scanned) -> bool:
    """Whether ParseQuantity's fast path caches the input string, which String() then returns as is.

    Kubernetes skips re-rendering when the input already looks canonical; the test is loose ("+1",
    "01" and "1.500" pass it), so the original spelling is what the API returns for those.
    """
    num, denom = scanned.num, scanned.denom
    _, exponent, fmt = _interpret_suffix(scanned.suffix)  # the suffix's format, before any fallback
    if fmt == BINARY_SI:
        if exponent < 0 or denom:
            return False
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
        multiplier, scale = 1 << exponent, 0
    else:
        precision = 18 - len(num) - len(denom)
        multiplier, scale = 1, exponent
    if precision < 0:
        return False
    scale -= len(denom)
    if scale < -9:
        return False
    shifted = num + denom
    value = int(shifted)
    if value * multiplier > _MAX_INT64:  # int64Multiply overflow sends Kubernetes to the slow path
        return False
    if fmt == BINARY_SI:
        return exponent % 10 == 0 and value & 0x07 != 0
    return scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"


def canonicalize(text: str | int | float) -> str:
    """The string kube-apiserver stores and returns for a quantity written as `text`."""
    source = _as_text(text)
    value, fmt, scanned = _parse(source)
    if scanned is None:
        return "0"
    if _keeps_original_text(scanned):
        return source
    return format_quantity(value, fmt)
