"""The Job controller: runs a Job's pods until enough succeed, or gives up (pkg/controller/job).

Part of the controllers layer. Informers on Jobs and Pods feed one work queue; a sync reads the Job and
its pods from the caches and, as kube-controller-manager 1.32 does:

- creates pods from the template (generateName `<job>-`, or `<job>-<index>-` with the completion index
  annotation/label/env for Indexed Jobs) up to `parallelism`, never more than the completions left, with
  an exponential delay (10 s doubling, at most 10 min) after pod failures;
- puts the `batch.kubernetes.io/job-tracking` finalizer on every pod it creates, and counts a finished pod
  only through `status.uncountedTerminatedPods` → finalizer removed → `status.succeeded/failed`, so no
  pod is counted twice or lost when something deletes it early (a pod deleted before finishing counts as
  failed and is replaced at once; under podReplacementPolicy Failed only once it has failed);
- fails the Job when `status.failed` exceeds `backoffLimit` (reason BackoffLimitExceeded) or it ran past
  `activeDeadlineSeconds` (DeadlineExceeded): interim condition FailureTarget, active pods deleted, then
  Failed once no pod is terminating; completes it with SuccessCriteriaMet then Complete (reason
  CompletionsReached) and `completionTime`;
- deletes active pods of a suspended Job (conditions/events Suspended, Resumed).

Pod creations and deletions are tracked as expectations (the informer cache lags behind our own
writes), so a sync never acts twice on the same gap. Time comes from `self.clock` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..api.meta import format_time, json_copy, key_of, parse_time
from ..api.errors import APIError
from ..client.informer import controller_uid_index
from ..client.interface import is_not_found, resource
from .base import Controller
from .expectations import Expectations
from .podutil import condition_status, is_active, is_pod_ready, is_terminal, pod_from_template

JOBS = resource("jobs", "batch")
PODS = resource("pods")
JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"  # PodIndexLabel
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
CONTROLLER_UID_INDEX = "controller-uid"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
ORPHAN_POD_PREFIX = "pod:"  # queue keys of orphaned pods whose finalizer must go (namespaces cannot hold ':')

DEFAULT_POD_FAILURE_BACKOFF = 10.0  # DefaultJobPodFailureBackOff
MAX_POD_FAILURE_BACKOFF = 600.0  # MaxJobPodFailureBackOff
MAX_UNCOUNTED_PODS = 500
MAX_POD_CREATE_DELETE_PER_SYNC = 500

REASON_BACKOFF_LIMIT = "BackoffLimitExceeded"
REASON_DEADLINE = "DeadlineExceeded"
REASON_COMPLETIONS_REACHED = "CompletionsReached"


# --- small Job helpers ---


def find_condition(job: dict, condition_type: str) -> dict | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == condition_type:
            return cond
    return None


def is_job_finished(job: dict) -> bool:
    return condition_status(job, "Complete") == "True" or condition_status(job, "Failed") == "True"


def finished_condition_type(job: dict) -> str:
    """"Complete" or "Failed" for a finished Job, else ""."""
    for kind in ("Complete", "Failed"):
        if condition_status(job, kind) == "True":
            return kind
    return ""


def has_tracking_finalizer(pod: dict) -> bool:
    return JOB_TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or [])


def is_suspended(job: dict) -> bool:
    return bool((job.get("spec") or {}).get("suspend"))


def is_indexed(job: dict) -> bool:
    return (job.get("spec") or {}).get("completionMode") == "Indexed"


def only_replaces_failed_pods(job: dict) -> bool:
    """podReplacementPolicy Failed (implied by a podFailurePolicy): a terminating pod is neither failed
    nor replaced until it reaches the Failed phase."""
    spec = job.get("spec") or {}
    return spec.get("podReplacementPolicy") == "Failed" or spec.get("podFailurePolicy") is not None


def is_pod_failed(pod: dict, job: dict) -> bool:
    """Failed or, under podReplacementPolicy TerminatingOrFailed, deleted before it could succeed."""
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Failed":
        return True
    if only_replaces_failed_pods(job):
        return False
    return bool(pod["metadata"].get("deletionTimestamp")) and phase != "Succeeded"


def is_terminating(pod: dict) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp")) and not is_terminal(pod)


def completion_index(pod: dict) -> int:
    text = ((pod.get("metadata") or {}).get("annotations") or {}).get(COMPLETION_INDEX_ANNOTATION, "")
    return int(text) if text.isdigit() else -1


def parse_indexes(text: str, limit: int) -> set[int]:
    """`"1,3-5"` → {1, 3, 4, 5}, dropping indexes >= limit (parseIndexesFromString)."""
    result: set[int] = set()
    for part in (text or "").split(","):
        first, _, last = part.partition("-")
        if not first.strip().isdigit():
            continue
        end = int(last) if last.strip().isdigit() else int(first)
        result.update(i for i in range(int(first), end + 1) if i < limit)
    return result


def format_indexes(indexes: set[int]) -> str:
    """{1, 3, 4, 5} → `"1,3-5"` (orderedIntervals.String)."""
    parts, ordered = [], sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def _timestamp(text: str | None) -> float:
    when = parse_time(text)
    return when.timestamp() if when else 0.0


def active_pods_deletion_order(pods: list[dict]) -> list[dict]:
    """controller.ActivePods: the pods least worth keeping first (unscheduled, pending, unready, newest)."""
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}

    def key(pod: dict):
        status = pod.get("status") or {}
        ready = is_pod_ready(pod)
        ready_since = 0.0
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Ready":
                ready_since = _timestamp(cond.get("lastTransitionTime"))
        restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
        return (bool((pod.get("spec") or {}).get("nodeName")), phase_rank.get(status.get("phase"), 0), ready,
                -ready_since if ready else 0.0, -restarts, -_timestamp(pod["metadata"].get("creationTimestamp")))

    return sorted(pods, key=key)


def finish_time(pod: dict) -> float:
    """When a pod finished, as getFinishedTime estimates it (used for the failure backoff)."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    finished = [((c.get("state") or {}).get("terminated") or {}).get("finishedAt") for c in statuses]
    if statuses and all(finished):
        return max(_timestamp(t) for t in finished)
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "False" and cond.get("lastTransitionTime"):
            return _timestamp(cond["lastTransitionTime"])
    meta = pod["metadata"]
    if meta.get("deletionTimestamp"):
        return _timestamp(meta["deletionTimestamp"]) - (meta.get("deletionGracePeriodSeconds") or 0)
    return _timestamp(meta.get("creationTimestamp"))


