"""Instants: parsing, relative offsets, and the stored form (microseconds since the epoch)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from stepwise.domain.durations import InvalidDuration
from stepwise.domain.instants import (
    EPOCH,
    from_us,
    iso,
    opt_from_us,
    opt_to_us,
    parse_instant,
    parse_offset,
    to_us,
)


@pytest.mark.parametrize(
    ("value", "instant"),
    [
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01T10:00:00+02:00", datetime(2026, 3, 1, 8, tzinfo=UTC)),
        ("2026-03-01T10:00:00z", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T10:00:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        (datetime(2026, 3, 1, 10), datetime(2026, 3, 1, 10, tzinfo=UTC)),
    ],
)
def test_dates_and_date_times_name_utc_instants(value: object, instant: datetime) -> None:
    assert parse_instant(value) == instant


@pytest.mark.parametrize("value", ["soon", "2026-13-01", "0001-01-01T00:00:00+01:00", 20260301, None])
def test_anything_else_is_not_an_instant(value: object) -> None:
    assert parse_instant(value) is None


@pytest.mark.parametrize(
    ("text", "offset"),
    [("-7d", timedelta(days=-7)), ("+3h", timedelta(hours=3)), ("2d", timedelta(days=2)), ("0", timedelta(0))],
)
def test_offsets_are_signed_durations(text: str, offset: timedelta) -> None:
    assert parse_offset(text) == offset


@pytest.mark.parametrize("text", ["--7d", "+-1h", 7])
def test_an_offset_has_one_sign_and_is_text(text: object) -> None:
    with pytest.raises(InvalidDuration):
        parse_offset(text)  # type: ignore[arg-type]


def test_stored_instants_round_trip_to_the_microsecond() -> None:
    moment = datetime(2026, 12, 3, 9, 41, 7, 123456, tzinfo=timezone(timedelta(hours=3)))
    assert to_us(EPOCH) == 0
    assert from_us(to_us(moment)) == moment
    assert to_us(datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == -1
    assert (opt_to_us(None), opt_from_us(None)) == (None, None)
    assert opt_from_us(opt_to_us(moment)) == moment
    assert iso(moment) == "2026-12-03T06:41:07.123456Z"
