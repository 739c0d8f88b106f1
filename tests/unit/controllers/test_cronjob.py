"""CronJob controller against the in-process API with a fake clock.

Only the CronJob controller runs: the tests play the Job controller's part by writing Job conditions,
which keeps every case to a few minutes of fake time and milliseconds of real time.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from minik.api.meta import format_time, parse_time
from minik.client.interface import resource
from minik.controllers.cronjob import CronJobController
from tests.unit.controllers.helpers import recorded, retrying

CRONJOBS = resource("cronjobs", "batch")
JOBS = resource("jobs", "batch")
UTC = dt.timezone.utc


def cronjob_manifest(name: str, schedule: str = "*/1 * * * *", **spec) -> dict:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": schedule, **spec, "jobTemplate": {
                "metadata": {"labels": {"app": name}},
                "spec": {"template": {"spec": {"restartPolicy": "Never",
                                               "containers": [{"name": "tick", "image": "busybox:1.36"}]}}}}}}


async def create_cronjob(cluster, manifest: dict) -> dict:
    return await cluster.client.create(CRONJOBS, manifest, "default")


def next_minute(after: dt.datetime) -> dt.datetime:
    return after.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)


async def advance_to(cluster, when: dt.datetime) -> None:
    """Move the fake clock to one second past `when` (schedule times fire on the minute)."""
    await cluster.clock.advance((when - cluster.now()).total_seconds() + 1)


def job_name(cronjob: str, scheduled: dt.datetime) -> str:
    return f"{cronjob}-{int(scheduled.timestamp()) // 60}"


async def owned_jobs(cluster, cronjob: str) -> list[dict]:
    return sorted(await cluster.list("jobs", group="batch", label_selector=f"app={cronjob}"),
                  key=lambda j: j["metadata"]["name"])


async def wait_for_job(cluster, name: str) -> dict:
    return await cluster.eventually(lambda: cluster.get("jobs", name, group="batch"),
                                    message=f"job {name} was not created")


async def finish_job(cluster, name: str, kind: str = "Complete", *, started: dt.datetime | None = None) -> None:
    """Do the Job controller's part: mark the Job Complete or Failed."""
    now = format_time(cluster.now())
    status = {"startTime": format_time(started or cluster.now()),
              "conditions": [{"type": kind, "status": "True", "lastTransitionTime": now, "lastProbeTime": now}]}
    if kind == "Complete":
        status["completionTime"] = now
        status["succeeded"] = 1
    else:
        status["failed"] = 1
    await retrying(lambda: cluster.client.patch(JOBS, name, {"status": status}, "default", subresource="status"))


async def cronjob_status(cluster, name: str) -> dict:
    return (await cluster.get("cronjobs", name, group="batch")).get("status") or {}


