"""Job and TTL-after-finished controllers against the in-process API, simulated nodes and a fake clock.

There is no scheduler in these tests: a small binder binds pods round-robin to the simulated nodes, which
run them (Ready at once) and finish them after `sim.minik.io/run-seconds` of fake time.
"""

from __future__ import annotations

import asyncio

import pytest

from minik.client.interface import resource
from minik.controllers.job import JOB_TRACKING_FINALIZER, JobController
from minik.controllers.garbagecollector import GarbageCollector
from minik.controllers.ttlafterfinished import TTLAfterFinishedController
from tests.unit.controllers.helpers import advance_until, condition, recorded, retrying, running_nodes

PODS = resource("pods")
JOBS = resource("jobs", "batch")
EVENTS = resource("events")


@pytest.fixture
async def nodes(cluster):
    async with running_nodes(cluster, 2, run_seconds=2.0) as sim:
        yield sim


def job_manifest(name: str, *, completions=1, parallelism=1, annotations=None, **spec) -> dict:
    template_meta = {"annotations": annotations} if annotations else {}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"completions": completions, "parallelism": parallelism, **spec,
                     "template": {"metadata": template_meta, "spec": {
                         "restartPolicy": "Never", "containers": [{"name": "work", "image": "busybox:1.36"}]}}}}


async def job_pods(cluster, name: str) -> list[dict]:
    return await cluster.list("pods", label_selector=f"batch.kubernetes.io/job-name={name}")


def events_for(seen: list[tuple[str, str, str]], name: str) -> list[tuple[str, str]]:
    return [(reason, message) for obj, reason, message in seen if obj == name]


def finished(kind: str, cluster, name: str):
    async def check():
        job = await cluster.get("jobs", name, group="batch")
        return job if job and condition(job, kind) else None
    return check


async def test_job_runs_to_completion_within_parallelism(cluster, nodes):
    seen = recorded(cluster.start(JobController))
    most_active = 0

    def watch(_old, pod=None):
        nonlocal most_active
        pods = [p for p in informer.list() if p["metadata"]["name"].startswith("count-")
                and p["status"].get("phase") in ("Pending", "Running") and not p["metadata"].get("deletionTimestamp")]
        most_active = max(most_active, len(pods))

    informer = cluster.informers.informer(PODS)
    informer.add_handler(watch, watch)
    await cluster.client.create(JOBS, job_manifest("count", completions=3, parallelism=2), "default")

    job = await advance_until(cluster, finished("Complete", cluster, "count"))
    status = job["status"]
    assert status["succeeded"] == 3 and status["active"] == 0 and status.get("failed", 0) == 0
    assert status["completionTime"] and status["startTime"]
    assert status["uncountedTerminatedPods"] == {}
    met, complete = condition(job, "SuccessCriteriaMet"), condition(job, "Complete")
    assert met["reason"] == complete["reason"] == "CompletionsReached"
    assert complete["message"] == "Reached expected number of succeeded pods"
    assert most_active == 2  # parallelism respected, and used
    pods = await job_pods(cluster, "count")
    assert len(pods) == 3
    assert all(JOB_TRACKING_FINALIZER not in (p["metadata"].get("finalizers") or []) for p in pods)
    events = events_for(seen, "count")
    assert sum(reason == "SuccessfulCreate" for reason, _ in events) == 3
    assert ("Completed", "Job completed") in events


async def test_pods_carry_the_tracking_finalizer_until_counted(cluster, nodes):
    cluster.start(JobController)
    await cluster.client.create(JOBS, job_manifest("slow", annotations={"sim.minik.io/run-seconds": "30"}),
                                "default")

    async def running_pod():
        pods = await job_pods(cluster, "slow")
        return pods if pods and pods[0]["status"].get("phase") == "Running" else None

    pods = await cluster.eventually(running_pod)
    assert pods[0]["metadata"]["finalizers"] == [JOB_TRACKING_FINALIZER]
    assert pods[0]["metadata"]["generateName"] == "slow-"
    await advance_until(cluster, finished("Complete", cluster, "slow"))
    pods = await job_pods(cluster, "slow")
    assert not pods[0]["metadata"].get("finalizers")


