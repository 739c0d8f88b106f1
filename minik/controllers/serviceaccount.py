"""The ServiceAccount controller: every active namespace has a `default` ServiceAccount.

Part of the controllers layer (kube-controller-manager's pkg/controller/serviceaccount,
serviceaccounts_controller.go). Informers on Namespaces and ServiceAccounts enqueue a namespace when it
appears or changes, or when its `default` ServiceAccount is deleted; a reconcile creates the account if
it is missing. Namespaces that are not Active (Terminating) get nothing. Like Kubernetes since 1.24, no
token Secret is created for it.
"""

from __future__ import annotations

from ..api.errors import APIError
from ..client.interface import is_already_exists, resource
from .base import Controller

NAMESPACES = resource("namespaces")
SERVICEACCOUNTS = resource("serviceaccounts")
DEFAULT_SERVICE_ACCOUNTS = ("default",)


class ServiceAccountController(Controller):
    name = "serviceaccount"
    workers = 2

    def setup(self) -> None:
        self.namespaces = self.informer(NAMESPACES)
        self.accounts = self.informer(SERVICEACCOUNTS)
        self.namespaces.add_handler(self.enqueue, lambda old, new: self.enqueue(new))
        self.accounts.add_handler(on_delete=self._account_deleted)

    def _account_deleted(self, account: dict) -> None:
        meta = account["metadata"]
        if meta["name"] in DEFAULT_SERVICE_ACCOUNTS:
            self.queue.add(meta.get("namespace", ""))

    async def reconcile(self, key: str) -> None:
        namespace = self.namespaces.get(key)
        if namespace is None or (namespace.get("status") or {}).get("phase", "Active") != "Active" \
                or namespace["metadata"].get("deletionTimestamp"):
            return  # a namespace that is going away must not get new content
        for name in DEFAULT_SERVICE_ACCOUNTS:
            if self.accounts.get(f"{key}/{name}") is not None:
                continue
            try:
                await self.client.create(SERVICEACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                                           "metadata": {"name": name, "namespace": key}}, key)
            except APIError as exc:
                if is_already_exists(exc) or (exc.code == 403 and "being terminated" in exc.message):
                    continue  # made meanwhile (our cache was behind), or the namespace started terminating
                raise
