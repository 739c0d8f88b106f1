"""Pods: defaults, validation, graceful deletion and binding (the pod strategy of Kubernetes' registry).

Part of the registry layer. The pod-spec defaults and validation here are shared with every kind that
embeds a pod template (Deployments, ReplicaSets, DaemonSets, StatefulSets, Jobs, CronJobs), so a template
stored in a Deployment is byte-for-byte the one its ReplicaSet gets, as `kubectl rollout undo` expects.
"""

from __future__ import annotations


from ...api.meta import json_copy
from ...api import validation as v
from ...api.quantity import QuantityError, parse_quantity
from ...api.selectors import label_selector_from_set  # noqa: F401  (re-exported for templates)
from ..strategy import Strategy

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
PROTOCOLS = ("TCP", "UDP", "SCTP")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
MUTABLE_SPEC = (
    "spec.containers[*].image, spec.initContainers[*].image, spec.activeDeadlineSeconds, "
    "spec.tolerations (only additions to existing tolerations), spec.terminationGracePeriodSeconds "
    "(allow it to be set to 1 if it was previously negative)"
)


# --- defaults ---


def default_container(container: dict) -> None:
    image = container.get("image") or ""
    if "imagePullPolicy" not in container:
        tagless = ":" not in image.rsplit("/", 1)[-1] and "@" not in image
        container["imagePullPolicy"] = "Always" if tagless or image.endswith(":latest") else "IfNotPresent"
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(container.get(probe), dict):
            default_probe(container[probe])


def default_probe(probe: dict) -> None:
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def default_requests_to_limits(spec: dict) -> None:
    """SetDefaults_Pod: a container that states limits but not requests requests its limits (per resource).

    Pods only: Kubernetes deliberately does not do this for pod templates.
    """
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            resources = container.get("resources") if isinstance(container, dict) else None
            if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
                requests = resources.get("requests")
                if not isinstance(requests, dict):
                    requests = resources["requests"] = {}
                for name, amount in resources["limits"].items():
                    requests.setdefault(name, amount)


def default_pod_spec(spec: dict) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                default_container(container)
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict):
            continue
        for source in ("configMap", "secret", "projected"):
            if isinstance(volume.get(source), dict):
                volume[source].setdefault("defaultMode", 420)
        if set(volume) == {"name"}:
            volume["emptyDir"] = {}


def default_pod_template(template: dict) -> None:
    """Templates are defaulted like pods, and carry `creationTimestamp: null` as Kubernetes serializes them."""
    if not isinstance(template, dict):
        return
    meta = template.setdefault("metadata", {})
    if isinstance(meta, dict):
        meta.setdefault("creationTimestamp", None)
    if isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"])


def qos_class(spec: dict) -> str:
    """Guaranteed / Burstable / BestEffort, from requests and limits (pkg/apis/core/helper/qos)."""
    requests_set = limits_set = False
    guaranteed = True
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        resources = container.get("resources") or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        if requests:
            requests_set = True
        if limits:
            limits_set = True
        for resource in ("cpu", "memory"):
            limit = limits.get(resource)
            request = requests.get(resource, limit)
            if limit is None or request is None or _quantity(limit) != _quantity(request):
                guaranteed = False
    if not requests_set and not limits_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _quantity(text) -> object:
    try:
        return parse_quantity(text)
    except QuantityError:
        return text


# --- validation ---


