"""Checked text types shared by definition models and settings: durations and time zone names."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from stepwise.domain.durations import InvalidDuration, parse_duration
from stepwise.domain.schedules import InvalidSchedule, declare_zone, zone

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _duration(value: str) -> str:
    try:
        parse_duration(value)
    except InvalidDuration as exc:
        raise ValueError(str(exc)) from exc
    return value


def _zone(value: str) -> str:
    try:
        zone(value)
    except InvalidSchedule as exc:
        raise ValueError(str(exc)) from exc
    return value


# A positive duration of at most ten years: "90s", "15m", "3h", "2d", "1d12h" or ISO 8601 "PT90M".
Duration = Annotated[str, Field(max_length=64), AfterValidator(_duration)]
# An IANA time zone name (the OpenAPI document lists the names this server knows).
ZoneName = Annotated[str, Field(max_length=64, json_schema_extra=declare_zone), AfterValidator(_zone)]
