"""The CronJob controller: creates a Job for every time a CronJob's schedule comes round.

Part of the controllers layer (pkg/controller/cronjob, controller v2). Informers on CronJobs and Jobs
feed the queue; a sync of a CronJob, as Kubernetes' does:

- reconciles `status.active` with the Jobs it controls (events SawCompletedJob, UnexpectedJob,
  MissingJob) and moves `status.lastSuccessfulTime` forward;
- prunes finished Jobs beyond `successfulJobsHistoryLimit`/`failedJobsHistoryLimit`, oldest first
  (SuccessfulDelete);
- finds the most recent unmet schedule time after `status.lastScheduleTime` (or the creation time),
  in `spec.timeZone` (zoneinfo), skipping it when it is older than `startingDeadlineSeconds`
  (MissSchedule) and warning about more than 100 missed times (TooManyMissedTimes);
- applies `concurrencyPolicy` (Forbid: JobAlreadyActive; Replace: delete the active Jobs) and creates
  `<cronjob>-<scheduled time in minutes since the epoch>` with the annotation
  `batch.kubernetes.io/cronjob-scheduled-timestamp` (SuccessfulCreate);
- requeues itself for the next schedule time (+100 ms) with `queue.add_after`, so only the clock drives
  it: a FakeClock in tests.

The deterministic Job name is the lock that keeps one schedule time from running twice.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from ..api.meta import format_time, json_copy, owner_reference, parse_time
from ..api.cron import Schedule, ScheduleError, parse_schedule
from ..api.errors import APIError
from ..client.informer import controller_uid_index
from ..client.interface import is_already_exists, is_not_found, resource
from .base import Controller
from .job import finished_condition_type

CRONJOBS = resource("cronjobs", "batch")
JOBS = resource("jobs", "batch")
SCHEDULED_TIMESTAMP_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
CONTROLLER_UID_INDEX = "controller-uid"
NEXT_SCHEDULE_DELTA = 0.1  # nextScheduleDelta: a margin against clock skew
TOO_MANY_MISSED = 100
UTC = dt.timezone.utc

NONE_MISSED, FEW_MISSED, MANY_MISSED = 0, 1, 2


class InvalidSchedule(ValueError):
    pass


# --- schedule arithmetic (utils.go) ---


def time_zone(cronjob: dict) -> dt.tzinfo:
    """The CronJob's `spec.timeZone` (UTC when unset); raises ValueError for an unknown zone."""
    name = (cronjob.get("spec") or {}).get("timeZone")
    if not name:
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name}") from None


@dataclass(frozen=True)
class ZonedSchedule:
    """A cron schedule read in a time zone (what `TZ=<zone> <schedule>` is to robfig/cron)."""

    schedule: Schedule
    tz: dt.tzinfo = UTC

    @classmethod
    def of(cls, cronjob: dict) -> "ZonedSchedule":
        """Raises ScheduleError for a bad schedule, ValueError for an unknown time zone."""
        return cls(parse_schedule((cronjob.get("spec") or {}).get("schedule", "")), time_zone(cronjob))

    def next(self, after: dt.datetime) -> dt.datetime | None:
        """The first schedule time strictly after `after`, in UTC."""
        local = self.schedule.next_after(after.astimezone(self.tz))
        return local.astimezone(UTC) if local is not None else None


def most_recent_schedule_time(cronjob: dict, now: dt.datetime, schedule: ZonedSchedule, *,
                              with_deadline: bool) -> tuple[dt.datetime, dt.datetime | None, int]:
    """(earliest time considered, most recent unmet schedule time or None, how many were missed).

    mostRecentScheduleTime: counting every missed time could take forever after a long outage, so the
    count is estimated from the interval between two consecutive times, then walked only near `now`.
    """
    meta, status, spec = cronjob["metadata"], cronjob.get("status") or {}, cronjob.get("spec") or {}
    earliest = parse_time(status.get("lastScheduleTime")) or parse_time(meta.get("creationTimestamp")) or now
    deadline = spec.get("startingDeadlineSeconds")
    if with_deadline and deadline is not None:
        earliest = max(earliest, now - dt.timedelta(seconds=deadline))
    t1 = schedule.next(earliest)
    if t1 is None or now < t1:
        return earliest, None, NONE_MISSED
    t2 = schedule.next(t1)
    if t2 is None or now < t2:
        return earliest, t1, NONE_MISSED
    between = round((t2 - t1).total_seconds())
    if between < 1:
        raise InvalidSchedule("time difference between two schedules is less than 1 second")
    missed = int((now - t1).total_seconds()) // between + 1
    most_recent = None
    t = schedule.next(t1 + dt.timedelta(seconds=(missed - 2) * between))
    while t is not None and t <= now:
        most_recent = t
        t = schedule.next(t)
    kind = MANY_MISSED if missed > TOO_MANY_MISSED else FEW_MISSED if missed > 0 else NONE_MISSED
    return earliest, most_recent, kind


