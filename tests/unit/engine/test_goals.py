"""S24 goals, the pure engine decision: which events convert which runs, once, with step and variant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stepwise.domain.definition import SequenceDefinition
from stepwise.domain.statuses import RunStatus
from stepwise.engine.goals import Conversion, conversion
from stepwise.engine.model import Event, Run, SequenceInfo

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOTHING = {"action": "nothing"}


def _seq(goal: Any) -> SequenceInfo:
    steps = [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": [NOTHING]}]},
        {"variants": [{"when": [{"event": "time_passed", "after": "1d"}], "do": [NOTHING]}]},
    ]
    definition = SequenceDefinition.model_validate({"name": "t", "steps": steps, "goal": goal})
    return SequenceInfo(key="trial", status="active", definition=definition, timezone="UTC")


def _run(status: RunStatus = "active", step: int = 2) -> Run:
    return Run(sequence="trial", pass_no=3, status=status, step=step, entered_at=T0, step_entered_at=T0)


def _event(kind: str = "custom", at: datetime = T0 + timedelta(hours=1), **payload: Any) -> Event:
    return Event(kind=kind, payload={"name": "purchase", **payload}, source="api", at=at)


PURCHASE = {"when": [{"event": "custom", "name": "purchase"}], "exit": True}


def test_S24_goal_event_converts_an_open_run_with_its_step_and_last_variant() -> None:
    found = conversion(_seq(PURCHASE), _run(), _event(), {}, converted=False, last_variant=1)
    assert found == Conversion(step=2, variant=1, exit=True)


def test_S24_a_run_converts_at_most_once() -> None:
    assert conversion(_seq(PURCHASE), _run(), _event(), {}, converted=True, last_variant=1) is None


def test_S24_exit_false_converts_without_ending() -> None:
    goal = {"when": PURCHASE["when"]}
    assert conversion(_seq(goal), _run(), _event(), {}, converted=False, last_variant=2) == Conversion(2, 2, False)


def test_S24_paused_runs_convert_and_ended_runs_do_not() -> None:
    seq = _seq(PURCHASE)
    assert conversion(seq, _run("paused"), _event(), {}, converted=False, last_variant=1) is not None
    for status in ("completed", "stopped"):
        assert conversion(seq, _run(status), _event(), {}, converted=False, last_variant=1) is None


def test_S24_no_goal_other_events_and_earlier_events_do_not_convert() -> None:
    assert conversion(_seq(None), _run(), _event(), {}, converted=False, last_variant=1) is None
    seq = _seq(PURCHASE)
    assert conversion(seq, _run(), _event(name="refund"), {}, converted=False, last_variant=1) is None
    early = _event(at=T0 - timedelta(seconds=1))
    assert conversion(seq, _run(), early, {}, converted=False, last_variant=1) is None


@pytest.mark.parametrize(
    ("scope", "payload", "converts"),
    [
        (None, {"sequence": "other", "pass": 1}, True),
        ("sequence", {"sequence": "other", "pass": 3}, False),
        ("sequence", {"sequence": "trial", "pass": 2}, False),
        ("sequence", {"sequence": "trial", "pass": 3}, True),
    ],
)
def test_S24_goal_clicks_count_from_any_email_unless_scoped_to_the_run(
    scope: str | None, payload: dict[str, Any], converts: bool
) -> None:
    spec: dict[str, Any] = {"event": "link_clicked", **({"scope": scope} if scope else {})}
    event = _event("link_clicked", url="https://shop.example/buy", draft="d", **payload)
    found = conversion(_seq({"when": [spec]}), _run(), event, {}, converted=False, last_variant=1)
    assert (found is not None) is converts
