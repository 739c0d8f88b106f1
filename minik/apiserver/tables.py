"""Server-side Table columns and cells, the part of `kubectl get` output that the server decides.

Role in the flow: storage → registry → **API server** → clients. When kubectl asks for
`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, the API server assembles a meta.k8s.io/v1
Table; this module supplies its `columnDefinitions` and each row's `cells`, computed from the stored
object (plain JSON as decoded by orjson). kubectl only lays the cells out: it hides priority-1
columns unless `-o wide` and prints a null cell (a custom resource field that is missing) as blank.

The printers transcribe Kubernetes' `pkg/printers/internalversion/printers.go` (1.32/1.33), the
default convertor of `apiserver/pkg/registry/rest/table.go` and the custom-resource convertor of
`apiextensions-apiserver/.../tableconvertor`. Like the real server (pkg/printers/storage), cells are
always generated in wide mode, so every row has one cell per column definition.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from types import MappingProxyType

from minik.api.jsonpath import JsonPath, JsonPathError, compile_jsonpath, to_text

__all__ = ["DEFAULT_PRINTER", "TablePrinter", "crd_printer", "human_duration", "parse_time", "printer_for"]

CellsFn = Callable[[dict, datetime], list]


@dataclass(frozen=True, slots=True)
class TablePrinter:
    """Column definitions plus the function that renders one object as a row of cells."""

    _columns: tuple[Mapping, ...]
    _cells: CellsFn

    @property
    def column_definitions(self) -> list[dict]:
        """metav1.TableColumnDefinition JSON; a fresh copy, so callers may mutate it."""
        return [dict(column) for column in self._columns]

    def cells(self, obj: dict, now: datetime) -> list:
        """The row for `obj` as JSON values; ages are measured against `now`."""
        return self._cells(obj, _aware(now))


def _col(name: str, type_: str, description: str, *, format_: str = "", priority: int = 0) -> Mapping:
    return MappingProxyType(
        {"name": name, "type": type_, "format": format_, "description": description, "priority": priority})


# --- time ----------------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})")


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp (`2026-11-22T17:10:34Z`, fractions and offsets allowed), else None."""
    if not isinstance(value, str):
        return None
    match = _RFC3339.fullmatch(value)
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    fraction = (fraction or "")[:7]  # datetime keeps microseconds; Go's nanoseconds are dropped
    try:
        return datetime.fromisoformat(whole + fraction + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration: `5s`, `3m2s`, `5h`, `2d5h`, `45d`, `2y10d`."""
    whole = int(seconds)  # split off the fraction so whole seconds stay exact in nanoseconds
    nanos = whole * 1_000_000_000 + round((seconds - whole) * 1_000_000_000)
    # Go's int(d.Seconds()) truncates toward zero, Python's // floors
    total_seconds = abs(nanos) // 1_000_000_000 * (1 if nanos >= 0 else -1)
    if total_seconds < -1:
        return "<invalid>"
    if total_seconds < 0:
        return "0s"
    if total_seconds < 60 * 2:
        return f"{total_seconds}s"
    return _human_minutes_and_more(nanos)


def _human_minutes_and_more(nanos: int) -> str:
    minutes = nanos // 60_000_000_000
    if minutes < 10:
        rest = nanos // 1_000_000_000 % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = nanos // 3_600_000_000_000
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = hours // 24 % 365
        return f"{hours // 24 // 365}y{rest}d" if rest else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _since(value: object, now: datetime) -> str:
    """printers.go translateTimestampSince: the age of a timestamp, `<unknown>` when unset."""
    moment = parse_time(value)
    if moment is None:
        return "<unknown>"
    return human_duration((now - moment).total_seconds())


def _age(obj: dict, now: datetime) -> str:
    return _since(_get(obj, "metadata", "creationTimestamp"), now)


# --- small accessors and formatters ----------------------------------------------------------------


def _get(obj: object, *path: str, default: object = None) -> object:
    """Nested lookup that treats anything missing, null or of the wrong shape as `default`."""
    for key in path:
        if not isinstance(obj, dict) or obj.get(key) is None:
            return default
        obj = obj[key]
    return obj


def _list(obj: object, *path: str) -> list:
    value = _get(obj, *path)
    return value if isinstance(value, list) else []


def _dict(obj: object, *path: str) -> dict:
    value = _get(obj, *path)
    return value if isinstance(value, dict) else {}


def _str(obj: object, *path: str) -> str:
    value = _get(obj, *path, default="")
    return value if isinstance(value, str) else str(value)


def _int(obj: object, *path: str) -> int:
    value = _get(obj, *path, default=0)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _name(obj: dict) -> str:
    return _str(obj, "metadata", "name")


def _format_labels(labels: object) -> str:
    """labels.FormatLabels: `k=v,...` sorted by key, `<none>` when empty."""
    if not isinstance(labels, dict) or not labels:
        return "<none>"
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


_OPERATORS = {"In": " in ", "NotIn": " notin ", "Exists": "", "DoesNotExist": ""}


def _requirement_string(key: str, operator: str, values: list) -> str:
    """labels.Requirement.String for one selector requirement."""
    if operator == "=":
        return f"{key}={values[0]}"
    if operator in ("Exists", "DoesNotExist"):
        return ("!" if operator == "DoesNotExist" else "") + key
    return f"{key}{_OPERATORS[operator]}({','.join(sorted(values))})"


def _selector_string(selector: object) -> str | None:
    """metav1.LabelSelectorAsSelector(...).String(); None when the selector is invalid."""
    if not isinstance(selector, dict):
        return ""  # a nil selector is labels.Nothing(), which prints as ""
    requirements = [(key, "=", [value]) for key, value in _dict(selector, "matchLabels").items()]
    for expression in _list(selector, "matchExpressions"):
        operator, values = _str(expression, "operator"), _list(expression, "values")
        if operator not in _OPERATORS or (operator in ("In", "NotIn")) != bool(values):
            return None
        requirements.append((_str(expression, "key"), operator, [str(value) for value in values]))
    requirements.sort(key=lambda requirement: requirement[0])
    return ",".join(_requirement_string(*requirement) for requirement in requirements)


def _format_label_selector(selector: object) -> str:
    """metav1.FormatLabelSelector: `<none>` when it selects by nothing, `<error>` when invalid."""
    text = _selector_string(selector)
    if text is None:
        return "<error>"
    return text or "<none>"


def _layout_containers(containers: list) -> tuple[str, str]:
    """printers.go layoutContainerCells: comma-joined names and images."""
    return (",".join(_str(container, "name") for container in containers),
            ",".join(_str(container, "image") for container in containers))


def _template_containers(obj: dict) -> list:
    return _list(obj, "spec", "template", "spec", "containers")


def _join_host_port(host: str, port: object) -> str:
    """Go's net.JoinHostPort: IPv6 hosts are bracketed."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _list_with_more(items: list[str], count: int, *, limit: int = 3, empty: str = "<unset>") -> str:
    """printers.go listWithMoreString: at most `limit` items, then `+ N more...`."""
    text = ",".join(items[:limit])
    if count > limit:
        return f"{text} + {count - limit} more..."
    return text or empty


def _condition_true(conditions: list, condition_type: str) -> bool:
    """The first condition of the type decides, as in printers.go hasJobCondition."""
    for condition in conditions:
        if _get(condition, "type") == condition_type:
            return _get(condition, "status") == "True"
    return False


def _controller_of(obj: dict) -> dict | None:
    """metav1.GetControllerOf: the owner reference marked `controller: true`."""
    for reference in _list(obj, "metadata", "ownerReferences"):
        if _get(reference, "controller") is True:
            return reference
    return None


# --- descriptions ----------------------------------------------------------------------------------
# The strings the real server sends (metav1 ObjectMeta SwaggerDoc and the literal texts of printers.go);
# kubectl does not print them, they only document the columns.

_NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources "
    "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
    "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
_CREATED_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
    "guaranteed to be set in happens-before order across separate operations. Clients may not set this "
    "value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for "
    "lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#metadata")
