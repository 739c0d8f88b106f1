"""The resource table: every kind the API serves, as data.

This is the bottom of the API layer. Discovery, OpenAPI, routing, tables and the registry all read this
table; adding a built-in kind means adding a row here plus a strategy in `minik.registry.kinds`. Custom
resources get rows at run time (from their CustomResourceDefinition) through `ResourceTable.add`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """One REST resource (a plural name under a group/version), like Kubernetes' APIResource."""

    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()  # "status", "scale", "binding", "log", "exec", "portforward"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def group_resource(self) -> str:
        """`plural.group` as Kubernetes spells it in messages ("deployments.apps", "pods")."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def storage_prefix(self, namespace: str | None = None) -> str:
        """The key prefix of this resource in the store; objects live at `<prefix><name>`.

        Keys follow Kubernetes' etcd layout: `/registry/<group>/<plural>/<namespace>/<name>`; the core
        group has no group segment. Versions share a key (one storage version per kind).
        """
        base = f"/registry/{self.group}/{self.plural}/" if self.group else f"/registry/{self.plural}/"
        if namespace:
            return f"{base}{namespace}/"
        return base

    def storage_key(self, namespace: str | None, name: str) -> str:
        return self.storage_prefix(namespace if self.namespaced else None) + name


def _r(group: str, version: str, kind: str, plural: str, namespaced: bool = True, **kw) -> ResourceInfo:
    return ResourceInfo(group, version, kind, plural, namespaced, **kw)


_ALL = ("all",)
_NO_COLLECTION = tuple(v for v in ALL_VERBS if v != "deletecollection")

BUILTIN_RESOURCES: tuple[ResourceInfo, ...] = (
    # core/v1
    _r("", "v1", "Namespace", "namespaces", False, short_names=("ns",), verbs=_NO_COLLECTION,
       subresources=("status", "finalize")),
    _r("", "v1", "Pod", "pods", short_names=("po",), categories=_ALL,
       subresources=("status", "binding", "log", "exec", "portforward", "eviction")),
    _r("", "v1", "Node", "nodes", False, short_names=("no",), subresources=("status",)),
    _r("", "v1", "Service", "services", short_names=("svc",), categories=_ALL, subresources=("status",)),
    _r("", "v1", "Endpoints", "endpoints", short_names=("ep",)),
    _r("", "v1", "ConfigMap", "configmaps", short_names=("cm",)),
    _r("", "v1", "Secret", "secrets"),
    _r("", "v1", "ServiceAccount", "serviceaccounts", short_names=("sa",)),
    _r("", "v1", "Event", "events", short_names=("ev",)),
    _r("", "v1", "ResourceQuota", "resourcequotas", short_names=("quota",), subresources=("status",)),
    _r("", "v1", "LimitRange", "limitranges", short_names=("limits",)),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short_names=("pvc",),
       subresources=("status",)),
    # apps/v1
    _r("apps", "v1", "Deployment", "deployments", short_names=("deploy",), categories=_ALL,
       subresources=("status", "scale")),
    _r("apps", "v1", "ReplicaSet", "replicasets", short_names=("rs",), categories=_ALL,
       subresources=("status", "scale")),
    _r("apps", "v1", "DaemonSet", "daemonsets", short_names=("ds",), categories=_ALL,
       subresources=("status",)),
    _r("apps", "v1", "StatefulSet", "statefulsets", short_names=("sts",), categories=_ALL,
       subresources=("status", "scale")),
    _r("apps", "v1", "ControllerRevision", "controllerrevisions"),
    # batch/v1
    _r("batch", "v1", "Job", "jobs", categories=_ALL, subresources=("status",)),
    _r("batch", "v1", "CronJob", "cronjobs", short_names=("cj",), categories=_ALL, subresources=("status",)),
    # coordination.k8s.io/v1
    _r("coordination.k8s.io", "v1", "Lease", "leases"),
    # discovery.k8s.io/v1
    _r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    # events.k8s.io/v1 (same storage as core/v1 events in Kubernetes; here its own resource)
    _r("events.k8s.io", "v1", "Event", "events", short_names=("ev",)),
    # apiextensions.k8s.io/v1
    _r("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False,
       short_names=("crd", "crds"), subresources=("status",)),
)


@dataclass
class ResourceTable:
    """Lookup of served resources by (group, version, plural) and by (group, kind)."""

    _by_path: dict[tuple[str, str, str], ResourceInfo] = field(default_factory=dict)
    _by_kind: dict[tuple[str, str], ResourceInfo] = field(default_factory=dict)

    @classmethod
    def builtin(cls) -> "ResourceTable":
        table = cls()
        for info in BUILTIN_RESOURCES:
            table.add(info)
        return table

    def add(self, info: ResourceInfo) -> None:
        self._by_path[(info.group, info.version, info.plural)] = info
        self._by_kind[(info.group, info.kind)] = info

    def remove(self, info: ResourceInfo) -> None:
        self._by_path.pop((info.group, info.version, info.plural), None)
        if self._by_kind.get((info.group, info.kind)) == info:
            del self._by_kind[(info.group, info.kind)]

    def lookup(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, group: str, kind: str) -> ResourceInfo | None:
        return self._by_kind.get((group, kind))

    def all(self) -> list[ResourceInfo]:
        return list(self._by_path.values())

    def group_versions(self) -> dict[str, list[str]]:
        """Group name → served versions, in the order rows were added (core group is "")."""
        out: dict[str, list[str]] = {}
        for info in self._by_path.values():
            versions = out.setdefault(info.group, [])
            if info.version not in versions:
                versions.append(info.version)
        return out
