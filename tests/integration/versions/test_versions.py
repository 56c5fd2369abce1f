"""S16 through the services on both databases: numbered versions, runs that record theirs, migrate on PUT."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from stepwise.bootstrap import Stepwise
from stepwise.errors import Conflict, NotFound, Unprocessable
from stepwise.services import sequences, versions
from stepwise.services.events import PostedEvent, ingest
from stepwise.services.runs import of_subscriber
from stepwise.services.subscribers import Edit, edit_one
from stepwise.services.timeline import page as timeline_page
from tests.support.clock import FakeClock
from tests.support.drive import settle

NOTHING = [{"action": "nothing"}]


def _step(*whens: dict[str, Any]) -> dict[str, Any]:
    return {"variants": [{"when": [when], "do": NOTHING} for when in whens]}


THREE = {
    "name": "Three",
    "status": "active",
    "steps": [
        _step({"event": "custom", "name": "go"}),
        _step({"event": "custom", "name": "next"}, {"event": "time_passed", "after": "1d"}),
        _step({"event": "custom", "name": "last"}, {"event": "time_passed", "after": "2d"}),
    ],
}


def _enter(stepwise: Stepwise, account_id: int, clock: FakeClock, email: str, *names: str) -> None:
    edit_one(stepwise.db, account_id, email, Edit(), source="api", now=clock(), create=True)
    events = [PostedEvent(type="custom", name=name, email=email) for name in names]
    ingest(stepwise.db, account_id, events, clock())
    settle(stepwise)


def _with(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(THREE)
    body.update(changes)
    return body


def test_S16_each_change_is_a_numbered_version_and_runs_follow_it(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    seq, created = sequences.put(stepwise.db, account_id, "three", THREE, clock())
    assert (created, seq.version) == (True, 1)
    _enter(stepwise, account_id, clock, "anna@example.com", "go")
    assert of_subscriber(stepwise.db, account_id, "anna@example.com")[0].version == 1

    clock.advance(timedelta(hours=1))
    seq, _ = sequences.put(stepwise.db, account_id, "three", _with(name="Three, renamed"), clock())
    assert seq.version == 2
    run = of_subscriber(stepwise.db, account_id, "anna@example.com")[0]
    assert (run.version, run.step) == (2, 2)
    listed = versions.all_versions(stepwise.db, account_id, "three")
    assert listed.live == 2
    assert [(v.version, v.mode, v.runs) for v in listed.items] == [(2, "migrate", 1), (1, "migrate", 0)]
    assert versions.one_version(stepwise.db, account_id, "three", 1).name == "Three"
    assert versions.one_version(stepwise.db, account_id, "three", 2).name == "Three, renamed"
    with pytest.raises(NotFound):
        versions.one_version(stepwise.db, account_id, "three", 3)
    items, _ = timeline_page(stepwise.db, account_id, "anna@example.com", cursor=None, limit=100)
    migrated = [e.model_dump() for e in items if e.kind == "migrated"]
    assert len(migrated) == 1
    assert {k: migrated[0][k] for k in ("from_version", "to_version", "from_step", "to_step")} == {
        "from_version": 1,
        "to_version": 2,
        "from_step": 2,
        "to_step": 2,
    }

    _enter(stepwise, account_id, clock, "boris@example.com", "go")  # a new entry follows the live version
    assert of_subscriber(stepwise.db, account_id, "boris@example.com")[0].version == 2


def test_S16_identical_bodies_and_status_changes_create_no_version(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "three", THREE, clock())
    seq, created = sequences.put(stepwise.db, account_id, "three", THREE, clock())
    assert (created, seq.version) == (False, 1)
    assert sequences.set_status(stepwise.db, account_id, "three", "paused", clock()).version == 1
    assert sequences.set_status(stepwise.db, account_id, "three", "active", clock()).version == 1
    seq, _ = sequences.put(stepwise.db, account_id, "three", _with(status="paused"), clock())  # status only
    assert (seq.version, seq.status) == (1, "paused")
    assert [v.version for v in versions.all_versions(stepwise.db, account_id, "three").items] == [1]


def test_S16_runs_on_removed_steps_need_a_step_map(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "three", THREE, clock())
    _enter(stepwise, account_id, clock, "anna@example.com", "go", "next")  # waits at step 3
    _enter(stepwise, account_id, clock, "boris@example.com", "go")  # waits at step 2
    entered_at = of_subscriber(stepwise.db, account_id, "anna@example.com")[0].step_entered_at
    two_steps = _with(steps=THREE["steps"][:2])

    with pytest.raises(Conflict) as refused:
        sequences.put(stepwise.db, account_id, "three", two_steps, clock())
    assert refused.value.code == "runs_on_removed_steps"
    assert sequences.get(stepwise.db, account_id, "three").version == 1  # nothing changed
    assert of_subscriber(stepwise.db, account_id, "anna@example.com")[0].version == 1
    with pytest.raises(Unprocessable):
        sequences.put(stepwise.db, account_id, "three", two_steps, clock(), step_map={"3": 5})

    clock.advance(timedelta(hours=3))
    seq, _ = sequences.put(stepwise.db, account_id, "three", two_steps, clock(), step_map={"3": 2})
    assert seq.version == 2
    run = of_subscriber(stepwise.db, account_id, "anna@example.com")[0]
    assert (run.step, run.version, run.step_entered_at) == (2, 2, entered_at)  # keeps step_entered_at
    assert run.wake_at is not None and run.wake_at.startswith(
        (clock() - timedelta(hours=3) + timedelta(days=1)).isoformat()[:19]
    )
    stats = sequences.stats(stepwise.db, account_id, "three")
    assert (stats.on_steps, [s.on_step for s in stats.steps]) == (2, [0, 2])

    one_step = _with(steps=THREE["steps"][:1])
    sequences.put(stepwise.db, account_id, "three", one_step, clock(), step_map={"2": "stop"})
    runs = of_subscriber(stepwise.db, account_id, "boris@example.com")
    assert (runs[0].status, runs[0].end_reason, runs[0].version) == ("stopped", "edited", 3)
    items, _ = timeline_page(stepwise.db, account_id, "boris@example.com", cursor=None, limit=100)
    assert [e.model_dump().get("reason") for e in items if e.kind == "stopped"] == ["edited"]
    stats = sequences.stats(stepwise.db, account_id, "three")
    assert (stats.on_steps, stats.stopped, stats.stopped_by["edited"]) == (0, 2, 2)


def test_S16_a_migrated_run_gets_its_deadline_recomputed_from_step_entered_at(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "three", THREE, clock())
    _enter(stepwise, account_id, clock, "anna@example.com", "go")
    arrived = clock()
    clock.advance(timedelta(hours=30))
    longer = copy.deepcopy(THREE)
    longer["steps"][1] = _step({"event": "custom", "name": "next"}, {"event": "time_passed", "after": "2d"})
    sequences.put(stepwise.db, account_id, "three", longer, clock())
    settle(stepwise)
    run = of_subscriber(stepwise.db, account_id, "anna@example.com")[0]
    assert run.step == 2  # 30 h passed, the new 2-day wait is not due yet
    assert run.wake_at is not None and run.wake_at.startswith((arrived + timedelta(days=2)).isoformat()[:19])
    clock.advance(timedelta(hours=18))
    settle(stepwise)
    assert of_subscriber(stepwise.db, account_id, "anna@example.com")[0].step == 3

    shorter = copy.deepcopy(longer)
    shorter["steps"][2] = _step({"event": "custom", "name": "last"}, {"event": "time_passed", "after": "1h"})
    clock.advance(timedelta(hours=2))
    sequences.put(stepwise.db, account_id, "three", shorter, clock())  # overdue from step_entered_at: fires
    settle(stepwise)
    run = of_subscriber(stepwise.db, account_id, "anna@example.com")[0]
    assert (run.status, run.version) == ("completed", 3)
