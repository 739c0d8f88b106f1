"""Every active namespace gets a `default` ServiceAccount, again when it is deleted; pods run as it."""

from __future__ import annotations

import pytest

from minik.api.errors import APIError
from minik.client.interface import resource
from minik.controllers.serviceaccount import ServiceAccountController
from minik.registry.admission import ServiceAccountAdmission

NAMESPACES = resource("namespaces")
SERVICEACCOUNTS = resource("serviceaccounts")
PODS = resource("pods")


async def default_account(cluster, namespace: str):
    return await cluster.get("serviceaccounts", "default", namespace)


async def test_default_service_account_in_every_namespace(cluster):
    cluster.start(ServiceAccountController)
    await cluster.client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    for namespace in ("default", "kube-system", "kube-public", "kube-node-lease", "team"):
        await cluster.eventually(lambda: default_account(cluster, namespace), message=f"default SA in {namespace}")

    first = await default_account(cluster, "team")
    await cluster.client.delete(SERVICEACCOUNTS, "default", "team")

    async def recreated():
        account = await default_account(cluster, "team")
        return account and account["metadata"]["uid"] != first["metadata"]["uid"]

    await cluster.eventually(recreated, message="a deleted default ServiceAccount comes back")


async def test_terminating_namespace_gets_none(cluster):
    await cluster.client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "going"}})
    await cluster.client.delete(NAMESPACES, "going")  # Terminating: no namespace controller empties it here
    cluster.start(ServiceAccountController)
    await cluster.eventually(lambda: default_account(cluster, "default"))
    assert await default_account(cluster, "going") is None


async def test_pods_run_as_the_default_service_account(cluster):
    cluster.registry.admission.append(ServiceAccountAdmission(require_service_account=True))
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}
    with pytest.raises(APIError) as refused:
        await cluster.client.create(PODS, pod, "default")
    assert refused.value.code == 403
    assert refused.value.message == ('pods "p" is forbidden: error looking up service account default/default: '
                                     'serviceaccount "default" not found')
    cluster.start(ServiceAccountController)
    await cluster.eventually(lambda: default_account(cluster, "default"))
    created = await cluster.client.create(PODS, pod, "default")
    assert created["spec"]["serviceAccountName"] == "default"
    assert created["spec"]["serviceAccount"] == "default"
