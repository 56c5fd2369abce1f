"""S17 and S18 through the services on both databases: drafts, pin and migrate, the impact preview, restore."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from stepwise.bootstrap import Stepwise
from stepwise.errors import Conflict, NotFound, Unprocessable
from stepwise.services import publishing, sequences, versions
from stepwise.services.events import PostedEvent, ingest
from stepwise.services.impact import Impact
from stepwise.services.publishing import Published, PublishIn
from stepwise.services.runs import of_subscriber
from stepwise.services.subscribers import Edit, edit_one
from tests.support.clock import FakeClock
from tests.support.drive import settle

NOTHING = [{"action": "nothing"}]


def _on(name: str) -> dict[str, Any]:
    return {"variants": [{"when": [{"event": "custom", "name": name}], "do": NOTHING}]}


V1: dict[str, Any] = {"name": "Flow", "status": "active", "steps": [_on("go"), _on("a"), _on("b")]}


def _send(stepwise: Stepwise, account_id: int, clock: FakeClock, email: str, *names: str) -> None:
    edit_one(stepwise.db, account_id, email, Edit(), source="api", now=clock(), create=True)
    ingest(stepwise.db, account_id, [PostedEvent(type="custom", name=n, email=email) for n in names], clock())
    settle(stepwise)


def _run(stepwise: Stepwise, account_id: int, email: str) -> tuple[str, int, int]:
    run = of_subscriber(stepwise.db, account_id, email)[-1]
    return run.status, run.step, run.version


def _publish(stepwise: Stepwise, account_id: int, clock: FakeClock, **body: Any) -> Published | Impact:
    return publishing.publish(stepwise.db, account_id, "flow", PublishIn(**body), clock())


def test_S17_a_draft_changes_nothing_live_and_publishing_consumes_it(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "flow", V1, clock())
    with pytest.raises(NotFound):
        publishing.get_draft(stepwise.db, account_id, "flow")
    with pytest.raises(Conflict) as refused:
        _publish(stepwise, account_id, clock, mode="migrate")
    assert refused.value.code == "no_draft"
    with pytest.raises(Unprocessable):
        publishing.put_draft(stepwise.db, account_id, "flow", {"name": "x", "steps": []}, clock())
    with pytest.raises(NotFound):
        publishing.put_draft(stepwise.db, account_id, "nope", V1, clock())

    draft = publishing.put_draft(stepwise.db, account_id, "flow", {**V1, "name": "Flow 2"}, clock())
    assert (draft.based_on, draft.live_version, draft.definition["name"]) == (1, 1, "Flow 2")
    assert sequences.get(stepwise.db, account_id, "flow").name == "Flow"  # nothing live changed
    publishing.delete_draft(stepwise.db, account_id, "flow")
    with pytest.raises(NotFound):
        publishing.delete_draft(stepwise.db, account_id, "flow")

    publishing.put_draft(stepwise.db, account_id, "flow", {**V1, "name": "Flow 2"}, clock())
    done = _publish(stepwise, account_id, clock, mode="migrate", note="renamed")
    assert isinstance(done, Published) and (done.version, done.created) == (2, True)
    seq = sequences.get(stepwise.db, account_id, "flow")
    assert (seq.name, seq.version, seq.status) == ("Flow 2", 2, "active")
    assert versions.all_versions(stepwise.db, account_id, "flow").items[0].note == "renamed"
    with pytest.raises(NotFound):
        publishing.get_draft(stepwise.db, account_id, "flow")  # consumed


def test_S17_pin_keeps_open_runs_on_their_version_to_the_end(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "flow", V1, clock())
    _send(stepwise, account_id, clock, "anna@example.com", "go")
    _send(stepwise, account_id, clock, "olga@example.com", "go", "a")  # at step 3 of version 1
    two_steps = {**V1, "steps": [_on("go"), _on("x")]}
    publishing.put_draft(stepwise.db, account_id, "flow", two_steps, clock())
    assert isinstance(_publish(stepwise, account_id, clock, mode="pin"), Published)
    _send(stepwise, account_id, clock, "boris@example.com", "go")
    assert _run(stepwise, account_id, "anna@example.com") == ("active", 2, 1)
    assert _run(stepwise, account_id, "boris@example.com") == ("active", 2, 2)
    listed = versions.all_versions(stepwise.db, account_id, "flow")
    assert [(v.version, v.mode, v.runs) for v in listed.items] == [(2, "pin", 1), (1, "migrate", 2)]

    _send(stepwise, account_id, clock, "anna@example.com", "x")  # version 2's event: anna does not follow it
    _send(stepwise, account_id, clock, "boris@example.com", "a")  # version 1's event: boris does not
    assert _run(stepwise, account_id, "anna@example.com") == ("active", 2, 1)
    assert _run(stepwise, account_id, "boris@example.com") == ("active", 2, 2)
    _send(stepwise, account_id, clock, "anna@example.com", "a")
    _send(stepwise, account_id, clock, "boris@example.com", "x")
    assert _run(stepwise, account_id, "anna@example.com") == ("active", 3, 1)  # a step version 2 lacks
    assert _run(stepwise, account_id, "boris@example.com") == ("completed", 2, 2)
    _send(stepwise, account_id, clock, "anna@example.com", "b")
    _send(stepwise, account_id, clock, "olga@example.com", "b")
    assert _run(stepwise, account_id, "anna@example.com") == ("completed", 3, 1)
    assert _run(stepwise, account_id, "olga@example.com") == ("completed", 3, 1)
    stats = sequences.stats(stepwise.db, account_id, "flow")
    assert (stats.entered, stats.completed, stats.on_steps) == (3, 3, 0)


def test_S17_migrate_moves_pinned_and_live_runs_with_the_step_map(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "flow", V1, clock())
    _send(stepwise, account_id, clock, "anna@example.com", "go", "a")  # step 3, version 1
    publishing.put_draft(stepwise.db, account_id, "flow", {**V1, "name": "Pinned"}, clock())
    _publish(stepwise, account_id, clock, mode="pin")
    _send(stepwise, account_id, clock, "boris@example.com", "go")  # step 2, version 2
    clock.advance(timedelta(hours=1))
    publishing.put_draft(stepwise.db, account_id, "flow", {**V1, "steps": [_on("go"), _on("z")]}, clock())
    with pytest.raises(Conflict) as refused:
        _publish(stepwise, account_id, clock, mode="migrate")
    assert refused.value.code == "runs_on_removed_steps"
    with pytest.raises(Unprocessable):
        _publish(stepwise, account_id, clock, mode="pin", step_map={"3": "stop"})
    done = _publish(stepwise, account_id, clock, mode="migrate", step_map={"3": "stop"})
    assert isinstance(done, Published) and done.version == 3
    assert _run(stepwise, account_id, "anna@example.com") == ("stopped", 3, 3)
    assert of_subscriber(stepwise.db, account_id, "anna@example.com")[0].end_reason == "edited"
    assert _run(stepwise, account_id, "boris@example.com") == ("active", 2, 3)
    _send(stepwise, account_id, clock, "boris@example.com", "z")
    assert _run(stepwise, account_id, "boris@example.com") == ("completed", 2, 3)
    stats = sequences.stats(stepwise.db, account_id, "flow")
    assert (stats.stopped_by["edited"], stats.completed, stats.on_steps) == (1, 1, 0)


def test_S18_dry_run_previews_exactly_and_changes_nothing(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    waits = copy.deepcopy(V1)
    waits["steps"][1]["variants"].append({"when": [{"event": "time_passed", "after": "1d"}], "do": NOTHING})
    sequences.put(stepwise.db, account_id, "flow", waits, clock())
    for name in ("anna", "boris", "clara"):
        _send(stepwise, account_id, clock, f"{name}@example.com", "go")
    _send(stepwise, account_id, clock, "olga@example.com", "go", "a")
    longer = copy.deepcopy(waits)
    longer["steps"][1]["variants"][1]["when"][0]["after"] = "2d"
    longer["steps"] = longer["steps"][:2]
    publishing.put_draft(stepwise.db, account_id, "flow", longer, clock())

    preview = _publish(stepwise, account_id, clock, mode="migrate", dry_run=True)
    assert isinstance(preview, Impact)
    assert (preview.from_version, preview.to_version, preview.runs) == (1, 2, 4)
    assert [s.model_dump() for s in preview.steps] == [
        {"step": 2, "runs": 3, "to": 2, "deadline_changes": 3, "stopped": 0},
        {"step": 3, "runs": 1, "to": None, "deadline_changes": 0, "stopped": 0},
    ]
    assert len(preview.problems) == 1 and "step 3" in preview.problems[0]
    mapped = _publish(stepwise, account_id, clock, mode="migrate", step_map={"3": "stop"}, dry_run=True)
    assert isinstance(mapped, Impact) and mapped.problems == []
    assert mapped.steps[1].model_dump() == {"step": 3, "runs": 1, "to": "stop", "deadline_changes": 0, "stopped": 1}
    pinned = _publish(stepwise, account_id, clock, mode="pin", dry_run=True)
    assert isinstance(pinned, Impact)
    assert [(s.step, s.to, s.deadline_changes) for s in pinned.steps] == [(2, 2, 0), (3, 3, 0)]

    assert sequences.get(stepwise.db, account_id, "flow").version == 1  # nothing changed
    assert publishing.get_draft(stepwise.db, account_id, "flow").definition["steps"] == longer["steps"]
    assert _run(stepwise, account_id, "olga@example.com") == ("active", 3, 1)


def test_S17_restore_copies_a_version_into_the_draft(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "flow", V1, clock())
    sequences.put(stepwise.db, account_id, "flow", {**V1, "name": "Second"}, clock())
    restored = publishing.restore(stepwise.db, account_id, "flow", 1, clock())
    assert (restored.definition["name"], restored.based_on) == ("Flow", 2)
    with pytest.raises(NotFound):
        publishing.restore(stepwise.db, account_id, "flow", 9, clock())
    done = _publish(stepwise, account_id, clock, mode="migrate")
    assert isinstance(done, Published) and done.version == 3
    assert (
        versions.one_version(stepwise.db, account_id, "flow", 3).definition
        == versions.one_version(stepwise.db, account_id, "flow", 1).definition
    )


def test_S16_stats_per_version_and_of_one_version(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    from stepwise.services import version_stats

    account_id, _ = account
    sequences.put(stepwise.db, account_id, "flow", V1, clock())
    _send(stepwise, account_id, clock, "anna@example.com", "go", "a", "b")  # completed on version 1
    _send(stepwise, account_id, clock, "olga@example.com", "go")
    publishing.put_draft(stepwise.db, account_id, "flow", {**V1, "name": "Two"}, clock())
    _publish(stepwise, account_id, clock, mode="pin")
    _send(stepwise, account_id, clock, "boris@example.com", "go", "a")
    whole = version_stats.stats(stepwise.db, account_id, "flow")
    assert [v.model_dump() for v in whole.versions] == [
        {"version": 2, "entered": 1, "on_steps": 1, "completed": 0},
        {"version": 1, "entered": 2, "on_steps": 1, "completed": 1},
    ]
    assert (whole.entered, whole.on_steps, whole.completed) == (3, 2, 1)
    one = version_stats.stats(stepwise.db, account_id, "flow", 1)
    assert (one.version, one.entered, one.subscribers, one.on_steps, one.completed) == (1, 2, 2, 1, 1)
    assert [s.on_step for s in one.steps] == [0, 1, 0]
    two = version_stats.stats(stepwise.db, account_id, "flow", 2)
    assert (two.entered, two.on_steps, [s.on_step for s in two.steps]) == (1, 1, [0, 0, 1])
    with pytest.raises(NotFound):
        version_stats.stats(stepwise.db, account_id, "flow", 3)
