"""Calendar schedules: the first occurrence strictly after a moment, DST-correct (SPEC §2.2)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

Every = Literal["day", "week", "month", "year"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class InvalidSchedule(ValueError):
    """The schedule cannot be evaluated."""


MAX_ZONE_NAME = 64  # the longest IANA name is about 30 characters; accounts store 64
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """The names `zone` accepts among the zones installed here, sorted (for the OpenAPI document)."""
    found = []
    for name in sorted(available_timezones()):
        try:
            zone(name)
        except InvalidSchedule:
            continue
        found.append(name)
    return tuple(found)


def declare_zone(schema: dict[str, Any]) -> None:
    """json_schema_extra of an optional time zone field: its string branch lists the zone names."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string":
            branch["enum"] = list(zone_names())


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """Return the IANA time zone of that name (raise InvalidSchedule)."""
    if not isinstance(name, str) or len(name) > MAX_ZONE_NAME:
        raise InvalidSchedule(f"a time zone is an IANA name such as Europe/Berlin, at most {MAX_ZONE_NAME} characters")
    if not _ZONE_NAME.fullmatch(name):
        raise InvalidSchedule(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError) as exc:
        raise InvalidSchedule(f"unknown time zone {name!r}") from exc


def check_cron(expression: str) -> None:
    """Raise InvalidSchedule unless expression is a valid 5-field cron expression."""
    if not isinstance(expression, str) or len(expression.split()) != 5:
        raise InvalidSchedule("cron must have 5 fields: minute hour day month weekday")
    try:
        CronSim(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except (CronSimError, ValueError) as exc:
        raise InvalidSchedule(f"invalid cron expression: {exc}") from exc


def parse_at(text: str) -> time:
    """Parse "HH:MM" (raise InvalidSchedule)."""
    try:
        hours, minutes = text.split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError
        return time(int(hours), int(minutes))
    except (ValueError, AttributeError) as exc:
        raise InvalidSchedule(f"'at' must be HH:MM, not {text!r}") from exc


@dataclass(frozen=True, slots=True)
class Calendar:
    """A validated schedule: either a calendar rule or a cron expression, in a time zone."""

    timezone: str
    every: Every | None = None
    at: time = time(0, 0)
    weekdays: tuple[int, ...] = ()
    day: int = 1
    month: int = 1
    cron: str | None = None

    def next_after(self, moment: datetime) -> datetime:
        """Return the first occurrence strictly after moment, as a UTC instant."""
        tz = zone(self.timezone)
        if self.cron is not None:
            local = moment.astimezone(tz)
            return next(iter(CronSim(self.cron, local))).astimezone(UTC)
        local_day = moment.astimezone(tz).date()
        for candidate in self._days_from(local_day):
            instant = resolve_local(datetime.combine(candidate, self.at), tz)
            if instant > moment:
                return instant
        raise InvalidSchedule("schedule has no next occurrence")  # unreachable for valid rules

    def _days_from(self, start: date) -> list[date]:
        if self.every == "day":
            return [start + timedelta(days=i) for i in range(3)]
        if self.every == "week":
            days = [start + timedelta(days=i) for i in range(9)]
            return [d for d in days if d.weekday() in self.weekdays]
        if self.every == "month":
            out = []
            year, month = start.year, start.month
            for _ in range(3):
                out.append(_clamped(year, month, self.day))
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            return [d for d in out if d >= start]
        # every year
        return [d for d in (_clamped(start.year + i, self.month, self.day) for i in range(3)) if d >= start]


def _clamped(year: int, month: int, day: int) -> date:
    """Day 29-31 in a shorter month means its last day."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def resolve_local(naive: datetime, tz: ZoneInfo) -> datetime:
    """Turn a local wall time into a UTC instant: gaps move forward, ambiguous times take the first."""
    candidate = naive.replace(tzinfo=tz, fold=0)
    if candidate.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive:
        return candidate.astimezone(UTC)
    # Inside a DST gap: walk forward minute by minute to the first wall time that exists.
    probe = naive
    for _ in range(24 * 60):
        probe += timedelta(minutes=1)
        aware = probe.replace(tzinfo=tz, fold=0)
        if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == probe:
            return aware.astimezone(UTC)
    raise InvalidSchedule("local time cannot be resolved")
