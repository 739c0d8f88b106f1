"""Patch metadata of the built-in kinds: how their lists and maps merge.

Role in the flow: storage -> registry -> **API server** -> clients. The PATCH handler looks a schema up
with `schema_for` and passes it to `minik.apiserver.patch` (strategic merge patch) and to
`minik.apiserver.fieldmanager` (server-side apply and managedFields). Kinds without a schema (custom
resources) get None: strategic merge patch is refused for them, as Kubernetes does.

The data is what Kubernetes declares on its Go types (k8s.io/api core/v1, apps/v1, batch/v1, meta/v1,
apiextensions/v1 types.go): the struct tags `patchStrategy` / `patchMergeKey` that drive strategic merge
patch, and the markers `+listType`, `+listMapKey`, `+structType=atomic` / `+mapType=atomic` and
`+default` (of list-map keys) that drive server-side apply. Only fields with such metadata are written
down; every other field is "untyped": maps merge key by key, lists are replaced whole (atomic). The
`zero` marker records how Go serializes a field of an empty object (a struct value is always present,
a slice without omitempty is null), which server-side apply needs to attribute the fields of a create
exactly as Kubernetes does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field as dataclass_field, replace
from types import MappingProxyType
from typing import Any

_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True, eq=False)
class PatchSchema:
    """One node of a navigable schema.

    kind: "struct" (named fields), "map" (free keys, one value schema), "list", "scalar", or "untyped"
    (nothing declared: a map merges key by key, a list is atomic).
    patch_strategy / merge_key: the Go struct tags of the field this node describes.
    list_type / map_keys / key_defaults: `+listType`, `+listMapKey` and the `+default` of those keys.
    atomic: `+structType=atomic` or `+mapType=atomic` (server-side apply owns it whole).
    zero: "" (absent from an empty object), "null" or "struct" (present, as Go marshals zero values).
    """

    kind: str = "untyped"
    fields: Mapping[str, PatchSchema] = dataclass_field(default_factory=lambda: _NO_FIELDS)
    elem: PatchSchema | None = None
    patch_strategy: str = ""
    merge_key: str = ""
    list_type: str = ""
    map_keys: tuple[str, ...] = ()
    key_defaults: Mapping[str, Any] = dataclass_field(default_factory=lambda: _NO_FIELDS)
    atomic: bool = False
    zero: str = ""

    def field(self, name: str) -> PatchSchema:
        """The schema of member `name`: declared field, map value, or untyped."""
        if self.kind == "struct":
            return self.fields.get(name, UNTYPED)
        if self.kind == "map" and self.elem is not None:
            return self.elem
        return UNTYPED

    @property
    def item(self) -> PatchSchema:
        """The schema of list items (untyped when not a list)."""
        if self.kind == "list" and self.elem is not None:
            return self.elem
        return UNTYPED

    @property
    def named_fields(self) -> bool:
        """Whether members are named fields (structs, untyped objects) rather than free map keys."""
        return self.kind in ("struct", "untyped")


UNTYPED = PatchSchema()
SCALAR = PatchSchema(kind="scalar")


# --------------------------------------------------------------------------------------------------
# A small DSL over the Go markers


def _struct(
    members: Mapping[str, PatchSchema] | None = None, *, atomic: bool = False, strategy: str = ""
) -> PatchSchema:
    fields = MappingProxyType(dict(members or {}))
    return PatchSchema(kind="struct", fields=fields, atomic=atomic, patch_strategy=strategy)


def _map(elem: PatchSchema = SCALAR, *, atomic: bool = False) -> PatchSchema:
    return PatchSchema(kind="map", elem=elem, atomic=atomic)


def _atomic(item: PatchSchema = UNTYPED) -> PatchSchema:
    """`+listType=atomic` without a patch strategy: replaced whole by both patch and apply."""
    return PatchSchema(kind="list", elem=item, list_type="atomic")


def _keyed(
    item: PatchSchema,
    *keys: str,
    strategy: str = "merge",
    list_type: str = "map",
    defaults: Mapping[str, Any] | None = None,
) -> PatchSchema:
    """A list merged by key: `patchStrategy:"merge" patchMergeKey:keys[0]`, `+listType=map` on all keys."""
    return PatchSchema(
        kind="list",
        elem=item,
        patch_strategy=strategy,
        merge_key=keys[0] if "merge" in strategy.split(",") else "",
        list_type=list_type,
        map_keys=keys if list_type == "map" else (),
        key_defaults=MappingProxyType(dict(defaults or {})),
    )


def _set(strategy: str = "merge") -> PatchSchema:
    """A list of scalars merged as a set: `patchStrategy:"merge"`, `+listType=set`."""
    return PatchSchema(kind="list", elem=SCALAR, patch_strategy=strategy, list_type="set")


def _always(schema: PatchSchema) -> PatchSchema:
    """A struct-valued Go field: present (as `{}`) even in an empty object."""
    return replace(schema, zero="struct")


def _null(schema: PatchSchema) -> PatchSchema:
    """A Go slice/map/pointer without omitempty: present as null in an empty object."""
    return replace(schema, zero="null")


def _object(spec: PatchSchema | None = None, status: PatchSchema | None = None, **members: PatchSchema) -> PatchSchema:
    """A top-level kind: ObjectMeta plus its spec/status (struct values, so always present)."""
    fields: dict[str, PatchSchema] = {"metadata": _always(OBJECT_META), **members}
    if spec is not None:
        fields["spec"] = _always(spec)
    if status is not None:
        fields["status"] = _always(status)
    return _struct(fields)


# --------------------------------------------------------------------------------------------------
# meta/v1 and shared core/v1 pieces

STRING_MAP = _map()
OBJECT_REFERENCE = _struct(atomic=True)  # corev1.ObjectReference and metav1.OwnerReference: structType=atomic
LABEL_SELECTOR = _struct({"matchLabels": STRING_MAP, "matchExpressions": _atomic()}, atomic=True)

OBJECT_META = _struct(
    {
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
        "finalizers": _set(),
        "ownerReferences": _keyed(OBJECT_REFERENCE, "uid"),
        "managedFields": _atomic(),
    }
)

_CONDITIONS = _keyed(UNTYPED, "type")  # patchStrategy merge on type, +listType=map +listMapKey=type

_RESOURCE_REQUIREMENTS = _struct(
    {"limits": STRING_MAP, "requests": STRING_MAP, "claims": _keyed(UNTYPED, "name", strategy="")}
)

CONTAINER = _struct(
    {
        "command": _atomic(),
        "args": _atomic(),
        "ports": _keyed(UNTYPED, "containerPort", "protocol", defaults={"protocol": "TCP"}),
        "envFrom": _atomic(),
        "env": _keyed(UNTYPED, "name"),
        "resources": _always(_RESOURCE_REQUIREMENTS),
        "resizePolicy": _atomic(),
        "volumeMounts": _keyed(UNTYPED, "mountPath"),
        "volumeDevices": _keyed(UNTYPED, "devicePath"),
        "securityContext": _struct({"capabilities": _struct({"add": _atomic(), "drop": _atomic()})}),
    }
)

_AFFINITY = _struct(
    {"nodeAffinity": _struct({"requiredDuringSchedulingIgnoredDuringExecution": _struct(atomic=True)})}
)

POD_SPEC = _struct(
    {
        "volumes": _keyed(UNTYPED, "name", strategy="merge,retainKeys"),
        "initContainers": _keyed(CONTAINER, "name"),
        "containers": _null(_keyed(CONTAINER, "name")),
        "ephemeralContainers": _keyed(CONTAINER, "name"),
        "imagePullSecrets": _keyed(UNTYPED, "name"),
        "hostAliases": _keyed(_struct({"hostnames": _atomic()}), "ip"),
        "nodeSelector": _map(atomic=True),
        "affinity": _AFFINITY,
        "tolerations": _atomic(),
        "readinessGates": _atomic(),
        "topologySpreadConstraints": _keyed(
            _struct({"labelSelector": LABEL_SELECTOR, "matchLabelKeys": _atomic()}), "topologyKey", "whenUnsatisfiable"
        ),
        "schedulingGates": _keyed(UNTYPED, "name"),
        "resourceClaims": _keyed(UNTYPED, "name", strategy="merge,retainKeys"),
        "overhead": STRING_MAP,
        "resources": _RESOURCE_REQUIREMENTS,
    }
)

POD_STATUS = _struct(
    {
        "conditions": _CONDITIONS,
        "podIPs": _keyed(UNTYPED, "ip"),
        "hostIPs": _keyed(UNTYPED, "ip", list_type="atomic"),
        "containerStatuses": _atomic(),
        "initContainerStatuses": _atomic(),
        "ephemeralContainerStatuses": _atomic(),
        "resourceClaimStatuses": _keyed(UNTYPED, "name", strategy="merge,retainKeys"),
    }
)

POD_TEMPLATE = _struct({"metadata": _always(OBJECT_META), "spec": _always(POD_SPEC)})

_WORKLOAD_STATUS = _struct({"conditions": _CONDITIONS})

JOB_SPEC = _struct(
    {
        "selector": LABEL_SELECTOR,
        "template": _always(POD_TEMPLATE),
        "podFailurePolicy": _struct({"rules": _atomic()}),
        "successPolicy": _struct({"rules": _atomic()}),
    }
)

_CRD_NAMES = _struct({"shortNames": _atomic(), "categories": _atomic()})


# --------------------------------------------------------------------------------------------------
# The kinds

_SCHEMAS: Mapping[tuple[str, str], PatchSchema] = MappingProxyType(
    {
        ("", "Namespace"): _object(
            spec=_struct({"finalizers": _atomic()}), status=_struct({"conditions": _CONDITIONS})
        ),
        ("", "Pod"): _object(spec=POD_SPEC, status=POD_STATUS),
        ("", "Node"): _object(
            spec=_struct({"podCIDRs": _set(), "taints": _atomic()}),
            status=_struct(
                {
                    "conditions": _CONDITIONS,
                    "addresses": _keyed(UNTYPED, "type"),
                    "capacity": STRING_MAP,
                    "allocatable": STRING_MAP,
                    "images": _atomic(),
                    "volumesInUse": _atomic(),
                    "volumesAttached": _atomic(),
                    "daemonEndpoints": _always(_struct()),
                    "nodeInfo": _always(_struct()),
                }
            ),
        ),
        ("", "Service"): _object(
            spec=_struct(
                {
                    "ports": _keyed(UNTYPED, "port", "protocol", defaults={"protocol": "TCP"}),
                    "selector": _map(atomic=True),
                    "clusterIPs": _atomic(),
                    "externalIPs": _atomic(),
                    "loadBalancerSourceRanges": _atomic(),
                    "ipFamilies": _atomic(),
                }
            ),
            status=_struct({"loadBalancer": _always(_struct({"ingress": _atomic()})), "conditions": _CONDITIONS}),
        ),
        ("", "Endpoints"): _object(subsets=_atomic()),
        ("", "ConfigMap"): _object(data=STRING_MAP, binaryData=STRING_MAP),
        ("", "Secret"): _object(data=STRING_MAP, stringData=STRING_MAP),
        ("", "ServiceAccount"): _object(secrets=_keyed(OBJECT_REFERENCE, "name"), imagePullSecrets=_atomic()),
        ("", "Event"): _object(
            involvedObject=_always(OBJECT_REFERENCE), related=OBJECT_REFERENCE, source=_always(_struct())
        ),
        ("events.k8s.io", "Event"): _object(
            regarding=_always(OBJECT_REFERENCE), related=OBJECT_REFERENCE, deprecatedSource=_always(_struct())
        ),
        ("", "ResourceQuota"): _object(
            spec=_struct(
                {"hard": STRING_MAP, "scopes": _atomic(), "scopeSelector": _struct({"matchExpressions": _atomic()})}
            ),
            status=_struct({"hard": STRING_MAP, "used": STRING_MAP}),
        ),
        ("", "LimitRange"): _object(spec=_struct({"limits": _null(_atomic())})),
        ("", "PersistentVolumeClaim"): _object(
            spec=_struct(
                {"accessModes": _atomic(), "selector": LABEL_SELECTOR, "resources": _always(_RESOURCE_REQUIREMENTS)}
            ),
            status=_struct(
                {
                    "conditions": _CONDITIONS,
                    "accessModes": _atomic(),
                    "capacity": STRING_MAP,
                    "allocatedResources": STRING_MAP,
                    "allocatedResourceStatuses": STRING_MAP,
                }
            ),
        ),
        ("apps", "Deployment"): _object(
            spec=_struct(
                {
                    "selector": _null(LABEL_SELECTOR),
                    "template": _always(POD_TEMPLATE),
                    "strategy": _always(_struct(strategy="retainKeys")),
                }
            ),
            status=_WORKLOAD_STATUS,
        ),
        ("apps", "ReplicaSet"): _object(
            spec=_struct({"selector": _null(LABEL_SELECTOR), "template": _always(POD_TEMPLATE)}),
            status=_WORKLOAD_STATUS,
        ),
        ("apps", "DaemonSet"): _object(
            spec=_struct(
                {
                    "selector": _null(LABEL_SELECTOR),
                    "template": _always(POD_TEMPLATE),
                    "updateStrategy": _always(_struct()),
                }
            ),
            status=_WORKLOAD_STATUS,
        ),
        ("apps", "StatefulSet"): _object(
            spec=_struct(
                {
                    "selector": _null(LABEL_SELECTOR),
                    "template": _always(POD_TEMPLATE),
                    "volumeClaimTemplates": _atomic(),
                    "updateStrategy": _always(_struct()),
                }
            ),
            status=_WORKLOAD_STATUS,
        ),
        ("apps", "ControllerRevision"): _object(),
        ("batch", "Job"): _object(
            spec=JOB_SPEC,
            status=_struct(
                {
                    "conditions": _keyed(UNTYPED, "type", list_type="atomic"),
                    "uncountedTerminatedPods": _struct({"succeeded": _set(strategy=""), "failed": _set(strategy="")}),
                }
            ),
        ),
        ("batch", "CronJob"): _object(
            spec=_struct(
                {"jobTemplate": _always(_struct({"metadata": _always(OBJECT_META), "spec": _always(JOB_SPEC)}))}
            ),
            status=_struct({"active": _atomic()}),
        ),
        ("coordination.k8s.io", "Lease"): _object(spec=_struct()),
        ("discovery.k8s.io", "EndpointSlice"): _object(endpoints=_null(_atomic()), ports=_atomic()),
        ("apiextensions.k8s.io", "CustomResourceDefinition"): _object(
            spec=_struct({"names": _always(_CRD_NAMES), "versions": _null(_atomic())}),
            status=_struct(
                {
                    "conditions": _keyed(UNTYPED, "type", strategy=""),
                    "acceptedNames": _always(_CRD_NAMES),
                    "storedVersions": _null(_atomic()),
                }
            ),
        ),
        ("autoscaling", "Scale"): _object(spec=_struct(), status=_struct()),
    }
)

# What server-side apply uses for kinds without a schema (custom resources): ObjectMeta is known,
# everything else is untyped (maps granular, lists atomic).
GENERIC_OBJECT = _object()


def schema_for(group: str, kind: str) -> PatchSchema | None:
    """The patch schema of a built-in kind, or None (custom resources, unknown kinds)."""
    return _SCHEMAS.get((group, kind))


def zero_value(schema: PatchSchema) -> dict:
    """The JSON of the empty Go object of this kind: struct fields as `{}`, non-omitempty slices as null.

    Server-side apply compares a created object against this, so that (as in Kubernetes) containers
    that always exist, like `spec` or `spec.template`, are not owned as a whole by the creator.
    """
    return with_zero_values({}, schema)


def with_zero_values(value: Any, schema: PatchSchema) -> Any:
    """`value` with the members Go always serializes added where missing (a new object; lists' items
    are filled too). Kubernetes compares typed objects, where those members always exist."""
    if isinstance(value, list) and schema.kind == "list":
        return [with_zero_values(item, schema.item) for item in value]
    if not isinstance(value, dict) or schema.kind != "struct":
        return value
    out = {key: with_zero_values(child, schema.field(key)) for key, child in value.items()}
    for name, member in schema.fields.items():
        if name not in out and member.zero == "struct":
            out[name] = with_zero_values({}, member)
        elif name not in out and member.zero == "null":
            out[name] = None
    return out
