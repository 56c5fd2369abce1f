"""S24 goals through the pure processor: counters, timeline, exit with reason goal, paused runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from stepwise.domain.definition import SequenceDefinition
from stepwise.engine.model import Event, Run, SequenceInfo, Subscriber
from stepwise.engine.processor import process

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOTHING = {"action": "nothing"}
PURCHASE = {"event": "custom", "name": "purchase"}


def _seq(exit_: bool, status: str = "active") -> SequenceInfo:
    steps = [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": [NOTHING]}]},
        {"variants": [{"when": [{"event": "time_passed", "after": "30d"}], "do": [NOTHING]}]},
        {"variants": [{"when": [{"event": "time_passed", "after": "30d"}], "do": [NOTHING]}]},
    ]
    goal = {"when": [PURCHASE], "exit": exit_}
    definition = SequenceDefinition.model_validate({"name": "t", "steps": steps, "goal": goal})
    return SequenceInfo(key="trial", status=status, definition=definition, timezone="UTC")  # type: ignore[arg-type]


def _run(status: str = "active", **extra: Any) -> Run:
    return Run("trial", 1, status, 2, T0, T0, wake_at=T0 + timedelta(days=30), id=7, last_variant=1, **extra)  # type: ignore[arg-type]


def _go(seq: SequenceInfo, run: Run) -> Any:
    sub = Subscriber(id=1, email="a@example.com", status="active", data={}, lists=set())
    event = Event(kind="custom", payload={"name": "purchase", "data": {}}, source="api", at=T0 + timedelta(hours=1))
    return process(sub, [run], {"trial": 1}, {"trial": seq}, [event], T0 + timedelta(hours=1))


def test_S24_goal_conversion_counts_per_sequence_step_and_variant_and_is_on_the_timeline() -> None:
    out = _go(_seq(False), _run())
    (run,) = out.runs.values()
    assert (run.status, run.converted_step, run.converted_variant) == ("active", 2, 1)
    assert run.converted_at == T0 + timedelta(hours=1)
    got = {key: n for key, n in out.counters.items() if key[1] == "converted"}
    assert got == {("trial", "converted", 0, 0): 1, ("trial", "converted", 2, 0): 1, ("trial", "converted", 1, 1): 1}
    assert [e.detail for e in out.timeline if e.kind == "converted"] == [
        {"pass": 1, "step": 2, "variant": 1, "trigger": "custom", "exit": False}
    ]


def test_S24_goal_exit_ends_run_with_reason_goal() -> None:
    out = _go(_seq(True), _run())
    (run,) = out.runs.values()
    assert (run.status, run.end_reason) == ("stopped", "goal")
    assert out.counters[("trial", "stopped:goal", 0, 0)] == 1
    assert out.counters[("trial", "on_step", 2, 0)] == -1


def test_S24_a_converted_run_does_not_convert_again() -> None:
    out = _go(_seq(False), _run(converted_at=T0, converted_step=2, converted_variant=1))
    assert not [key for key in out.counters if key[1] == "converted"]
    assert not [e for e in out.timeline if e.kind == "converted"]


def test_S24_a_paused_run_converts_and_exits() -> None:
    (run,) = _go(_seq(True), _run("paused")).runs.values()
    assert (run.status, run.end_reason, run.converted_step) == ("stopped", "goal", 2)


def test_S24_goal_events_for_a_paused_sequence_are_dropped() -> None:
    out = _go(_seq(True, status="paused"), _run())
    assert not [e for e in out.timeline if e.kind == "converted"]