def validate_pod_spec(spec: object, path: str) -> list[v.Cause]:
    if not isinstance(spec, dict):
        return [v.required(path)]
    causes: list[v.Cause] = []
    containers = spec.get("containers")
    if not containers:
        causes.append(v.required(f"{path}.containers"))
    names: set[str] = set()
    for key in ("initContainers", "containers"):
        items = spec.get(key) or []
        if not isinstance(items, list):
            causes.append(v.type_invalid(f"{path}.{key}", items, "must be a list"))
            continue
        for i, container in enumerate(items):
            causes += validate_container(container, f"{path}.{key}[{i}]", names)
    volume_names: set[str] = set()
    for i, volume in enumerate(spec.get("volumes") or []):
        vpath = f"{path}.volumes[{i}]"
        name = volume.get("name") if isinstance(volume, dict) else None
        if not name:
            causes.append(v.required(f"{vpath}.name"))
        else:
            causes += [v.invalid(f"{vpath}.name", name, m) for m in v.dns1123_label(name)]
            if name in volume_names:
                causes.append(v.duplicate(f"{vpath}.name", name))
            volume_names.add(name)
    for key in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(key) or []):
            for j, mount in enumerate((container or {}).get("volumeMounts") or [] if isinstance(container, dict) else []):
                name = mount.get("name") if isinstance(mount, dict) else None
                if name not in volume_names:
                    causes.append(v.not_found(f"{path}.{key}[{i}].volumeMounts[{j}].name", name))
                if isinstance(mount, dict) and not mount.get("mountPath"):
                    causes.append(v.required(f"{path}.{key}[{i}].volumeMounts[{j}].mountPath"))
    policy = spec.get("restartPolicy")
    if policy not in RESTART_POLICIES:
        causes.append(v.not_supported(f"{path}.restartPolicy", policy, RESTART_POLICIES))
    if spec.get("dnsPolicy") not in DNS_POLICIES:
        causes.append(v.not_supported(f"{path}.dnsPolicy", spec.get("dnsPolicy"), DNS_POLICIES))
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        causes.append(v.type_invalid(f"{path}.terminationGracePeriodSeconds", grace, "must be an integer"))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (not isinstance(deadline, int) or deadline <= 0):
        causes.append(v.invalid(f"{path}.activeDeadlineSeconds", deadline, "must be greater than 0"))
    selector = spec.get("nodeSelector")
    if selector is not None:
        causes += v.validate_labels(selector, f"{path}.nodeSelector")
    for i, toleration in enumerate(spec.get("tolerations") or []):
        causes += validate_toleration(toleration, f"{path}.tolerations[{i}]")
    return causes


def validate_container(container: object, path: str, names: set[str]) -> list[v.Cause]:
    if not isinstance(container, dict):
        return [v.type_invalid(path, container, "must be an object")]
    causes = []
    name = container.get("name")
    if not name:
        causes.append(v.required(f"{path}.name"))
    else:
        causes += [v.invalid(f"{path}.name", name, m) for m in v.dns1123_label(name)]
        if name in names:
            causes.append(v.duplicate(f"{path}.name", name))
        names.add(name)
    if not container.get("image"):
        causes.append(v.required(f"{path}.image"))
    if container.get("imagePullPolicy") not in PULL_POLICIES:
        causes.append(v.not_supported(f"{path}.imagePullPolicy", container.get("imagePullPolicy"), PULL_POLICIES))
    port_names: set[str] = set()
    for i, port in enumerate(container.get("ports") or []):
        ppath = f"{path}.ports[{i}]"
        if not isinstance(port, dict):
            causes.append(v.type_invalid(ppath, port, "must be an object"))
            continue
        number = port.get("containerPort")
        if number is None:
            causes.append(v.required(f"{ppath}.containerPort"))
        else:
            causes += [v.invalid(f"{ppath}.containerPort", number, m) for m in v.port_number(number)]
        host = port.get("hostPort")
        if host:
            causes += [v.invalid(f"{ppath}.hostPort", host, m) for m in v.port_number(host)]
        if port.get("protocol") not in PROTOCOLS:
            causes.append(v.not_supported(f"{ppath}.protocol", port.get("protocol"), PROTOCOLS))
        if port.get("name"):
            causes += [v.invalid(f"{ppath}.name", port["name"], m) for m in v.port_name(port["name"])]
            if port["name"] in port_names:
                causes.append(v.duplicate(f"{ppath}.name", port["name"]))
            port_names.add(port["name"])
    for i, env in enumerate(container.get("env") or []):
        epath = f"{path}.env[{i}]"
        if not isinstance(env, dict) or not env.get("name"):
            causes.append(v.required(f"{epath}.name"))
    for key in ("requests", "limits"):
        causes += v.resource_list((container.get("resources") or {}).get(key), f"{path}.resources.{key}")
    return causes


