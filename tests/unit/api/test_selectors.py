"""Label and field selectors: parsing, canonical strings, Kubernetes' error messages, matching."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minik.api.selectors import (
    FieldSelector,
    LabelSelector,
    Requirement,
    SelectorError,
    label_selector_from_dict,
    label_selector_from_set,
    new_requirement,
    parse_field_selector,
    parse_label_selector,
)

QUALIFIED_NAME_REGEX_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)

# --------------------------------------------------------------------------------------------------
# label selector parsing
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("   ", ""),
        ("a=b", "a=b"),
        ("a==b", "a==b"),
        ("a!=b", "a!=b"),
        ("  a = b  ,  c != d ", "a=b,c!=d"),
        ("z=1,a=2", "a=2,z=1"),  # sorted by key
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        ("x in (b,a,b)", "x in (a,b)"),  # a set: sorted, deduplicated
        ("x in (a,)", "x in (,a)"),
        ("!a", "!a"),
        ("a", "a"),
        ("a>1,b<05", "a>1,b<05"),
        ("a=", "a="),
        ("a=,b", "a=,b"),
        ("in in (in),notin notin (notin)", "in in (in),notin notin (notin)"),
        ("example.com/app=web", "example.com/app=web"),
        ("a\tin\t(b)", "a in (b)"),
    ],
)
def test_parse_label_selector_canonical_string(text: str, canonical: str) -> None:
    assert str(parse_label_selector(text)) == canonical


def test_parse_label_selector_requirements() -> None:
    selector = parse_label_selector("x in (b,a),!y,z>3")
    assert selector.requirements == (
        Requirement("x", "in", ("a", "b")),
        Requirement("y", "!", ()),
        Requirement("z", "gt", ("3",)),
    )


def test_empty_selector_matches_everything() -> None:
    selector = parse_label_selector("")
    assert selector.empty and not selector.matches_nothing
    assert selector.matches(None) and selector.matches({}) and selector.matches({"a": "b"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a===", "unable to parse requirement: found '=', expected: identifier"),
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("a in b", "unable to parse requirement: found 'b' expected: '('"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in (b,", "unable to parse requirement: found '', expected: ',', or identifier"),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("a,", "found '', expected: identifier after ','"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("(a)", "found '(', expected: !, identifier, or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("!=a", "found '!=', expected: !, identifier, or 'end of string'"),
        ("!!a", "unable to parse requirement: found '!', expected: identifier"),
        ("a=(b)", "unable to parse requirement: found '(', expected: identifier"),
        (
            "a>x",
            "unable to parse requirement: values[0]: Invalid value: \"x\": "
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "a<99999999999999999999",
            "unable to parse requirement: values[0]: Invalid value: \"99999999999999999999\": "
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "-a=b",
            f'unable to parse requirement: <nil>: Invalid value: "-a": name part {QUALIFIED_NAME_REGEX_MSG}',
        ),
        (
            "a/b/c",
            f'unable to parse requirement: <nil>: Invalid value: "a/b/c": a qualified name {QUALIFIED_NAME_REGEX_MSG}'
            " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
        ),
        (
            "x=" + "v" * 64,
            f'unable to parse requirement: values[0][x]: Invalid value: "{"v" * 64}": '
            "must be no more than 63 characters",
        ),
    ],
)
def test_parse_label_selector_errors_match_kubernetes(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_label_selector(text)
    assert str(info.value) == message


def test_negative_bounds_are_not_label_values() -> None:
    # "-5" parses as an integer but is not a valid label value, so Kubernetes refuses it too
    with pytest.raises(SelectorError, match=r'^unable to parse requirement: values\[0\]\[b\]: Invalid value: "-5": '):
        parse_label_selector("b<-5")


def test_parse_error_aggregates_several_causes() -> None:
    with pytest.raises(SelectorError) as info:
        parse_label_selector("a>-x-")
    assert str(info.value) == (
        "unable to parse requirement: [values[0]: Invalid value: \"-x-\": for 'Gt', 'Lt' operators, the value must be "
        'an integer, values[0][a]: Invalid value: "-x-": a valid label must be an empty string or consist of '
        "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')]"
    )


def test_selector_error_is_a_value_error() -> None:
    assert issubclass(SelectorError, ValueError)


# --------------------------------------------------------------------------------------------------
# matching
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("a=b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a=b", {}, False),
        ("a=", {}, False),  # "" is a value; absent is not ""
        ("a=", {"a": ""}, True),
        ("a!=b", {}, True),
        ("a!=b", {"a": "b"}, False),
        ("a!=b", {"a": "c"}, True),
        ("a in (x,y)", {"a": "y"}, True),
        ("a in (x,y)", {"a": "z"}, False),
        ("a in (x,y)", {}, False),
        ("a notin (x,y)", {}, True),
        ("a notin (x,y)", {"a": "x"}, False),
        ("a", {"a": ""}, True),
        ("a", {"b": "a"}, False),
        ("!a", {}, True),
        ("!a", {"a": "x"}, False),
        ("a>5", {"a": "6"}, True),
        ("a>5", {"a": "5"}, False),
        ("a>5", {"a": "+7"}, True),
        ("a>5", {"a": "seven"}, False),
        ("a>5", {"a": " 7"}, False),  # strconv.ParseInt has no whitespace tolerance
        ("a>5", {"a": "1_0"}, False),
        ("a>5", {}, False),
        ("a<3", {"a": "-2"}, True),
        ("a<3", {"a": "3"}, False),
        ("a=1,a=2", {"a": "1"}, False),  # contradictory requirements
        ("a=1,a in (1)", {"a": "1"}, True),
        ("a=b,c notin (d),e", {"a": "b", "e": ""}, True),
        ("a=b,c notin (d),e", {"a": "b", "c": "d", "e": ""}, False),
        ("a=b,!e", {"a": "b", "e": ""}, False),
    ],
)
def test_label_selector_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    selector = parse_label_selector(text)
    assert selector.matches(labels) is expected
    for requirement in selector.requirements:  # each requirement agrees with the compiled whole
        if expected:
            assert requirement.matches(labels)


def test_matches_treats_none_labels_as_empty() -> None:
    assert parse_label_selector("!a").matches(None)
    assert not parse_label_selector("a").matches(None)


def test_exact_value() -> None:
    selector = parse_label_selector("app=web,tier in (db),zone in (a,b),x!=y")
    assert selector.exact_value("app") == "web"
    assert selector.exact_value("tier") == "db"
    assert selector.exact_value("zone") is None
    assert selector.exact_value("x") is None
    assert selector.exact_value("missing") is None


def test_matching_ten_thousand_objects_is_cheap() -> None:
    objects = [{"app": f"app-{i % 10}", "tier": "web" if i % 2 else "db", "idx": str(i)} for i in range(10_000)]
    equality = parse_label_selector("app=app-3,tier=web")
    mixed = parse_label_selector("app in (app-1,app-3),tier!=db,idx,!gone")
    started = time.perf_counter()
    for _ in range(3):
        equal_hits = sum(1 for labels in objects if equality.matches(labels))
        mixed_hits = sum(1 for labels in objects if mixed.matches(labels))
    elapsed = time.perf_counter() - started
    assert equal_hits == 1000 and mixed_hits == 2000
    assert elapsed < 1.0, f"60k matches took {elapsed:.3f}s"


# --------------------------------------------------------------------------------------------------
# metav1.LabelSelector
# --------------------------------------------------------------------------------------------------


def test_none_selector_matches_nothing_and_empty_matches_everything() -> None:
    nothing = label_selector_from_dict(None)
    assert nothing.matches_nothing and not nothing.empty and str(nothing) == ""
    assert not nothing.matches({}) and not nothing.matches({"a": "b"})
    everything = label_selector_from_dict({})
    assert everything.empty and everything.matches({"a": "b"})
    assert label_selector_from_dict({"matchLabels": {}, "matchExpressions": []}).empty


def test_label_selector_from_dict_combines_labels_and_expressions() -> None:
    selector = label_selector_from_dict(
        {
            "matchLabels": {"app": "web", "tier": "front"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "canary"]},
                {"key": "legacy", "operator": "DoesNotExist"},
                {"key": "team", "operator": "Exists"},
                {"key": "zone", "operator": "NotIn", "values": ["b"]},
            ],
        }
    )
    assert str(selector) == "app=web,env in (canary,prod),!legacy,team,tier=front,zone notin (b)"
    assert selector.matches({"app": "web", "tier": "front", "env": "prod", "team": "x"})
    assert not selector.matches({"app": "web", "tier": "front", "env": "prod", "team": "x", "legacy": "1"})
    assert not selector.matches({"app": "web", "tier": "front", "env": "dev", "team": "x"})
    assert not selector.matches({"app": "web", "tier": "front", "env": "prod", "team": "x", "zone": "b"})


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
            '"Gt" is not a valid label selector operator',
        ),
        ({"matchExpressions": [{"key": "a"}]}, '"" is not a valid label selector operator'),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            'values: Invalid value: ["x"]: values set must be empty for exists and does not exist',
        ),
        ({"matchLabels": {"a b": "c"}}, f'key: Invalid value: "a b": name part {QUALIFIED_NAME_REGEX_MSG}'),
        ({"matchLabels": "app=web"}, "matchLabels must be an object and matchExpressions an array"),
    ],
)
def test_label_selector_from_dict_errors(selector: dict, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        label_selector_from_dict(selector)
    assert str(info.value) == message


def test_new_requirement_unknown_operator_lists_supported_ones() -> None:
    with pytest.raises(SelectorError) as info:
        new_requirement("a", "like", ["b"])
    assert str(info.value) == (
        'operator: Unsupported value: "like": '
        'supported values: "in", "notin", "=", "==", "!=", "gt", "lt", "exists", "!"'
    )


def test_label_selector_from_set() -> None:
    selector = label_selector_from_set({"b": "2", "a": "1"})
    assert str(selector) == "a=1,b=2"
    assert selector.matches({"a": "1", "b": "2", "c": "3"}) and not selector.matches({"a": "1"})
    assert label_selector_from_set(None).empty and label_selector_from_set({}).matches({})


def test_selectors_compare_by_requirements() -> None:
    assert parse_label_selector("b=2,a=1") == parse_label_selector("a=1, b=2")
    assert parse_label_selector("a=1") != parse_label_selector("a==1")
    assert LabelSelector.nothing() != LabelSelector.everything()
    assert len({parse_label_selector("a"), parse_label_selector(" a ")}) == 1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["app", "tier", "example.com/role", "x.y_z-1"]),
            st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!", "gt", "lt"]),
            st.lists(st.sampled_from(["", "a", "b-1", "C.d", "1", "in"]), min_size=1, max_size=3),
        ),
        max_size=4,
    )
)
def test_canonical_string_reparses_to_the_same_selector(parts: list[tuple[str, str, list[str]]]) -> None:
    requirements = []
    for key, op, values in parts:
        if op in ("exists", "!"):
            values = []
        elif op in ("gt", "lt"):
            values = ["7"]
        elif op in ("=", "==", "!="):
            values = values[:1]
        else:
            values = sorted(set(values))
        requirements.append(new_requirement(key, op, values))
    selector = LabelSelector(requirements)
    assert parse_label_selector(str(selector)) == selector


# --------------------------------------------------------------------------------------------------
# field selectors
# --------------------------------------------------------------------------------------------------


def test_parse_field_selector_terms_are_sorted_and_normalised() -> None:
    selector = parse_field_selector("status.phase!=Failed,metadata.name==web-1,spec.nodeName=")
    assert selector.requirements == [
        ("metadata.name", "=", "web-1"),
        ("spec.nodeName", "=", ""),
        ("status.phase", "!=", "Failed"),
    ]
    assert str(selector) == "metadata.name=web-1,spec.nodeName=,status.phase!=Failed"
    assert selector.fields() == {"metadata.name", "spec.nodeName", "status.phase"}
    assert not selector.empty


@pytest.mark.parametrize("text", ["", ",", ",,", "=", "=,="])
def test_empty_field_selectors(text: str) -> None:
    selector = parse_field_selector(text)
    assert selector.empty and selector.requirements == [] and selector.matches({})


def test_field_selector_matching_treats_missing_fields_as_empty() -> None:
    unscheduled = parse_field_selector("spec.nodeName=")
    assert unscheduled.matches({}) and unscheduled.matches({"spec.nodeName": ""})
    assert not unscheduled.matches({"spec.nodeName": "n1"})
    running = parse_field_selector("status.phase=Running,metadata.namespace!=kube-system")
    assert running.matches({"status.phase": "Running", "metadata.namespace": "default"})
    assert not running.matches({"status.phase": "Running", "metadata.namespace": "kube-system"})
    assert not running.matches({"metadata.namespace": "default"})


def test_field_selector_escapes() -> None:
    selector = parse_field_selector(r"metadata.name=a\,b\=c\\d,x=y")
    assert selector.exact_value("metadata.name") == "a,b=c\\d"
    assert selector.exact_value("x") == "y"
    assert str(selector) == r"metadata.name=a\,b\=c\\d,x=y"
    assert parse_field_selector(str(selector)) == selector


def test_field_selector_exact_value_only_for_equality() -> None:
    selector = parse_field_selector("metadata.name!=a,metadata.namespace=ns")
    assert selector.exact_value("metadata.name") is None
    assert selector.exact_value("metadata.namespace") == "ns"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo", "invalid selector: 'foo'; can't understand 'foo'"),
        ("a=b,foo", "invalid selector: 'a=b,foo'; can't understand 'foo'"),
        ("a=b=c", "invalid field selector: unescapedRune character in value: 61"),
        ("a=b\\,c,d=e,f", "invalid selector: 'a=b\\,c,d=e,f'; can't understand 'f'"),
        ("a=b\\x", "invalid field selector: invalid escape sequence: \\x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_field_selector_errors_match_kubernetes(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_field_selector(text)
    assert str(info.value) == message


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab,=\\!.-é ")), max_size=12))
def test_field_selector_escaping_round_trips_any_value(value: str) -> None:
    selector = FieldSelector([("metadata.name", "=", value)])
    reparsed = parse_field_selector(str(selector))
    assert reparsed.exact_value("metadata.name") == value
    assert reparsed.matches({"metadata.name": value})
