"""Schedules and time waits (SPEC §2.2, S5): the first occurrence strictly after arrival, DST-correct."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepwise.domain.definition import Schedule, SequenceDefinition, TimePassed
from stepwise.domain.schedules import Calendar, resolve_local
from stepwise.engine.deadlines import has_state_waits, step_deadline, wait_deadline
from stepwise.engine.model import SequenceInfo

BERLIN = ZoneInfo("Europe/Berlin")
US = timedelta(microseconds=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A Berlin wall time (the first one when ambiguous) as a UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def calendar(sequence_zone: str = "UTC", **fields: Any) -> Calendar:
    """The calendar of a `schedule` wait written as in a definition, in a sequence of that time zone."""
    return Schedule.model_validate({"event": "schedule", **fields}).calendar(sequence_zone)


def occurrences(cal: Calendar, start: datetime, count: int) -> list[datetime]:
    found = []
    moment = start
    for _ in range(count):
        moment = cal.next_after(moment)
        found.append(moment)
    return found


# ---------------------------------------------------------------- strictly after arrival


@pytest.mark.parametrize(
    ("arrived", "fires"),
    [
        (utc(2026, 3, 2, 9, 59, 59), utc(2026, 3, 2, 10, 0)),
        (utc(2026, 3, 2, 10, 0), utc(2026, 3, 3, 10, 0)),  # arriving at the very moment: the next one
        (utc(2026, 3, 2, 10, 0) + US, utc(2026, 3, 3, 10, 0)),
        (utc(2026, 3, 2, 23, 59), utc(2026, 3, 3, 10, 0)),
    ],
)
def test_a_daily_schedule_fires_at_the_first_occurrence_strictly_after_arrival(
    arrived: datetime, fires: datetime
) -> None:
    assert calendar(every="day", at="10:00").next_after(arrived) == fires


def test_a_schedule_uses_the_sequence_time_zone_unless_it_names_its_own() -> None:
    arrived = utc(2026, 1, 10, 12, 0)

    assert calendar("Europe/Berlin", every="day", at="10:00").next_after(arrived) == utc(2026, 1, 11, 9, 0)
    assert calendar("Europe/Berlin", every="day", at="10:00", timezone="Asia/Tokyo").next_after(arrived) == utc(
        2026, 1, 11, 1, 0
    )


def test_a_schedule_without_at_fires_at_midnight() -> None:
    assert calendar(every="day").next_after(utc(2026, 3, 2, 9, 0)) == utc(2026, 3, 3, 0, 0)


# ---------------------------------------------------------------- DST in Europe/Berlin (2026-03-29 and 2026-10-25)


@pytest.mark.parametrize(
    ("at", "local_fire"),
    [
        ("01:59", (1, 59)),  # before the gap: an ordinary CET time
        ("02:00", (3, 0)),  # 02:00-02:59 do not exist: the first valid minute is 03:00
        ("02:30", (3, 0)),
        ("02:59", (3, 0)),
        ("03:00", (3, 0)),
        ("03:30", (3, 30)),
    ],
)
def test_dst_spring_gap_moves_a_missing_local_time_forward_to_the_first_valid_minute(
    at: str, local_fire: tuple[int, int]
) -> None:
    cal = calendar("Europe/Berlin", every="day", at=at)

    fired = cal.next_after(utc(2026, 3, 28, 12, 0))

    assert fired == berlin(2026, 3, 29, *local_fire)
    assert fired.astimezone(BERLIN).timetuple()[3:5] == local_fire


def test_dst_spring_gap_only_shifts_the_day_of_the_change() -> None:
    cal = calendar("Europe/Berlin", every="day", at="02:30")

    assert occurrences(cal, utc(2026, 3, 27, 12, 0), 3) == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 0),  # 03:00 CEST, the first valid minute
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]


def test_dst_autumn_ambiguous_time_takes_the_first_occurrence_and_fires_once_that_day() -> None:
    cal = calendar("Europe/Berlin", every="day", at="02:30")

    assert occurrences(cal, utc(2026, 10, 24, 12, 0), 2) == [
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST, the first of the two 02:30s
        utc(2026, 10, 26, 1, 30),  # the next day, 02:30 CET: not the second 02:30 of the 25th
    ]


def test_dst_autumn_arriving_between_the_two_ambiguous_times_waits_for_the_next_day() -> None:
    cal = calendar("Europe/Berlin", every="day", at="02:30")
    between = berlin(2026, 10, 25, 2, 45)  # first pass through 02:45, CEST

    assert cal.next_after(between) == utc(2026, 10, 26, 1, 30)


def test_dst_changes_keep_a_weekly_schedule_at_its_wall_clock_time() -> None:
    cal = calendar("Europe/Berlin", every="week", weekdays=["sun"], at="10:00")

    assert occurrences(cal, utc(2026, 3, 21, 12, 0), 3) == [
        berlin(2026, 3, 22, 10, 0),
        berlin(2026, 3, 29, 10, 0),
        berlin(2026, 4, 5, 10, 0),
    ]
    assert [d.hour for d in occurrences(cal, utc(2026, 3, 21, 12, 0), 3)] == [9, 8, 8]


def test_resolve_local_maps_gaps_forward_and_ambiguous_times_to_the_first() -> None:
    assert resolve_local(datetime(2026, 3, 29, 2, 15), BERLIN) == utc(2026, 3, 29, 1, 0)
    assert resolve_local(datetime(2026, 10, 25, 2, 15), BERLIN) == utc(2026, 10, 25, 0, 15)
    assert resolve_local(datetime(2026, 7, 1, 12, 0), BERLIN) == utc(2026, 7, 1, 10, 0)


@settings(max_examples=150, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)),
    at=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
)
def test_a_daily_schedule_in_berlin_fires_once_per_local_day_strictly_after_arrival(moment: datetime, at: time) -> None:
    cal = Calendar(timezone="Europe/Berlin", every="day", at=at)

    fired = cal.next_after(moment)

    assert moment < fired <= moment + timedelta(days=1, hours=1)
    local = fired.astimezone(BERLIN)
    assert local.time() >= at or (local.hour, local.minute) == (3, 0)  # equal, or moved out of the spring gap
    assert cal.next_after(fired - US) == fired  # nothing earlier qualifies
    following = cal.next_after(fired).astimezone(BERLIN)
    assert following.date() == local.date() + timedelta(days=1)  # once per local day


# ---------------------------------------------------------------- every week, month, year


@pytest.mark.parametrize(
    ("arrived", "fires"),
    [
        (utc(2026, 3, 2, 9, 0), utc(2026, 3, 5, 9, 0)),  # Monday 09:00 itself is not after: Thursday
        (utc(2026, 3, 2, 8, 0), utc(2026, 3, 2, 9, 0)),  # Monday before 09:00: today
        (utc(2026, 3, 5, 9, 30), utc(2026, 3, 9, 9, 0)),  # Thursday after 09:00: next Monday
        (utc(2026, 3, 7, 0, 0), utc(2026, 3, 9, 9, 0)),  # Saturday
    ],
)
def test_every_week_fires_on_the_listed_weekdays(arrived: datetime, fires: datetime) -> None:
    assert calendar(every="week", weekdays=["thu", "mon"], at="09:00").next_after(arrived) == fires


def test_every_week_on_one_day_skips_a_whole_week_after_it_fired() -> None:
    cal = calendar(every="week", weekdays=["sun"], at="10:00")

    assert cal.next_after(utc(2026, 3, 8, 10, 0)) == utc(2026, 3, 15, 10, 0)


@pytest.mark.parametrize(
    ("day", "arrived", "fires"),
    [
        (31, utc(2026, 1, 31, 12, 0), utc(2026, 2, 28, 10, 0)),  # February's last day
        (31, utc(2028, 1, 31, 12, 0), utc(2028, 2, 29, 10, 0)),  # leap year
        (31, utc(2026, 2, 28, 12, 0), utc(2026, 3, 31, 10, 0)),
        (31, utc(2026, 4, 1, 0, 0), utc(2026, 4, 30, 10, 0)),
        (29, utc(2026, 2, 1, 0, 0), utc(2026, 2, 28, 10, 0)),  # day 29 in a non-leap year
        (29, utc(2028, 2, 1, 0, 0), utc(2028, 2, 29, 10, 0)),
        (30, utc(2026, 2, 15, 0, 0), utc(2026, 2, 28, 10, 0)),
        (1, utc(2026, 12, 1, 10, 0), utc(2027, 1, 1, 10, 0)),  # into the next year
        (15, utc(2026, 3, 15, 9, 59), utc(2026, 3, 15, 10, 0)),
    ],
)
def test_every_month_clamps_days_29_to_31_to_the_last_day(day: int, arrived: datetime, fires: datetime) -> None:
    assert calendar(every="month", day=day, at="10:00").next_after(arrived) == fires


def test_every_month_on_day_31_returns_to_day_31_after_a_short_month() -> None:
    cal = calendar(every="month", day=31, at="10:00")

    assert [d.date().isoformat() for d in occurrences(cal, utc(2026, 1, 1, 0, 0), 5)] == [
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
    ]


def test_every_year_on_february_29_fires_on_the_28th_in_other_years() -> None:
    cal = calendar(every="year", month=2, day=29, at="08:00")

    assert [d.date().isoformat() for d in occurrences(cal, utc(2026, 1, 1, 0, 0), 3)] == [
        "2026-02-28",
        "2027-02-28",
        "2028-02-29",
    ]


def test_every_year_after_this_years_date_waits_for_next_year() -> None:
    cal = calendar("Europe/Berlin", every="year", month=12, day=24, at="18:00")

    assert cal.next_after(berlin(2026, 12, 24, 18, 0)) == berlin(2027, 12, 24, 18, 0)
    assert cal.next_after(utc(2026, 6, 1, 0, 0)) == utc(2026, 12, 24, 17, 0)


# ---------------------------------------------------------------- cron


@pytest.mark.parametrize(
    ("cron", "arrived", "fires"),
    [
        ("0 9 * * mon-fri", utc(2026, 3, 6, 10, 0), utc(2026, 3, 9, 9, 0)),  # Friday after 09:00 -> Monday
        ("*/15 * * * *", utc(2026, 3, 2, 9, 7, 30), utc(2026, 3, 2, 9, 15)),
        ("*/15 * * * *", utc(2026, 3, 2, 9, 15), utc(2026, 3, 2, 9, 30)),  # strictly after
        ("0 0 1 * *", utc(2026, 3, 2, 9, 0), utc(2026, 4, 1, 0, 0)),
        ("30 8 29 2 *", utc(2026, 3, 1, 0, 0), utc(2028, 2, 29, 8, 30)),  # cron does not clamp
    ],
)
def test_cron_expressions_fire_at_the_next_match_strictly_after_arrival(
    cron: str, arrived: datetime, fires: datetime
) -> None:
    assert calendar(cron=cron).next_after(arrived) == fires


def test_cron_is_evaluated_in_the_time_zone_and_is_dst_correct() -> None:
    cal = calendar("Europe/Berlin", cron="30 2 * * *")

    assert occurrences(cal, utc(2026, 3, 28, 12, 0), 2) == [utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]
    assert occurrences(cal, utc(2026, 10, 24, 12, 0), 2) == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


# ---------------------------------------------------------------- time_passed and S5 deadlines


@pytest.mark.parametrize(
    ("after", "delay"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("3h", timedelta(hours=3)),
        ("2d", timedelta(days=2)),
        ("1d12h", timedelta(hours=36)),
        ("PT90M", timedelta(minutes=90)),
        ("P1DT2H", timedelta(hours=26)),
    ],
)
def test_time_passed_fires_at_arrival_plus_the_duration(after: str, delay: timedelta) -> None:
    arrived = utc(2026, 3, 2, 9, 0, 30)
    spec = TimePassed(event="time_passed", after=after)

    assert wait_deadline(spec, arrived, "UTC") == arrived + delay


def test_time_passed_is_elapsed_time_even_across_a_dst_change() -> None:
    """`after` is a duration, not a wall-clock shift: "1d" across the spring change is 24 real hours."""
    arrived = berlin(2026, 3, 28, 12, 0)
    spec = TimePassed(event="time_passed", after="1d")

    fired = wait_deadline(spec, arrived, "Europe/Berlin")

    assert fired - arrived == timedelta(hours=24)
    assert fired.astimezone(BERLIN).hour == 13


def info(*variants: dict[str, Any], timezone: str = "UTC") -> SequenceInfo:
    definition = SequenceDefinition.model_validate(
        {
            "name": "x",
            "steps": [
                {"variants": [{"when": [{"event": "never"}], "do": [{"action": "nothing"}]}]},
                {"variants": [{"when": [spec], "do": [{"action": "nothing"}]} for spec in variants]},
            ],
        }
    )
    return SequenceInfo(key="x", status="active", definition=definition, timezone=timezone)


ARRIVED = utc(2026, 3, 2, 9, 0)  # a Monday


@pytest.mark.parametrize(
    ("variants", "expected"),
    [
        (
            [{"event": "time_passed", "after": "2d"}, {"event": "time_passed", "after": "1d"}],
            (ARRIVED + timedelta(1), 1),
        ),
        (
            [{"event": "time_passed", "after": "1d"}, {"event": "time_passed", "after": "24h"}],
            (ARRIVED + timedelta(1), 0),
        ),
        (
            [{"event": "time_passed", "after": "2h"}, {"event": "schedule", "every": "day", "at": "10:00"}],
            (utc(2026, 3, 2, 10, 0), 1),
        ),
        (
            [{"event": "schedule", "every": "day", "at": "11:00"}, {"event": "time_passed", "after": "2h"}],
            (utc(2026, 3, 2, 11, 0), 0),
        ),
        (
            [{"event": "custom", "name": "x"}, {"event": "time_passed", "after": "1h"}],
            (ARRIVED + timedelta(hours=1), 1),
        ),
        ([{"event": "custom", "name": "x"}, {"event": "data_matches", "where": {"field": "a", "op": "exists"}}], None),
    ],
)
def test_s5_step_deadline_is_the_earliest_and_ties_go_to_the_lower_variant(
    variants: list[dict[str, Any]], expected: tuple[datetime, int] | None
) -> None:
    assert step_deadline(info(*variants), 2, ARRIVED) == expected


def test_s5_schedules_of_a_step_use_the_sequence_time_zone() -> None:
    seq = info({"event": "schedule", "every": "day", "at": "10:00"}, timezone="Europe/Berlin")

    assert step_deadline(seq, 2, ARRIVED) == (utc(2026, 3, 3, 9, 0), 0)


def test_has_state_waits_finds_data_and_list_waits() -> None:
    assert has_state_waits(info({"event": "list_matches", "list": "vip"}), 2)
    assert has_state_waits(info({"event": "data_matches", "where": {"field": "a", "op": "exists"}}), 2)
    assert not has_state_waits(info({"event": "time_passed", "after": "1d"}), 2)


def test_the_zone_names_offered_are_sorted_and_each_one_is_accepted() -> None:
    from stepwise.domain.schedules import declare_zone, zone, zone_names

    names = zone_names()
    assert "Europe/Berlin" in names and list(names) == sorted(names)
    assert all(zone(name) is not None for name in names[:50])
    schema = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    declare_zone(schema)
    assert schema["anyOf"][0]["enum"] == list(names) and "enum" not in schema["anyOf"][1]
