"""ISO-8601 instants, relative "now" offsets, and instants as stored (microseconds since the epoch)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from stepwise.domain.durations import InvalidDuration, parse_duration

_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def parse_instant(value: object) -> datetime | None:
    """Return the UTC instant an ISO-8601 date or date-time string names, else None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not _DATE_LIKE.match(value):
        return None
    return _parse_text(value)


@lru_cache(maxsize=4096)
def _parse_text(value: str) -> datetime | None:
    """parse_instant of date-like text, remembered: a batch of subscribers repeats the same instants."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("z", "Z"))
        # Year 1 or 9999 with an offset lands outside what datetime can hold.
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def parse_offset(text: str) -> timedelta:
    """Parse "-7d", "+3h" or "2d" into a signed timedelta (raise InvalidDuration)."""
    if not isinstance(text, str):
        raise InvalidDuration("must be a string such as '-7d'")
    raw = text.strip()
    if raw in ("", "0"):
        return timedelta(0)
    sign = -1 if raw.startswith("-") else 1
    body = raw[1:] if raw[0] in "+-" else raw
    if body[:1] in ("+", "-"):
        raise InvalidDuration(f"{text!r} has more than one sign")
    return sign * parse_duration(body)


# The conversions below are remembered: a batch repeats the same instants (events accepted by one
# request, runs that moved together), and each costs a microsecond or more where a lookup costs a tenth.


@lru_cache(maxsize=4096)
def iso(moment: datetime) -> str:
    """Format an instant as ISO-8601 UTC with a Z suffix."""
    text = moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return text


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=8192)
def to_us(moment: datetime) -> int:
    """Return microseconds since the epoch."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@lru_cache(maxsize=8192)
def from_us(value: int) -> datetime:
    """Return the UTC datetime of microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=value)


def opt_to_us(moment: datetime | None) -> int | None:
    return None if moment is None else to_us(moment)


def opt_from_us(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)
