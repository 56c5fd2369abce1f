"""Waits of a step (SPEC §2.2): time waits (time_passed, schedule) and state waits (data_matches, list_matches)."""

from __future__ import annotations

from datetime import time, timedelta
from functools import cached_property
from typing import Literal

from pydantic import Field, field_validator, model_validator

from stepwise.domain.durations import parse_duration
from stepwise.domain.keys import Key
from stepwise.domain.predicates import Predicate
from stepwise.domain.schedules import (
    WEEKDAYS,
    Calendar,
    InvalidSchedule,
    check_cron,
    parse_at,
    zone,
)
from stepwise.domain.spec_base import Spec as _Spec
from stepwise.domain.spec_types import Duration, Weekday, ZoneName


class TimePassed(_Spec):
    event: Literal["time_passed"]
    after: Duration

    @cached_property
    def delay(self) -> timedelta:
        return parse_duration(self.after)


class Schedule(_Spec):
    event: Literal["schedule"]
    every: Literal["day", "week", "month", "year"] | None = None
    at: str | None = Field(default=None, max_length=5)
    weekdays: list[Weekday] | None = Field(default=None, min_length=1)
    day: int | None = Field(default=None, ge=1, le=31, strict=True)
    month: int | None = Field(default=None, ge=1, le=12, strict=True)
    cron: str | None = Field(default=None, max_length=200)
    timezone: ZoneName | None = None

    @field_validator("at")
    @classmethod
    def _valid_at(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_at(value)
            except InvalidSchedule as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_cron(value)
            except InvalidSchedule as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zone(value)
            except InvalidSchedule as exc:
                raise ValueError(str(exc)) from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Schedule:
        if self.cron is not None:
            extra = [n for n in ("every", "at", "weekdays", "day", "month") if getattr(self, n) is not None]
            if extra:
                raise ValueError(f"'cron' cannot be combined with {', '.join(extra)}")
            return self
        if self.every is None:
            raise ValueError("a schedule needs 'every' (day, week, month, year) or 'cron'")
        allowed = {"day": set(), "week": {"weekdays"}, "month": {"day"}, "year": {"day", "month"}}[self.every]
        for name in ("weekdays", "day", "month"):
            if getattr(self, name) is not None and name not in allowed:
                raise ValueError(f"'{name}' does not apply to every {self.every}")
        if self.every == "week" and not self.weekdays:
            raise ValueError("every week needs 'weekdays', e.g. [\"mon\"]")
        if self.every in ("month", "year") and self.day is None:
            raise ValueError(f"every {self.every} needs 'day' (1-31)")
        if self.every == "year" and self.month is None:
            raise ValueError("every year needs 'month' (1-12)")
        return self

    def calendar(self, default_timezone: str) -> Calendar:
        """Return the evaluable calendar, in this schedule's zone or the default one."""
        tz = self.timezone or default_timezone
        if self.cron is not None:
            return Calendar(timezone=tz, cron=self.cron)
        assert self.every is not None
        return Calendar(
            timezone=tz,
            every=self.every,
            at=parse_at(self.at) if self.at else time(0, 0),
            weekdays=tuple(sorted(WEEKDAYS.index(d) for d in self.weekdays or ())),
            day=self.day or 1,
            month=self.month or 1,
        )


class DataMatches(_Spec):
    event: Literal["data_matches"]
    where: Predicate


class ListMatches(_Spec):
    event: Literal["list_matches"]
    list: Key
    member: bool = True


class SegmentMatches(_Spec):
    """Waits until the subscriber is (`member`) or is not in a segment (SPEC §15), like list_matches."""

    event: Literal["segment_matches"]
    segment: Key
    member: bool = True