_CONTAINERS_DOC = "Names of each container in the template."
_IMAGES_DOC = "Images referenced by each container in the template."
_SELECTOR_DOC = ("A label query over pods. More info: "
                 "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors")
_READY_PODS_DOC = "Number of the pod with ready state"
_NODE_ADDRESSES_DOC = "List of addresses reachable to the node. Queried from cloud provider, if available."

_NAME = _col("Name", "string", _NAME_DOC, format_="name")
_AGE = _col("Age", "string", _CREATED_DOC)
_WIDE_CONTAINERS = (_col("Containers", "string", _CONTAINERS_DOC, priority=1),
                    _col("Images", "string", _IMAGES_DOC, priority=1))
_WIDE_SELECTOR = _col("Selector", "string", _SELECTOR_DOC, priority=1)


# --- default and custom resource convertors --------------------------------------------------------


def _created_at(obj: dict) -> str:
    """`metadata.creationTimestamp` re-rendered as Go's time.RFC3339 in UTC (zero time when unset)."""
    moment = parse_time(_get(obj, "metadata", "creationTimestamp"))
    if moment is None:
        return "0001-01-01T00:00:00Z"
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


DEFAULT_PRINTER = TablePrinter(
    (_NAME, _col("Created At", "date", _CREATED_DOC)),
    lambda obj, now: [_name(obj), _created_at(obj)],
)


@dataclass(frozen=True, slots=True)
class _CrdColumn:
    path: JsonPath
    type_: str


def _crd_date(value: str, now: datetime) -> str:
    """metav1.Time.UnmarshalQueryParameter then ConvertToHumanReadableDateType."""
    if value in ("", "null"):
        return "<unknown>"
    moment = parse_time(value)
    if moment is None:
        return "<invalid>"
    return human_duration((now - moment).total_seconds())


