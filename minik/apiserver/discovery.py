"""Discovery: what the server serves, in the forms clients ask for.

Part of the API layer. kubectl 1.26+ asks `/api` and `/apis` for the aggregated form
(apidiscovery.k8s.io v2, or v2beta1 up to kubectl 1.28) and falls back to the legacy documents
(APIVersions, APIGroupList, one APIResourceList per group-version), which the Python DynamicClient uses.
All of it is derived from the resource table; documents are serialized once and rebuilt only when custom
resources come or go.
"""

from __future__ import annotations

import base64
import hashlib

import orjson

from ..api.resources import ResourceInfo, ResourceTable

# Verbs of each subresource, and the kind it answers with (group, version, kind; None = the parent's).
SUBRESOURCES: dict[str, tuple[tuple[str, ...], tuple[str, str, str] | None]] = {
    "status": (("get", "patch", "update"), None),
    "scale": (("get", "patch", "update"), ("autoscaling", "v1", "Scale")),
    "binding": (("create",), ("", "v1", "Binding")),
    "eviction": (("create",), ("policy", "v1", "Eviction")),
    "log": (("get",), ("", "v1", "Pod")),
    "exec": (("create", "get"), ("", "v1", "PodExecOptions")),
    "portforward": (("create", "get"), ("", "v1", "PodPortForwardOptions")),
    "finalize": (("update",), None),
}


def _response_kind(info: ResourceInfo, target: tuple[str, str, str] | None) -> dict:
    group, version, kind = target or (info.group, info.version, info.kind)
    return {"group": group, "version": version, "kind": kind}


class Discovery:
    def __init__(self, table: ResourceTable, *, server_address: str = ""):
        self._table = table
        self._server_address = server_address
        self._cache: dict[str, bytes] = {}

    def invalidate(self, *_args) -> None:
        self._cache.clear()

    def _cached(self, key: str, build) -> bytes:
        data = self._cache.get(key)
        if data is None:
            data = self._cache[key] = orjson.dumps(build())
        return data

    def _groups(self) -> dict[str, dict[str, list[ResourceInfo]]]:
        """group → version → resources, core group first, groups in table order."""
        out: dict[str, dict[str, list[ResourceInfo]]] = {}
        for info in sorted(self._table.all(), key=lambda i: i.group != ""):
            out.setdefault(info.group, {}).setdefault(info.version, []).append(info)
        return out

    # --- legacy ---

    def api_versions(self) -> bytes:
        def build():
            doc = {"kind": "APIVersions", "versions": ["v1"]}
            if self._server_address:
                doc["serverAddressByClientCIDRs"] = [{"clientCIDR": "0.0.0.0/0", "serverAddress": self._server_address}]
            return doc

        return self._cached("api", build)

    def group_list(self) -> bytes:
        return self._cached("apis", lambda: {
            "kind": "APIGroupList", "apiVersion": "v1",
            "groups": [self._group(group, versions) for group, versions in self._groups().items() if group],
        })

    def group(self, name: str) -> bytes | None:
        versions = self._groups().get(name)
        if not name or versions is None:
            return None
        return self._cached(f"group/{name}", lambda: {"kind": "APIGroup", "apiVersion": "v1",
                                                      **self._group(name, versions)})

    @staticmethod
    def _group(name: str, versions: dict[str, list[ResourceInfo]]) -> dict:
        gvs = [{"groupVersion": f"{name}/{version}", "version": version} for version in versions]
        return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}

    def resource_list(self, group: str, version: str) -> bytes | None:
        infos = self._groups().get(group, {}).get(version)
        if infos is None:
            return None

        def build():
            resources = []
            for info in infos:
                resources.append(self._legacy_resource(info))
                for sub in info.subresources:
                    verbs, target = SUBRESOURCES.get(sub, (("get",), None))
                    entry = {"name": f"{info.plural}/{sub}", "singularName": "", "namespaced": info.namespaced,
                             "kind": _response_kind(info, target)["kind"], "verbs": list(verbs)}
                    if target and target[0] != info.group:
                        entry["group"], entry["version"] = target[0], target[1]
                    resources.append(entry)
            return {"kind": "APIResourceList", "apiVersion": "v1",
                    "groupVersion": f"{group}/{version}" if group else version, "resources": resources}

        return self._cached(f"resources/{group}/{version}", build)

    @staticmethod
    def _legacy_resource(info: ResourceInfo) -> dict:
        entry = {
            "name": info.plural, "singularName": info.singular_name, "namespaced": info.namespaced,
            "kind": info.kind, "verbs": list(info.verbs),
            "storageVersionHash": storage_version_hash(info),
        }
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        if info.categories:
            entry["categories"] = list(info.categories)
        return entry

    # --- aggregated (apidiscovery.k8s.io) ---

    def aggregated(self, core: bool, version: str) -> bytes:
        def build():
            items = []
            for group, versions in self._groups().items():
                if (group == "") != core:
                    continue
                items.append({
                    "metadata": {"name": group, "creationTimestamp": None},
                    "versions": [{"version": v, "resources": [self._aggregated_resource(i) for i in infos],
                                  "freshness": "Current"} for v, infos in versions.items()],
                })
            return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}",
                    "metadata": {}, "items": items}

        return self._cached(f"aggregated/{core}/{version}", build)

    @staticmethod
    def _aggregated_resource(info: ResourceInfo) -> dict:
        entry = {
            "resource": info.plural,
            "responseKind": _response_kind(info, None),
            "scope": "Namespaced" if info.namespaced else "Cluster",
            "singularResource": info.singular_name,
            "verbs": list(info.verbs),
        }
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        if info.categories:
            entry["categories"] = list(info.categories)
        subresources = []
        for sub in info.subresources:
            verbs, target = SUBRESOURCES.get(sub, (("get",), None))
            subresources.append({"subresource": sub, "responseKind": _response_kind(info, target), "verbs": list(verbs)})
        if subresources:
            entry["subresources"] = subresources
        return entry



def storage_version_hash(info: ResourceInfo) -> str:
    """Like Kubernetes: a short hash of group/version/kind of the storage version."""
    digest = hashlib.sha256(f"{info.group}/{info.version}/{info.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()
