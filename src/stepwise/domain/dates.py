"""Date triggers (SPEC S26): the instant a profile date plus an offset reaches, at a local time.

Pure arithmetic and the `date_reached` spec. At step >= 2 it is a wait fixed on arrival (the engine's
deadlines.py); at step 1 it enters by the due-date finder (engine/date_entry.py, services/date_triggers.py).
The zone is chosen by the caller: the spec's `timezone`, else the profile's valid
`base.timezone`, else the sequence/account zone (see `choose_zone`).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from stepwise.domain.durations import InvalidDuration, parse_duration
from stepwise.domain.paths import MISSING, DataPath, get_path
from stepwise.domain.schedules import InvalidSchedule, zone
from stepwise.domain.spec_base import Spec
from stepwise.domain.spec_types import ZoneName

DEFAULT_AT = "09:00"
_AT = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


class InvalidAt(ValueError):
    """`at` is not a 24-hour HH:MM time."""


def parse_at(text: object) -> time:
    """Return the local time of "HH:MM" (raise InvalidAt)."""
    if not isinstance(text, str) or not _AT.fullmatch(text):
        raise InvalidAt("at must be a 24-hour time HH:MM such as 09:00")
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def profile_date(value: object) -> date | None:
    """The calendar date of a profile value "YYYY-MM-DD" (a date-time keeps its date part), else None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    found = _DATE.match(value.strip())
    if found is None:
        return None
    try:
        return date(int(found[1]), int(found[2]), int(found[3]))
    except ValueError:
        return None


def in_year(day: date, year: int) -> date:
    """The same month and day in another year; 29 February falls on 28 February in other years."""
    if day.month == 2 and day.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return day.replace(year=year)


def choose_zone(spec_zone: str | None, profile_zone: object, fallback: str) -> ZoneInfo:
    """The spec's zone, else the profile's base.timezone when a valid IANA name, else the fallback."""
    if spec_zone:
        return zone(spec_zone)
    if isinstance(profile_zone, str):
        try:
            return zone(profile_zone)
        except InvalidSchedule:
            pass
    return zone(fallback)


def occurrence(day: date, offset: timedelta, at: time, tz: ZoneInfo) -> datetime | None:
    """The UTC instant of local `at` on `day` shifted by `offset` in wall-clock time; None when out of range."""
    try:
        local = datetime.combine(day, at) + offset
        return local.replace(tzinfo=tz).astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def due_at(
    value: object, offset: timedelta, at: time, tz: ZoneInfo, *, every_year: bool, after: datetime
) -> datetime | None:
    """The first firing instant strictly after `after`, or None (unparsable date, or already past)."""
    day = profile_date(value)
    if day is None:
        return None
    if not every_year:
        moment = occurrence(day, offset, at, tz)
        return moment if moment is not None and moment > after else None
    start = after.astimezone(tz).year - max(offset.days, 0) // 365 - 1
    for year in range(max(start, 1), min(start + 4 + abs(offset.days) // 365, 9999) + 1):
        moment = occurrence(in_year(day, year), offset, at, tz)
        if moment is not None and moment > after:
            return moment
    return None


def signed_duration(text: object) -> timedelta:
    """A duration that may be negative ("-7d"); raise InvalidDuration."""
    if not isinstance(text, str):
        raise InvalidDuration("must be a duration such as '7d' or '-7d'")
    raw = text.strip()
    if raw.startswith("-"):
        return -parse_duration(raw[1:])
    return parse_duration(raw[1:] if raw.startswith("+") else raw)


class DateReached(Spec):
    """S26: fires at local `at` on the date in the profile `field` plus `offset`."""

    event: Literal["date_reached"]
    field: DataPath
    offset: str | None = Field(default=None, max_length=65)
    at: str | None = Field(default=None, max_length=5)
    every_year: bool = False
    timezone: ZoneName | None = None

    @field_validator("offset")
    @classmethod
    def _valid_offset(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                signed_duration(value)
            except InvalidDuration as exc:
                raise ValueError(f"offset {exc} (a leading '-' means before the date)") from exc
        return value

    @field_validator("at")
    @classmethod
    def _valid_at(cls, value: str | None) -> str | None:
        if value is not None:
            parse_at(value)  # InvalidAt is a ValueError: pydantic reports it at `at`
        return value

    @cached_property
    def shift(self) -> timedelta:
        return signed_duration(self.offset) if self.offset is not None else timedelta(0)

    @cached_property
    def local_time(self) -> time:
        return parse_at(self.at or DEFAULT_AT)

    def value(self, data: Mapping[str, Any]) -> object:
        """The profile value the spec reads (MISSING when absent)."""
        return get_path(data, self.field)

    def due(self, data: Mapping[str, Any], fallback_zone: str, after: datetime) -> datetime | None:
        """The first firing instant strictly after `after` for this profile, or None."""
        tz = choose_zone(self.timezone, get_path(data, "base.timezone"), fallback_zone)
        return due_at(self.value(data), self.shift, self.local_time, tz, every_year=self.every_year, after=after)

    def unparsable(self, data: Mapping[str, Any]) -> object:
        """The profile value when present but not a date (to note on the timeline), else None."""
        value = self.value(data)
        if value is MISSING or value is None or value == "" or profile_date(value) is not None:
            return None
        return value