def _crd_typed_cell(type_: str, value: object, now: datetime) -> object:
    """tableconvertor cellForJSONValue: a value of the wrong JSON type renders as null."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if type_ == "integer" and is_number:
        return int(value)  # Go's int64(float64) truncates toward zero too
    if type_ == "number" and is_number:
        return float(value)
    if type_ == "boolean" and isinstance(value, bool):
        return value
    if type_ == "date" and isinstance(value, str):
        return _crd_date(value, now)
    return None


def _crd_cell(column: _CrdColumn, obj: dict, now: datetime) -> object:
    try:
        results = column.path.find_results(obj, allow_missing_keys=True)
    except JsonPathError:
        return None
    if not results or not results[0]:
        return None
    value = results[0][0]  # only simple paths are supported, so the first result is the value
    if column.type_ == "string":
        return "<no value>" if value is None else to_text(value)
    return _crd_typed_cell(column.type_, value, now)


_DEFAULT_CRD_COLUMNS = ({"name": "Age", "type": "date", "description": _CREATED_DOC,
                         "jsonPath": ".metadata.creationTimestamp"},)


def crd_printer(additional_printer_columns: list[dict]) -> TablePrinter:
    """The custom resource table: NAME, then the CRD version's additionalPrinterColumns.

    Without columns the server serves an Age column (apiextensions' serveDefaultColumnsIfEmpty).
    Raises JsonPathError when a column's jsonPath does not parse.
    """
    columns = list(additional_printer_columns or _DEFAULT_CRD_COLUMNS)
    definitions = [_NAME]
    compiled: list[_CrdColumn] = []
    for column in columns:
        path = str(column.get("jsonPath", column.get("JSONPath", "")))
        try:
            compiled.append(_CrdColumn(compile_jsonpath("{" + path + "}"), str(column.get("type", ""))))
        except JsonPathError as err:
            raise JsonPathError(f'unrecognized column definition "{path}": {err}') from err
        description = (column.get("description")
                       or f"Custom resource definition column (in JSONPath format): {path}")
        definitions.append(_col(str(column.get("name", "")), str(column.get("type", "")), description,
                                format_=str(column.get("format") or ""),
                                priority=int(column.get("priority") or 0)))
    frozen = tuple(compiled)
    return TablePrinter(tuple(definitions),
                        lambda obj, now: [_name(obj), *(_crd_cell(column, obj, now) for column in frozen)])


# --- pods ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Restarts:
    """Restart count and the latest `lastState.terminated.finishedAt` seen."""

    count: int = 0
    last: datetime | None = None

    def add(self, status: dict) -> None:
        self.count += _int(status, "restartCount")
        finished = parse_time(_get(status, "lastState", "terminated", "finishedAt"))
        if finished is not None and (self.last is None or finished > self.last):
            self.last = finished

    def copy(self) -> "_Restarts":
        return _Restarts(self.count, self.last)

    def render(self, now: datetime) -> str:
        if self.count and self.last is not None:
            return f"{self.count} ({human_duration((now - self.last).total_seconds())} ago)"
        return str(self.count)


@dataclass(slots=True)
class _PodTally:
    """What printPod accumulates while walking the container statuses."""

    reason: str
    ready: int = 0
    initializing: bool = False


def _is_restartable_init(container: object) -> bool:
    """A sidecar: an init container with `restartPolicy: Always`."""
    return _get(container, "restartPolicy") == "Always"


def _terminated_reason(terminated: dict, prefix: str) -> str:
    if _str(terminated, "reason"):
        return prefix + _str(terminated, "reason")
    if _int(terminated, "signal"):
        return f"{prefix}Signal:{_int(terminated, 'signal')}"
    return f"{prefix}ExitCode:{_int(terminated, 'exitCode')}"


def _walk_init_containers(pod: dict, tally: _PodTally, restarts: tuple[_Restarts, _Restarts]) -> None:
    """printPod's init container loop: stops at the first init container still blocking the pod."""
    everyone, sidecars = restarts
    init_containers = _list(pod, "spec", "initContainers")
    specs = {_str(container, "name"): container for container in init_containers}
    for index, status in enumerate(_list(pod, "status", "initContainerStatuses")):
        everyone.add(status)
        restartable = _is_restartable_init(specs.get(_str(status, "name")))
        if restartable:
            sidecars.add(status)
        terminated, waiting = _get(status, "state", "terminated"), _get(status, "state", "waiting")
        if terminated is not None and _int(terminated, "exitCode") == 0:
            continue
        if restartable and _get(status, "started") is True:
            tally.ready += 1 if _get(status, "ready") is True else 0
            continue
        if terminated is not None:
            tally.reason = _terminated_reason(terminated, "Init:")
        elif _str(waiting, "reason") and _str(waiting, "reason") != "PodInitializing":
            tally.reason = "Init:" + _str(waiting, "reason")
        else:
            tally.reason = f"Init:{index}/{len(init_containers)}"
        tally.initializing = True
        return


def _walk_containers(pod: dict, tally: _PodTally, restarts: _Restarts) -> None:
    """printPod's app container loop, last to first, so the first container's state wins."""
    has_running = False
    for status in reversed(_list(pod, "status", "containerStatuses")):
        restarts.add(status)
        waiting, terminated = _get(status, "state", "waiting"), _get(status, "state", "terminated")
        if _str(waiting, "reason"):
            tally.reason = _str(waiting, "reason")
        elif terminated is not None:
            tally.reason = _terminated_reason(terminated, "")
        elif _get(status, "ready") is True and _get(status, "state", "running") is not None:
            has_running = True
            tally.ready += 1
    if tally.reason == "Completed" and has_running:
        ready = _condition_true(_list(pod, "status", "conditions"), "Ready")
        tally.reason = "Running" if ready else "NotReady"


def _pod_reason_and_restarts(pod: dict) -> tuple[_PodTally, _Restarts]:
    status = _dict(pod, "status")
    tally = _PodTally(reason=_str(status, "reason") or _str(status, "phase"))
    for condition in _list(status, "conditions"):
        if _get(condition, "type") == "PodScheduled" and _get(condition, "reason") == "SchedulingGated":
            tally.reason = "SchedulingGated"
    everyone, sidecars = _Restarts(), _Restarts()
    _walk_init_containers(pod, tally, (everyone, sidecars))
    restarts = everyone
    if not tally.initializing or _condition_true(_list(status, "conditions"), "Initialized"):
        restarts = sidecars.copy()
        _walk_containers(pod, tally, restarts)
    if _get(pod, "metadata", "deletionTimestamp") is not None:
        if _str(status, "reason") == "NodeLost":
            tally.reason = "Unknown"
        elif _str(status, "phase") not in ("Failed", "Succeeded"):
            tally.reason = "Terminating"
    return tally, restarts


def _pod_ip(pod: dict) -> str:
    # v1 → internal conversion fills podIPs from podIP, so either field may carry the address
    ips = _list(pod, "status", "podIPs")
    address = _str(ips[0], "ip") if ips else _str(pod, "status", "podIP")
    return address or "<none>"


def _readiness_gates(pod: dict) -> str:
    gates = _list(pod, "spec", "readinessGates")
    if not gates:
        return "<none>"
    conditions = _list(pod, "status", "conditions")
    passed = 0
    for gate in gates:
        match = next((c for c in conditions if _get(c, "type") == _get(gate, "conditionType")), None)
        passed += 1 if match is not None and _get(match, "status") == "True" else 0
    return f"{passed}/{len(gates)}"


def _pod_cells(pod: dict, now: datetime) -> list:
    tally, restarts = _pod_reason_and_restarts(pod)
    total = len(_list(pod, "spec", "containers")) + sum(
        1 for container in _list(pod, "spec", "initContainers") if _is_restartable_init(container))
    return [
        _name(pod), f"{tally.ready}/{total}", tally.reason, restarts.render(now), _age(pod, now),
        _pod_ip(pod), _str(pod, "spec", "nodeName") or "<none>",
        _str(pod, "status", "nominatedNodeName") or "<none>", _readiness_gates(pod),
    ]


_POD_PRINTER = TablePrinter((
    _NAME,
    _col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    _col("Status", "string", "The aggregate status of the containers in this pod."),
    _col("Restarts", "string", "The number of times the containers in this pod have been restarted and "
                               "when the last container in this pod has restarted."),
    _AGE,
    _col("IP", "string", "podIP address allocated to the pod. Routable at least within the cluster. "
                         "Empty if not yet allocated.", priority=1),
    _col("Node", "string", "NodeName indicates in which node this pod is scheduled.", priority=1),
    _col("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods on "
                                     "the node, but it cannot be scheduled right away as preemption victims "
                                     "receive their graceful termination periods.", priority=1),
    _col("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod "
                                      "readiness.", priority=1),
), _pod_cells)


# --- nodes and namespaces ------------------------------------------------------------------------


def _node_status(node: dict) -> str:
    ready = None
    for condition in _list(node, "status", "conditions"):
        if _get(condition, "type") == "Ready":
            ready = condition  # the last Ready condition wins, as in printNode's map
    parts = ["Unknown"] if ready is None else ["Ready" if _get(ready, "status") == "True" else "NotReady"]
    if _get(node, "spec", "unschedulable") is True:
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def _node_roles(node: dict) -> str:
    """node-role.kubernetes.io/<role> labels, plus the legacy kubernetes.io/role=<role>."""
    roles = set()
    for key, value in _dict(node, "metadata", "labels").items():
        if key.startswith("node-role.kubernetes.io/") and key[len("node-role.kubernetes.io/"):]:
            roles.add(key[len("node-role.kubernetes.io/"):])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(node: dict, address_type: str) -> str:
    for address in _list(node, "status", "addresses"):
        if _get(address, "type") == address_type:
            return _str(address, "address")
    return "<none>"


def _node_cells(node: dict, now: datetime) -> list:
    info = _dict(node, "status", "nodeInfo")
    return [
        _name(node), _node_status(node), _node_roles(node), _age(node, now), _str(info, "kubeletVersion"),
        _node_address(node, "InternalIP"), _node_address(node, "ExternalIP"),
        _str(info, "osImage") or "<unknown>", _str(info, "kernelVersion") or "<unknown>",
        _str(info, "containerRuntimeVersion") or "<unknown>",
    ]


_NODE_PRINTER = TablePrinter((
    _NAME,
    _col("Status", "string", "The status of the node"),
    _col("Roles", "string", "The roles of the node"),
    _AGE,
    _col("Version", "string", "Kubelet Version reported by the node."),
    _col("Internal-IP", "string", _NODE_ADDRESSES_DOC, priority=1),
    _col("External-IP", "string", _NODE_ADDRESSES_DOC, priority=1),
    _col("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux "
                               "7 (wheezy)).", priority=1),
    _col("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. "
                                     "3.16.0-0.bpo.4-amd64).", priority=1),
    _col("Container-Runtime", "string", "ContainerRuntime Version reported by the node through runtime "
                                        "remote API (e.g. containerd://1.4.2).", priority=1),
), _node_cells)

_NAMESPACE_PRINTER = TablePrinter(
    (_NAME, _col("Status", "string", "The status of the namespace"), _AGE),
    lambda ns, now: [_name(ns), _str(ns, "status", "phase"), _age(ns, now)],
)


# --- services and endpoints --------------------------------------------------------------------------


def _load_balancer_ips(service: dict) -> list[str]:
    found = {_str(ingress, "ip") or _str(ingress, "hostname")
             for ingress in _list(service, "status", "loadBalancer", "ingress")}
    return sorted(found - {""})


def _service_external_ip(service: dict, service_type: str) -> str:
    """printers.go getServiceExternalIP, in wide mode (the server never clips the list)."""
    external = [str(ip) for ip in _list(service, "spec", "externalIPs")]
    if service_type in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if service_type == "LoadBalancer":
        return ",".join(_load_balancer_ips(service) + external) or "<pending>"
    if service_type == "ExternalName":
        return _str(service, "spec", "externalName")
    return "<unknown>"


def _service_ports(service: dict) -> str:
    pieces = []
    for port in _list(service, "spec", "ports"):
        protocol = _str(port, "protocol") or "TCP"  # the v1 default
        node_port = _int(port, "nodePort")
        prefix = f"{_int(port, 'port')}:{node_port}" if node_port > 0 else f"{_int(port, 'port')}"
        pieces.append(f"{prefix}/{protocol}")
    return ",".join(pieces) or "<none>"


def _service_cells(service: dict, now: datetime) -> list:
    service_type = _str(service, "spec", "type") or "ClusterIP"  # the v1 default
    cluster_ips = _list(service, "spec", "clusterIPs") or [_str(service, "spec", "clusterIP")]
    return [
        _name(service), service_type, str(cluster_ips[0]) or "<none>",
        _service_external_ip(service, service_type), _service_ports(service), _age(service, now),
        _format_labels(_get(service, "spec", "selector")),
    ]


_SERVICE_PRINTER = TablePrinter((
    _NAME,
    _col("Type", "string", "type determines how the Service is exposed. Defaults to ClusterIP."),
    _col("Cluster-IP", "string",
         "clusterIP is the IP address of the service and is usually assigned randomly."),
    _col("External-IP", "string", "externalIPs is a list of IP addresses for which nodes in the cluster will "
                                  "also accept traffic for this service."),
    _col("Port(s)", "string", "The list of ports that are exposed by this service."),
    _AGE,
    _col("Selector", "string", "Route service traffic to pods with label keys and values matching this "
                               "selector.", priority=1),
), _service_cells)


def _format_endpoints(endpoints: dict) -> str:
    """printers.go formatEndpoints (all ports): `ip:port` for each address and port, three at most."""
    subsets = _list(endpoints, "subsets")
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count = 0
    for subset in subsets:
        addresses = [_str(address, "ip") for address in _list(subset, "addresses")]
        ports = _list(subset, "ports")
        for port in ports or [None]:  # headless services may publish addresses without ports
            count += len(addresses)
            for ip in addresses:
                if len(shown) < 3:
                    shown.append(ip if port is None else _join_host_port(ip, _int(port, "port")))
    text = ",".join(shown)
    return f"{text} + {count - 3} more..." if count > 3 else text


_ENDPOINTS_PRINTER = TablePrinter(
    (_NAME, _col("Endpoints", "string", "The set of all endpoints is the union of all subsets."), _AGE),
    lambda endpoints, now: [_name(endpoints), _format_endpoints(endpoints), _age(endpoints, now)],
)


def _slice_ports(endpoint_slice: dict) -> str:
    ports = _list(endpoint_slice, "ports")
    labels = []
    for port in ports:
        number, name = _get(port, "port"), _get(port, "name")
        labels.append(str(number) if number is not None else (str(name) if name is not None else "*"))
    return _list_with_more(labels, len(labels))


def _slice_endpoints(endpoint_slice: dict) -> str:
    addresses = [str(address) for endpoint in _list(endpoint_slice, "endpoints")
                 for address in _list(endpoint, "addresses")]
    return _list_with_more(addresses, len(addresses))


_ENDPOINT_SLICE_PRINTER = TablePrinter((
    _NAME,
    _col("AddressType", "string", "addressType specifies the type of address carried by this EndpointSlice."),
    _col("Ports", "string",
         "ports specifies the list of network ports exposed by each endpoint in this slice."),
    _col("Endpoints", "string", "endpoints is a list of unique endpoints in this slice."),
    _AGE,
), lambda eps, now: [_name(eps), _str(eps, "addressType"), _slice_ports(eps), _slice_endpoints(eps),
                     _age(eps, now)])


# --- configuration objects ------------------------------------------------------------------------

_CONFIG_MAP_PRINTER = TablePrinter(
    (_NAME, _col("Data", "string", "Data contains the configuration data."), _AGE),
    lambda cm, now: [_name(cm), len(_dict(cm, "data")) + len(_dict(cm, "binaryData")), _age(cm, now)],
)

_SECRET_PRINTER = TablePrinter(
    (_NAME, _col("Type", "string", "Used to facilitate programmatic handling of secret data."),
     _col("Data", "string", "Data contains the secret data."), _AGE),
    lambda secret, now: [_name(secret), _str(secret, "type"), len(_dict(secret, "data")), _age(secret, now)],
)

_SERVICE_ACCOUNT_PRINTER = TablePrinter(
    (_NAME, _col("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods "
                                      "running using this ServiceAccount are allowed to use."), _AGE),
    lambda sa, now: [_name(sa), len(_list(sa, "secrets")), _age(sa, now)],
)


def _quota_columns(quota: dict) -> tuple[str, str]:
    """printResourceQuota: `resource: used/hard`, limits.* in the second column, sorted by name."""
    hard, used = _dict(quota, "status", "hard"), _dict(quota, "status", "used")
    requests, limits = [], []
    for resource in sorted(hard):
        target = limits if resource.split(".")[0] == "limits" and "." in resource else requests
        target.append(f"{resource}: {used.get(resource, '0')}/{hard[resource]}")
    return ", ".join(requests), ", ".join(limits)


_RESOURCE_QUOTA_PRINTER = TablePrinter((
    _NAME,
    _col("Request", "string",
         "Request represents a minimum amount of cpu/memory that a container may consume."),
    _col("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use "
                            "independent of contention on the node."),
    _AGE,
), lambda quota, now: [_name(quota), *_quota_columns(quota), _age(quota, now)])


def _access_modes(modes: list) -> str:
    """helper.GetAccessModesAsString: fixed order RWO, ROX, RWX, RWOP."""
    short = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
             ("ReadWriteOncePod", "RWOP"))
    return ",".join(abbreviation for mode, abbreviation in short if mode in modes)