def validate_toleration(toleration: object, path: str) -> list[v.Cause]:
    if not isinstance(toleration, dict):
        return [v.type_invalid(path, toleration, "must be an object")]
    causes = []
    operator = toleration.get("operator") or "Equal"
    if operator not in ("Equal", "Exists"):
        causes.append(v.not_supported(f"{path}.operator", operator, ("Equal", "Exists")))
    if operator == "Exists" and toleration.get("value"):
        causes.append(v.invalid(f"{path}.operator", toleration.get("value"), "value must be empty when `operator` is 'Exists'"))
    effect = toleration.get("effect")
    if effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
        causes.append(v.not_supported(f"{path}.effect", effect, ("NoExecute", "NoSchedule", "PreferNoSchedule")))
    if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
        causes.append(v.invalid(f"{path}.effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
    return causes


def validate_pod_template(template: object, path: str, selector_labels: dict | None = None) -> list[v.Cause]:
    if not isinstance(template, dict):
        return [v.required(path)]
    causes = []
    labels = (template.get("metadata") or {}).get("labels") or {}
    causes += v.validate_labels(labels, f"{path}.metadata.labels")
    if selector_labels is not None:
        for key, value in selector_labels.items():
            if labels.get(key) != value:
                causes.append(v.invalid(f"{path}.metadata.labels", labels,
                                        "`selector` does not match template `labels`"))
                break
    causes += validate_pod_spec(template.get("spec"), f"{path}.spec")
    return causes


# --- strategy ---


class PodStrategy(Strategy):
    return_deleted_object = True
    field_labels = (
        "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName",
    )

    def prepare_for_create(self, obj: dict) -> None:
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            default_pod_spec(spec)
            default_requests_to_limits(spec)
            spec.setdefault("enableServiceLinks", True)
            spec.setdefault("priority", 0)
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(spec) if isinstance(spec, dict) else "BestEffort"}

    def prepare_for_update(self, obj: dict, old: dict) -> None:
        """Updates are defaulted like creates (Kubernetes defaults every object it decodes), so a
        `kubectl replace` of the original manifest is the same pod, not a forbidden spec change."""
        super().prepare_for_update(obj, old)
        spec = obj.get("spec")
        if isinstance(spec, dict):
            default_pod_spec(spec)
            default_requests_to_limits(spec)
            spec.setdefault("enableServiceLinks", True)
            spec.setdefault("priority", 0)

    def validate(self, obj: dict) -> list[v.Cause]:
        return validate_pod_spec(obj.get("spec"), "spec")

    def validate_update(self, obj: dict, old: dict) -> list[v.Cause]:
        causes = self.validate(obj)
        if causes:
            return causes
        new_spec, old_spec = json_copy(obj.get("spec") or {}), old.get("spec") or {}
        # Blank out what may change; anything else differing is forbidden.
        for key in ("containers", "initContainers"):
            for new_c, old_c in zip(new_spec.get(key) or [], old_spec.get(key) or []):
                new_c["image"] = old_c.get("image")
        for key in ("activeDeadlineSeconds", "terminationGracePeriodSeconds"):
            if key in old_spec:
                new_spec[key] = old_spec[key]
            else:
                new_spec.pop(key, None)
        old_tolerations = old_spec.get("tolerations") or []
        new_tolerations = new_spec.get("tolerations") or []
        if all(t in new_tolerations for t in old_tolerations):
            if old_tolerations:
                new_spec["tolerations"] = old_tolerations
            else:
                new_spec.pop("tolerations", None)
        if new_spec != old_spec:
            return [v.forbidden("spec", f"pod updates may not change fields other than {MUTABLE_SPEC}")]
        return []

    def prepare_for_subresource(self, subresource: str, obj: dict, old: dict) -> None:
        if subresource == "binding":
            # The handler put the target node into obj["spec"]["nodeName"]; nothing else may change.
            node = (obj.get("spec") or {}).get("nodeName")
            obj.clear()
            obj.update(json_copy(old))
            obj["spec"]["nodeName"] = node
            return
        super().prepare_for_subresource(subresource, obj, old)

    def validate_subresource_update(self, subresource: str, obj: dict, old: dict) -> list[v.Cause]:
        if subresource == "binding" and (old.get("spec") or {}).get("nodeName"):
            return [v.forbidden("spec.nodeName", f"pod {old['metadata']['name']} is already assigned to node "
                                                 f"\"{old['spec']['nodeName']}\"")]
        return []

    def graceful_period(self, obj: dict, requested: int | None) -> int:
        """A pod waits for its node to stop it; one that never ran, or has finished, goes at once."""
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return max(0, requested)
        grace = spec.get("terminationGracePeriodSeconds")
        return 30 if grace is None else max(0, grace)

    def selectable_fields(self, obj: dict) -> dict[str, str]:
        fields = super().selectable_fields(obj)
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        fields.update({
            "spec.nodeName": spec.get("nodeName", ""),
            "spec.restartPolicy": spec.get("restartPolicy", ""),
            "spec.schedulerName": spec.get("schedulerName", ""),
            "spec.serviceAccountName": spec.get("serviceAccountName", ""),
            "spec.hostNetwork": "true" if spec.get("hostNetwork") else "false",
            "status.phase": status.get("phase", ""),
            "status.podIP": status.get("podIP", ""),
            "status.podIPs": ",".join(ip.get("ip", "") for ip in status.get("podIPs") or []),
            "status.nominatedNodeName": status.get("nominatedNodeName", ""),
        })
        return fields
