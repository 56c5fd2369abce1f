"""Conversions between Python values and their stored forms (microseconds, JSON text)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(moment: datetime) -> int:
    """Return microseconds since the epoch."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    """Return the UTC datetime of microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=value)


def opt_to_us(moment: datetime | None) -> int | None:
    return None if moment is None else to_us(moment)


def opt_from_us(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


def dumps(value: Any) -> str:
    """Serialise JSON compactly."""
    return orjson.dumps(value).decode()


def loads(text: str | bytes) -> Any:
    """Parse JSON text."""
    return orjson.loads(text)
