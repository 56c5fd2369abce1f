"""S16/S17 in the pure engine: a run follows the version it records; new runs take the live version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stepwise.domain.definition import SequenceDefinition
from stepwise.engine.model import Event, Run, SequenceInfo, Subscriber
from stepwise.engine.processor import process

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _definition(*names: str, wait: str | None = None) -> SequenceDefinition:
    steps = [{"variants": [{"when": [{"event": "custom", "name": n}], "do": [{"action": "nothing"}]}]} for n in names]
    if wait is not None:
        steps[1]["variants"].append({"when": [{"event": "time_passed", "after": wait}], "do": [{"action": "nothing"}]})
    return SequenceDefinition.model_validate({"name": "Flow", "steps": steps})


def _info(version: int, definition: SequenceDefinition, pinned: dict[int, SequenceInfo] | None = None) -> SequenceInfo:
    return SequenceInfo("flow", "active", definition, "UTC", version, pinned or {})


OLD = _info(1, _definition("go", "a", "b", wait="1h"))
LIVE = _info(2, _definition("go", "x"), {1: OLD})


def _event(name: str, at: datetime) -> Event:
    return Event(kind="custom", payload={"name": name}, source="api", at=at)


def _sub() -> Subscriber:
    return Subscriber(1, "anna@example.com", "active", {}, set())


def test_S17_for_version_picks_the_pinned_definition_or_the_live_one() -> None:
    assert LIVE.for_version(None) is LIVE
    assert LIVE.for_version(2) is LIVE
    assert LIVE.for_version(1) is OLD
    assert LIVE.for_version(7) is LIVE  # unknown versions follow the live one


def test_S17_a_pinned_run_follows_its_version_and_a_new_run_the_live_one() -> None:
    pinned = Run(sequence="flow", pass_no=1, status="active", step=2, entered_at=T0, step_entered_at=T0, version=1)
    out = process(_sub(), [pinned], {"flow": 1}, {"flow": LIVE}, [_event("x", T0 + timedelta(minutes=1))], T0)
    assert ("flow", 1) not in out.runs and out.transitions == 0  # "x" is version 2's event only
    out = process(_sub(), [pinned], {"flow": 1}, {"flow": LIVE}, [_event("a", T0 + timedelta(minutes=1))], T0)
    run = out.runs[("flow", 1)]
    assert (run.step, run.version, run.status) == (3, 1, "active")  # step 3 exists only in version 1

    fresh = process(_sub(), [], {}, {"flow": LIVE}, [_event("go", T0)], T0)
    assert (fresh.runs[("flow", 1)].version, fresh.runs[("flow", 1)].step) == (2, 2)


def test_S17_a_pinned_run_fires_its_own_versions_deadline() -> None:
    pinned = Run(
        sequence="flow",
        pass_no=1,
        status="active",
        step=2,
        entered_at=T0,
        step_entered_at=T0,
        wake_at=T0 + timedelta(hours=1),
        version=1,
    )
    out = process(_sub(), [pinned], {"flow": 1}, {"flow": LIVE}, [], T0 + timedelta(hours=2))
    assert out.runs[("flow", 1)].step == 3
