"""S24 goal conversions end to end, on both databases: a goal event converts an open run once, with the
step it waited at and the last variant fired; `exit` ends it with reason goal; the stats count them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stepwise.bootstrap import Stepwise
from stepwise.services import sequences
from stepwise.services.events import PostedEvent, ingest
from stepwise.services.subscribers import Edit, edit_one
from stepwise.storage import schema as t
from tests.support.clock import FakeClock
from tests.support.drive import settle

NOTHING = {"action": "nothing"}
PURCHASE = {"event": "custom", "name": "purchase"}


def _trial(goal: dict[str, Any]) -> dict[str, Any]:
    split = [{"when": [{"event": "split", "weight": 50}], "do": [NOTHING]} for _ in range(2)]
    return {
        "name": "Trial",
        "status": "active",
        "steps": [
            {"variants": [{"when": [{"event": "subscriber_added"}], "do": [NOTHING]}]},
            {"variants": split},
            {"variants": [{"when": [{"event": "time_passed", "after": "30d"}], "do": [NOTHING]}]},
        ],
        "goal": goal,
    }


def _add(stepwise: Stepwise, account_id: int, clock: FakeClock, count: int) -> list[str]:
    emails = [f"s{i}@example.com" for i in range(count)]
    for email in emails:
        edit_one(stepwise.db, account_id, email, Edit(), source="api", now=clock(), create=True)
    settle(stepwise)
    return emails


def _buy(stepwise: Stepwise, account_id: int, clock: FakeClock, emails: list[str]) -> None:
    ingest(stepwise.db, account_id, [PostedEvent(type="custom", name="purchase", email=e) for e in emails], clock())
    settle(stepwise)


def _runs(stepwise: Stepwise) -> list[Any]:
    r = t.runs.c
    cols = (r.status, r.end_reason, r.last_variant, r.converted_at, r.converted_step, r.converted_variant)
    with stepwise.db.read() as conn:
        return list(conn.execute(select(*cols).order_by(r.id)))


def test_S24_conversion_is_recorded_once_with_its_step_and_last_variant(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "trial", _trial({"when": [PURCHASE]}), clock())
    emails = _add(stepwise, account_id, clock, 6)
    _buy(stepwise, account_id, clock, emails[:4])
    first = _runs(stepwise)
    clock.advance(seconds=60)
    _buy(stepwise, account_id, clock, emails[:4])  # a second goal event converts nobody again
    runs = _runs(stepwise)
    assert runs == first
    converted = [run for run in runs if run.converted_at is not None]
    assert len(converted) == 4
    assert all(run.status == "active" and run.converted_step == 3 for run in converted)
    assert all(run.converted_variant == run.last_variant and run.last_variant in (1, 2) for run in converted)

    stats = sequences.stats(stepwise.db, account_id, "trial").model_dump()
    assert stats["converted"] == 4
    assert [step["converted"] for step in stats["steps"]] == [0, 0, 4]
    per_variant = {v["variant"]: v["converted"] for v in stats["steps"][1]["variants"]}
    expected = {v: sum(1 for run in converted if run.converted_variant == v) for v in (1, 2)}
    assert per_variant == expected


def test_S24_goal_exit_ends_run_with_reason_goal(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "trial", _trial({"when": [PURCHASE], "exit": True}), clock())
    emails = _add(stepwise, account_id, clock, 3)
    _buy(stepwise, account_id, clock, emails[:1])
    runs = _runs(stepwise)
    assert [(run.status, run.end_reason) for run in runs] == [("stopped", "goal"), ("active", None), ("active", None)]
    assert runs[0].converted_step == 3
    stats = sequences.stats(stepwise.db, account_id, "trial").model_dump()
    assert stats["stopped_by"]["goal"] == 1 and stats["on_steps"] == 2


def test_S24_conversion_rate_is_converted_over_entered(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "trial", _trial({"when": [PURCHASE]}), clock())
    assert sequences.stats(stepwise.db, account_id, "trial").conversion_rate is None  # nobody entered
    emails = _add(stepwise, account_id, clock, 4)
    _buy(stepwise, account_id, clock, emails[:1])
    stats = sequences.stats(stepwise.db, account_id, "trial")
    assert (stats.entered, stats.converted, stats.conversion_rate) == (4, 1, 0.25)


def test_S24_the_event_that_enters_a_run_does_not_convert_it(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    definition = _trial({"when": [PURCHASE], "exit": True})
    definition["steps"][0] = {"variants": [{"when": [PURCHASE], "do": [NOTHING]}]}
    sequences.put(stepwise.db, account_id, "trial", definition, clock())
    emails = _add(stepwise, account_id, clock, 1)
    _buy(stepwise, account_id, clock, emails)
    assert [(run.status, run.converted_at) for run in _runs(stepwise)] == [("active", None)]
    clock.advance(seconds=60)
    _buy(stepwise, account_id, clock, emails)  # the next purchase converts the open run and ends it
    assert [(run.status, run.end_reason) for run in _runs(stepwise)] == [("stopped", "goal")]