def _pvc_cells(pvc: dict, now: datetime) -> list:
    deleting = _get(pvc, "metadata", "deletionTimestamp") is not None
    phase = "Terminating" if deleting else _str(pvc, "status", "phase")
    volume = _str(pvc, "spec", "volumeName")
    capacity = _str(pvc, "status", "capacity", "storage") or "0" if volume else ""
    modes = _access_modes(_list(pvc, "status", "accessModes")) if volume else ""
    storage_class = (_str(pvc, "metadata", "annotations", "volume.beta.kubernetes.io/storage-class")
                     or _str(pvc, "spec", "storageClassName"))
    return [
        _name(pvc), phase, volume, capacity, modes, storage_class,
        _str(pvc, "spec", "volumeAttributesClassName") or "<unset>", _age(pvc, now),
        _str(pvc, "spec", "volumeMode") or "<unset>",
    ]


_PVC_PRINTER = TablePrinter((
    _NAME,
    _col("Status", "string", "phase represents the current phase of PersistentVolumeClaim."),
    _col("Volume", "string",
         "volumeName is the binding reference to the PersistentVolume backing this claim."),
    _col("Capacity", "string", "capacity represents the actual resources of the underlying volume."),
    _col("Access Modes", "string",
         "accessModes contains the actual access modes the volume backing the PVC has."),
    _col("StorageClass", "string", "StorageClass of the pvc"),
    _col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
    _AGE,
    _col("VolumeMode", "string", "volumeMode defines what type of volume is required by the claim.",
         priority=1),
), _pvc_cells)

