"""The JSONPath subset must select, fail and print like client-go's util/jsonpath."""

from __future__ import annotations

import pytest

from minik.api.jsonpath import JsonPathError, JsonPathEvalError, compile_jsonpath, to_text

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "labels": {"app": "web", "app.kubernetes.io/name": "nginx",
                                           "app.kubernetes.io": {"name": "nested"}}},
    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]},
                            {"name": "sidecar", "image": "busybox", "ports": []}],
             "nodeName": None},
    "status": {
        "phase": "Running",
        "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "False"},
                       {"type": "PodScheduled", "status": "True", "priority": 5}],
        "containerStatuses": [{"name": "nginx", "ready": True, "restartCount": 2},
                              {"name": "sidecar", "ready": False, "restartCount": 0}],
    },
}


@pytest.mark.parametrize(("expression", "expected"), [
    (".status.phase", ["Running"]),
    ("{.status.phase}", ["Running"]),
    ("status.phase", ["Running"]),  # kubectl's relaxed form
    ("{$.status.phase}", ["Running"]),
    (".spec.containers[0].image", ["nginx:1.27"]),
    (".spec.containers[-1].name", ["sidecar"]),
    (".spec.containers[*].name", ["nginx", "sidecar"]),
    (".spec.containers[0:1].name", ["nginx"]),
    (".status.conditions[::2].type", ["Initialized", "PodScheduled"]),
    (".status.conditions[0,2].type", ["Initialized", "PodScheduled"]),
    (".spec.containers[*].ports[*].containerPort", [80]),
    ('.status.conditions[?(@.type=="Ready")].status', ["False"]),
    (".status.conditions[?(@.type=='PodScheduled')].status", ["True"]),
    ('.status.conditions[?(@.status!="True")].type', ["Ready"]),
    (".status.conditions[?(@.priority>3)].type", ["PodScheduled"]),
    (".status.conditions[?(@.priority)].type", ["PodScheduled"]),
    (".status.containerStatuses[?(@.ready==true)].name", ["nginx"]),
    (".status.containerStatuses[?(@.restartCount>=2)].name", ["nginx"]),
    (".metadata.labels['app']", ["web"]),
    (".metadata.labels['app','kind']", ["web"]),
    (".metadata.labels.app\\.kubernetes\\.io/name", ["nginx"]),
    (".metadata.labels['app\\.kubernetes\\.io/name']", ["nginx"]),
    # client-go re-parses a bracketed key as a dotted path (kubernetes/client-go#553), so this reads
    # labels["app"]["kubernetes"]... and finds nothing, while a nested map of that shape matches
    (".metadata.labels['app.kubernetes.io/name']", []),
    (".metadata.labels['app.kubernetes.io'].name", []),
    ("{..name}", ["web", "nested", "nginx", "sidecar", "nginx", "sidecar"]),
    (".spec.nodeName", [None]),
    (".spec.nodeName.zone", []),
    (".status.missing.deeper", []),
    (".metadata.labels.app.whatever", []),
])
def test_find(expression, expected):
    assert compile_jsonpath(expression).find(POD) == expected


def test_filter_at_the_root_of_a_list():
    conditions = POD["status"]["conditions"]
    assert compile_jsonpath('[?(@.type=="Ready")].status').find(conditions) == ["False"]


def test_wildcard_over_a_map_and_templates_with_text():
    assert compile_jsonpath("{.metadata.labels.*}").find({"metadata": {"labels": {"a": "1", "b": "2"}}}) == ["1", "2"]
    path = compile_jsonpath("{.metadata.name} is {.status.phase}")
    assert path.find_results(POD) == [["web"], [" is "], ["Running"]]
    assert path.render(POD) == "web is Running"
    assert compile_jsonpath("{.spec.containers[*].name}").render(POD) == "nginx sidecar"


def test_missing_keys_can_be_errors():
    path = compile_jsonpath(".status.missing")
    assert path.find(POD) == []
    with pytest.raises(JsonPathEvalError, match="missing is not found"):
        path.find(POD, allow_missing_keys=False)


@pytest.mark.parametrize(("expression", "message"), [
    (".spec.containers[5]", "array index out of bounds: index 5, length 2"),
    (".spec.containers[-3]", "array index out of bounds"),
    (".spec.containers[1:0]", "starting index 1 is greater than ending index 0"),
    (".status.phase[0]", "string is not array or slice"),
    (".status.phase[?(@.x==1)]", "cannot be filtered"),
    ('[?(@.type=="Ready")].status', "is not array or slice and cannot be filtered"),
    (".status.conditions[?(@.priority=='5')].type", "incompatible types for comparison"),
    (".status.containerStatuses[?(@.ready<true)].name", "invalid type for comparison"),
    (".status.conditions[?(@.type='Ready')].type", "unrecognized filter operator ="),
    ("{range .items[*]}{.name}{end}", "range/end templates are not supported"),
    ("{.a} {foo}", "unrecognized identifier foo"),
])
def test_evaluation_errors(expression, message):
    with pytest.raises(JsonPathEvalError, match=message):
        compile_jsonpath(expression).find(POD)


@pytest.mark.parametrize(("expression", "message"), [
    ("{.status.phase", "unclosed action"),
    (".spec.containers[0", "unterminated array"),
    (".status.conditions[?(@.type=='Ready'", "unterminated filter"),
    (".status.conditions[?(@.type=='Ready')x", r"unclosed array expect \]"),
    (".spec.containers[x]", "invalid array index x"),
    (".spec.containers[1:a]", "invalid array index 1:a"),
    ("{'unterminated}", "unterminated quoted string"),
    ("{.a ^}", r"unrecognized character in action: U\+005E '\^'"),
    ("{....a}", "invalid multiple recursive descent"),
    ("{1.2.3}", "cannot parse number 1.2.3"),
    ("", "non-empty"),
])
def test_syntax_errors(expression, message):
    with pytest.raises(JsonPathError, match=message) as raised:
        compile_jsonpath(expression)
    assert isinstance(raised.value, ValueError)
    assert not isinstance(raised.value, JsonPathEvalError)


def test_quoted_literals_unescape_like_go():
    path = compile_jsonpath('{.items[?(@.v=="a\\"b\\tc")].id}')
    assert path.find({"items": [{"v": 'a"b\tc', "id": 1}, {"v": "x", "id": 2}]}) == [1]


def test_numbers_compare_by_kind():
    items = {"items": [{"n": 1}, {"n": 2.5}, {"n": 3}]}
    assert compile_jsonpath("{.items[?(@.n>1)].n}").find({"items": [{"n": 1}, {"n": 3}]}) == [3]
    assert compile_jsonpath("{.items[?(@.n<=2.5)].n}").find({"items": [{"n": 2.5}, {"n": 3.5}]}) == [2.5]
    with pytest.raises(JsonPathEvalError):  # an int field against a float literal, as in Go
        compile_jsonpath("{.items[?(@.n>1.0)].n}").find(items)


@pytest.mark.parametrize(("value", "text"), [
    (None, "<nil>"), (True, "true"), (7, "7"), (-2, "-2"), (1.0, "1"), (0.5, "0.5"), (100000.0, "100000"),
    (1000000.0, "1e+06"), (1234567.5, "1.2345675e+06"), (0.0001, "0.0001"), (0.00001, "1e-05"), (-0.0, "-0"),
    ("plain", "plain"), ([1, "a", [2]], "[1 a [2]]"), ({"b": 1, "a": {"c": None}}, "map[a:map[c:<nil>] b:1]"),
])
def test_to_text_prints_like_go_fmt(value, text):
    assert to_text(value) == text
