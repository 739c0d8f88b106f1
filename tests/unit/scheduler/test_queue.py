"""The scheduling queue: ordering, per-pod backoff, parking until a relevant event, periodic flushes."""

from __future__ import annotations

import pytest

from minik.scheduler import plugins as p
from minik.scheduler import queue as q
from tests.unit.scheduler import make_node, make_pod


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def step(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(clock: FakeClock) -> q.SchedulingQueue:
    return q.SchedulingQueue(clock=clock)


def names(queue: q.SchedulingQueue) -> list[str]:
    out = []
    while (info := queue.pop()) is not None:
        out.append(info.pod["metadata"]["name"])
    return out


def test_priority_then_fifo(queue, clock):
    for name, priority in (("low", 0), ("high", 100), ("mid", 10), ("high2", 100), ("nil", None)):
        queue.add(make_pod(name, priority=priority))
        clock.step(0.001)
    assert names(queue) == ["high", "high2", "mid", "low", "nil"]


def test_priority_change_resorts(queue, clock):
    queue.add(make_pod("a"))
    clock.step(1)
    queue.add(make_pod("b"))
    queue.update(make_pod("b"), make_pod("b", priority=5))
    assert names(queue) == ["b", "a"]


@pytest.mark.parametrize(
    ("attempts", "backoff"), [(0, 0.0), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)]
)
def test_backoff_duration(queue, attempts, backoff):
    info = q.QueuedPodInfo(make_pod("p"), "default/p", 0.0, attempts=attempts)
    assert queue.backoff_duration(info) == backoff


def test_failed_pod_is_parked_until_a_relevant_event(queue, clock):
    queue.add(make_pod("p"))
    info = queue.pop()
    assert queue.add_unschedulable(info, unschedulable_plugins={p.NODE_RESOURCES_FIT})
    assert queue.where(make_pod("p")) == "unschedulable"
    # a toleration change of another pod is nothing NodeResourcesFit cares about
    assert queue.move_all_to_active_or_backoff(q.ClusterEvent(q.POD, q.UPDATE_POD_TOLERATIONS, "x")) == 0
    # a node was added: retried, but only once its 1 s backoff is over
    assert queue.move_all_to_active_or_backoff(q.EVENT_NODE_ADD) == 1
    assert queue.where(make_pod("p")) == "backoff"
    assert queue.pop() is None
    assert queue.next_ready_in() == pytest.approx(1.0)
    clock.step(1.0)
    assert queue.next_ready_in() == 0.0
    assert queue.pop().pod["metadata"]["name"] == "p"


@pytest.mark.parametrize(
    ("plugins", "event", "moves"),
    [
        ({p.NODE_RESOURCES_FIT}, q.EVENT_POD_DELETE, True),
        ({p.NODE_RESOURCES_FIT}, q.EVENT_ASSIGNED_POD_ADD, False),
        ({p.TAINT_TOLERATION}, q.EVENT_POD_DELETE, False),
        ({p.TAINT_TOLERATION}, q.ClusterEvent(q.NODE, q.UPDATE_NODE_TAINT, "NodeTaintChange"), True),
        ({p.TAINT_TOLERATION}, q.ClusterEvent(q.NODE, q.UPDATE_NODE_ALLOCATABLE, "x"), False),
        ({p.INTER_POD_AFFINITY}, q.EVENT_ASSIGNED_POD_ADD, True),
        ({p.POD_TOPOLOGY_SPREAD}, q.EVENT_NODE_DELETE, True),
        ({p.NODE_AFFINITY}, q.EVENT_NODE_UPDATE, True),
        ({p.NODE_AFFINITY, p.NODE_RESOURCES_FIT}, q.EVENT_POD_DELETE, True),  # any rejector will do
        ({"SomeOtherPlugin"}, q.EVENT_NODE_ADD, False),
        ({"SomeOtherPlugin"}, q.EVENT_UNSCHEDULABLE_TIMEOUT, True),  # wildcard
    ],
)
def test_events_move_pods_of_interested_plugins(queue, clock, plugins, event, moves):
    queue.add(make_pod("p"))
    queue.add_unschedulable(queue.pop(), unschedulable_plugins=plugins)
    clock.step(20)  # backoff long over
    assert queue.move_all_to_active_or_backoff(event) == int(moves)
    assert queue.where(make_pod("p")) == ("active" if moves else "unschedulable")


def test_pre_check_filters_moves(queue, clock):
    for name in ("a", "b"):
        queue.add(make_pod(name))
        queue.add_unschedulable(queue.pop(), unschedulable_plugins={p.INTER_POD_AFFINITY})
    clock.step(20)
    def only_b(pod: dict) -> bool:
        return pod["metadata"]["name"] == "b"

    moved = queue.move_all_to_active_or_backoff(q.EVENT_ASSIGNED_POD_ADD, pre_check=only_b)
    assert moved == 1 and names(queue) == ["b"]