_LEASE_PRINTER = TablePrinter(
    (_NAME,
     _col("Holder", "string", "holderIdentity contains the identity of the holder of a current lease."),
     _AGE),
    lambda lease, now: [_name(lease), _str(lease, "spec", "holderIdentity"), _age(lease, now)],
)


# --- events --------------------------------------------------------------------------------------


def _event_source(event: dict) -> str:
    """formatEventSource: component (or reportingController), then `, host` when there is one."""
    component = _str(event, "source", "component") or _str(event, "reportingController")
    host = _str(event, "source", "host") or _str(event, "reportingInstance")
    return f"{component}, {host}" if host else component


def _event_cells(event: dict, now: datetime) -> list:
    """printEvent over a core/v1 Event (events.k8s.io/v1 objects are mapped to it first)."""
    first_seen = _since(_get(event, "firstTimestamp"), now)
    if parse_time(_get(event, "firstTimestamp")) is None:
        first_seen = _since(_get(event, "eventTime"), now)
    last_seen = _since(_get(event, "lastTimestamp"), now)
    if parse_time(_get(event, "lastTimestamp")) is None:
        last_seen = first_seen
    count = _int(event, "count")
    if _get(event, "series") is not None:
        last_seen = _since(_get(event, "series", "lastObservedTime"), now)
        count = _int(event, "series", "count")
    elif count == 0:
        count = 1  # singleton events do not set a count in the new API
    kind, target = _str(event, "involvedObject", "kind").lower(), _str(event, "involvedObject", "name")
    return [
        last_seen, _str(event, "type"), _str(event, "reason"), f"{kind}/{target}" if target else kind,
        _str(event, "involvedObject", "fieldPath"), _event_source(event), _str(event, "message").strip(),
        first_seen, count, _name(event),
    ]


