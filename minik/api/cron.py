"""Cron schedules as CronJobs use them (robfig/cron's standard parser, as the CronJob controller does).

Part of the API layer's bottom: the CronJob strategy validates `spec.schedule` with it, the CronJob
controller computes run times with it. Five fields (minute hour day-of-month month day-of-week), `*`,
lists, ranges, steps, month and weekday names, and the descriptors @yearly @annually @monthly @weekly
@daily @midnight @hourly. `TZ=`/`CRON_TZ=` prefixes are refused, as Kubernetes refuses them (use
`spec.timeZone`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


class ScheduleError(ValueError):
    pass


_MONTHS = {name: i for i, name in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_DAYS = {name: i for i, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (low, high, names) per field
_FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}), ("month", 1, 12, _MONTHS),
           ("day of week", 0, 6, _DAYS))
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool  # day-of-month was "*": then only weekdays restrict (and vice versa), as in cron
    any_weekday: bool

    def matches(self, when: dt.datetime) -> bool:
        return (when.minute in self.minutes and when.hour in self.hours and when.month in self.months
                and self._day_matches(when))

    def _day_matches(self, when: dt.datetime) -> bool:
        day_ok = when.day in self.days
        weekday_ok = (when.isoweekday() % 7) in self.weekdays
        # cron: when both day fields are restricted, either may match; otherwise both must
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok

    def next_after(self, when: dt.datetime) -> dt.datetime | None:
        """The first matching minute strictly after `when` (None if none within 5 years)."""
        t = when.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        limit = when + dt.timedelta(days=366 * 5)
        while t <= limit:
            if t.month not in self.months:  # skip to the first minute of next month
                t = (t.replace(day=1, hour=0, minute=0) + dt.timedelta(days=32)).replace(day=1)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + dt.timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + dt.timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += dt.timedelta(minutes=1)
            else:
                return t
        return None


def parse_schedule(text: str) -> Schedule:
    text = (text or "").strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        raise ScheduleError("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
    if text.startswith("@"):
        if text not in _DESCRIPTORS:
            raise ScheduleError(f"unrecognized descriptor: {text}")
        text = _DESCRIPTORS[text]
    parts = text.split()
    if len(parts) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(parts)}: {text}")
    sets = [_parse_field(part, *spec) for part, spec in zip(parts, _FIELDS)]
    return Schedule(*sets, any_day=parts[2] in ("*", "?"), any_weekday=parts[4] in ("*", "?"))


def _parse_field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ScheduleError(f"empty item in {name} field")
        body, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"invalid step {step_text!r} in {name} field")
            step = int(step_text)
        if body in ("*", "?"):
            start, end = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            start, end = _value(a, name, low, high, names), _value(b, name, low, high, names)
            if start > end:
                raise ScheduleError(f"beginning of range ({start}) beyond end of range ({end}): {body}")
        else:
            start = _value(body, name, low, high, names)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    if name == "day of week" and 7 in values:
        values.discard(7)
        values.add(0)
    return frozenset(values)


def _value(text: str, name: str, low: int, high: int, names: dict[str, int]) -> int:
    lowered = text.lower()
    if lowered in names:
        return names[lowered]
    if not text.isdigit():
        raise ScheduleError(f"failed to parse int from {text}: strconv.Atoi: parsing {text!r}: invalid syntax")
    value = int(text)
    top = 7 if name == "day of week" else high  # 7 is Sunday too
    if not low <= value <= top:
        raise ScheduleError(f"end of range ({value}) above maximum ({high}): {text}" if value > top
                            else f"beginning of range ({value}) below minimum ({low}): {text}")
    return value
