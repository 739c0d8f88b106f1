"""The TTL-after-finished controller: deletes finished Jobs once `ttlSecondsAfterFinished` has passed.

Part of the controllers layer (pkg/controller/ttlafterfinished). A Job that is Complete or Failed and
sets `spec.ttlSecondsAfterFinished` expires that many seconds after the transition time of its finished
condition. Until then its key waits in the queue (`add_after`, so a fake clock drives it in tests); when
it expires the controller re-reads the Job from the API (the cached TTL may be stale), checks again, and
deletes it with a uid precondition.

As in Kubernetes, the deletion uses propagation Foreground: the garbage collector removes the Job's pods
first, then the Job.
"""

from __future__ import annotations

from ..api.errors import APIError
from ..api.meta import parse_time
from ..client.interface import is_not_found, resource
from .base import Controller
from .job import is_job_finished

JOBS = resource("jobs", "batch")


def needs_cleanup(job: dict) -> bool:
    return (job.get("spec") or {}).get("ttlSecondsAfterFinished") is not None and is_job_finished(job)


def finish_time(job: dict):
    """When the Job finished: its Complete/Failed condition's lastTransitionTime (jobFinishTime)."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return parse_time(cond.get("lastTransitionTime"))
    return None


class TTLAfterFinishedController(Controller):
    name = "ttl-after-finished"

    def setup(self) -> None:
        self.jobs = self.informer(JOBS)
        self.jobs.add_handler(self._changed, lambda old, new: self._changed(new))

    def _changed(self, job: dict) -> None:
        if not job["metadata"].get("deletionTimestamp") and needs_cleanup(job):
            self.enqueue(job)

    def time_left(self, job: dict) -> float | None:
        """Seconds until the Job expires (<= 0: expired), or None if it needs no cleanup."""
        if job["metadata"].get("deletionTimestamp") or not needs_cleanup(job):
            return None
        finished = finish_time(job)
        if finished is None:
            return None  # finished without a transition time: nothing to count from
        ttl = job["spec"]["ttlSecondsAfterFinished"]
        return ttl - (self.clock.now() - finished).total_seconds()

    async def reconcile(self, key: str) -> None:
        job = self.jobs.get(key)
        if job is None or not self._expired(key, job):
            return
        namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
        try:
            fresh = await self.client.get(JOBS, name, namespace)
        except APIError as exc:
            if is_not_found(exc):
                return
            raise
        # The cached TTL may be stale: only the current object decides.
        if not self._expired(key, fresh):
            return
        try:
            await self.client.delete(JOBS, name, namespace, propagation_policy="Foreground",
                                     preconditions={"uid": fresh["metadata"]["uid"]})
        except APIError as exc:
            if not is_not_found(exc):
                raise

    def _expired(self, key: str, job: dict) -> bool:
        left = self.time_left(job)
        if left is None:
            return False
        if left > 0:
            self.queue.add_after(key, left)
            return False
        return True
