"""Quantities: exact parsing, Kubernetes' errors, canonical printing and rounding."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minik.api.quantity import (
    ERR_FORMAT_WRONG,
    ERR_NUMERIC,
    ERR_SUFFIX,
    QuantityError,
    canonicalize,
    format_quantity,
    parse_quantity,
    parse_quantity_with_format,
    to_int,
    to_milli,
)

F = Fraction


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", F(0)),
        ("1", F(1)),
        ("100m", F(1, 10)),
        ("1500m", F(3, 2)),
        ("1.5", F(3, 2)),
        (".5", F(1, 2)),
        ("1.", F(1)),
        ("+2", F(2)),
        ("-2", F(-2)),
        ("007", F(7)),
        ("1n", F(1, 10**9)),
        ("1u", F(1, 10**6)),
        ("1k", F(1000)),
        ("1M", F(10**6)),
        ("1G", F(10**9)),
        ("1T", F(10**12)),
        ("1P", F(10**15)),
        ("1E", F(10**18)),
        ("1Ki", F(1024)),
        ("1Mi", F(2**20)),
        ("1Gi", F(2**30)),
        ("1Ti", F(2**40)),
        ("1Pi", F(2**50)),
        ("1Ei", F(2**60)),
        ("1.5Gi", F(3 * 2**29)),
        ("1e3", F(1000)),
        ("1E3", F(1000)),
        ("1e+3", F(1000)),
        ("12E-3", F(12, 1000)),
        ("123456789012345678901234567890", F(123456789012345678901234567890)),
        ("-", F(0)),  # Kubernetes' scanner accepts a lone sign as zero
        (".", F(0)),
        ("Mi", F(0)),  # and a lone suffix
        ("  250m\n", F(1, 4)),  # UnmarshalJSON trims whitespace
    ],
)
def test_parse_quantity_exact_values(text: str, value: Fraction) -> None:
    assert parse_quantity(text) == value
    assert isinstance(parse_quantity(text), Fraction)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.1n", F(1, 10**9)),  # finer than a nano rounds up
        ("1.0000000001", F(1_000_000_001, 10**9)),
        ("-0.1n", F(-1, 10**9)),  # ... away from zero
        ("1e-10", F(1, 10**9)),
        ("8Ei", F(2**63 - 1)),  # BinarySI is capped at max int64
        ("-8Ei", F(-(2**63 - 1))),
        ("10E", F(10**19)),  # DecimalSI is not
    ],
)
def test_parse_quantity_rounding_and_caps(text: str, value: Fraction) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    ("source", "value"),
    [(3, F(3)), (-4, F(-4)), (0.5, F(1, 2)), (0.1, F(1, 10)), (1e-7, F(1, 10**7)), (2.5e10, F(25 * 10**9))],
)
def test_parse_quantity_from_json_numbers(source: int | float, value: Fraction) -> None:
    assert parse_quantity(source) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", ERR_FORMAT_WRONG),
        ("   ", ERR_FORMAT_WRONG),
        ("1.2.3", ERR_FORMAT_WRONG),
        ("1 Gi", ERR_FORMAT_WRONG),
        ("0x10", ERR_FORMAT_WRONG),
        ("1e3e3", ERR_FORMAT_WRONG),
        ("abc", ERR_FORMAT_WRONG),
        ("١", ERR_FORMAT_WRONG),  # only ASCII digits count
        ("10Mi5", ERR_SUFFIX),
        ("1ki", ERR_SUFFIX),  # suffixes are case-sensitive
        ("1K", ERR_SUFFIX),
        ("1i", ERR_SUFFIX),
        ("1e", ERR_SUFFIX),
        ("1e-", ERR_SUFFIX),
        ("1Ee3", ERR_SUFFIX),
        ("1+", ERR_SUFFIX),
        ("1e99999999999999999999", ERR_SUFFIX),  # exponent beyond int64
        ("1e1001", ERR_NUMERIC),  # refused here: Kubernetes would keep it symbolically
        ("1" * 5000, ERR_NUMERIC),
        (True, ERR_FORMAT_WRONG),
        (float("inf"), ERR_FORMAT_WRONG),
        (None, ERR_FORMAT_WRONG),
    ],
)
def test_parse_quantity_errors_match_kubernetes(text: object, message: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(text)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_error_texts_are_kubernetes_own() -> None:
    assert ERR_FORMAT_WRONG == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )
    assert ERR_SUFFIX == "unable to parse quantity's suffix"
    assert issubclass(QuantityError, ValueError)


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("1", "DecimalSI"),
        ("1k", "DecimalSI"),
        ("1Ki", "BinarySI"),
        ("0.5Ki", "BinarySI"),
        ("0.0001Ki", "DecimalSI"),  # below one, BinarySI would round: Kubernetes switches
        ("1e3", "DecimalExponent"),
        ("0", "DecimalSI"),
    ],
)
def test_parse_quantity_with_format(text: str, fmt: str) -> None:
    assert parse_quantity_with_format(text)[1] == fmt


@pytest.mark.parametrize(
    ("value", "fmt", "text"),
    [
        (F(0), "DecimalSI", "0"),
        (F(0), "BinarySI", "0"),
        (F(3, 2), "DecimalSI", "1500m"),
        (F(1, 10), "DecimalSI", "100m"),
        (F(1000), "DecimalSI", "1k"),
        (F(1500), "DecimalSI", "1500"),
        (F(-1, 2), "DecimalSI", "-500m"),
        (F(1, 10**9), "DecimalSI", "1n"),
        (F(1, 10**7), "DecimalSI", "100n"),
        (F(10**21), "DecimalSI", "1000E"),  # past the last suffix, the value is kept in E
        (F(2**30), "BinarySI", "1Gi"),
        (F(3 * 2**29), "BinarySI", "1536Mi"),
        (F(-(2**20)), "BinarySI", "-1Mi"),
        (F(512), "BinarySI", "512"),  # |q| < 1024 prints as DecimalSI
        (F(1025), "BinarySI", "1025"),
        (F(2048), "BinarySI", "2Ki"),
        (F(5632, 5), "BinarySI", "1126400m"),  # not an integer: DecimalSI
        (F(2**70), "BinarySI", "1024Ei"),
        (F(1000), "DecimalExponent", "1e3"),
        (F(3, 2), "DecimalExponent", "1500e-3"),
        (F(7), "DecimalExponent", "7"),
        (F(1, 3), "DecimalSI", "333333334n"),  # not decimal: rounded up to a nano, as Quantity would hold it
    ],
)
def test_format_quantity(value: Fraction, fmt: str, text: str) -> None:
    assert format_quantity(value, fmt) == text


def test_format_quantity_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown quantity format"):
        format_quantity(F(1), "Decimal")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1500m", "1500m"),
        ("1.5", "1500m"),
        ("0.5", "500m"),
        ("1000m", "1"),
        ("1024Mi", "1Gi"),
        ("1.5Gi", "1536Mi"),
        ("2048Ki", "2Mi"),
        ("0.5Ki", "512"),
        ("1e3", "1e3"),
        ("1000e0", "1e3"),
        ("1e-07", "100e-9"),
        ("100000k", "100M"),
        ("0", "0"),
        ("-0", "0"),
        ("0Gi", "0"),
        ("0.1n", "1n"),
        ("8Ei", "9223372036854775807"),
        # Kubernetes keeps the caller's text when its fast path judges it canonical; these look odd
        # but are exactly what kube-apiserver stores and returns
        ("+1", "+1"),
        ("01", "01"),
        ("1.500", "1.500"),
        ("12E-3", "12E-3"),
        (" 2 ", "2"),
        (0.25, "250m"),
        (3, "3"),
    ],
)
def test_canonicalize(text: str | float, canonical: str) -> None:
    assert canonicalize(text) == canonical


@pytest.mark.parametrize(
    ("text", "milli", "whole"),
    [
        ("1", 1000, 1),
        ("1m", 1, 1),
        ("0.1m", 1, 1),
        ("1500m", 1500, 2),
        ("1Ki", 1024000, 1024),
        ("1n", 1, 1),
        ("0", 0, 0),
        ("-1.5", -1500, -2),  # away from zero, as Value() documents
        ("-1n", -1, -1),
        ("10E", 10**22, 10**19),  # no int64 overflow here
    ],
)
def test_to_milli_and_to_int(text: str, milli: int, whole: int) -> None:
    assert to_milli(text) == milli == to_milli(parse_quantity(text))
    assert to_int(text) == whole == to_int(parse_quantity(text))


def test_quantities_add_and_compare_exactly() -> None:
    total = sum((parse_quantity(q) for q in ["100m", "250m", "0.65"]), F(0))
    assert total == 1 and format_quantity(total) == "1"
    assert parse_quantity("1Gi") > parse_quantity("1G")
    assert parse_quantity("1000Mi") < parse_quantity("1Gi")


_NANO_FRACTIONS = st.builds(lambda n: F(n, 10**9), st.integers(min_value=-(10**30), max_value=10**30))


@settings(max_examples=300, deadline=None)
@given(_NANO_FRACTIONS, st.sampled_from(["DecimalSI", "BinarySI", "DecimalExponent"]))
def test_format_then_parse_is_exact(value: Fraction, fmt: str) -> None:
    text = format_quantity(value, fmt)
    expected = value
    if text.endswith("i") and abs(value) > 2**63 - 1:  # Kubernetes caps BinarySI amounts on parse
        expected = F(2**63 - 1) if value > 0 else F(-(2**63 - 1))
    assert parse_quantity(text) == expected
    if expected == value:
        # Canonical output is a fixed point. (Not `canonicalize(text) == text`: a BinarySI amount that is
        # no multiple of 1024, e.g. 125000, prints without suffix and reads back as DecimalSI: "125k".)
        assert canonicalize(canonicalize(text)) == canonicalize(text)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**62), st.sampled_from(["", "Ki", "Mi", "Gi", "k", "M", "m", "n"]))
def test_integer_with_suffix_parses_to_its_product(number: int, suffix: str) -> None:
    factor = {"": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "m": F(1, 1000), "n": F(1, 10**9)}
    expected = number * F(factor[suffix])
    if suffix.endswith("i"):
        expected = min(expected, F(2**63 - 1))
    assert parse_quantity(f"{number}{suffix}") == expected
