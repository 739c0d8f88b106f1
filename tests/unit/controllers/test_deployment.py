"""Deployment controller (with the ReplicaSet controller): rollouts, rollbacks, scaling, conditions, history."""

from __future__ import annotations

import asyncio
import copy

import pytest

from minik.apiserver.operations import JSON_PATCH
from minik.client.interface import resource
from minik.controllers.deployment import DeploymentController, resolve_fenceposts
from minik.controllers.hashing import compute_hash, equal_ignore_hash, safe_encode_string
from minik.controllers.replicaset import ReplicaSetController
from tests.unit.controllers.helpers import Binder, capture_events, condition, retrying, start_nodes

PODS = resource("pods")
REPLICASETS = resource("replicasets", "apps")
DEPLOYMENTS = resource("deployments", "apps")
NS = "default"
REVISION = "deployment.kubernetes.io/revision"


@pytest.fixture
async def apps(cluster):
    """Simulated nodes, the binder and both controllers."""
    sim = await start_nodes(cluster, 3)
    binder = Binder(cluster, sim.names)
    cluster.start(ReplicaSetController)
    cluster.start(DeploymentController)
    cluster.spawn("binder", binder.run())
    yield cluster
    await cluster.stop()  # stop informers first, so the simulated kubelet schedules nothing new
    await sim.close()


@pytest.fixture
def events(cluster, monkeypatch) -> list[dict]:
    return capture_events(cluster, monkeypatch)


def deployment(name: str = "web", replicas: int = 3, image: str = "nginx:1.25", *, annotations: dict | None = None,
               **spec) -> dict:
    labels = {"app": name}
    template_meta = {"labels": labels, **({"annotations": annotations} if annotations else {})}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": template_meta, "spec": {"containers": [{"name": "c", "image": image}]}},
                 **spec},
    }


async def patch(cluster, body, *, resource_info=DEPLOYMENTS, name: str = "web", **kwargs) -> dict:
    """A user's patch, retried on 409s as a user would re-run it (see `retrying`)."""
    return await retrying(lambda: cluster.client.patch(resource_info, name, body, NS, **kwargs), attempts=50)


NEVER_READY = {"sim.minik.io/never-ready": "true"}
HOLD = "test.minik.io/hold"


def image_patch(image: str) -> dict:
    return {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}


async def get_deployment(cluster, name: str = "web") -> dict:
    return await cluster.get("deployments", name, group="apps")


async def replica_sets(cluster, app: str = "web") -> list[dict]:
    return await cluster.list("replicasets", group="apps", label_selector=f"app={app}")


def rolled_out(d: dict) -> bool:
    """What `kubectl rollout status` waits for (DeploymentStatusViewer)."""
    status = d.get("status") or {}
    if (status.get("observedGeneration") or 0) < d["metadata"]["generation"]:
        return False
    progressing = condition(d, "Progressing")
    if progressing is not None and progressing["reason"] == "ProgressDeadlineExceeded":
        return False
    updated = status.get("updatedReplicas") or 0
    return updated >= d["spec"]["replicas"] and (status.get("replicas") or 0) <= updated \
        and (status.get("availableReplicas") or 0) >= updated


async def rollout_done(cluster, image: str | None = None, name: str = "web") -> dict | None:
    d = await get_deployment(cluster, name)
    if not rolled_out(d):
        return None
    if image is not None and d["spec"]["template"]["spec"]["containers"][0]["image"] != image:
        return None
    return d


def new_replica_set(rss: list[dict], d: dict) -> dict:
    return next(rs for rs in rss if equal_ignore_hash(rs["spec"]["template"], d["spec"]["template"]))


class PodInvariant:
    """Checks a rule over the pods of an app on every change the informer sees, not just at the end."""

    def __init__(self, cluster, rule, app: str = "web"):
        self.rule, self.app = rule, app
        self.violations: list[str] = []
        self.enabled = False
        self.pods = cluster.informers.informer(PODS)
        self.pods.add_handler(lambda p: self.check(), lambda o, n: self.check(), lambda p: self.check())

    def check(self) -> None:
        if not self.enabled:
            return
        pods = [p for p in self.pods.list() if (p["metadata"].get("labels") or {}).get("app") == self.app]
        problem = self.rule(pods)
        if problem:
            self.violations.append(problem)


