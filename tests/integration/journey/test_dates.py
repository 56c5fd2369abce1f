"""S26 date triggers as a wait at step >= 2, end to end on both databases: the deadline is the profile
date plus the offset at local `at`, fixed on arrival; a date past on arrival never fires; every year
takes the next occurrence (29 February falls on 28 February); an unparsable date is noted once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stepwise.bootstrap import Stepwise
from stepwise.errors import NotFound, Unprocessable
from stepwise.services import sequences, timeline
from stepwise.services.subscribers import Edit, edit_one
from tests.support.clock import FakeClock
from tests.support.drive import settle

EMAIL = "vera@example.com"


def _sequence(wait: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "Dates",
        "status": "active",
        "steps": [
            {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "nothing"}]}]},
            {"variants": [{"when": [wait], "do": [{"action": "nothing"}]}]},
        ],
    }


def _enter(stepwise: Stepwise, account_id: int, clock: FakeClock, wait: dict[str, Any], data: dict[str, Any]) -> None:
    sequences.put(stepwise.db, account_id, "dates", _sequence(wait), clock())
    edit_one(stepwise.db, account_id, EMAIL, Edit(data=data), source="api", now=clock(), create=True)
    settle(stepwise)


def _completed_at(stepwise: Stepwise, account_id: int, clock: FakeClock, moment: datetime) -> tuple[int, int]:
    """(completed just before `moment`, completed at it)."""
    clock.set(moment - timedelta(minutes=1))
    settle(stepwise)
    before = sequences.stats(stepwise.db, account_id, "dates").model_dump()["completed"]
    clock.set(moment)
    settle(stepwise)
    return before, sequences.stats(stepwise.db, account_id, "dates").model_dump()["completed"]


def _kinds(stepwise: Stepwise, account_id: int) -> list[Any]:
    items, _ = timeline.page(stepwise.db, account_id, EMAIL, cursor=None, limit=200)
    return [item.model_dump() for item in items]


def test_S26_renewal_date_minus_7_days_fires_at_nine(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    wait = {"event": "date_reached", "field": "renewal", "offset": "-7d"}
    _enter(stepwise, account_id, clock, wait, {"renewal": "2026-01-20"})
    assert _completed_at(stepwise, account_id, clock, datetime(2026, 1, 13, 9, 0, tzinfo=UTC)) == (0, 1)
    fired = [e for e in _kinds(stepwise, account_id) if e["kind"] == "transition" and e.get("step") == 2]
    assert fired and fired[0]["trigger"] == "date_reached"


def test_S26_birthday_every_year_fires_on_the_next_birthday_in_the_profile_zone(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    wait = {"event": "date_reached", "field": "birthday", "every_year": True, "at": "10:30"}
    _enter(stepwise, account_id, clock, wait, {"birthday": "1990-01-10", "base": {"timezone": "Europe/Berlin"}})
    # 10:30 in Berlin (CET, UTC+1) on 10 January of this year: the birthday after arrival.
    assert _completed_at(stepwise, account_id, clock, datetime(2026, 1, 10, 9, 30, tzinfo=UTC)) == (0, 1)


def test_S26_29_february_falls_on_28_february_in_a_non_leap_year(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    wait = {"event": "date_reached", "field": "birthday", "every_year": True, "timezone": "UTC"}
    _enter(stepwise, account_id, clock, wait, {"birthday": "2000-02-29"})
    assert _completed_at(stepwise, account_id, clock, datetime(2026, 2, 28, 9, 0, tzinfo=UTC)) == (0, 1)


def test_S26_date_past_on_arrival_at_step_2_never_fires(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    wait = {"event": "date_reached", "field": "renewal"}
    _enter(stepwise, account_id, clock, wait, {"renewal": "2026-01-05"})  # 09:00 today is not after arrival
    clock.advance(days=800)
    settle(stepwise)
    stats = sequences.stats(stepwise.db, account_id, "dates").model_dump()
    assert stats["completed"] == 0 and stats["on_steps"] == 1


def test_S26_the_deadline_is_fixed_on_arrival(stepwise: Stepwise, account: tuple[int, str], clock: FakeClock) -> None:
    account_id, _ = account
    wait = {"event": "date_reached", "field": "renewal"}
    _enter(stepwise, account_id, clock, wait, {"renewal": "2026-02-01"})
    edit_one(
        stepwise.db, account_id, EMAIL, Edit(data={"renewal": "2026-06-01"}), source="api", now=clock(), create=False
    )
    settle(stepwise)
    assert _completed_at(stepwise, account_id, clock, datetime(2026, 2, 1, 9, 0, tzinfo=UTC)) == (0, 1)


def test_S26_an_unparsable_date_is_no_match_and_noted_on_the_timeline_once(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    wait = {"event": "date_reached", "field": "renewal"}
    _enter(stepwise, account_id, clock, wait, {"renewal": "next spring"})
    for _ in range(3):
        clock.advance(days=30)
        settle(stepwise)
    notes = [e for e in _kinds(stepwise, account_id) if e["kind"] == "date_unparsable"]
    assert [(n["field"], n["value"]) for n in notes] == [("renewal", "next spring")]
    assert sequences.stats(stepwise.db, account_id, "dates").model_dump()["completed"] == 0


@pytest.mark.parametrize(
    ("wait", "path"),
    [
        ({"event": "date_reached", "field": "bad path!"}, "field"),
        ({"event": "date_reached", "field": "renewal", "offset": "-soon"}, "offset"),
        ({"event": "date_reached", "field": "renewal", "at": "25:00"}, "at"),
        ({"event": "date_reached", "field": "renewal", "timezone": "Mars/Olympus"}, "timezone"),
        ({"event": "date_reached", "field": "renewal", "every_year": "often"}, "every_year"),
        ({"event": "date_reached"}, "field"),
    ],
)
def test_S26_bad_date_reached_specs_are_refused_with_their_path(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock, wait: dict[str, Any], path: str
) -> None:
    account_id, _ = account
    with pytest.raises(Unprocessable) as caught:
        sequences.put(stepwise.db, account_id, "dates", _sequence(wait), clock())
    assert any(p["path"].endswith(f".when[0].{path}") for p in caught.value.details), caught.value.details
    with pytest.raises(NotFound):
        sequences.stats(stepwise.db, account_id, "dates")


def test_S26_a_run_migrated_onto_a_date_wait_gets_its_date_from_the_profile(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    _enter(stepwise, account_id, clock, {"event": "time_passed", "after": "300d"}, {"renewal": "2026-03-01"})
    edited = _sequence({"event": "date_reached", "field": "renewal", "offset": "-1d"})
    sequences.put(stepwise.db, account_id, "dates", edited, clock())  # publish, migrating the waiting run
    settle(stepwise)
    assert _completed_at(stepwise, account_id, clock, datetime(2026, 2, 28, 9, 0, tzinfo=UTC)) == (0, 1)
