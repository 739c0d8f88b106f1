"""ReplicaSet controller: pods from the template, ownership, expectations, deletion order, status."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from minik.api import errors
from minik.api.meta import format_time
from minik.client.informer import InformerFactory
from minik.client.interface import resource
from minik.controllers.base import ControllerContext
from minik.controllers.replicaset import Expectations, ReplicaSetController, rank_pods_for_deletion, slow_start_batch
from tests.unit.controllers.helpers import Binder, capture_events, retrying, start_nodes

PODS = resource("pods")
REPLICASETS = resource("replicasets", "apps")
NS = "default"


@pytest.fixture
async def binder(cluster):
    sim = await start_nodes(cluster, 3)
    binder = Binder(cluster, sim.names)
    cluster.informers.start(cluster.spawn)
    cluster.spawn("binder", binder.run())
    yield binder
    await cluster.stop()  # stop informers first, so the simulated kubelet schedules nothing new
    await sim.close()


def replica_set(name: str = "web", replicas: int = 3, **spec) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": NS},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}},
                 **spec},
    }


async def patch(cluster, info, name: str, body, namespace: str = NS, **kwargs) -> dict:
    """A user's patch, retried on 409s as a user would re-run it (see `retrying`)."""
    return await retrying(lambda: cluster.client.patch(info, name, body, namespace, **kwargs), attempts=50)


def active(pods: list[dict]) -> list[dict]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


async def app_pods(cluster, app: str = "web") -> list[dict]:
    return active(await cluster.list("pods", label_selector=f"app={app}"))


async def settled(cluster, name: str = "web", **expected) -> dict | None:
    rs = await cluster.get("replicasets", name, group="apps")
    status = (rs or {}).get("status") or {}
    if all((status.get(k) or 0) == v for k, v in expected.items()):
        return rs
    return None


@pytest.fixture
def events(cluster, monkeypatch) -> list[dict]:
    return capture_events(cluster, monkeypatch)


def events_for(events: list[dict], name: str, reason: str) -> list[dict]:
    return [e for e in events if e["name"] == name and e["reason"] == reason]


async def test_creates_pods_with_controller_refs_and_status(cluster, binder, events):
    cluster.start(ReplicaSetController)
    rs = await cluster.client.create(REPLICASETS, replica_set(replicas=3), NS)
    await cluster.eventually(lambda: settled(cluster, replicas=3, readyReplicas=3, availableReplicas=3,
                                             fullyLabeledReplicas=3, observedGeneration=1))
    pods = await app_pods(cluster)
    assert len(pods) == 3
    for pod in pods:
        assert pod["metadata"]["name"].startswith("web-")
        assert pod["metadata"]["ownerReferences"] == [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": rs["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}]
    created = events_for(events, "web", "SuccessfulCreate")
    assert sorted(e["message"] for e in created) == sorted(f"Created pod: {p['metadata']['name']}" for p in pods)
    assert {(e["type"], e["component"]) for e in created} == {("Normal", "replicaset-controller")}


async def test_replaces_a_deleted_pod(cluster, binder):
    cluster.start(ReplicaSetController)
    await cluster.client.create(REPLICASETS, replica_set(replicas=3), NS)
    await cluster.eventually(lambda: settled(cluster, replicas=3, readyReplicas=3))
    victim = (await app_pods(cluster))[0]["metadata"]["name"]
    await cluster.client.delete(PODS, victim, NS)

    async def replaced():
        names = {p["metadata"]["name"] for p in await app_pods(cluster)}
        return len(names) == 3 and victim not in names

    await cluster.eventually(replaced)
    await cluster.eventually(lambda: settled(cluster, replicas=3, readyReplicas=3))


async def test_scale_down_prefers_unready_then_unassigned(cluster, binder, events):
    cluster.start(ReplicaSetController)
    await cluster.client.create(REPLICASETS, replica_set(replicas=3), NS)
    await cluster.eventually(lambda: settled(cluster, replicas=3, readyReplicas=3))
    pods = await app_pods(cluster)
    unready = pods[1]["metadata"]["name"]
    conditions = [{**c, "status": "False"} if c["type"] == "Ready" else c for c in pods[1]["status"]["conditions"]]
    await patch(cluster, PODS, unready, {"status": {"conditions": conditions}}, NS, subresource="status")
    await cluster.eventually(lambda: settled(cluster, replicas=3, readyReplicas=2))

    await patch(cluster, REPLICASETS, "web", {"spec": {"replicas": 2}}, NS)
    await cluster.eventually(lambda: settled(cluster, replicas=2, readyReplicas=2))
    remaining = {p["metadata"]["name"] for p in await app_pods(cluster)}
    assert unready not in remaining and len(remaining) == 2
    assert [e["message"] for e in events_for(events, "web", "SuccessfulDelete")] == [f"Deleted pod: {unready}"]

    # A new pod that no scheduler placed yet goes before any running one.
    binder.enabled = False
    await patch(cluster, REPLICASETS, "web", {"spec": {"replicas": 3}}, NS)
    await cluster.eventually(lambda: settled(cluster, replicas=3, readyReplicas=2))
    unassigned = [p["metadata"]["name"] for p in await app_pods(cluster) if not p["spec"].get("nodeName")]
    assert len(unassigned) == 1
    await patch(cluster, REPLICASETS, "web", {"spec": {"replicas": 2}}, NS)
    await cluster.eventually(lambda: settled(cluster, replicas=2, readyReplicas=2))
    assert {p["metadata"]["name"] for p in await app_pods(cluster)} == remaining


