"""S16/S17 at scale, on both databases: a large `migrate` moves runs in short batches after the publication
commits; until a run is moved it keeps following its old version, and nothing is lost or counted twice."""

from __future__ import annotations

from typing import Any

import pytest

from stepwise.bootstrap import Stepwise
from stepwise.services import publishing, sequences, versions
from stepwise.services.events import PostedEvent, ingest
from stepwise.services.publishing import PublishIn
from stepwise.services.runs import of_subscriber
from stepwise.services.subscribers import Edit, edit_one
from stepwise.services.timeline import page as timeline_page
from tests.support.clock import FakeClock
from tests.support.drive import settle

NOTHING = [{"action": "nothing"}]


def _on(name: str) -> dict[str, Any]:
    return {"variants": [{"when": [{"event": "custom", "name": name}], "do": NOTHING}]}


V1: dict[str, Any] = {"name": "Flow", "status": "active", "steps": [_on("go"), _on("a"), _on("b")]}
EMAILS = [f"p{i}@example.com" for i in range(7)]


def _send(stepwise: Stepwise, account_id: int, clock: FakeClock, email: str, name: str) -> None:
    ingest(stepwise.db, account_id, [PostedEvent(type="custom", name=name, email=email)], clock())
    settle(stepwise)


def _enter(stepwise: Stepwise, account_id: int, clock: FakeClock, emails: list[str]) -> None:
    """New subscribers who start the sequence (step 2 of the live version)."""
    for email in emails:
        edit_one(stepwise.db, account_id, email, Edit(), source="api", now=clock(), create=True)
        _send(stepwise, account_id, clock, email, "go")


def test_S17_a_large_migration_moves_runs_in_batches_and_old_runs_follow_their_version_meanwhile(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    account_id, _ = account
    monkeypatch.setattr(versions, "INLINE", 0)  # every migration is a large one
    monkeypatch.setattr(versions, "BATCH", 2)
    sequences.put(stepwise.db, account_id, "flow", V1, clock())
    _enter(stepwise, account_id, clock, EMAILS)
    _send(stepwise, account_id, clock, EMAILS[0], "a")  # p0 waits at step 3

    finish = versions.finish_migrations
    monkeypatch.setattr(versions, "finish_migrations", lambda *args, **kwargs: versions.BatchFigures())
    v2 = {**V1, "steps": [_on("go"), _on("x"), _on("b")]}
    assert sequences.put(stepwise.db, account_id, "flow", v2, clock())[0].version == 2
    # Not moved yet: p1 still follows version 1 ("a" moves it), p2 does not follow version 2 yet ("x").
    _send(stepwise, account_id, clock, EMAILS[1], "a")
    _send(stepwise, account_id, clock, EMAILS[2], "x")
    assert [(r.step, r.version) for r in of_subscriber(stepwise.db, account_id, EMAILS[1])] == [(3, 1)]
    assert [(r.step, r.version) for r in of_subscriber(stepwise.db, account_id, EMAILS[2])] == [(2, 1)]

    figures = finish(stepwise.db, account_id, clock())
    assert (figures.runs, figures.batches) == (7, 4)
    assert figures.longest_ms >= 0
    runs = [r for email in EMAILS for r in of_subscriber(stepwise.db, account_id, email)]
    assert len(runs) == 7 and {(r.status, r.version) for r in runs} == {("active", 2)}
    assert sorted(r.step for r in runs) == [2, 2, 2, 2, 2, 3, 3]
    _send(stepwise, account_id, clock, EMAILS[2], "x")  # now it follows version 2
    assert [(r.step, r.version) for r in of_subscriber(stepwise.db, account_id, EMAILS[2])] == [(3, 2)]
    assert finish(stepwise.db, account_id, clock()).runs == 0  # finished: nothing left to move
    items, _ = timeline_page(stepwise.db, account_id, EMAILS[3], cursor=None, limit=100)
    assert [e.kind for e in items].count("migrated") == 1
    stats = sequences.stats(stepwise.db, account_id, "flow")
    assert (stats.entered, stats.on_steps, [s.on_step for s in stats.steps]) == (7, 7, [0, 4, 3])


def test_S17_runs_on_two_old_versions_moved_in_batches_each_record_the_version_they_left(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    account_id, _ = account
    monkeypatch.setattr(versions, "INLINE", 0)  # every migration is a large one
    monkeypatch.setattr(versions, "BATCH", 2)
    sequences.put(stepwise.db, account_id, "flow", V1, clock())
    _enter(stepwise, account_id, clock, EMAILS[:3])  # step 2 of version 1
    publishing.put_draft(stepwise.db, account_id, "flow", {**V1, "name": "Pinned"}, clock())
    publishing.publish(stepwise.db, account_id, "flow", PublishIn(mode="pin"), clock())
    _enter(stepwise, account_id, clock, EMAILS[3:])  # step 2 of version 2
    _send(stepwise, account_id, clock, EMAILS[3], "a")  # step 3 of version 2
    v3 = {**V1, "steps": [_on("go"), _on("x"), _on("b")]}
    assert sequences.put(stepwise.db, account_id, "flow", v3, clock())[0].version == 3
    versions.finish_migrations(stepwise.db, account_id, clock())
    for number, email in enumerate(EMAILS):
        runs = of_subscriber(stepwise.db, account_id, email)
        assert [(r.version, r.step) for r in runs] == [(3, 3 if email == EMAILS[3] else 2)]
        items, _ = timeline_page(stepwise.db, account_id, email, cursor=None, limit=100)
        migrated = [e.model_dump() for e in items if e.kind == "migrated"]
        assert [(m["from_version"], m["to_version"], m["from_step"]) for m in migrated] == [
            (1 if number < 3 else 2, 3, 3 if email == EMAILS[3] else 2)
        ]
    stats = sequences.stats(stepwise.db, account_id, "flow")
    assert (stats.entered, stats.on_steps, [s.on_step for s in stats.steps]) == (7, 7, [0, 6, 1])
