"""S26 date arithmetic (pure): profile dates, offsets, local time, every year, 29 February."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from stepwise.domain.dates import (
    DateReached,
    InvalidAt,
    choose_zone,
    due_at,
    in_year,
    parse_at,
    profile_date,
    signed_duration,
)
from stepwise.domain.durations import InvalidDuration
from stepwise.domain.schedules import InvalidSchedule, zone

BERLIN = zone("Europe/Berlin")
NINE = time(9, 0)


def test_s26_at_parses_24_hour_times() -> None:
    assert parse_at("09:00") == NINE
    assert parse_at("23:59") == time(23, 59)


@pytest.mark.parametrize("bad", ["9:00", "24:00", "12:60", "", None, 900, "09:00:00", " 09:00"])
def test_s26_bad_at_is_refused(bad: object) -> None:
    with pytest.raises(InvalidAt):
        parse_at(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1990-05-17", date(1990, 5, 17)),
        ("1990-05-17T08:30:00Z", date(1990, 5, 17)),
        ("2024-02-29", date(2024, 2, 29)),
    ],
)
def test_s26_profile_dates_parse(value: str, expected: date) -> None:
    assert profile_date(value) == expected


@pytest.mark.parametrize("bad", ["2023-02-29", "17/05/1990", "soon", "", None, 19900517, "1990-13-01"])
def test_s26_unparsable_date_is_no_match(bad: object) -> None:
    assert profile_date(bad) is None
    after = datetime(2026, 1, 1, tzinfo=UTC)
    assert due_at(bad, timedelta(0), NINE, BERLIN, every_year=True, after=after) is None


def test_s26_29_february_falls_on_28_february_in_non_leap_years() -> None:
    assert in_year(date(2000, 2, 29), 2027) == date(2027, 2, 28)
    assert in_year(date(2000, 2, 29), 2028) == date(2028, 2, 29)
    after = datetime(2027, 1, 1, tzinfo=UTC)
    due = due_at("2000-02-29", timedelta(0), NINE, BERLIN, every_year=True, after=after)
    assert due == datetime(2027, 2, 28, 8, 0, tzinfo=UTC)


def test_s26_birthday_every_year_fires_at_local_nine_next_occurrence() -> None:
    after = datetime(2026, 6, 1, tzinfo=UTC)
    due = due_at("1990-05-17", timedelta(0), NINE, BERLIN, every_year=True, after=after)
    assert due == datetime(2027, 5, 17, 7, 0, tzinfo=UTC)  # CEST is UTC+2
    again = due_at("1990-05-17", timedelta(0), NINE, BERLIN, every_year=True, after=due)
    assert again == datetime(2028, 5, 17, 7, 0, tzinfo=UTC)


def test_s26_renewal_minus_7_days_keeps_local_time_across_dst() -> None:
    after = datetime(2026, 1, 1, tzinfo=UTC)
    due = due_at("2026-04-02", timedelta(days=-7), NINE, BERLIN, every_year=False, after=after)
    assert due == datetime(2026, 3, 26, 8, 0, tzinfo=UTC)  # still CET a week before


def test_s26_date_already_past_never_fires() -> None:
    after = datetime(2026, 6, 1, tzinfo=UTC)
    assert due_at("2026-05-31", timedelta(0), NINE, BERLIN, every_year=False, after=after) is None


def test_s26_positive_offset_can_fire_from_last_years_date() -> None:
    after = datetime(2027, 1, 5, tzinfo=UTC)
    due = due_at("1990-12-20", timedelta(days=30), NINE, BERLIN, every_year=True, after=after)
    assert due == datetime(2027, 1, 19, 8, 0, tzinfo=UTC)


def test_s26_zone_is_spec_then_valid_profile_zone_then_fallback() -> None:
    assert choose_zone("Asia/Tokyo", "Europe/Berlin", "UTC").key == "Asia/Tokyo"
    assert choose_zone(None, "Europe/Berlin", "UTC").key == "Europe/Berlin"
    assert choose_zone(None, "Mars/Olympus", "UTC").key == "UTC"
    assert choose_zone(None, 42, "America/New_York").key == "America/New_York"
    with pytest.raises(InvalidSchedule):
        choose_zone("Nowhere/Place", None, "UTC")


def test_s26_offset_may_be_negative() -> None:
    assert signed_duration("-7d") == timedelta(days=-7)
    assert signed_duration("+1d12h") == timedelta(days=1, hours=12)
    with pytest.raises(InvalidDuration):
        signed_duration("-")


def test_s26_spec_reads_field_zone_and_defaults() -> None:
    spec = DateReached(event="date_reached", field="renewal", offset="-7d")
    data = {"renewal": "2026-04-02", "base": {"timezone": "Europe/Berlin"}}
    after = datetime(2026, 1, 1, tzinfo=UTC)
    assert spec.local_time == NINE
    assert spec.due(data, "UTC", after) == datetime(2026, 3, 26, 8, 0, tzinfo=UTC)
    assert spec.due({"renewal": "2026-04-02"}, "UTC", after) == datetime(2026, 3, 26, 9, 0, tzinfo=UTC)
    assert spec.unparsable(data) is None
    assert spec.unparsable({}) is None  # missing is no match, not a bad date
    assert spec.unparsable({"renewal": "soon"}) == "soon"


@pytest.mark.parametrize(
    "bad",
    [
        {"field": "a b"},
        {"field": "x", "offset": "-"},
        {"field": "x", "offset": "7 days"},
        {"field": "x", "at": "9:00"},
        {"field": "x", "timezone": "Mars/Olympus"},
        {"field": "x", "extra": 1},
        {},
    ],
)
def test_s26_bad_specs_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DateReached.model_validate({"event": "date_reached", **bad})