def _events_v1_as_core(event: dict) -> dict:
    """The events.k8s.io/v1 → core field mapping that Kubernetes' conversion applies."""
    return {
        "metadata": _dict(event, "metadata"), "involvedObject": _dict(event, "regarding"),
        "message": _get(event, "note"), "source": _dict(event, "deprecatedSource"),
        "firstTimestamp": _get(event, "deprecatedFirstTimestamp"),
        "lastTimestamp": _get(event, "deprecatedLastTimestamp"), "count": _get(event, "deprecatedCount"),
        "series": _get(event, "series"), "eventTime": _get(event, "eventTime"), "type": _get(event, "type"),
        "reason": _get(event, "reason"), "reportingController": _get(event, "reportingController"),
        "reportingInstance": _get(event, "reportingInstance"),
    }


_EVENT_COLUMNS = (
    _col("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
    _col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
    _col("Reason", "string", "This should be a short, machine understandable string that gives the reason "
                             "for the transition into the object's current status."),
    _col("Object", "string", "The object that this event is about."),
    _col("Subobject", "string", "If referring to a piece of an object instead of an entire object, this "
                                "string should contain a valid JSON/Go field access statement.", priority=1),
    _col("Source", "string", "The component reporting this event. Should be a short machine understandable "
                             "string.", priority=1),
    _col("Message", "string", "A human-readable description of the status of this operation."),
    _col("First Seen", "string", "The time at which the event was first recorded. (Time of server receipt is "
                                 "in TypeMeta.)", priority=1),
    _col("Count", "string", "The number of times this event has occurred.", priority=1),
    _col("Name", "string", _NAME_DOC, format_="name", priority=1),
)
_EVENT_PRINTER = TablePrinter(_EVENT_COLUMNS, _event_cells)
_EVENTS_V1_PRINTER = TablePrinter(
    _EVENT_COLUMNS, lambda event, now: _event_cells(_events_v1_as_core(event), now))


# --- workloads -----------------------------------------------------------------------------------


def _replicas(obj: dict) -> int:
    """spec.replicas, which v1 defaulting sets to 1 when omitted."""
    value = _get(obj, "spec", "replicas")
    return _int(obj, "spec", "replicas") if value is not None else 1


def _deployment_cells(deployment: dict, now: datetime) -> list:
    names, images = _layout_containers(_template_containers(deployment))
    selector = _selector_string(_get(deployment, "spec", "selector"))
    return [
        _name(deployment), f"{_int(deployment, 'status', 'readyReplicas')}/{_replicas(deployment)}",
        _int(deployment, "status", "updatedReplicas"), _int(deployment, "status", "availableReplicas"),
        _age(deployment, now), names, images, "<invalid>" if selector is None else selector,
    ]


_DEPLOYMENT_PRINTER = TablePrinter((
    _NAME,
    _col("Ready", "string", _READY_PODS_DOC),
    _col("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have "
                                 "the desired template spec."),
    _col("Available", "string", "Total number of available pods (ready for at least minReadySeconds) "
                                "targeted by this deployment."),
    _AGE, *_WIDE_CONTAINERS, _WIDE_SELECTOR,
), _deployment_cells)


def _replica_set_cells(replica_set: dict, now: datetime) -> list:
    names, images = _layout_containers(_template_containers(replica_set))
    return [
        _name(replica_set), _replicas(replica_set), _int(replica_set, "status", "replicas"),
        _int(replica_set, "status", "readyReplicas"), _age(replica_set, now), names, images,
        _format_label_selector(_get(replica_set, "spec", "selector")),
    ]


_REPLICA_SET_PRINTER = TablePrinter((
    _NAME,
    _col("Desired", "integer", "Replicas is the number of desired replicas."),
    _col("Current", "integer", "Replicas is the most recently observed number of replicas."),
    _col("Ready", "integer", "The number of ready replicas for this replica set."),
    _AGE, *_WIDE_CONTAINERS, _WIDE_SELECTOR,
), _replica_set_cells)


def _daemon_set_cells(daemon_set: dict, now: datetime) -> list:
    names, images = _layout_containers(_template_containers(daemon_set))
    status = _dict(daemon_set, "status")
    return [
        _name(daemon_set), _int(status, "desiredNumberScheduled"), _int(status, "currentNumberScheduled"),
        _int(status, "numberReady"), _int(status, "updatedNumberScheduled"), _int(status, "numberAvailable"),
        _format_labels(_get(daemon_set, "spec", "template", "spec", "nodeSelector")), _age(daemon_set, now),
        names, images, _format_label_selector(_get(daemon_set, "spec", "selector")),
    ]


_DAEMON_SET_PRINTER = TablePrinter((
    _NAME,
    _col("Desired", "integer", "The total number of nodes that should be running the daemon pod."),
    _col("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are supposed "
                               "to run the daemon pod."),
    _col("Ready", "integer", "The number of nodes that should be running the daemon pod and have one or more "
                             "of the daemon pod running and ready."),
    _col("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
    _col("Available", "integer", "The number of nodes that should be running the daemon pod and have one or "
                                 "more of the daemon pod running and available."),
    _col("Node Selector", "string",
         "NodeSelector is a selector which must be true for the pod to fit on a node."),
    _AGE, *_WIDE_CONTAINERS, _WIDE_SELECTOR,
), _daemon_set_cells)


def _stateful_set_cells(stateful_set: dict, now: datetime) -> list:
    names, images = _layout_containers(_template_containers(stateful_set))
    ready = f"{_int(stateful_set, 'status', 'readyReplicas')}/{_replicas(stateful_set)}"
    return [_name(stateful_set), ready, _age(stateful_set, now), names, images]


_STATEFUL_SET_PRINTER = TablePrinter(
    (_NAME, _col("Ready", "string", _READY_PODS_DOC), _AGE, *_WIDE_CONTAINERS), _stateful_set_cells)


def _controller_name(obj: dict) -> str:
    """`kind.group/name` of the controlling owner, lower-cased (printControllerRevision)."""
    owner = _controller_of(obj)
    if owner is None:
        return "<none>"
    api_version, kind = _str(owner, "apiVersion"), _str(owner, "kind")
    group = api_version.split("/")[0] if "/" in api_version else ""
    if not group and not kind:
        return _str(owner, "name")
    group_kind = f"{kind}.{group}" if group else kind
    return f"{group_kind.lower()}/{_str(owner, 'name')}"


_CONTROLLER_REVISION_PRINTER = TablePrinter(
    (_NAME, _col("Controller", "string", "Controller of the object"),
     _col("Revision", "string", "Revision indicates the revision of the state represented by Data."), _AGE),
    lambda revision, now: [_name(revision), _controller_name(revision), _int(revision, "revision"),
                           _age(revision, now)],
)


def _job_completions(job: dict) -> str:
    succeeded = _int(job, "status", "succeeded")
    if _get(job, "spec", "completions") is not None:
        return f"{succeeded}/{_int(job, 'spec', 'completions')}"
    parallelism = _int(job, "spec", "parallelism")
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def _job_duration(job: dict, now: datetime) -> str:
    started = parse_time(_get(job, "status", "startTime"))
    if started is None:
        return ""
    finished = parse_time(_get(job, "status", "completionTime")) or now
    return human_duration((finished - started).total_seconds())


def _job_status(job: dict) -> str:
    conditions = _list(job, "status", "conditions")
    if _condition_true(conditions, "Complete"):
        return "Complete"
    if _condition_true(conditions, "Failed"):
        return "Failed"
    if _get(job, "metadata", "deletionTimestamp") is not None:
        return "Terminating"
    if _condition_true(conditions, "Suspended"):
        return "Suspended"
    if _condition_true(conditions, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_cells(job: dict, now: datetime) -> list:
    names, images = _layout_containers(_template_containers(job))
    return [
        _name(job), _job_status(job), _job_completions(job), _job_duration(job, now), _age(job, now),
        names, images, _format_label_selector(_get(job, "spec", "selector")),
    ]


_JOB_PRINTER = TablePrinter((
    _NAME,
    _col("Status", "string", "Status of the job."),
    _col("Completions", "string", "The number of pods which reached phase Succeeded."),
    _col("Duration", "string", "Time required to complete the job."),
    _AGE, *_WIDE_CONTAINERS, _WIDE_SELECTOR,
), _job_cells)


def _bool_ptr(value: object) -> str:
    """printBoolPtr: `True`, `False`, or `<unset>` for a nil pointer."""
    if value is None:
        return "<unset>"
    return "True" if value is True else "False"


def _cron_job_cells(cron_job: dict, now: datetime) -> list:
    job_spec = _dict(cron_job, "spec", "jobTemplate", "spec")
    names, images = _layout_containers(_list(job_spec, "template", "spec", "containers"))
    last_schedule = _get(cron_job, "status", "lastScheduleTime")
    return [
        _name(cron_job), _str(cron_job, "spec", "schedule"), _str(cron_job, "spec", "timeZone") or "<none>",
        _bool_ptr(_get(cron_job, "spec", "suspend")), len(_list(cron_job, "status", "active")),
        "<none>" if last_schedule is None else _since(last_schedule, now), _age(cron_job, now),
        names, images, _format_label_selector(_get(job_spec, "selector")),
    ]


_CRON_JOB_PRINTER = TablePrinter((
    _NAME,
    _col("Schedule", "string", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
    _col("Timezone", "string", "The time zone name for the given schedule."),
    _col("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions, it does not "
                               "apply to already started executions.  Defaults to false."),
    _col("Active", "integer", "A list of pointers to currently running jobs."),
    _col("Last Schedule", "string", "Information when was the last time the job was successfully scheduled."),
    _AGE, *_WIDE_CONTAINERS, _WIDE_SELECTOR,
), _cron_job_cells)


# --- lookup --------------------------------------------------------------------------------------

# limitranges and customresourcedefinitions have no printer in Kubernetes either: they use the
# default convertor, which is why `kubectl get crd` shows NAME and CREATED AT.
_BUILTIN_PRINTERS: Mapping[tuple[str, str], TablePrinter] = MappingProxyType({
    ("", "pods"): _POD_PRINTER,
    ("", "nodes"): _NODE_PRINTER,
    ("", "namespaces"): _NAMESPACE_PRINTER,
    ("", "services"): _SERVICE_PRINTER,
    ("", "endpoints"): _ENDPOINTS_PRINTER,
    ("", "configmaps"): _CONFIG_MAP_PRINTER,
    ("", "secrets"): _SECRET_PRINTER,
    ("", "serviceaccounts"): _SERVICE_ACCOUNT_PRINTER,
    ("", "events"): _EVENT_PRINTER,
    ("", "resourcequotas"): _RESOURCE_QUOTA_PRINTER,
    ("", "persistentvolumeclaims"): _PVC_PRINTER,
    ("apps", "deployments"): _DEPLOYMENT_PRINTER,
    ("apps", "replicasets"): _REPLICA_SET_PRINTER,
    ("apps", "daemonsets"): _DAEMON_SET_PRINTER,
    ("apps", "statefulsets"): _STATEFUL_SET_PRINTER,
    ("apps", "controllerrevisions"): _CONTROLLER_REVISION_PRINTER,
    ("batch", "jobs"): _JOB_PRINTER,
    ("batch", "cronjobs"): _CRON_JOB_PRINTER,
    ("coordination.k8s.io", "leases"): _LEASE_PRINTER,
    ("discovery.k8s.io", "endpointslices"): _ENDPOINT_SLICE_PRINTER,
    ("events.k8s.io", "events"): _EVENTS_V1_PRINTER,
})


def printer_for(group: str, plural: str) -> TablePrinter:
    """The built-in printer of a resource, or the default NAME / CREATED AT printer."""
    return _BUILTIN_PRINTERS.get((group, plural), DEFAULT_PRINTER)