def is_active(pod: dict) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and (pod.get("status") or {}).get("phase") not in (
        "Succeeded", "Failed")


def is_ready(pod: dict) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


# --- tests ---


async def test_deployment_becomes_available(apps, events):
    cluster = apps
    spec = deployment(replicas=3)
    spec["metadata"]["annotations"] = {"kubernetes.io/change-cause": "first"}
    await cluster.client.create(DEPLOYMENTS, spec, NS)
    d = await cluster.eventually(lambda: rollout_done(cluster))
    status = d["status"]
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"], status["availableReplicas"]) \
        == (3, 3, 3, 3)
    assert status["observedGeneration"] == d["metadata"]["generation"] and "unavailableReplicas" not in status
    assert d["metadata"]["annotations"][REVISION] == "1"

    [rs] = await replica_sets(cluster)
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert pod_hash == compute_hash(d["spec"]["template"], None)
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    annotations = rs["metadata"]["annotations"]
    assert (annotations[REVISION], annotations["deployment.kubernetes.io/desired-replicas"],
            annotations["deployment.kubernetes.io/max-replicas"], annotations["kubernetes.io/change-cause"]) \
        == ("1", "3", "4", "first")
    pods = [p for p in await cluster.list("pods", label_selector="app=web") if is_active(p)]
    assert len(pods) == 3 and all(p["metadata"]["labels"]["pod-template-hash"] == pod_hash for p in pods)

    await cluster.eventually(lambda: _has_condition(cluster, "Progressing", "NewReplicaSetAvailable"))
    d = await get_deployment(cluster)
    available, progressing = condition(d, "Available"), condition(d, "Progressing")
    assert (available["status"], available["reason"], available["message"]) == (
        "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    assert (progressing["status"], progressing["message"]) == (
        "True", f'ReplicaSet "web-{pod_hash}" has successfully progressed.')
    scaling = [e for e in events if e["reason"] == "ScalingReplicaSet"]
    assert [(e["kind"], e["name"], e["message"], e["component"]) for e in scaling] == [
        ("Deployment", "web", f"Scaled up replica set web-{pod_hash} from 0 to 3", "deployment-controller")]


async def _has_condition(cluster, condition_type: str, reason: str, name: str = "web") -> dict | None:
    d = await get_deployment(cluster, name)
    found = condition(d, condition_type)
    return d if found is not None and found["reason"] == reason else None


