"""Sending policy (SPEC §17): send windows (S27) and frequency caps (S28), as values and pure rules.

A window is open on its `days` from `from` to `to`, local time in its zone; `from` later than `to`
means a window over midnight (22:00-06:00 opens on each listed day at 22:00). `timezone:
subscriber` means the profile's `base.timezone` when it is a valid IANA name, else the
sequence's (or account's) zone. A cap allows at most `emails` emails to one subscriber within any
`per`, counted over every email sent to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from stepwise.domain.durations import parse_duration
from stepwise.domain.schedules import WEEKDAYS, InvalidSchedule, declare_zone, parse_at, zone
from stepwise.domain.spec_base import Spec
from stepwise.domain.spec_types import Duration, Weekday

MAX_CAPS = 10
EVERY_DAY: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _declare_window_zone(schema: dict[str, Any]) -> None:
    """The window's zone: `subscriber` or one of the zone names (for the OpenAPI document)."""
    declare_zone(schema)
    schema["enum"] = ["subscriber", *schema.get("enum", [])]


class SendWindow(Spec):
    days: list[Weekday] = Field(default_factory=lambda: list(EVERY_DAY), min_length=1, max_length=7)
    from_: str = Field(alias="from", max_length=5, json_schema_extra={"pattern": "^[0-2][0-9]:[0-5][0-9]$"})
    to: str = Field(max_length=5, json_schema_extra={"pattern": "^[0-2][0-9]:[0-5][0-9]$"})
    timezone: str = Field(default="subscriber", max_length=64, json_schema_extra=_declare_window_zone)

    @field_validator("from_", "to")
    @classmethod
    def _clock(cls, value: str) -> str:
        try:
            parse_at(value)
        except InvalidSchedule as exc:
            raise ValueError(str(exc).replace("'at'", "a window time")) from exc
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value != "subscriber":
            try:
                zone(value)
            except InvalidSchedule as exc:
                raise ValueError(f"{exc} (or 'subscriber')") from exc
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> SendWindow:
        if self.from_ == self.to:
            raise ValueError("'from' and 'to' are the same time: the window would never open (or never close)")
        return self

    @cached_property
    def opens(self) -> time:
        return parse_at(self.from_)

    @cached_property
    def closes(self) -> time:
        return parse_at(self.to)

    @cached_property
    def weekdays(self) -> frozenset[int]:
        return frozenset(WEEKDAYS.index(d) for d in self.days)


class Cap(Spec):
    emails: int = Field(ge=1, le=1_000_000)
    per: Duration

    @cached_property
    def period(self) -> timedelta:
        return parse_duration(self.per)


def window_zone(window: SendWindow, data: dict[str, Any], fallback: str) -> str:
    """The zone a window is read in: its own, or for `subscriber` the profile's `base.timezone` if valid."""
    if window.timezone != "subscriber":
        return window.timezone
    base = data.get("base") if isinstance(data, dict) else None
    wanted = base.get("timezone") if isinstance(base, dict) else None
    if isinstance(wanted, str):
        try:
            zone(wanted)
            return wanted
        except InvalidSchedule:
            pass
    return fallback


def _local(day: date, at: time, zone_name: str) -> datetime:
    """A local wall time as an aware UTC instant (a time in a DST gap moves forward with the offset)."""
    return datetime.combine(day, at, tzinfo=zone(zone_name)).astimezone(UTC)


def next_opening(window: SendWindow, zone_name: str, now: datetime) -> datetime | None:
    """None when the window is open at `now`; else the next instant it opens."""
    local = now.astimezone(zone(zone_name))
    overnight = window.opens > window.closes
    # An opening on day d lasts until `to` on d (or on d+1 over midnight); look at yesterday's too.
    for offset in range(-1, 9):
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in window.weekdays:
            continue
        start = _local(day, window.opens, zone_name)
        end = _local(day + timedelta(days=1 if overnight else 0), window.closes, zone_name)
        if start <= now < end:
            return None
        if start > now:
            return start
    return None  # unreachable with at least one day: some opening lies within the next week


def cap_free_at(caps: Sequence[Cap], sent_us: Sequence[int], now_us: int) -> int | None:
    """None when one more email fits every cap; else when (microseconds) a slot frees up.

    `sent_us` are the times of the emails already sent (or being sent) to the subscriber.
    """
    if not sent_us:
        return None  # every cap allows at least one email
    latest = None
    for cap in caps:
        period_us = int(cap.period.total_seconds() * 1_000_000)
        within = sorted(t for t in sent_us if t > now_us - period_us)
        if len(within) >= cap.emails:
            # The slot frees when the oldest email that keeps the count at the limit leaves the period.
            frees = within[len(within) - cap.emails] + period_us
            latest = frees if latest is None else max(latest, frees)
    return latest


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    """What delivery needs of an account's settings."""

    timezone: str
    window: SendWindow | None = None
    caps: tuple[Cap, ...] = ()
    from_email: str | None = None
    from_name: str | None = None
    reply_to: str | None = None


@dataclass(frozen=True, slots=True)
class SequencePolicy:
    """What delivery needs of a sequence's settings (its window wins over the account's)."""

    timezone: str | None
    window: SendWindow | None = None
    respect_caps: bool = True
    cap_action: Literal["skip", "defer"] = "skip"


@dataclass(frozen=True, slots=True)
class SlotRequest:
    """A worker asks for one of a subscriber's cap slots before sending an email (S28)."""

    row_id: int
    issue_id: str  # the slot is the issue's: outbox ids may be used again once rows are gone
    account_id: int
    subscriber_id: int
    caps: tuple[Cap, ...]
    enforce: bool  # False: the sequence ignores caps; the email is counted, never refused
