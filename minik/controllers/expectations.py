"""Expectations: the writes a controller made that its informer has not shown it yet.

A helper of the controller layer (Kubernetes' controller.ControllerExpectations and
UIDTrackingControllerExpectations), used by the ReplicaSet, Job and DaemonSet controllers. A sync that
ran before the informer caught up with the controller's own creates and deletes would count too few (or
too many) pods and act twice; so while any expectation of a key is outstanding, the sync must not act on
its cached pods again. Expectations expire after five minutes, as Kubernetes' do, so a lost watch event
cannot wedge a controller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

EXPECTATIONS_TIMEOUT = 5 * 60.0  # controller.ExpectationsTimeout


@dataclass
class _Expected:
    adds: int = 0
    deletes: set[str] = field(default_factory=set)  # ids of the objects being deleted (uids or keys)
    since: float = 0.0


class Expectations:
    def __init__(self, clock, ttl: float = EXPECTATIONS_TIMEOUT):
        self._clock = clock
        self._ttl = ttl
        self._items: dict[str, _Expected] = {}

    def _expired(self, entry: _Expected) -> bool:
        return self._clock.monotonic() - entry.since > self._ttl

    def _entry(self, key: str) -> _Expected:
        entry = self._items.get(key)
        if entry is None or self._expired(entry):  # expired: what was outstanding no longer counts
            entry = self._items[key] = _Expected()
        entry.since = self._clock.monotonic()
        return entry

    def expect_creations(self, key: str, count: int) -> None:
        if count > 0:
            self._entry(key).adds += count

    def expect_deletions(self, key: str, ids: Iterable[str]) -> None:
        self._entry(key).deletes.update(ids)

    def creation_observed(self, key: str) -> None:
        entry = self._items.get(key)
        if entry is not None and entry.adds > 0:
            entry.adds -= 1

    def deletion_observed(self, key: str, id_: str) -> None:
        entry = self._items.get(key)
        if entry is not None:
            entry.deletes.discard(id_)

    def satisfied(self, key: str) -> bool:
        entry = self._items.get(key)
        if entry is None or (entry.adds <= 0 and not entry.deletes):
            return True
        return self._expired(entry)

    def forget(self, key: str) -> None:
        self._items.pop(key, None)