async def test_adopts_orphans_and_releases_pods_that_stop_matching(cluster, binder):
    orphan = {"apiVersion": "v1", "kind": "Pod",
              "metadata": {"name": "orphan", "namespace": NS, "labels": {"app": "web"}},
              "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}
    await cluster.client.create(PODS, orphan, NS)
    await cluster.eventually(lambda: _running(cluster, "orphan"))
    cluster.start(ReplicaSetController)
    rs = await cluster.client.create(REPLICASETS, replica_set(replicas=2), NS)
    await cluster.eventually(lambda: settled(cluster, replicas=2, readyReplicas=2))
    pods = await app_pods(cluster)
    assert "orphan" in {p["metadata"]["name"] for p in pods} and len(pods) == 2  # adopted: only one created
    adopted = await cluster.get("pods", "orphan")
    assert adopted["metadata"]["ownerReferences"] == [{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": rs["metadata"]["uid"],
        "controller": True, "blockOwnerDeletion": True}]

    await patch(cluster, PODS, "orphan", {"metadata": {"labels": {"app": "other"}}}, NS)

    async def released():
        pod = await cluster.get("pods", "orphan")
        return not pod["metadata"].get("ownerReferences") and len(await app_pods(cluster)) == 2

    await cluster.eventually(released)
    await cluster.eventually(lambda: settled(cluster, replicas=2, readyReplicas=2))
    assert (await cluster.get("pods", "orphan"))["metadata"].get("deletionTimestamp") is None  # released, not deleted


async def _running(cluster, name: str) -> bool:
    pod = await cluster.get("pods", name)
    return (pod.get("status") or {}).get("phase") == "Running"


class SlowPodWatch:
    """A client whose pod watch events arrive late: an informer that lags behind the API."""

    def __init__(self, client, delay: float):
        self._client, self._delay = client, delay

    def __getattr__(self, name):
        return getattr(self._client, name)

    async def watch(self, info, *args, **kwargs):
        async for event in self._client.watch(info, *args, **kwargs):
            if info.plural == "pods" and event.type != "BOOKMARK":
                await asyncio.sleep(self._delay)
            yield event


async def test_slow_informer_does_not_cause_double_creation(cluster, events):
    informers = InformerFactory(SlowPodWatch(cluster.client, 0.05), clock=cluster.clock)
    controller = ReplicaSetController(ControllerContext(cluster.client, informers, cluster.recorder, cluster.clock))
    informers.start(cluster.spawn)
    cluster.spawn("slow-rs", controller.run())
    await cluster.client.create(REPLICASETS, replica_set(replicas=5), NS)
    await cluster.eventually(lambda: settled(cluster, replicas=5))
    await asyncio.sleep(0.3)  # the RS's own status updates re-sync it meanwhile: nothing more may be created
    assert len(await app_pods(cluster)) == 5
    assert len(events_for(events, "web", "SuccessfulCreate")) == 5


async def test_available_only_after_min_ready_seconds(cluster, binder):
    cluster.start(ReplicaSetController)
    await cluster.client.create(REPLICASETS, replica_set(replicas=2, minReadySeconds=10), NS)
    await cluster.eventually(lambda: settled(cluster, replicas=2, readyReplicas=2, availableReplicas=0))
    await cluster.clock.advance(9)
    assert await settled(cluster, availableReplicas=0)
    await cluster.clock.advance(1.5)  # the controller asked to look again when the wait lapses
    await cluster.eventually(lambda: settled(cluster, replicas=2, readyReplicas=2, availableReplicas=2))


class PodQuota:
    """Admission refusing pods beyond `limit`, worded as the ResourceQuota plugin (counted atomically)."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self.used = 0

    async def admit(self, operation, store, obj, old, ctx) -> None:
        pass

    async def validate(self, operation, store, obj, old, ctx) -> None:
        if operation != "create" or store.info.plural != "pods":
            return
        if self.limit is not None and self.used >= self.limit:
            raise errors.forbidden(f'pods "{obj["metadata"]["name"]}" is forbidden: exceeded quota: q, requested: '
                                   f"pods=1, used: pods={self.used}, limited: pods={self.limit}")
        self.used += 1


async def test_create_failures_set_replica_failure_and_slow_start(cluster, binder, events):
    quota = PodQuota(limit=2)
    cluster.registry.admission.append(quota)
    cluster.start(ReplicaSetController)
    await cluster.client.create(REPLICASETS, replica_set(replicas=10), NS)

    async def failing():
        rs = await cluster.get("replicasets", "web", group="apps")
        conditions = (rs.get("status") or {}).get("conditions") or []
        return conditions if conditions else None

    conditions = await cluster.eventually(failing)
    assert [(c["type"], c["status"], c["reason"]) for c in conditions] == [("ReplicaFailure", "True", "FailedCreate")]
    assert "exceeded quota" in conditions[0]["message"]
    failed = events_for(events, "web", "FailedCreate")
    assert failed[0]["type"] == "Warning" and failed[0]["message"].startswith('Error creating: pods "web-')
    assert len(await app_pods(cluster)) == 2

    quota.limit = None
    await cluster.clock.advance(1)  # the rate-limited retry

    async def recovered():
        rs = await settled(cluster, replicas=10)
        return rs is not None and not (rs["status"].get("conditions"))

    await cluster.eventually(recovered)


def _pod(name: str, *, node: str = "n1", phase: str = "Running", ready: bool = True, ready_at: int = 0,
         restarts: int = 0, created: int = 0, cost: str | None = None) -> dict:
    base = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    meta = {"name": name, "uid": name, "creationTimestamp": format_time(base + dt.timedelta(seconds=created))}
    if cost is not None:
        meta["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": cost}
    return {"metadata": meta, "spec": {"nodeName": node},
            "status": {"phase": phase,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                       "lastTransitionTime": format_time(base + dt.timedelta(seconds=ready_at))}],
                       "containerStatuses": [{"name": "c", "restartCount": restarts}]}}


def test_deletion_ranking_follows_active_pods_order():
    pods = [
        _pod("old-ready", created=0, ready_at=10),
        _pod("new-ready", created=50, ready_at=60),           # ready for a shorter time → before old-ready
        _pod("restarts", created=0, ready_at=10, restarts=3),  # more restarts → before its twin old-ready
        _pod("not-ready", ready=False),
        _pod("unknown", phase="Unknown", ready=False),
        _pod("pending", phase="Pending", ready=False),
        _pod("unassigned", node="", phase="Pending", ready=False),
        _pod("costly", created=100, ready_at=100, cost="100"),  # high deletion cost → last
    ]
    order = [p["metadata"]["name"] for p in rank_pods_for_deletion(pods)]
    assert order == ["unassigned", "pending", "unknown", "not-ready", "new-ready", "restarts", "old-ready", "costly"]
    twins = [_pod("older", created=0, ready_at=5), _pod("newer", created=1, ready_at=5)]
    assert [p["metadata"]["name"] for p in rank_pods_for_deletion(twins)] == ["newer", "older"]


def test_expectations_block_until_observed_or_expired():
    from minik.client.clock import FakeClock
    clock = FakeClock()
    exp = Expectations(clock, ttl=300)
    assert exp.satisfied("ns/rs")
    exp.expect_creations("ns/rs", 2)
    exp.creation_observed("ns/rs")
    assert not exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")
    assert exp.satisfied("ns/rs")
    exp.expect_deletions("ns/rs", ["ns/a", "ns/b"])
    exp.deletion_observed("ns/rs", "ns/a")
    exp.deletion_observed("ns/rs", "ns/a")
    assert not exp.satisfied("ns/rs")
    clock._mono += 301  # a lost event cannot wedge the controller
    assert exp.satisfied("ns/rs")





async def test_slow_start_batches_double_and_stop_at_a_failure():
    calls = []

    async def create() -> None:
        calls.append(1)
        if len(calls) > 4:
            raise errors.forbidden("exceeded quota")

    successes, error = await slow_start_batch(20, 1, create)
    # batches 1, 2, 4: the third has one success and three refusals, and nothing is tried after it
    assert (len(calls), successes, error.code) == (7, 4, 403)
    calls.clear()
    assert await slow_start_batch(5, 1, lambda: _ok(calls)) == (5, None)
    assert len(calls) == 5  # 1, 2, then the 2 remaining


async def _ok(calls: list) -> None:
    calls.append(1)