async def test_failing_job_stops_at_backoff_limit(cluster, nodes):
    seen = recorded(cluster.start(JobController))
    manifest = job_manifest("flaky", backoffLimit=1, annotations={"sim.minik.io/exit-code": "1"})
    await cluster.client.create(JOBS, manifest, "default")

    job = await advance_until(cluster, finished("Failed", cluster, "flaky"))
    failed = condition(job, "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert failed["message"] == "Job has reached the specified backoff limit"
    assert condition(job, "FailureTarget")["reason"] == "BackoffLimitExceeded"
    assert job["status"]["failed"] == 2 and job["status"]["active"] == 0
    assert condition(job, "Complete") is None and "completionTime" not in job["status"]
    # No pod is created beyond the limit, however long we wait.
    await cluster.clock.advance(300)
    await asyncio.sleep(0.05)
    assert len(await job_pods(cluster, "flaky")) == 2
    events = events_for(seen, "flaky")
    assert ("BackoffLimitExceeded", "Job has reached the specified backoff limit") in events


async def test_failed_pod_is_replaced_only_after_the_backoff(cluster, nodes):
    cluster.start(JobController)
    manifest = job_manifest("retry", backoffLimit=3, annotations={"sim.minik.io/exit-code": "1",
                                                                   "sim.minik.io/run-seconds": "1"})
    await cluster.client.create(JOBS, manifest, "default")

    async def one_failure():
        job = await cluster.get("jobs", "retry", group="batch")
        return job if job and job.get("status", {}).get("failed") == 1 else None

    await advance_until(cluster, one_failure, step=0.5)
    await asyncio.sleep(0.05)
    assert len(await job_pods(cluster, "retry")) == 1  # 10 s pod failure backoff before a replacement
    await cluster.clock.advance(10)

    async def replaced():
        return len(await job_pods(cluster, "retry")) == 2

    await cluster.eventually(replaced)


async def test_active_deadline_fails_the_job_and_stops_its_pods(cluster, nodes):
    seen = recorded(cluster.start(JobController))
    manifest = job_manifest("late", completions=2, parallelism=2, activeDeadlineSeconds=5,
                            annotations={"sim.minik.io/run-seconds": "600"})
    await cluster.client.create(JOBS, manifest, "default")

    async def both_running():
        pods = await job_pods(cluster, "late")
        return len(pods) == 2 and all(p["status"].get("phase") == "Running" for p in pods)

    await cluster.eventually(both_running)
    job = await advance_until(cluster, finished("Failed", cluster, "late"))
    assert condition(job, "Failed")["reason"] == "DeadlineExceeded"
    assert condition(job, "Failed")["message"] == "Job was active longer than specified deadline"
    assert job["status"]["active"] == 0 and job["status"]["failed"] == 2

    async def pods_gone():
        return not await job_pods(cluster, "late")

    await cluster.eventually(pods_gone)
    events = events_for(seen, "late")
    assert sum(reason == "SuccessfulDelete" for reason, _ in events) == 2
    assert ("DeadlineExceeded", "Job was active longer than specified deadline") in events


async def test_suspended_job_creates_no_pods_until_resumed(cluster, nodes):
    cluster.start(JobController)
    await cluster.client.create(JOBS, job_manifest("later", suspend=True), "default")

    async def suspended():
        job = await cluster.get("jobs", "later", group="batch")
        return job if condition(job, "Suspended") else None

    job = await cluster.eventually(suspended)
    assert condition(job, "Suspended")["reason"] == "JobSuspended"
    assert "startTime" not in job["status"]
    assert not await job_pods(cluster, "later")
    await retrying(lambda: cluster.client.patch(JOBS, "later", {"spec": {"suspend": False}}, "default"))
    job = await advance_until(cluster, finished("Complete", cluster, "later"))
    assert condition(job, "Suspended")["status"] == "False"
    assert condition(job, "Suspended")["reason"] == "JobResumed"


async def test_indexed_job_gives_each_pod_its_index(cluster, nodes):
    cluster.start(JobController)
    await cluster.client.create(JOBS, job_manifest("shard", completions=3, parallelism=3,
                                                   completionMode="Indexed"), "default")
    job = await advance_until(cluster, finished("Complete", cluster, "shard"))
    assert job["status"]["completedIndexes"] == "0-2" and job["status"]["succeeded"] == 3
    pods = await job_pods(cluster, "shard")
    indexes = sorted(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods)
    assert indexes == ["0", "1", "2"]
    for pod in pods:
        index = pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"]
        assert pod["spec"]["hostname"] == f"shard-{index}"
        assert pod["metadata"]["generateName"] == f"shard-{index}-"
        assert pod["spec"]["containers"][0]["env"][0]["name"] == "JOB_COMPLETION_INDEX"


async def test_ttl_deletes_a_finished_job(cluster, nodes):
    cluster.start(JobController)
    cluster.start(TTLAfterFinishedController)
    cluster.start(GarbageCollector)  # the TTL controller deletes in the foreground, as Kubernetes does
    await cluster.client.create(JOBS, job_manifest("short-lived", ttlSecondsAfterFinished=30), "default")
    job = await advance_until(cluster, finished("Complete", cluster, "short-lived"))
    assert job["spec"]["ttlSecondsAfterFinished"] == 30
    await cluster.clock.advance(20)
    await asyncio.sleep(0.05)
    assert await cluster.get("jobs", "short-lived", group="batch") is not None  # not yet expired

    async def gone():
        return await cluster.get("jobs", "short-lived", group="batch") is None

    await advance_until(cluster, gone, limit=30)


async def test_a_pod_deleted_while_running_counts_as_failed_and_is_replaced(cluster, nodes):
    cluster.start(JobController)
    manifest = job_manifest("evicted", backoffLimit=3, annotations={"sim.minik.io/run-seconds": "600"})
    await cluster.client.create(JOBS, manifest, "default")

    async def running_pod():
        pods = await job_pods(cluster, "evicted")
        return pods[0] if pods and pods[0]["status"].get("phase") == "Running" else None

    victim = await cluster.eventually(running_pod)
    await retrying(lambda: cluster.client.delete(PODS, victim["metadata"]["name"], "default"))

    async def counted():
        job = await cluster.get("jobs", "evicted", group="batch")
        gone = await cluster.get("pods", victim["metadata"]["name"]) is None
        return job if gone and job["status"].get("failed") == 1 else None

    job = await cluster.eventually(counted)  # the finalizer kept it until it was counted
    assert job["status"]["uncountedTerminatedPods"] == {}

    async def replaced():
        pods = await job_pods(cluster, "evicted")
        return pods if pods and pods[0]["metadata"]["uid"] != victim["metadata"]["uid"] else None

    await advance_until(cluster, replaced)


async def test_deleting_a_job_releases_its_pods(cluster, nodes):
    cluster.start(JobController)
    await cluster.client.create(JOBS, job_manifest("gone", annotations={"sim.minik.io/run-seconds": "600"}),
                                "default")

    async def tracked_pod():
        pods = await job_pods(cluster, "gone")
        return pods[0] if pods and pods[0]["metadata"].get("finalizers") else None

    pod = await cluster.eventually(tracked_pod)
    await retrying(lambda: cluster.client.delete(JOBS, "gone", "default", propagation_policy="Background"))

    async def released():
        current = await cluster.get("pods", pod["metadata"]["name"])
        return current is not None and not current["metadata"].get("finalizers")

    await cluster.eventually(released)  # no orphan keeps a finalizer nobody would remove