async def test_cronjob_creates_a_job_when_its_schedule_comes_round(cluster):
    seen = recorded(cluster.start(CronJobController))
    cronjob = await create_cronjob(cluster, cronjob_manifest("tick"))
    first = next_minute(parse_time(cronjob["metadata"]["creationTimestamp"]))
    await asyncio.sleep(0.05)
    assert not await owned_jobs(cluster, "tick")  # nothing before the schedule time

    await advance_to(cluster, first)
    job = await wait_for_job(cluster, job_name("tick", first))
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == format_time(first)
    assert job["metadata"]["labels"]["app"] == "tick"
    owner = job["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("CronJob", "tick", True)

    async def recorded_in_status():
        status = await cronjob_status(cluster, "tick")
        return status if status.get("active") else None

    status = await cluster.eventually(recorded_in_status)
    assert status["lastScheduleTime"] == format_time(first)
    assert [(ref["kind"], ref["name"]) for ref in status["active"]] == [("Job", job["metadata"]["name"])]
    assert ("tick", "SuccessfulCreate", f"Created job {job['metadata']['name']}") in seen

    # Completion is noticed; the next minute brings the next Job.
    await finish_job(cluster, job["metadata"]["name"])

    async def completion_seen():
        status = await cronjob_status(cluster, "tick")
        return status if not status.get("active") and status.get("lastSuccessfulTime") else None

    await cluster.eventually(completion_seen)
    assert ("tick", "SawCompletedJob", f"Saw completed job: {job['metadata']['name']}, status: Complete") in seen
    second = first + dt.timedelta(minutes=1)
    await advance_to(cluster, second)
    await wait_for_job(cluster, job_name("tick", second))


async def test_forbid_skips_runs_while_a_job_is_active(cluster):
    seen = recorded(cluster.start(CronJobController))
    # With a starting deadline the skipped run stays skipped; without one Kubernetes would start it late,
    # as soon as the active Job finished before the next schedule time.
    manifest = cronjob_manifest("solo", concurrencyPolicy="Forbid", startingDeadlineSeconds=10)
    cronjob = await create_cronjob(cluster, manifest)
    first = next_minute(parse_time(cronjob["metadata"]["creationTimestamp"]))
    await advance_to(cluster, first)
    await wait_for_job(cluster, job_name("solo", first))

    second = first + dt.timedelta(minutes=1)
    await advance_to(cluster, second)
    message = "Not starting job because prior execution is running and concurrency policy is Forbid"
    await cluster.eventually(lambda: ("solo", "JobAlreadyActive", message) in seen)
    assert len(await owned_jobs(cluster, "solo")) == 1

    await cluster.clock.advance(30)
    await finish_job(cluster, job_name("solo", first))

    async def inactive():
        return not (await cronjob_status(cluster, "solo")).get("active")

    await cluster.eventually(inactive)
    await asyncio.sleep(0.05)
    assert len(await owned_jobs(cluster, "solo")) == 1  # the skipped run is past its deadline
    third = first + dt.timedelta(minutes=2)
    await advance_to(cluster, third)
    await wait_for_job(cluster, job_name("solo", third))
    assert [j["metadata"]["name"] for j in await owned_jobs(cluster, "solo")] == \
        [job_name("solo", first), job_name("solo", third)]


async def test_forbid_without_deadline_starts_the_skipped_run_late(cluster):
    cluster.start(CronJobController)
    cronjob = await create_cronjob(cluster, cronjob_manifest("patient", concurrencyPolicy="Forbid"))
    first = next_minute(parse_time(cronjob["metadata"]["creationTimestamp"]))
    await advance_to(cluster, first)
    await wait_for_job(cluster, job_name("patient", first))
    second = first + dt.timedelta(minutes=1)
    await advance_to(cluster, second)
    await asyncio.sleep(0.05)
    assert len(await owned_jobs(cluster, "patient")) == 1
    await cluster.clock.advance(20)
    await finish_job(cluster, job_name("patient", first))
    await wait_for_job(cluster, job_name("patient", second))


async def test_replace_deletes_the_running_job_for_the_new_one(cluster):
    seen = recorded(cluster.start(CronJobController))
    cronjob = await create_cronjob(cluster, cronjob_manifest("fresh", concurrencyPolicy="Replace"))
    first = next_minute(parse_time(cronjob["metadata"]["creationTimestamp"]))
    await advance_to(cluster, first)
    old = await wait_for_job(cluster, job_name("fresh", first))

    second = first + dt.timedelta(minutes=1)
    await advance_to(cluster, second)
    new = await wait_for_job(cluster, job_name("fresh", second))

    async def replaced():
        status = await cronjob_status(cluster, "fresh")
        return status if [r["name"] for r in status.get("active") or []] == [new["metadata"]["name"]] else None

    await cluster.eventually(replaced)
    assert await cluster.get("jobs", old["metadata"]["name"], group="batch") is None
    assert ("fresh", "SuccessfulDelete", f"Deleted job {old['metadata']['name']}") in seen


async def test_history_limits_prune_the_oldest_finished_jobs(cluster):
    cluster.start(CronJobController)
    cronjob = await create_cronjob(cluster, cronjob_manifest("keep", successfulJobsHistoryLimit=1,
                                                             failedJobsHistoryLimit=1))
    start = next_minute(parse_time(cronjob["metadata"]["creationTimestamp"]))
    outcomes = ["Complete", "Complete", "Failed", "Failed"]
    names = []
    for i, outcome in enumerate(outcomes):
        scheduled = start + dt.timedelta(minutes=i)
        await advance_to(cluster, scheduled)
        name = job_name("keep", scheduled)
        await wait_for_job(cluster, name)
        await finish_job(cluster, name, outcome, started=scheduled)
        names.append(name)

    async def pruned():
        return [j["metadata"]["name"] for j in await owned_jobs(cluster, "keep")] == [names[1], names[3]]

    await cluster.eventually(pruned, message="expected the newest Complete and the newest Failed job only")


async def test_missed_runs_beyond_the_starting_deadline_are_skipped(cluster):
    cluster.start(CronJobController)
    cronjob = await create_cronjob(cluster, cronjob_manifest("strict", suspend=True, startingDeadlineSeconds=10))
    first = next_minute(parse_time(cronjob["metadata"]["creationTimestamp"]))
    # Suspended through three schedule times; resumed 30 s after the last one: too late to start it.
    await advance_to(cluster, first + dt.timedelta(minutes=2, seconds=29))
    await retrying(lambda: cluster.client.patch(CRONJOBS, "strict", {"spec": {"suspend": False}}, "default"))
    await asyncio.sleep(0.05)
    assert not await owned_jobs(cluster, "strict")
    fourth = first + dt.timedelta(minutes=3)
    await advance_to(cluster, fourth)
    await wait_for_job(cluster, job_name("strict", fourth))
    assert len(await owned_jobs(cluster, "strict")) == 1


async def test_too_many_missed_runs_start_only_the_latest(cluster):
    seen = recorded(cluster.start(CronJobController))
    cronjob = await create_cronjob(cluster, cronjob_manifest("sleepy", suspend=True))
    first = next_minute(parse_time(cronjob["metadata"]["creationTimestamp"]))
    latest = first + dt.timedelta(minutes=150)
    await advance_to(cluster, latest)
    await retrying(lambda: cluster.client.patch(CRONJOBS, "sleepy", {"spec": {"suspend": False}}, "default"))
    await wait_for_job(cluster, job_name("sleepy", latest))
    message = "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
    assert ("sleepy", "TooManyMissedTimes", message) in seen
    assert len(await owned_jobs(cluster, "sleepy")) == 1


async def test_schedule_is_read_in_the_time_zone(cluster):
    cluster.start(CronJobController)
    cronjob = await create_cronjob(cluster, cronjob_manifest("tokyo", "0 9 * * *", timeZone="Asia/Tokyo"))
    created = parse_time(cronjob["metadata"]["creationTimestamp"])
    # 09:00 in Tokyo (UTC+9, no daylight saving) is midnight UTC.
    midnight = created.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    await advance_to(cluster, midnight)
    job = await wait_for_job(cluster, job_name("tokyo", midnight))
    stamp = job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    assert stamp == midnight.astimezone(dt.timezone(dt.timedelta(hours=9))).strftime("%Y-%m-%dT%H:%M:%S+09:00")
    assert stamp.endswith("T09:00:00+09:00")