def test_event_during_the_cycle_means_backoff_not_parking(queue):
    queue.add(make_pod("p"))
    info = queue.pop()
    queue.move_all_to_active_or_backoff(q.EVENT_NODE_ADD)  # arrives while p is being scheduled
    queue.add_unschedulable(info, unschedulable_plugins={p.NODE_RESOURCES_FIT})
    assert queue.where(make_pod("p")) == "backoff"


def test_error_without_rejecting_plugins_backs_off(queue, clock):
    queue.add(make_pod("p"))
    queue.add_unschedulable(queue.pop())
    assert queue.where(make_pod("p")) == "backoff"
    clock.step(0.5)
    assert queue.pop() is None
    clock.step(0.5)
    info = queue.pop()
    assert info is not None and info.attempts == 2
    queue.add_unschedulable(info)
    clock.step(1.5)
    assert queue.pop() is None  # the second failure backs off 2 s
    clock.step(0.5)
    assert queue.pop() is not None


def test_leftover_flush_after_five_minutes(queue, clock):
    queue.add(make_pod("p"))
    queue.add_unschedulable(queue.pop(), unschedulable_plugins={p.NODE_AFFINITY})
    clock.step(299)
    queue.flush()
    assert queue.where(make_pod("p")) == "unschedulable"
    clock.step(2)  # 301 s parked; the flush runs at most every 30 s and the last one was 299 s in
    queue.flush()
    assert queue.where(make_pod("p")) == "unschedulable"
    clock.step(30)
    queue.flush()
    assert queue.where(make_pod("p")) == "active"


def test_update_of_a_parked_pod(queue, clock):
    pod = make_pod("p")
    queue.add(pod)
    queue.add_unschedulable(queue.pop(), unschedulable_plugins={p.NODE_AFFINITY})
    status_only = {**pod, "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False"}]}}
    queue.update(pod, status_only)
    assert queue.where(pod) == "unschedulable"
    relabelled = make_pod("p", node_selector={"disk": "ssd"})
    queue.update(status_only, relabelled)
    assert queue.where(pod) == "backoff"  # still within its 1 s backoff
    clock.step(1)
    info = queue.pop()
    assert info.pod["spec"]["nodeSelector"] == {"disk": "ssd"}


def test_gated_pods_wait_for_their_gates(queue):
    gated = make_pod("g", spec={"schedulingGates": [{"name": "example.com/wait"}]})
    queue.add(gated)
    assert queue.pop() is None and queue.where(gated) == "unschedulable"
    assert queue.move_all_to_active_or_backoff(q.EVENT_UNSCHEDULABLE_TIMEOUT) == 0
    queue.update(gated, make_pod("g"))
    assert queue.where(gated) == "active"


def test_deleted_while_in_flight_is_not_requeued(queue):
    queue.add(make_pod("p"))
    info = queue.pop()
    queue.delete(make_pod("p"))
    assert not queue.add_unschedulable(info, unschedulable_plugins={p.NODE_RESOURCES_FIT})
    assert len(queue) == 0


def test_updated_while_in_flight_is_retried(queue):
    queue.add(make_pod("p"))
    info = queue.pop()
    queue.update(make_pod("p"), make_pod("p", labels={"new": "label"}))
    assert queue.where(make_pod("p")) == "in_flight"
    queue.add_unschedulable(info, unschedulable_plugins={p.NODE_RESOURCES_FIT})
    assert queue.where(make_pod("p")) == "backoff"
    assert info.pod["metadata"]["labels"] == {"new": "label"}


def test_done_and_stats(queue):
    queue.add(make_pod("a"))
    queue.add(make_pod("b"))
    info = queue.pop()
    assert queue.stats() == {"active": 1, "backoff": 0, "unschedulable": 0, "in_flight": 1}
    queue.done(info)
    assert queue.stats()["in_flight"] == 0 and queue.scheduling_cycle == 1
    assert queue.next_ready_in() == 0.0
    names(queue)
    assert queue.next_ready_in() is None


def test_adding_twice_is_an_update(queue):
    queue.add(make_pod("p"))
    queue.add(make_pod("p", priority=3))
    info = queue.pop()
    assert info.priority == 3 and queue.pop() is None


@pytest.mark.parametrize(
    ("change", "action"),
    [
        (lambda n: n["metadata"]["labels"].update(disk="ssd"), q.UPDATE_NODE_LABEL),
        (lambda n: n["spec"].update(taints=[{"key": "k", "effect": "NoSchedule"}]), q.UPDATE_NODE_TAINT),
        (lambda n: n["spec"].update(unschedulable=True), q.UPDATE_NODE_TAINT),
        (lambda n: n["status"]["allocatable"].update(cpu="8"), q.UPDATE_NODE_ALLOCATABLE),
        (lambda n: n["status"].update(conditions=[{"type": "Ready", "status": "False"}]), q.UPDATE_NODE_CONDITION),
        (lambda n: n["metadata"].update(annotations={"a": "b"}), q.UPDATE_NODE_ANNOTATION),
        (lambda n: n["status"].update(images=[{"names": ["x"]}]), None),
    ],
)
def test_node_update_event(change, action):
    old, new = make_node("n"), make_node("n")
    change(new)
    event = q.node_update_event(old, new)
    assert (event.action if event else None) == action