@dataclass
class BackoffRecord:
    """Consecutive pod failures since the last success, and when the last one failed (backoffRecord)."""

    failures: int = 0
    last_failure: float | None = None

    def remaining(self, now: float, base: float, cap: float) -> float:
        if self.failures == 0 or self.last_failure is None:
            return 0.0
        delay = min(base * (2 ** (self.failures - 1)), cap)
        return max(0.0, delay - (now - self.last_failure))


def next_backoff(old: BackoffRecord, succeeded: list[dict], failed: list[dict]) -> BackoffRecord:
    """backoffStore.newBackoffRecord: failures after the newest success restart the count."""
    failed_times = sorted(finish_time(p) for p in failed)
    if not succeeded:
        if not failed_times:
            return old
        return BackoffRecord(old.failures + len(failed_times), failed_times[-1])
    last_success = max(finish_time(p) for p in succeeded)
    later = [t for t in failed_times if t > last_success]
    return BackoffRecord(len(later), later[-1] if later else None)


def new_condition(condition_type: str, reason: str, message: str, *, now: str, status: str = "True") -> dict:
    return {"type": condition_type, "status": status, "lastProbeTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def ensure_condition(job: dict, condition_type: str, status: str, *, reason: str, message: str, now: str) -> bool:
    """ensureJobConditionStatus: set a condition, never adding one that is merely False."""
    conditions = job.setdefault("status", {}).get("conditions") or []
    for i, cond in enumerate(conditions):
        if cond.get("type") == condition_type:
            if (cond.get("status"), cond.get("reason", ""), cond.get("message", "")) == (status, reason, message):
                return False
            conditions[i] = new_condition(condition_type, reason, message, now=now, status=status)
            return True
    if status == "False":
        return False
    added = new_condition(condition_type, reason, message, now=now, status=status)
    job["status"]["conditions"] = conditions + [added]
    return True


@dataclass
class SyncState:
    """What one sync of a Job works with (syncJobCtx)."""

    job: dict
    pods: list[dict]
    active_pods: list[dict]
    ready: int
    terminating: int
    uncounted_succeeded: set[str]
    uncounted_failed: set[str]
    expected_removals: set[str]
    succeeded: int = 0
    failed: int = 0
    finished: dict | None = None
    prev_succeeded_indexes: set[int] = field(default_factory=set)
    succeeded_indexes: set[int] = field(default_factory=set)
    backoff: BackoffRecord = field(default_factory=BackoffRecord)


class JobController(Controller):
    name = "job"

    def setup(self) -> None:
        self.expectations = Expectations(self.clock)
        self._expected_removals: dict[str, set[str]] = {}  # job key → pod uids whose finalizer we removed
        self._backoff: dict[str, BackoffRecord] = {}
        self.backoff_base = float(self.ctx.settings.get("pod_failure_backoff", DEFAULT_POD_FAILURE_BACKOFF))
        self.backoff_cap = float(self.ctx.settings.get("max_pod_failure_backoff", MAX_POD_FAILURE_BACKOFF))
        self.jobs = self.informer(JOBS)
        self.pods = self.informer(PODS, indexers={CONTROLLER_UID_INDEX: controller_uid_index})
        self.jobs.add_handler(self.enqueue, self._job_updated, self._job_deleted)
        self.pods.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)

    # --- event handlers ---

    def _job_updated(self, old: dict, new: dict) -> None:
        self.enqueue(new)
        if is_job_finished(new):
            self._cleanup_pod_finalizers(new)
        start = parse_time((new.get("status") or {}).get("startTime"))
        deadline = (new.get("spec") or {}).get("activeDeadlineSeconds")
        if start and deadline and deadline != (old.get("spec") or {}).get("activeDeadlineSeconds"):
            passed = (self.clock.now() - start).total_seconds()
            self.enqueue_after(new, deadline - passed)

    def _job_deleted(self, job: dict) -> None:
        self.enqueue(job)
        self._cleanup_pod_finalizers(job)

    def _cleanup_pod_finalizers(self, job: dict) -> None:
        for pod in self.pods.indexer.by_index(CONTROLLER_UID_INDEX, job["metadata"]["uid"]):
            if has_tracking_finalizer(pod):
                self._enqueue_orphan(pod)

    def _enqueue_orphan(self, pod: dict) -> None:
        self.queue.add(ORPHAN_POD_PREFIX + key_of(pod))

    def _owner_job(self, pod: dict) -> dict | None:
        """The Job controlling `pod` (resolveControllerRef), from the cache."""
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == "Job":
                job = self.jobs.get(f"{pod['metadata']['namespace']}/{ref.get('name')}")
                if job is not None and job["metadata"]["uid"] == ref.get("uid"):
                    return job
        return None

    def _pod_added(self, pod: dict) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            self._pod_deleted(pod, final=False)
            return
        job = self._owner_job(pod)
        if job is not None:
            self.expectations.creation_observed(key_of(job))
            self.enqueue(job)
        elif has_tracking_finalizer(pod):
            # Its Job is gone (or never was): nobody will count it. The orphan sync runs on synced
            # caches only, and checks again.
            self._enqueue_orphan(pod)

    def _pod_updated(self, old: dict, new: dict) -> None:
        if new["metadata"].get("deletionTimestamp"):
            self._pod_deleted(new, final=False)
            return
        job = self._owner_job(new)
        if job is None:
            if has_tracking_finalizer(new):
                self._enqueue_orphan(new)
            return
        if not has_tracking_finalizer(new):
            self._removal_observed(key_of(job), new["metadata"]["uid"])
        self.enqueue(job)

    def _pod_deleted(self, pod: dict, final: bool = True) -> None:
        job = self._owner_job(pod)
        if job is None or is_job_finished(job):
            if has_tracking_finalizer(pod) and not final:
                self._enqueue_orphan(pod)
            return
        key = key_of(job)
        self.expectations.deletion_observed(key, pod["metadata"]["uid"])
        if final or not has_tracking_finalizer(pod):
            self._removal_observed(key, pod["metadata"]["uid"])
        self.enqueue(job)

    def _removal_observed(self, key: str, uid: str) -> None:
        uids = self._expected_removals.get(key)
        if uids is not None:
            uids.discard(uid)

    # --- reconcile ---

    async def reconcile(self, key: str) -> None:
        if key.startswith(ORPHAN_POD_PREFIX):
            await self._sync_orphan_pod(key[len(ORPHAN_POD_PREFIX):])
            return
        cached = self.jobs.get(key)
        if cached is None:
            self.expectations.forget(key)
            self._expected_removals.pop(key, None)
            self._backoff.pop(key, None)
            return
        if is_job_finished(cached):
            self._backoff.pop(key, None)
            return
        job = json_copy(cached)  # never change the shared cache
        await self._sync(key, job)

    async def _sync(self, key: str, job: dict) -> None:
        status = job.setdefault("status", {})
        uncounted = status.setdefault("uncountedTerminatedPods", {})
        satisfied = self.expectations.satisfied(key)
        pods = self.pods.indexer.by_index(CONTROLLER_UID_INDEX, job["metadata"]["uid"])
        active_pods = [p for p in pods if is_active(p)]
        state = SyncState(
            job=job, pods=pods, active_pods=active_pods, ready=sum(1 for p in active_pods if is_pod_ready(p)),
            terminating=sum(1 for p in pods if is_terminating(p)),
            uncounted_succeeded=set(uncounted.get("succeeded") or []),
            uncounted_failed=set(uncounted.get("failed") or []),
            expected_removals=set(self._expected_removals.get(key, ())),
        )
        new_succeeded, new_failed = self._new_finished_pods(state)
        state.succeeded = status.get("succeeded", 0) + len(new_succeeded) + len(state.uncounted_succeeded)
        state.failed = status.get("failed", 0) + len(new_failed) + len(state.uncounted_failed)
        now = format_time(self.clock.now())
        if not status.get("startTime") and not is_suspended(job):
            status["startTime"] = now
        state.backoff = next_backoff(self._backoff.get(key, BackoffRecord()), new_succeeded, new_failed)
        state.finished = self._failure_condition(key, state)
        if is_indexed(job):
            self._count_indexes(state)
        active, suspend_changed, error = await self._act(key, state, satisfied=satisfied, now=now)
        needs_flush = (suspend_changed or active != status.get("active") or state.ready != status.get("ready")
                       or state.terminating != status.get("terminating"))
        status["active"], status["ready"], status["terminating"] = active, state.ready, state.terminating
        await self._track_status(key, state, needs_flush)
        if error is not None:
            raise error

    async def _act(self, key: str, state: SyncState, *, satisfied: bool,
                   now: str) -> tuple[int, bool, Exception | None]:
        """Stop a finishing Job's pods, or manage them and see whether it completed.

        Returns (active pods, whether the Suspended condition changed, the first write error).
        """
        job, active = state.job, len(state.active_pods)
        if state.finished is not None:
            deleted_ready, deleted, error = await self._delete_active_pods(job, state.active_pods)
            if deleted != active or not satisfied:
                state.finished = None  # pods still need counting, or the cache is behind our writes
            state.terminating += deleted
            state.ready -= deleted_ready
            return active - deleted, False, error
        managed = satisfied and not job["metadata"].get("deletionTimestamp")
        error = None
        if managed:
            active, error = await self._manage(key, job, state)
        completions = (job.get("spec") or {}).get("completions")
        wanted = 1 if completions is None else completions  # without completions, any success completes it
        if state.succeeded >= wanted and active == 0:
            state.finished = new_condition("SuccessCriteriaMet", REASON_COMPLETIONS_REACHED,
                                           "Reached expected number of succeeded pods", now=now)
            return active, False, error
        # Conditions only follow a sync that acted on the Job, not one waiting for its cache.
        return active, managed and self._update_suspend_condition(job, now), error

    def _new_finished_pods(self, state: SyncState) -> tuple[list[dict], list[dict]]:
        """Finished pods not yet in the Job's counters (getNewFinishedPods)."""
        succeeded, failed = [], []
        for pod in state.pods:
            uid = pod["metadata"]["uid"]
            if not has_tracking_finalizer(pod) or uid in state.expected_removals:
                continue  # counted already
            if is_indexed(state.job):
                ix = completion_index(pod)
                if ix < 0 or ix >= (state.job["spec"].get("completions") or 0):
                    continue
            if (pod.get("status") or {}).get("phase") == "Succeeded" and uid not in state.uncounted_succeeded:
                succeeded.append(pod)
            elif is_pod_failed(pod, state.job) and uid not in state.uncounted_failed:
                failed.append(pod)
        return succeeded, failed

    def _failure_condition(self, key: str, state: SyncState) -> dict | None:
        """The condition the Job is about to finish with, if any; schedules the deadline check."""
        job, now = state.job, format_time(self.clock.now())
        met = find_condition(job, "SuccessCriteriaMet")
        if met is not None and met.get("status") == "True":
            return met
        target = find_condition(job, "FailureTarget")
        if target is not None and target.get("status") == "True":
            return new_condition("Failed", target.get("reason", ""), target.get("message", ""), now=now)
        spec = job.get("spec") or {}
        if state.failed > spec.get("backoffLimit", 6) or self._past_backoff_limit_on_failure(job, state.pods):
            return new_condition("FailureTarget", REASON_BACKOFF_LIMIT, "Job has reached the specified backoff limit",
                                 now=now)
        remaining = self._deadline_remaining(job)
        if remaining is not None and remaining <= 0:
            return new_condition("FailureTarget", REASON_DEADLINE, "Job was active longer than specified deadline",
                                 now=now)
        if remaining is not None:
            self.queue.add_after(key, remaining)
        return None

    def _deadline_remaining(self, job: dict) -> float | None:
        deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
        start = parse_time((job.get("status") or {}).get("startTime"))
        if deadline is None or start is None or is_suspended(job):
            return None
        return deadline - (self.clock.now() - start).total_seconds()

    @staticmethod
    def _past_backoff_limit_on_failure(job: dict, pods: list[dict]) -> bool:
        """restartPolicy OnFailure: container restarts count against backoffLimit."""
        spec = job.get("spec") or {}
        if ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") != "OnFailure":
            return False
        restarts = 0
        for pod in pods:
            status = pod.get("status") or {}
            if status.get("phase") in ("Running", "Pending"):
                for c in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
                    restarts += c.get("restartCount", 0)
        limit = spec.get("backoffLimit", 6)
        return restarts > 0 if limit == 0 else restarts >= limit

    def _count_indexes(self, state: SyncState) -> None:
        """calculateSucceededIndexes: the completed indexes so far, including not yet counted ones."""
        completions = state.job["spec"].get("completions") or 0
        state.prev_succeeded_indexes = parse_indexes(state.job["status"].get("completedIndexes", ""), completions)
        new = {completion_index(p) for p in state.pods
               if (p.get("status") or {}).get("phase") == "Succeeded" and has_tracking_finalizer(p)
               and 0 <= completion_index(p) < completions}
        state.succeeded_indexes = state.prev_succeeded_indexes | new
        state.succeeded = len(state.succeeded_indexes)

    def _update_suspend_condition(self, job: dict, now: str) -> bool:
        if is_suspended(job):
            changed = ensure_condition(job, "Suspended", "True", reason="JobSuspended", message="Job suspended",
                                       now=now)
            if changed:
                self.record(job, "Normal", "Suspended", "Job suspended")
            return changed
        changed = ensure_condition(job, "Suspended", "False", reason="JobResumed", message="Job resumed", now=now)
        if changed:
            self.record(job, "Normal", "Resumed", "Job resumed")
            # activeDeadlineSeconds counts the time a Job is continuously active: a resumed Job restarts it.
            job["status"]["startTime"] = now
        return changed

    # --- manageJob ---

    async def _manage(self, key: str, job: dict, state: SyncState) -> tuple[int, Exception | None]:
        """Create or delete pods to bring the active count to what the Job wants now (manageJob)."""
        active = len(state.active_pods)
        spec = job["spec"]
        if is_suspended(job):
            ready, removed, error = await self._delete_job_pods(key, job, state.active_pods)
            state.terminating += removed
            state.ready -= ready
            return active - removed, error
        want = self._wanted_active(job, state, active)
        to_delete = self._pods_for_removal(job, state.active_pods, max(0, active - want))
        if to_delete:
            ready, removed, error = await self._delete_job_pods(key, job, to_delete[:MAX_POD_CREATE_DELETE_PER_SYNC])
            state.terminating += removed
            state.ready -= ready
            return active - removed, error
        # Under podReplacementPolicy Failed a terminating pod still holds its place until it has failed.
        terminating = state.terminating if only_replaces_failed_pods(job) else 0
        diff = min(want - terminating - active, MAX_POD_CREATE_DELETE_PER_SYNC)
        if diff <= 0:
            return active, None
        wait = state.backoff.remaining(self.clock.now().timestamp(), self.backoff_base, self.backoff_cap)
        if wait > 0:
            self.queue.add_after(key, max(wait, 1.0))
            return active, None
        indexes: list[int | None] = [None] * diff
        if is_indexed(job):
            indexes = self._first_pending_indexes(state, diff, spec.get("completions") or 0)
        created, error = await self._create_pods(key, job, indexes)
        return active + created, error

    @staticmethod
    def _wanted_active(job: dict, state: SyncState, active: int) -> int:
        parallelism = job["spec"].get("parallelism", 1)
        completions = job["spec"].get("completions")
        if completions is None:
            # Any success means the work is done: let what runs finish, start nothing new.
            return active if state.succeeded > 0 else parallelism
        return max(0, min(completions - state.succeeded, parallelism))

    @staticmethod
    def _pods_for_removal(job: dict, pods: list[dict], at_least: int) -> list[dict]:
        """activePodsForRemoval: for Indexed Jobs also pods with a bad or repeated index."""
        remove: list[dict] = []
        keep = pods
        if is_indexed(job):
            completions = job["spec"].get("completions") or 0
            by_index: dict[int, list[dict]] = {}
            keep = []
            for pod in pods:
                ix = completion_index(pod)
                if ix < 0 or ix >= completions:
                    remove.append(pod)
                else:
                    by_index.setdefault(ix, []).append(pod)
            for group in by_index.values():
                ordered = active_pods_deletion_order(group)
                remove += ordered[:-1]
                keep.append(ordered[-1])
        if len(remove) < at_least:
            remove += active_pods_deletion_order(keep)[:at_least - len(remove)]
        return remove

    @staticmethod
    def _first_pending_indexes(state: SyncState, count: int, completions: int) -> list[int | None]:
        taken = state.succeeded_indexes | {completion_index(p) for p in state.active_pods}
        return [ix for ix in range(completions) if ix not in taken][:count]

    def _pod_for(self, job: dict, index: int | None) -> dict:
        template = json_copy(job["spec"].get("template") or {})
        name = job["metadata"]["name"]
        generate_name = f"{name}-"
        if index is not None:
            meta = template.setdefault("metadata", {})
            meta.setdefault("annotations", {})[COMPLETION_INDEX_ANNOTATION] = str(index)
            meta.setdefault("labels", {})[COMPLETION_INDEX_LABEL] = str(index)
            template_spec = template.setdefault("spec", {})
            template_spec["hostname"] = f"{name}-{index}"
            _add_completion_index_env(template_spec)
            generate_name = f"{name}-{index}-"
        pod = pod_from_template(template, job, generate_name=generate_name)
        finalizers = pod["metadata"].setdefault("finalizers", [])
        if JOB_TRACKING_FINALIZER not in finalizers:
            finalizers.append(JOB_TRACKING_FINALIZER)
        return pod

    async def _create_pods(self, key: str, job: dict, indexes: list[int | None]) -> tuple[int, Exception | None]:
        """Create pods in slow-start batches (1, 2, 4 ...), stopping at the first failing batch."""
        self.expectations.expect_creations(key, len(indexes))
        created, position, batch = 0, 0, 1
        error: Exception | None = None
        while position < len(indexes) and error is None:
            for index in indexes[position:position + batch]:
                try:
                    pod = await self.client.create(PODS, self._pod_for(job, index), job["metadata"]["namespace"])
                except APIError as exc:
                    self.expectations.creation_observed(key)
                    self.record(job, "Warning", "FailedCreate", f"Error creating: {exc.message}")
                    error = exc
                    continue
                created += 1
                self.record(job, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
            position += batch
            batch *= 2
        for _ in indexes[position:]:
            self.expectations.creation_observed(key)  # never attempted: not expected either
        return created, error

    async def _delete_pod(self, job: dict, pod: dict) -> bool:
        meta = pod["metadata"]
        try:
            await self.client.delete(PODS, meta["name"], meta["namespace"])
        except APIError as exc:
            if is_not_found(exc):
                return True
            self.record(job, "Warning", "FailedDelete", f"Error deleting: {exc.message}")
            raise
        self.record(job, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}")
        return True

    async def _delete_job_pods(self, key: str, job: dict, pods: list[dict]) -> tuple[int, int, Exception | None]:
        """Pods the Job no longer wants: drop the finalizer (they are not failures), then delete."""
        ready = removed = 0
        error: Exception | None = None
        for pod in pods:
            self.expectations.expect_deletions(key, [pod["metadata"]["uid"]])
            try:
                await self._remove_finalizer(pod)
                await self._delete_pod(job, pod)
            except APIError as exc:
                self.expectations.deletion_observed(key, pod["metadata"]["uid"])
                error = exc
                continue
            removed += 1
            ready += is_pod_ready(pod)
        return ready, removed, error

    async def _delete_active_pods(self, job: dict, pods: list[dict]) -> tuple[int, int, Exception | None]:
        """A failing Job's pods: deleted with their finalizers, so they are counted as failed."""
        ready = removed = 0
        error: Exception | None = None
        for pod in pods:
            try:
                await self._delete_pod(job, pod)
            except APIError as exc:
                error = exc
                continue
            removed += 1
            ready += is_pod_ready(pod)
        return ready, removed, error

    async def _remove_finalizer(self, pod: dict) -> None:
        if not has_tracking_finalizer(pod):
            return
        patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [JOB_TRACKING_FINALIZER]}}
        meta = pod["metadata"]
        try:
            await self.client.patch(PODS, meta["name"], patch, meta["namespace"], patch_type=STRATEGIC_MERGE_PATCH)
        except APIError as exc:
            if not is_not_found(exc):
                raise

    # --- trackJobStatusAndRemoveFinalizers ---

    async def _track_status(self, key: str, state: SyncState, needs_flush: bool) -> None:
        """Count finished pods through uncountedTerminatedPods, remove their finalizers, finish the Job."""
        job = state.job
        status = job["status"]
        uncounted = status["uncountedTerminatedPods"]
        with_finalizer = {p["metadata"]["uid"] for p in state.pods
                          if has_tracking_finalizer(p) and p["metadata"]["uid"] not in state.expected_removals}
        needs_flush |= _clean_uncounted(status, with_finalizer)
        to_release, new_indexes = [], set()
        for pod in sorted(state.pods, key=completion_index):
            uid = pod["metadata"]["uid"]
            if not has_tracking_finalizer(pod) or uid in state.expected_removals:
                continue  # counted in an earlier sync
            failed = is_pod_failed(pod, job)
            if not (job["metadata"].get("deletionTimestamp") or state.finished is not None
                    or failed or (pod.get("status") or {}).get("phase") == "Succeeded"):
                continue
            to_release.append(pod)
            needs_flush |= self._count_pod(state, pod, failed=failed, new_indexes=new_indexes)
            if len(new_indexes) + len(uncounted.get("succeeded") or []) + len(uncounted.get("failed") or []) \
                    >= MAX_UNCOUNTED_PODS:
                break
        if is_indexed(job):
            state.succeeded_indexes |= new_indexes
            text = format_indexes(state.succeeded_indexes)
            needs_flush |= text != status.get("completedIndexes", "")
            status["succeeded"] = len(state.succeeded_indexes)
            if text:
                status["completedIndexes"] = text
        needs_flush |= self._interim_condition(state)
        if needs_flush:
            job = state.job = await self._update_status(job)
            self._backoff[key] = state.backoff
            needs_flush = False
        removed, error = await self._release_pods(key, to_release)
        needs_flush |= _clean_uncounted(job["status"], with_finalizer - removed)
        if error is not None:
            # Keep the partial progress, then let the queue retry the rest with backoff.
            if needs_flush:
                state.job = await self._update_status(state.job)
            raise error
        finished = self._enact_finished(state)
        if needs_flush or finished:
            state.job = await self._update_status(state.job)
            if finished:
                self._record_finished(state.job, state.finished)

    def _count_pod(self, state: SyncState, pod: dict, *, failed: bool, new_indexes: set[int]) -> bool:
        """Add a finished pod to uncountedTerminatedPods (or, Indexed, to the completed indexes)."""
        uid = pod["metadata"]["uid"]
        uncounted = state.job["status"]["uncountedTerminatedPods"]
        if (pod.get("status") or {}).get("phase") == "Succeeded" and uid not in state.uncounted_failed:
            if is_indexed(state.job):
                ix = completion_index(pod)
                if 0 <= ix < (state.job["spec"].get("completions") or 0) and ix not in state.prev_succeeded_indexes:
                    new_indexes.add(ix)
                    return True
            elif uid not in state.uncounted_succeeded:
                uncounted.setdefault("succeeded", []).append(uid)
                return True
            return False
        # Once the Job is failing, every pod that has not succeeded counts as failed.
        finishing_badly = state.finished is not None and state.finished.get("type") != "SuccessCriteriaMet"
        if failed or finishing_badly:
            ix = completion_index(pod)
            valid = not is_indexed(state.job) or 0 <= ix < (state.job["spec"].get("completions") or 0)
            if uid not in state.uncounted_failed and valid:
                uncounted.setdefault("failed", []).append(uid)
                return True
        return False

    def _interim_condition(self, state: SyncState) -> bool:
        """Write FailureTarget/SuccessCriteriaMet before finalizers go; turn them into Failed/Complete."""
        finished, now = state.finished, format_time(self.clock.now())
        if finished is None:
            return False
        changed = False
        conditions = state.job["status"].setdefault("conditions", [])
        if finished["type"] == "FailureTarget":
            conditions.append(finished)
            state.finished = new_condition("Failed", finished["reason"], finished["message"], now=now)
            changed = True
        elif finished["type"] == "SuccessCriteriaMet":
            if find_condition(state.job, "SuccessCriteriaMet") is None:
                conditions.append(finished)
                changed = True
            state.finished = new_condition("Complete", finished.get("reason", ""), finished.get("message", ""),
                                           now=now)
        return changed

    async def _release_pods(self, key: str, pods: list[dict]) -> tuple[set[str], APIError | None]:
        """Remove the tracking finalizer; returns the uids it is gone from, and the first error."""
        removed: set[str] = set()
        expected = self._expected_removals.setdefault(key, set())
        error: APIError | None = None
        for pod in pods:
            uid = pod["metadata"]["uid"]
            expected.add(uid)
            try:
                await self._remove_finalizer(pod)
            except APIError as exc:
                expected.discard(uid)
                error = error or exc
                continue
            removed.add(uid)
        return removed, error

    def _enact_finished(self, state: SyncState) -> bool:
        """Set Complete/Failed once every pod is counted and none is still terminating."""
        finished = state.finished
        if finished is None or finished["type"] not in ("Complete", "Failed"):
            return False
        status = state.job["status"]
        uncounted = status.get("uncountedTerminatedPods") or {}
        if uncounted.get("succeeded") or uncounted.get("failed") or state.terminating > 0:
            return False
        now = format_time(self.clock.now())
        ensure_condition(state.job, finished["type"], "True", reason=finished.get("reason", ""),
                         message=finished.get("message", ""), now=now)
        if finished["type"] == "Complete":
            status["completionTime"] = now
        return True

    def _record_finished(self, job: dict, finished: dict) -> None:
        if finished["type"] == "Complete":
            completions = job["spec"].get("completions")
            if completions is not None and job["status"].get("succeeded", 0) > completions:
                self.record(job, "Warning", "TooManySucceededPods",
                            "Too many succeeded pods running after completion count reached")
            self.record(job, "Normal", "Completed", "Job completed")
        else:
            self.record(job, "Warning", finished.get("reason", ""), finished.get("message", ""))

    async def _update_status(self, job: dict) -> dict:
        uncounted = job["status"].get("uncountedTerminatedPods") or {}
        job["status"]["uncountedTerminatedPods"] = {k: v for k, v in uncounted.items() if v}
        return await self.client.update(JOBS, job, subresource="status")

    # --- orphans ---

    async def _sync_orphan_pod(self, pod_key: str) -> None:
        """Remove the tracking finalizer from a pod no unfinished Job will count (syncOrphanPod)."""
        pod = self.pods.get(pod_key)
        if pod is None or not has_tracking_finalizer(pod):
            return
        refs = [r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")]
        if refs:
            ref = refs[0]
            if ref.get("kind") != "Job" or ref.get("apiVersion") != "batch/v1":
                return  # someone else's pod
            job = self._owner_job(pod)
            if job is not None and not is_job_finished(job):
                return  # adopted: its Job counts it
        await self._remove_finalizer(pod)


def _clean_uncounted(status: dict, with_finalizer: set[str]) -> bool:
    """Move uids whose finalizer is gone from uncountedTerminatedPods into the counters."""
    uncounted = status.setdefault("uncountedTerminatedPods", {})
    changed = False
    for field_name in ("succeeded", "failed"):
        uids = uncounted.get(field_name) or []
        still = [uid for uid in uids if uid in with_finalizer]
        if len(still) != len(uids):
            changed = True
            status[field_name] = status.get(field_name, 0) + len(uids) - len(still)
            uncounted[field_name] = still
    return changed


def _add_completion_index_env(spec: dict) -> None:
    """JOB_COMPLETION_INDEX from the pod's annotation, in every container that lacks it."""
    env_var = {"name": COMPLETION_INDEX_ENV, "valueFrom": {"fieldRef": {
        "fieldPath": f"metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"}}}
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            env = container.setdefault("env", [])
            if not any(e.get("name") == COMPLETION_INDEX_ENV for e in env):
                env.append(json_copy(env_var))
