"""ServiceAccount admission: every pod runs as a service account, `default` unless it names one.

Part of the registry layer's admission chain (plugin/pkg/admission/serviceaccount). On pod creation an
empty spec.serviceAccountName becomes "default" (and the deprecated spec.serviceAccount mirrors it, as
the v1 API shows both); the service account's imagePullSecrets are copied to a pod that has none.
Mirror pods are left alone. No API token is mounted: minik issues no service account tokens.

`require_service_account=True` also refuses pods whose service account does not exist, as kube-apiserver
does ("error looking up service account ..."); it is off by default because the `default` account comes
from the ServiceAccount controller, which a cluster may run without.
"""

from __future__ import annotations

from ...api import errors
from ...api.meta import decode

DEFAULT_SERVICE_ACCOUNT_NAME = "default"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"


class ServiceAccountAdmission:
    def __init__(self, *, require_service_account: bool = False):
        self.require_service_account = require_service_account

    async def admit(self, operation, store, obj, old, ctx) -> None:
        info = store.info
        if operation != "create" or info.group or info.plural != "pods" or obj is None:
            return
        meta = obj.get("metadata") or {}
        spec = obj.get("spec")
        if not isinstance(spec, dict) or MIRROR_POD_ANNOTATION in (meta.get("annotations") or {}):
            return
        if not spec.get("serviceAccountName"):
            spec["serviceAccountName"] = spec.get("serviceAccount") or DEFAULT_SERVICE_ACCOUNT_NAME
        spec["serviceAccount"] = spec["serviceAccountName"]
        account = await self._service_account(store, meta.get("namespace", ""), spec["serviceAccountName"])
        if account is None:
            if self.require_service_account:
                name = spec["serviceAccountName"]
                raise errors.forbidden(
                    f'{info.group_resource} "{_name(meta)}" is forbidden: error looking up service account '
                    f'{meta.get("namespace", "")}/{name}: serviceaccount "{name}" not found',
                    info, _name(meta))
            return
        if not spec.get("imagePullSecrets") and account.get("imagePullSecrets"):
            spec["imagePullSecrets"] = [{"name": s.get("name", "")} for s in account["imagePullSecrets"]
                                        if isinstance(s, dict)]

    async def validate(self, operation, store, obj, old, ctx) -> None:
        pass

    @staticmethod
    async def _service_account(store, namespace: str, name: str) -> dict | None:
        accounts = store.registry.store("", "v1", "serviceaccounts")
        kv = await accounts.storage.get(accounts.key(namespace, name))
        return decode(kv.value) if kv is not None else None


def _name(meta: dict) -> str:
    """admission.NewForbidden's name: the object's name, else its generateName (names come later here)."""
    return meta.get("name") or meta.get("generateName") or "Unknown"