def next_schedule_delay(cronjob: dict, now: dt.datetime, schedule: ZonedSchedule) -> float | None:
    """Seconds until the sync after the next schedule time (nextScheduleTimeDuration)."""
    try:
        earliest, most_recent, missed = most_recent_schedule_time(cronjob, now, schedule, with_deadline=False)
    except InvalidSchedule:
        most_recent = now
    else:
        if most_recent is None:
            most_recent = earliest if missed == NONE_MISSED else now
    following = schedule.next(most_recent)
    if following is None:
        return None
    return (following - now).total_seconds() + NEXT_SCHEDULE_DELTA


def job_name(cronjob: dict, scheduled: dt.datetime) -> str:
    """`<cronjob>-<minutes since the epoch>`: deterministic, so a schedule time cannot run twice."""
    return f"{cronjob['metadata']['name']}-{int(scheduled.timestamp()) // 60}"


def rfc3339(when: dt.datetime) -> str:
    """Go's time.RFC3339: `Z` for a zero offset, else `±hh:mm`."""
    offset = when.utcoffset() or dt.timedelta(0)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if not offset:
        return text + "Z"
    sign, minutes = ("-", -offset) if offset < dt.timedelta(0) else ("+", offset)
    total = int(minutes.total_seconds()) // 60
    return f"{text}{sign}{total // 60:02d}:{total % 60:02d}"


def rfc1123z(when: dt.datetime) -> str:
    return when.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def job_from_template(cronjob: dict, scheduled: dt.datetime, tz: dt.tzinfo) -> dict:
    """The Job for one schedule time (getJobFromTemplate2)."""
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    template_meta = template.get("metadata") or {}
    annotations = dict(template_meta.get("annotations") or {})
    annotations[SCHEDULED_TIMESTAMP_ANNOTATION] = rfc3339(scheduled.astimezone(tz))
    meta = {"name": job_name(cronjob, scheduled), "namespace": cronjob["metadata"]["namespace"],
            "labels": dict(template_meta.get("labels") or {}), "annotations": annotations,
            "ownerReferences": [owner_reference(cronjob)]}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "spec": json_copy(template.get("spec") or {})}


def job_reference(job: dict) -> dict:
    meta = job["metadata"]
    return {"kind": "Job", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"],
            "apiVersion": "batch/v1", "resourceVersion": meta.get("resourceVersion", "")}


def in_active(cronjob: dict, uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in (cronjob.get("status") or {}).get("active") or [])


def remove_from_active(cronjob: dict, uid: str) -> None:
    status = cronjob.setdefault("status", {})
    status["active"] = [ref for ref in status.get("active") or [] if ref.get("uid") != uid]


def start_time_order(job: dict):
    """byJobStartTime: started Jobs by start time, then unstarted ones; names break ties."""
    start = parse_time((job.get("status") or {}).get("startTime"))
    return (start is None, start or dt.datetime.min.replace(tzinfo=UTC), job["metadata"]["name"])


