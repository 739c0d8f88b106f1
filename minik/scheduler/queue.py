"""The scheduling queue: which unscheduled pod to try next, and when to retry the ones that failed.

Role in the flow: the scheduler loop feeds unscheduled pods from the pod informer into
`SchedulingQueue` (add / update / delete), pops one pod per scheduling cycle, and hands failures back
with the plugins that rejected the pod; cluster events seen by the informers (a node added, a pod
deleted...) move the parked pods those plugins care about back into play. Mirrors kube-scheduler's
pkg/scheduler/backend/queue/scheduling_queue.go (PriorityQueue with activeQ, podBackoffQ and
unschedulablePods), the PrioritySort and SchedulingGates plugins and each plugin's EventsToRegister.

No asyncio and no threads: the caller drives it. `pop()` returns None when nothing is ready, and
`next_ready_in()` says how long until a backing-off pod becomes ready, so the loop knows how long it may
sleep; `flush()` does the periodic work (backoff completion every call, the 5-minute leftover flush of
unschedulable pods at most every 30 s). The clock is injectable.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from minik.scheduler import plugins as p
from minik.scheduler.nodeinfo import pod_key

DEFAULT_POD_INITIAL_BACKOFF = 1.0
DEFAULT_POD_MAX_BACKOFF = 10.0
DEFAULT_POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION = 300.0
UNSCHEDULABLE_FLUSH_PERIOD = 30.0  # flushUnschedulablePodsLeftover runs every 30 s

# --------------------------------------------------------------------------------------------------
# Cluster events (framework.ClusterEvent, ActionType bits)
# --------------------------------------------------------------------------------------------------

ADD = 1 << 0
DELETE = 1 << 1
UPDATE_NODE_ALLOCATABLE = 1 << 2
UPDATE_NODE_LABEL = 1 << 3
UPDATE_NODE_TAINT = 1 << 4
UPDATE_NODE_CONDITION = 1 << 5
UPDATE_NODE_ANNOTATION = 1 << 6
UPDATE_POD_LABEL = 1 << 7
UPDATE_POD_SCALE_DOWN = 1 << 8
UPDATE_POD_TOLERATIONS = 1 << 9
UPDATE_POD_SCHEDULING_GATES_ELIMINATED = 1 << 10
UPDATE = (
    UPDATE_NODE_ALLOCATABLE | UPDATE_NODE_LABEL | UPDATE_NODE_TAINT | UPDATE_NODE_CONDITION | UPDATE_NODE_ANNOTATION
    | UPDATE_POD_LABEL | UPDATE_POD_SCALE_DOWN | UPDATE_POD_TOLERATIONS | UPDATE_POD_SCHEDULING_GATES_ELIMINATED
)
ALL = ADD | DELETE | UPDATE

NODE = "Node"
POD = "Pod"  # assigned pods: events about pods already on a node
WILDCARD = "*"


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    resource: str
    action: int
    label: str

    @property
    def is_wildcard(self) -> bool:
        return self.resource == WILDCARD and self.action == ALL

    def matches(self, resource: str, action: int) -> bool:
        """Whether a plugin registered for (resource, action) cares about this event."""
        return self.is_wildcard or (resource == self.resource and bool(action & self.action))


EVENT_NODE_ADD = ClusterEvent(NODE, ADD, "NodeAdd")
EVENT_NODE_UPDATE = ClusterEvent(NODE, UPDATE, "NodeUpdate")  # when the change is not known precisely
EVENT_NODE_DELETE = ClusterEvent(NODE, DELETE, "NodeDelete")
EVENT_ASSIGNED_POD_ADD = ClusterEvent(POD, ADD, "AssignedPodAdd")
EVENT_ASSIGNED_POD_UPDATE = ClusterEvent(POD, UPDATE, "AssignedPodUpdate")
EVENT_POD_DELETE = ClusterEvent(POD, DELETE, "AssignedPodDelete")
EVENT_UNSCHEDULABLE_TIMEOUT = ClusterEvent(WILDCARD, ALL, "UnschedulableTimeout")
EVENT_FORCE_ACTIVATE = ClusterEvent(WILDCARD, ALL, "ForceActivate")

# EventsToRegister of the default plugins (without queueing hints): which events may make a pod
# that the plugin rejected schedulable. Plugins registering Node/Add also register label and taint
# updates, as kube-scheduler does (issue 109437).
_NODE_ADD_OR_CHANGE = ADD | UPDATE_NODE_LABEL | UPDATE_NODE_TAINT
PLUGIN_EVENTS: Mapping[str, tuple[tuple[str, int], ...]] = {
    p.NODE_UNSCHEDULABLE: ((NODE, _NODE_ADD_OR_CHANGE),),
    p.NODE_NAME: ((NODE, ADD | UPDATE),),
    p.TAINT_TOLERATION: ((NODE, _NODE_ADD_OR_CHANGE),),
    p.NODE_AFFINITY: ((NODE, _NODE_ADD_OR_CHANGE),),
    p.NODE_PORTS: ((POD, DELETE), (NODE, ADD | UPDATE)),
    p.NODE_RESOURCES_FIT: (
        (POD, DELETE | UPDATE_POD_SCALE_DOWN),
        (NODE, _NODE_ADD_OR_CHANGE | UPDATE_NODE_ALLOCATABLE),
    ),
    p.POD_TOPOLOGY_SPREAD: ((POD, ADD | UPDATE_POD_LABEL | DELETE), (NODE, _NODE_ADD_OR_CHANGE | DELETE)),
    p.INTER_POD_AFFINITY: ((POD, ADD | UPDATE_POD_LABEL | DELETE), (NODE, _NODE_ADD_OR_CHANGE)),
}


def _conditions(node: Mapping) -> dict[str, object]:
    return {c.get("type"): c.get("status") for c in (node.get("status") or {}).get("conditions") or ()}


def node_update_event(old: Mapping, new: Mapping) -> ClusterEvent | None:
    """nodeSchedulingPropertiesChange: the specific update, or None when nothing scheduling-relevant
    changed (heartbeats, images, addresses)."""
    action = 0
    old_status, new_status = old.get("status") or {}, new.get("status") or {}
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    if old_status.get("allocatable") != new_status.get("allocatable"):
        action |= UPDATE_NODE_ALLOCATABLE
    if (old_meta.get("labels") or {}) != (new_meta.get("labels") or {}):
        action |= UPDATE_NODE_LABEL
    if (old_spec.get("taints") or []) != (new_spec.get("taints") or []) or bool(old_spec.get("unschedulable")) != bool(
        new_spec.get("unschedulable")
    ):
        action |= UPDATE_NODE_TAINT  # a cordon is reported as a taint change
    if _conditions(old) != _conditions(new):
        action |= UPDATE_NODE_CONDITION
    if (old_meta.get("annotations") or {}) != (new_meta.get("annotations") or {}):
        action |= UPDATE_NODE_ANNOTATION
    return ClusterEvent(NODE, action, "NodeUpdate") if action else None


def assigned_pod_update_event(old: Mapping, new: Mapping) -> ClusterEvent:
    """The update of a pod on a node: label changes matter to spreading and affinity."""
    action = 0
    if ((old.get("metadata") or {}).get("labels") or {}) != ((new.get("metadata") or {}).get("labels") or {}):
        action |= UPDATE_POD_LABEL
    return ClusterEvent(POD, action or UPDATE, "AssignedPodUpdate")


# --------------------------------------------------------------------------------------------------
# Queued pods
# --------------------------------------------------------------------------------------------------


def _priority(pod: Mapping) -> int:
    value = (pod.get("spec") or {}).get("priority")
    return value if isinstance(value, int) else 0


def _gated(pod: Mapping) -> bool:
    return bool((pod.get("spec") or {}).get("schedulingGates"))


_VOLATILE_META = ("resourceVersion", "generation", "managedFields")


def _scheduling_relevant(pod: Mapping) -> tuple:
    meta = {k: v for k, v in (pod.get("metadata") or {}).items() if k not in _VOLATILE_META}
    return (meta, pod.get("spec"))


def pod_updated(old: Mapping, new: Mapping) -> bool:
    """isPodUpdated: anything but status, resourceVersion, generation and managedFields changed."""
    return _scheduling_relevant(old) != _scheduling_relevant(new)


@dataclass(eq=False)
class QueuedPodInfo:
    """framework.QueuedPodInfo: the pod and its queueing history."""

    pod: dict
    key: str
    timestamp: float  # when it last entered a queue (orders the active queue, starts the backoff)
    attempts: int = 0
    initial_attempt_timestamp: float | None = None
    unschedulable_plugins: frozenset[str] = frozenset()
    gated: bool = False
    scheduling_cycle: int = 0  # the cycle in which it was last popped
    deleted: bool = False  # deleted while being scheduled: do not requeue
    updated_in_flight: bool = False  # updated while being scheduled: retry rather than park
    _token: int = field(default=0, repr=False)

    @property
    def priority(self) -> int:
        return _priority(self.pod)


class SchedulingQueue:
    """PriorityQueue: activeQ (priority, then FIFO), podBackoffQ (by backoff expiry), unschedulablePods.

    A pod is in at most one of them, or in flight (popped and being scheduled) until `done()` or a
    requeue through `add_unschedulable()`.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        initial_backoff: float = DEFAULT_POD_INITIAL_BACKOFF,
        max_backoff: float = DEFAULT_POD_MAX_BACKOFF,
        max_in_unschedulable: float = DEFAULT_POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION,
        plugin_events: Mapping[str, Iterable[tuple[str, int]]] = PLUGIN_EVENTS,
    ) -> None:
        self._clock = clock
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._max_in_unschedulable = max_in_unschedulable
        self._plugin_events = {name: tuple(events) for name, events in plugin_events.items()}
        self._active: dict[str, QueuedPodInfo] = {}
        self._active_heap: list[tuple[int, float, int, int, str]] = []
        self._backoff: dict[str, QueuedPodInfo] = {}
        self._backoff_heap: list[tuple[float, int, int, str]] = []
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        self._in_flight: dict[str, QueuedPodInfo] = {}
        self._seq = itertools.count()
        self._tokens = itertools.count(1)
        self._scheduling_cycle = 0
        self._move_request_cycle = -1
        self._last_leftover_flush = clock()

    # ----------------------------------------------------------------------------------------- api

    @property
    def scheduling_cycle(self) -> int:
        return self._scheduling_cycle

    def add(self, pod: Mapping) -> None:
        """An unscheduled pod appeared: to the active queue, or parked while it has scheduling gates."""
        key = pod_key(pod)
        if self._find(key) is not None or key in self._in_flight:
            self.update(None, pod)
            return
        info = QueuedPodInfo(dict(pod), key, self._clock(), gated=_gated(pod))  # type: ignore[arg-type]
        if info.gated:
            self._unschedulable[key] = info  # SchedulingGates' PreEnqueue keeps it out of activeQ
        else:
            self._push_active(info)

    def update(self, old_pod: Mapping | None, new_pod: Mapping) -> None:
        """PriorityQueue.Update: refresh the stored pod; an update may make a parked pod schedulable."""
        key = pod_key(new_pod)
        pod = dict(new_pod)
        flying = self._in_flight.get(key)
        if flying is not None:
            if pod_updated(old_pod if old_pod is not None else flying.pod, new_pod):
                flying.updated_in_flight = True
            flying.pod = pod
            return
        info = self._active.get(key)
        if info is not None:
            old_priority = info.priority
            info.pod = pod
            if info.priority != old_priority:
                self._push_active(info)  # re-sorted with the same timestamp
            return
        info = self._backoff.get(key)
        if info is not None:
            info.pod = pod
            return
        info = self._unschedulable.get(key)
        if info is not None:
            previous = info.pod
            info.pod = pod
            was_gated = info.gated
            info.gated = _gated(pod)
            if info.gated:
                return
            if was_gated or pod_updated(old_pod if old_pod is not None else previous, pod):
                del self._unschedulable[key]
                if not was_gated and self._backing_off(info):
                    self._push_backoff(info)
                else:
                    self._push_active(info)
            return
        self.add(pod)

    def delete(self, pod: Mapping) -> None:
        key = pod_key(pod)
        self._active.pop(key, None)
        self._backoff.pop(key, None)
        self._unschedulable.pop(key, None)
        flying = self._in_flight.pop(key, None)
        if flying is not None:
            flying.deleted = True

    def pop(self) -> QueuedPodInfo | None:
        """The highest-priority, longest-waiting active pod, now in flight; None if nothing is ready."""
        self._flush_backoff_completed(self._clock())
        heap = self._active_heap
        while heap:
            _, _, _, token, key = heapq.heappop(heap)
            info = self._active.get(key)
            if info is None or info._token != token:
                continue  # a stale heap entry: the pod was deleted, moved or re-sorted
            del self._active[key]
            self._scheduling_cycle += 1
            info.attempts += 1
            if info.initial_attempt_timestamp is None:
                info.initial_attempt_timestamp = self._clock()
            info.scheduling_cycle = self._scheduling_cycle
            info.updated_in_flight = False
            self._in_flight[key] = info
            return info
        return None

    def done(self, info: QueuedPodInfo | Mapping) -> None:
        """The pod's cycle is over (bound, or given up on): stop tracking it as in flight."""
        key = info.key if isinstance(info, QueuedPodInfo) else pod_key(info)
        self._in_flight.pop(key, None)

    def add_unschedulable(
        self,
        info: QueuedPodInfo,
        *,
        unschedulable_plugins: Iterable[str] = (),
        scheduling_cycle: int | None = None,
    ) -> bool:
        """AddUnschedulableIfNotPresent: requeue a pod whose cycle failed.

        It is parked until an event its rejecting plugins care about, unless an event already arrived
        during its cycle, it was updated meanwhile, or no plugin rejected it (an error): then it only
        backs off. Returns False if it was not requeued (deleted, or already queued again).
        """
        key = info.key
        self._in_flight.pop(key, None)
        if info.deleted or self._find(key) is not None:
            return False
        cycle = info.scheduling_cycle if scheduling_cycle is None else scheduling_cycle
        info.unschedulable_plugins = frozenset(unschedulable_plugins)
        info.timestamp = self._clock()
        info.gated = _gated(info.pod)
        if info.gated:
            self._unschedulable[key] = info
        elif self._move_request_cycle >= cycle or not info.unschedulable_plugins or info.updated_in_flight:
            self._push_backoff(info)
        else:
            self._unschedulable[key] = info
        info.updated_in_flight = False
        return True

    def move_all_to_active_or_backoff(
        self, event: ClusterEvent, *, pre_check: Callable[[dict], bool] | None = None
    ) -> int:
        """MoveAllToActiveOrBackoffQueue: parked pods whose rejectors registered for `event` go back to
        the active queue (or to backoff, if their backoff has not expired). Returns how many moved."""
        self._move_request_cycle = self._scheduling_cycle  # pods in flight now will retry, not park
        moved = 0
        for key, info in list(self._unschedulable.items()):
            if info.gated or not self._interested(info, event):
                continue
            if pre_check is not None and not pre_check(info.pod):
                continue
            del self._unschedulable[key]
            if self._backing_off(info):
                self._push_backoff(info)
            else:
                self._push_active(info)
            moved += 1
        return moved

    def flush(self) -> None:
        """The periodic work: backing-off pods whose time has come become active; pods parked for more
        than 5 minutes are retried (checked at most every 30 s, as flushUnschedulablePodsLeftover)."""
        now = self._clock()
        self._flush_backoff_completed(now)
        if now - self._last_leftover_flush >= UNSCHEDULABLE_FLUSH_PERIOD:
            self.flush_unschedulable_leftover()

    def flush_unschedulable_leftover(self) -> int:
        now = self._clock()
        self._last_leftover_flush = now
        moved = 0
        for key, info in list(self._unschedulable.items()):
            if info.gated or now - info.timestamp <= self._max_in_unschedulable:
                continue
            del self._unschedulable[key]
            if self._backing_off(info):
                self._push_backoff(info)
            else:
                self._push_active(info)
            moved += 1
        return moved

    def next_ready_in(self) -> float | None:
        """Seconds until something becomes poppable: 0 if a pod is active, None if nothing is pending
        (the loop then waits for an event)."""
        if self._active:
            return 0.0
        self._compact_backoff_heap()
        if not self._backoff_heap:
            return None
        return max(0.0, self._backoff_heap[0][0] - self._clock())

    def backoff_duration(self, info: QueuedPodInfo) -> float:
        """calculateBackoffDuration: 1 s after the first attempt, doubling per attempt, capped at 10 s."""
        if info.attempts == 0:
            return 0.0
        duration = self._initial_backoff
        for _ in range(1, info.attempts):
            if duration > self._max_backoff - duration:
                return self._max_backoff
            duration += duration
        return duration

    def stats(self) -> dict[str, int]:
        return {
            "active": len(self._active),
            "backoff": len(self._backoff),
            "unschedulable": len(self._unschedulable),
            "in_flight": len(self._in_flight),
        }

    def where(self, pod: Mapping) -> str | None:
        """Which queue holds the pod: "active", "backoff", "unschedulable", "in_flight" or None."""
        key = pod_key(pod)
        for name, queue in (
            ("active", self._active), ("backoff", self._backoff), ("unschedulable", self._unschedulable),
            ("in_flight", self._in_flight),
        ):
            if key in queue:
                return name
        return None

    def pending_pods(self) -> list[dict]:
        return [info.pod for q in (self._active, self._backoff, self._unschedulable) for info in q.values()]

    def __len__(self) -> int:
        return len(self._active) + len(self._backoff) + len(self._unschedulable)

    # ----------------------------------------------------------------------------------- internals

    def _find(self, key: str) -> QueuedPodInfo | None:
        return self._active.get(key) or self._backoff.get(key) or self._unschedulable.get(key)

    def _interested(self, info: QueuedPodInfo, event: ClusterEvent) -> bool:
        """podMatchesEvent: a wildcard event moves everyone; otherwise one rejector must care."""
        if event.is_wildcard:
            return True
        for plugin in info.unschedulable_plugins:
            for resource, action in self._plugin_events.get(plugin, ()):
                if event.matches(resource, action):
                    return True
        return False

    def _backoff_expiry(self, info: QueuedPodInfo) -> float:
        return info.timestamp + self.backoff_duration(info)

    def _backing_off(self, info: QueuedPodInfo) -> bool:
        return self._backoff_expiry(info) > self._clock()

    def _push_active(self, info: QueuedPodInfo) -> None:
        info._token = next(self._tokens)
        self._active[info.key] = info
        heapq.heappush(self._active_heap, (-info.priority, info.timestamp, next(self._seq), info._token, info.key))

    def _push_backoff(self, info: QueuedPodInfo) -> None:
        info._token = next(self._tokens)
        self._backoff[info.key] = info
        heapq.heappush(self._backoff_heap, (self._backoff_expiry(info), next(self._seq), info._token, info.key))

    def _compact_backoff_heap(self) -> None:
        heap = self._backoff_heap
        while heap:
            _, _, token, key = heap[0]
            info = self._backoff.get(key)
            if info is not None and info._token == token:
                return
            heapq.heappop(heap)

    def _flush_backoff_completed(self, now: float) -> None:
        """flushBackoffQCompleted: every pod whose backoff expired moves to the active queue."""
        heap = self._backoff_heap
        while heap:
            expiry, _, token, key = heap[0]
            info = self._backoff.get(key)
            if info is None or info._token != token:
                heapq.heappop(heap)
                continue
            if expiry > now:
                return
            heapq.heappop(heap)
            del self._backoff[key]
            self._push_active(info)