@pytest.mark.parametrize("replicas,surge,unavailable,max_pods,min_available", [
    (4, "25%", "25%", 5, 3),  # the defaults: surge rounds up, unavailable down
    (3, "50%", 0, 5, 3),      # 1.5 → 2 surge, nothing may go unavailable
    (3, 0, 1, 3, 2),          # no surge: old pods must go first
])
async def test_rolling_update_respects_surge_and_unavailability_at_every_moment(apps, replicas, surge, unavailable,
                                                                                max_pods, min_available):
    cluster = apps
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    await cluster.client.create(DEPLOYMENTS, deployment(replicas=replicas, strategy=strategy), NS)
    await cluster.eventually(lambda: rollout_done(cluster))

    seen = {"max": 0, "min": replicas}

    def rule(pods: list[dict]) -> str | None:
        active = [p for p in pods if is_active(p)]
        available = [p for p in active if is_ready(p)]
        seen["max"], seen["min"] = max(seen["max"], len(active)), min(seen["min"], len(available))
        if len(active) > max_pods:
            return f"{len(active)} pods exist, at most {max_pods} allowed"
        if len(available) < min_available:
            return f"{len(available)} pods available, at least {min_available} required"
        return None

    invariant = PodInvariant(cluster, rule)
    invariant.enabled = True
    await patch(cluster, image_patch("nginx:1.26"))
    d = await cluster.eventually(lambda: rollout_done(cluster, "nginx:1.26"))
    assert invariant.violations == []
    assert seen["max"] > replicas or seen["min"] < replicas  # it did roll, within its limits
    pods = [p for p in await cluster.list("pods", label_selector="app=web") if is_active(p)]
    assert len(pods) == replicas and {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.26"}
    assert d["metadata"]["annotations"][REVISION] == "2"
    old = [rs for rs in await replica_sets(cluster) if rs["metadata"]["annotations"][REVISION] == "1"]
    assert [rs["spec"]["replicas"] for rs in old] == [0]


async def test_rollback_reuses_the_old_replica_set(apps, events):
    cluster = apps
    await cluster.client.create(DEPLOYMENTS, deployment(replicas=3), NS)
    await cluster.eventually(lambda: rollout_done(cluster))
    [first] = await replica_sets(cluster)
    await patch(cluster, image_patch("nginx:1.26"))
    await cluster.eventually(lambda: rollout_done(cluster, "nginx:1.26"))

    # What `kubectl rollout undo` sends: the old ReplicaSet's template without its hash label, as JSON patch.
    d = await get_deployment(cluster)
    template = copy.deepcopy(first["spec"]["template"])
    del template["metadata"]["labels"]["pod-template-hash"]
    template["metadata"]["creationTimestamp"] = None
    undo = [{"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": d["metadata"]["annotations"]}]
    await patch(cluster, undo, patch_type=JSON_PATCH)
    d = await cluster.eventually(lambda: rollout_done(cluster, "nginx:1.25"))
    await cluster.eventually(lambda: _annotated(cluster, "web", REVISION, "3"))

    rss = {rs["metadata"]["name"]: rs for rs in await replica_sets(cluster)}
    assert len(rss) == 2  # no third ReplicaSet: the first one is the new one again
    reused = rss[first["metadata"]["name"]]
    assert reused["spec"]["replicas"] == 3
    assert reused["metadata"]["annotations"][REVISION] == "3"
    assert reused["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    second = next(rs for name, rs in rss.items() if name != first["metadata"]["name"])
    assert second["spec"]["replicas"] == 0 and second["metadata"]["annotations"][REVISION] == "2"
    assert f"Scaled up replica set {first['metadata']['name']} from 0 to 1" in [e["message"] for e in events]


async def _annotated(cluster, name: str, key: str, value: str) -> bool:
    d = await get_deployment(cluster, name)
    return (d["metadata"].get("annotations") or {}).get(key) == value


async def test_scale_to_zero_and_back(apps, events):
    cluster = apps
    await cluster.client.create(DEPLOYMENTS, deployment(replicas=3), NS)
    await cluster.eventually(lambda: rollout_done(cluster))
    [rs] = await replica_sets(cluster)
    name = rs["metadata"]["name"]

    await patch(cluster, {"spec": {"replicas": 0}})

    async def scaled_to_zero():
        d = await rollout_done(cluster)
        pods = [p for p in await cluster.list("pods", label_selector="app=web") if is_active(p)]
        return d is not None and not pods and not (d["status"].get("replicas"))

    await cluster.eventually(scaled_to_zero)
    await patch(cluster, {"spec": {"replicas": 3}})
    d = await cluster.eventually(lambda: rollout_done(cluster))
    assert d["status"]["availableReplicas"] == 3
    assert [rs["metadata"]["name"] for rs in await replica_sets(cluster)] == [name]
    messages = [e["message"] for e in events if e["reason"] == "ScalingReplicaSet"]
    assert f"Scaled down replica set {name} from 3 to 0" in messages
    assert messages.count(f"Scaled up replica set {name} from 0 to 3") == 2


async def test_paused_deployment_does_not_roll_but_scales(apps):
    cluster = apps
    await cluster.client.create(DEPLOYMENTS, deployment(replicas=3), NS)
    await cluster.eventually(lambda: rollout_done(cluster))
    await patch(cluster, {"spec": {"paused": True, **image_patch("nginx:1.26")["spec"]}})
    d = await cluster.eventually(lambda: _has_condition(cluster, "Progressing", "DeploymentPaused"))
    progressing = condition(d, "Progressing")
    assert (progressing["status"], progressing["message"]) == ("Unknown", "Deployment is paused")

    await patch(cluster, {"spec": {"replicas": 5}})

    async def scaled():
        rss = await replica_sets(cluster)
        return len(rss) == 1 and rss[0]["spec"]["replicas"] == 5 and rss[0]["status"].get("availableReplicas") == 5

    await cluster.eventually(scaled)
    await asyncio.sleep(0.1)
    assert len(await replica_sets(cluster)) == 1  # still no rollout
    d = await get_deployment(cluster)
    assert d["status"]["observedGeneration"] == d["metadata"]["generation"]

    await patch(cluster, {"spec": {"paused": False}})
    d = await cluster.eventually(lambda: rollout_done(cluster, "nginx:1.26"))
    assert d["status"]["availableReplicas"] == 5 and len(await replica_sets(cluster)) == 2


async def test_scaling_during_a_rollout_is_proportional(apps):
    cluster = apps
    await cluster.client.create(DEPLOYMENTS, deployment(replicas=4), NS)
    await cluster.eventually(lambda: rollout_done(cluster))
    stuck = {"spec": {"template": {"metadata": {"annotations": NEVER_READY}}}}
    await patch(cluster, stuck)

    async def sizes(expected: dict[str, int]):
        d = await get_deployment(cluster)
        rss = await replica_sets(cluster)
        if len(rss) != 2:
            return None
        new = new_replica_set(rss, d)
        old = next(rs for rs in rss if rs is not new)
        got = {"old": old["spec"]["replicas"], "new": new["spec"]["replicas"]}
        return (old, new) if got == expected else None

    # replicas 4, surge 1, unavailable 1: the new pods never become ready, so the rollout stops at 3 + 2.
    await cluster.eventually(lambda: sizes({"old": 3, "new": 2}))
    await patch(cluster, {"spec": {"paused": True, "replicas": 8}})
    # 5 → 10 (8 + surge 2), shared by the ReplicaSets' sizes: 3·10/5 = 6 and 2·10/5 = 4
    old, new = await cluster.eventually(lambda: sizes({"old": 6, "new": 4}))
    for rs in (old, new):
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "8"
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "10"


async def test_recreate_scales_old_to_zero_before_the_new_comes_up(apps):
    cluster = apps
    spec = deployment(replicas=3, strategy={"type": "Recreate"})
    spec["spec"]["template"]["metadata"]["finalizers"] = [HOLD]  # old pods linger while terminating
    await cluster.client.create(DEPLOYMENTS, spec, NS)
    await cluster.eventually(lambda: rollout_done(cluster))

    def rule(pods: list[dict]) -> str | None:
        images = {p["spec"]["containers"][0]["image"] for p in pods
                  if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")}
        return f"old and new pods together: {sorted(images)}" if len(images) > 1 else None

    invariant = PodInvariant(cluster, rule)
    invariant.enabled = True
    update = image_patch("nginx:1.26")
    update["spec"]["template"]["metadata"] = {"finalizers": None}
    await patch(cluster, update)

    async def old_terminating():
        pods = await cluster.list("pods", label_selector="app=web")
        return pods if pods and all(p["metadata"].get("deletionTimestamp") for p in pods) else None

    old = await cluster.eventually(old_terminating)
    await asyncio.sleep(0.1)
    assert {p["metadata"]["name"] for p in await cluster.list("pods", label_selector="app=web")} \
        == {p["metadata"]["name"] for p in old}  # nothing new while the old pods still exist
    for pod in old:
        await patch(cluster, {"metadata": {"finalizers": None}}, resource_info=PODS, name=pod["metadata"]["name"])
    d = await cluster.eventually(lambda: rollout_done(cluster, "nginx:1.26"))
    assert invariant.violations == []
    assert d["status"]["availableReplicas"] == 3
    assert sorted(rs["spec"]["replicas"] for rs in await replica_sets(cluster)) == [0, 3]


async def test_progress_deadline_exceeded(apps):
    cluster = apps
    spec = deployment(replicas=3, annotations=NEVER_READY, progressDeadlineSeconds=30)
    await cluster.client.create(DEPLOYMENTS, spec, NS)

    async def waiting():
        d = await get_deployment(cluster)
        progressing = condition(d, "Progressing")
        return d if (d.get("status") or {}).get("updatedReplicas") == 3 and progressing \
            and progressing["status"] == "True" else None

    d = await cluster.eventually(waiting)
    assert condition(d, "Progressing")["reason"] in ("NewReplicaSetCreated", "ReplicaSetUpdated")
    available = condition(d, "Available")
    assert (available["status"], available["reason"], available["message"]) == (
        "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
    await cluster.clock.advance(29)
    await asyncio.sleep(0.05)
    assert condition(await get_deployment(cluster), "Progressing")["status"] == "True"  # not yet

    async def timed_out():
        await cluster.clock.advance(0.5)  # past the deadline; also lets rate-limited retries run
        return await _has_condition(cluster, "Progressing", "ProgressDeadlineExceeded")

    d = await cluster.eventually(timed_out)
    [rs] = await replica_sets(cluster)
    progressing = condition(d, "Progressing")
    assert (progressing["status"], progressing["message"]) == (
        "False", f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.')


async def test_revision_history_limit_prunes_old_replica_sets(apps):
    cluster = apps
    await cluster.client.create(DEPLOYMENTS, deployment(replicas=2, revisionHistoryLimit=1), NS)
    await cluster.eventually(lambda: rollout_done(cluster))
    for image in ("nginx:1.26", "nginx:1.27"):
        await patch(cluster, image_patch(image))
        await cluster.eventually(lambda: rollout_done(cluster, image))

    async def pruned():
        rss = await replica_sets(cluster)
        return rss if len(rss) == 2 else None

    rss = await cluster.eventually(pruned)
    assert sorted(rs["metadata"]["annotations"][REVISION] for rs in rss) == ["2", "3"]


async def test_hash_collision_bumps_collision_count(apps):
    cluster = apps
    await cluster.client.create(DEPLOYMENTS, deployment(replicas=2, paused=True), NS)
    d = await get_deployment(cluster)
    taken = f"web-{compute_hash(d['spec']['template'], None)}"
    squatter = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": taken, "namespace": NS},
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "other"}},
                         "template": {"metadata": {"labels": {"app": "other"}},
                                      "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    await cluster.client.create(REPLICASETS, squatter, NS)
    await patch(cluster, {"spec": {"paused": False}})

    async def rolled():
        await cluster.clock.advance(0.05)  # the collision is retried with backoff
        return await rollout_done(cluster)

    d = await cluster.eventually(rolled)
    assert d["status"]["collisionCount"] == 1
    [rs] = await replica_sets(cluster)
    assert rs["metadata"]["name"] == f"web-{compute_hash(d['spec']['template'], 1)}" != taken


# --- pure functions ---


@pytest.mark.parametrize("replicas,surge,unavailable,expected", [
    (10, "25%", "25%", (3, 2)),
    (3, "25%", "25%", (1, 0)),
    (2, "1%", 0, (1, 0)),
    (1, 0, "1%", (0, 1)),  # both resolve to 0: one may go unavailable
    (5, 2, 1, (2, 1)),
])
def test_fenceposts_round_surge_up_and_unavailable_down(replicas, surge, unavailable, expected):
    d = deployment(replicas=replicas, strategy={"type": "RollingUpdate",
                                                "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
    assert resolve_fenceposts(d) == expected


def test_pod_template_hash_is_stable_and_ignores_empty_values():
    template = deployment()["spec"]["template"]
    value = compute_hash(template, None)
    assert value == compute_hash(copy.deepcopy(template), None)
    assert set(value) <= set("bcdfghjklmnpqrstvwxz2456789") and 1 <= len(value) <= 10
    assert compute_hash(template, 1) != value != compute_hash(template, 0)
    undone = copy.deepcopy(template)
    undone["metadata"]["creationTimestamp"] = None
    undone["spec"]["containers"][0]["resources"] = {}
    assert compute_hash(undone, None) == value
    hashed = copy.deepcopy(template)
    hashed["metadata"]["labels"]["pod-template-hash"] = value
    assert equal_ignore_hash(hashed, undone)
    changed = copy.deepcopy(template)
    changed["spec"]["containers"][0]["image"] = "nginx:1.26"
    assert compute_hash(changed, None) != value and not equal_ignore_hash(changed, template)
    assert safe_encode_string("0123456789") == "bcdfghjklm"[:0] + "".join(
        "bcdfghjklmnpqrstvwxz2456789"[ord(c) % 27] for c in "0123456789")