class CronJobController(Controller):
    name = "cronjob"

    def setup(self) -> None:
        self.cronjobs = self.informer(CRONJOBS)
        self.jobs = self.informer(JOBS, indexers={CONTROLLER_UID_INDEX: controller_uid_index})
        self.cronjobs.add_handler(self.enqueue, self._cronjob_updated, self.enqueue)
        self.jobs.add_handler(self._job_changed, self._job_updated, self._job_changed)

    # --- event handlers ---

    def _cronjob_updated(self, old: dict, new: dict) -> None:
        old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
        def timing(spec: dict) -> tuple:
            return spec.get("schedule"), spec.get("timeZone")

        if timing(old_spec) == timing(new_spec):
            self.enqueue(new)
            return
        # A new schedule: the next sync is due at its next time (an earlier due time wins in the queue).
        try:
            schedule = ZonedSchedule.of(new)
        except (ScheduleError, ValueError):
            self.record(new, "Warning", "UnParseableCronJobSchedule",
                        f"unparseable schedule for cronjob: {new_spec.get('schedule', '')}")
            return
        delay = next_schedule_delay(new, self.clock.now(), schedule)
        if delay is not None:
            self.enqueue_after(new, delay)

    def _owner(self, job: dict) -> dict | None:
        for ref in job["metadata"].get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == "CronJob":
                cronjob = self.cronjobs.get(f"{job['metadata']['namespace']}/{ref.get('name')}")
                if cronjob is not None and cronjob["metadata"]["uid"] == ref.get("uid"):
                    return cronjob
        return None

    def _job_changed(self, job: dict) -> None:
        owner = self._owner(job)
        if owner is not None:
            self.enqueue(owner)

    def _job_updated(self, old: dict, new: dict) -> None:
        if old["metadata"].get("ownerReferences") != new["metadata"].get("ownerReferences"):
            self._job_changed(old)
        self._job_changed(new)

    # --- reconcile ---

    async def reconcile(self, key: str) -> None:
        cached = self.cronjobs.get(key)
        if cached is None:
            return
        cronjob = json_copy(cached)  # every change goes into one status write
        jobs = self.jobs.indexer.by_index(CONTROLLER_UID_INDEX, cronjob["metadata"]["uid"])
        changed = await self._cleanup_finished_jobs(cronjob, jobs)
        error: Exception | None = None
        delay = None
        try:
            delay, synced = await self._sync(cronjob, jobs)
            changed |= synced
        except APIError as exc:
            error = exc
        if changed:
            await self.client.update(CRONJOBS, cronjob, subresource="status")
        if delay is not None:
            self.queue.add_after(key, delay)
        if error is not None:
            raise error

    async def _sync(self, cronjob: dict, jobs: list[dict]) -> tuple[float | None, bool]:
        """syncCronJob: returns (seconds until the next sync or None, whether status changed)."""
        changed = await self._reconcile_active(cronjob, jobs)
        if cronjob["metadata"].get("deletionTimestamp"):
            return None, changed
        spec = cronjob.get("spec") or {}
        try:
            tz = time_zone(cronjob)
        except ValueError as exc:
            self.record(cronjob, "Warning", "UnknownTimeZone", f'invalid timeZone: "{spec.get("timeZone")}": {exc}')
            return None, changed
        if spec.get("suspend"):
            return None, changed
        try:
            schedule = ZonedSchedule(parse_schedule(spec.get("schedule", "")), tz)
        except ScheduleError as exc:
            self.record(cronjob, "Warning", "UnparseableSchedule",
                        f'unparseable schedule: "{spec.get("schedule", "")}" : {exc}')
            return None, changed
        now = self.clock.now()
        try:
            scheduled = self._next_schedule_time(cronjob, now, schedule)
        except InvalidSchedule as exc:
            self.record(cronjob, "Warning", "InvalidSchedule", f"invalid schedule: {spec.get('schedule')} : {exc}")
            return None, changed
        delay = next_schedule_delay(cronjob, now, schedule)
        if scheduled is None:
            return delay, changed
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled + dt.timedelta(seconds=deadline) < now:
            self.record(cronjob, "Warning", "MissSchedule",
                        f"Missed scheduled time to start a job: {rfc1123z(scheduled)}")
            return delay, changed
        status = cronjob.setdefault("status", {})
        name = job_name(cronjob, scheduled)
        if any(ref.get("name") == name for ref in status.get("active") or []) \
                or parse_time(status.get("lastScheduleTime")) == scheduled:
            return delay, changed  # this time has been handled already
        if spec.get("concurrencyPolicy") == "Forbid" and status.get("active"):
            self.record(cronjob, "Normal", "JobAlreadyActive",
                        "Not starting job because prior execution is running and concurrency policy is Forbid")
            return delay, changed
        if spec.get("concurrencyPolicy") == "Replace":
            changed |= await self._replace_active(cronjob)
        job = await self._create_job(cronjob, scheduled, tz)
        if job is None:
            return None, changed
        status.setdefault("active", []).append(job_reference(job))
        status["lastScheduleTime"] = format_time(scheduled)
        return next_schedule_delay(cronjob, now, schedule), True

    def _next_schedule_time(self, cronjob: dict, now: dt.datetime, schedule: ZonedSchedule) -> dt.datetime | None:
        """The schedule time to act on now, if any (nextScheduleTime)."""
        _, most_recent, missed = most_recent_schedule_time(cronjob, now, schedule, with_deadline=True)
        if most_recent is None or most_recent > now:
            return None
        if missed == MANY_MISSED:
            self.record(cronjob, "Warning", "TooManyMissedTimes", "too many missed start times. "
                        "Set or decrease .spec.startingDeadlineSeconds or check clock skew")
        return most_recent

    async def _reconcile_active(self, cronjob: dict, jobs: list[dict]) -> bool:
        """Bring status.active in line with the Jobs that exist, and lastSuccessfulTime forward."""
        changed = False
        children = set()
        status = cronjob.setdefault("status", {})
        for job in jobs:
            uid = job["metadata"]["uid"]
            children.add(uid)
            finished = finished_condition_type(job)
            found = in_active(cronjob, uid)
            if not found and not finished:
                fresh = await self.client.get(CRONJOBS, cronjob["metadata"]["name"], cronjob["metadata"]["namespace"])
                if in_active(fresh, uid):
                    cronjob.clear()
                    cronjob.update(fresh)  # our cache was behind our own status write
                    status = cronjob.setdefault("status", {})
                    continue
                self.record(cronjob, "Warning", "UnexpectedJob",
                            f"Saw a job that the controller did not create or forgot: {job['metadata']['name']}")
            elif found and finished:
                remove_from_active(cronjob, uid)
                self.record(cronjob, "Normal", "SawCompletedJob",
                            f"Saw completed job: {job['metadata']['name']}, status: {finished}")
                changed = True
            elif finished == "Complete":
                completed = parse_time((job.get("status") or {}).get("completionTime"))
                last = parse_time(status.get("lastSuccessfulTime"))
                if completed is not None and (last is None or completed > last):
                    status["lastSuccessfulTime"] = format_time(completed)
                    changed = True
        for ref in list(status.get("active") or []):
            if ref.get("uid") in children:
                continue
            # The cache may only be slow: ask the API before declaring the Job gone.
            try:
                await self.client.get(JOBS, ref.get("name", ""), ref.get("namespace", ""))
            except APIError as exc:
                if not is_not_found(exc):
                    raise
                self.record(cronjob, "Normal", "MissingJob", f"Active job went missing: {ref.get('name')}")
                remove_from_active(cronjob, ref.get("uid", ""))
                changed = True
        return changed

    async def _replace_active(self, cronjob: dict) -> bool:
        changed = False
        for ref in list((cronjob.get("status") or {}).get("active") or []):
            try:
                job = await self.client.get(JOBS, ref.get("name", ""), ref.get("namespace", ""))
            except APIError as exc:
                self.record(cronjob, "Warning", "FailedGet", f"Get job: {exc.message}")
                raise
            if not await self._delete_job(cronjob, job):
                where = f"{ref.get('namespace')}/{ref.get('name')}"
                raise APIError(500, "InternalError", f"could not replace job {where}")
            changed = True
        return changed

    async def _create_job(self, cronjob: dict, scheduled: dt.datetime, tz: dt.tzinfo) -> dict | None:
        request = job_from_template(cronjob, scheduled, tz)
        namespace = cronjob["metadata"]["namespace"]
        try:
            job = await self.client.create(JOBS, request, namespace)
        except APIError as exc:
            if not is_already_exists(exc):
                self.record(cronjob, "Warning", "FailedCreate", f"Error creating job: {exc.message}")
                raise
            # Created by an earlier sync whose status write was lost: adopt it into the active list.
            job = await self.client.get(JOBS, request["metadata"]["name"], namespace)
            controller = [r for r in job["metadata"].get("ownerReferences") or [] if r.get("controller")]
            if not controller or controller[0].get("uid") != cronjob["metadata"]["uid"]:
                return None
            if in_active(cronjob, job["metadata"]["uid"]):
                return None
            return job
        self.record(cronjob, "Normal", "SuccessfulCreate", f"Created job {job['metadata']['name']}")
        return job

    async def _delete_job(self, cronjob: dict, job: dict) -> bool:
        """Delete a Job and its pods (propagation Background) and drop it from status.active."""
        meta = job["metadata"]
        try:
            await self.client.delete(JOBS, meta["name"], meta["namespace"], propagation_policy="Background")
        except APIError as exc:
            if not is_not_found(exc):
                self.record(cronjob, "Warning", "FailedDelete", f"Deleted job: {exc.message}")
                return False
            remove_from_active(cronjob, meta["uid"])  # gone already (our cache is behind): no new event
            return True
        remove_from_active(cronjob, meta["uid"])
        self.record(cronjob, "Normal", "SuccessfulDelete", f"Deleted job {meta['name']}")
        return True

    async def _cleanup_finished_jobs(self, cronjob: dict, jobs: list[dict]) -> bool:
        """Keep at most successful/failedJobsHistoryLimit finished Jobs, deleting the oldest."""
        spec = cronjob.get("spec") or {}
        limits = {"Complete": spec.get("successfulJobsHistoryLimit"), "Failed": spec.get("failedJobsHistoryLimit")}
        changed = False
        for kind, limit in limits.items():
            if limit is None:
                continue
            finished = sorted((j for j in jobs if finished_condition_type(j) == kind and
                               not j["metadata"].get("deletionTimestamp")), key=start_time_order)
            for job in finished[:max(0, len(finished) - limit)]:
                changed |= await self._delete_job(cronjob, job)
        return changed
