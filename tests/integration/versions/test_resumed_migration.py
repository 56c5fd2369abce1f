"""S17 at scale (SPEC §21): a large `migrate` cut short (the process killed between two batches) is
finished without a new publication, by the worker loops at start; and runs whose new step has only
fixed delays move set-based with the deadline, re-test and timeline entry a run moved alone gets."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from stepwise.bootstrap import Stepwise
from stepwise.services import sequences, versions
from stepwise.services.events import PostedEvent, ingest
from stepwise.services.runs import of_subscriber
from stepwise.services.subscribers import Edit, edit_one
from stepwise.services.timeline import page as timeline_page
from stepwise.storage import schema as t
from stepwise.storage import versions as version_store
from stepwise.worker.runner import wait_until
from tests.support.clock import FakeClock
from tests.support.drive import settle

NOTHING = [{"action": "nothing"}]
EMAILS = [f"k{i}@example.com" for i in range(7)]


def _on(name: str) -> dict[str, Any]:
    return {"variants": [{"when": [{"event": "custom", "name": name}], "do": NOTHING}]}


def _after(delay: str) -> dict[str, Any]:
    return {"variants": [{"when": [{"event": "time_passed", "after": delay}], "do": NOTHING}]}


V1: dict[str, Any] = {"name": "Flow", "status": "active", "steps": [_on("go"), _on("a"), _on("b")]}
V2: dict[str, Any] = {**V1, "steps": [_on("go"), _after("3d"), _on("b")]}


def _enter_all(stepwise: Stepwise, account_id: int, clock: FakeClock) -> None:
    sequences.put(stepwise.db, account_id, "flow", V1, clock())
    for email in EMAILS:
        edit_one(stepwise.db, account_id, email, Edit(), source="api", now=clock(), create=True)
        ingest(stepwise.db, account_id, [PostedEvent(type="custom", name="go", email=email)], clock())
    settle(stepwise)


def _runs(stepwise: Stepwise, account_id: int) -> list[Any]:
    return [r for email in EMAILS for r in of_subscriber(stepwise.db, account_id, email)]


def test_S17_a_migration_cut_short_between_batches_is_resumed_by_the_worker_at_start(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    account_id, _ = account
    monkeypatch.setattr(versions, "INLINE", 0)  # every migration is a large one
    monkeypatch.setattr(versions, "BATCH", 2)
    _enter_all(stepwise, account_id, clock)
    finish = versions.finish_migrations

    def killed_after_two_batches(*args: Any, **kwargs: Any) -> versions.BatchFigures:
        return finish(*args, **{**kwargs, "max_batches": 2})

    monkeypatch.setattr(versions, "finish_migrations", killed_after_two_batches)
    assert sequences.put(stepwise.db, account_id, "flow", V2, clock())[0].version == 2
    assert sorted(r.version for r in _runs(stepwise, account_id)) == [1, 1, 1, 2, 2, 2, 2]
    monkeypatch.setattr(versions, "finish_migrations", finish)

    worker = stepwise.worker()
    worker.start()  # no new publication: the worker resumes the unfinished migration when it starts
    try:
        assert wait_until(lambda: {r.version for r in _runs(stepwise, account_id)} == {2}, timeout=20)
    finally:
        worker.stop()
    assert versions.resume_migrations(stepwise.db, clock()).runs == 0  # finished, marked so
    for email in EMAILS:  # exactly one `migrated` entry each, from the batch that moved it
        items, _ = timeline_page(stepwise.db, account_id, email, cursor=None, limit=100)
        assert [e.kind for e in items].count("migrated") == 1


def test_S17_runs_moved_set_based_get_the_deadline_from_step_entered_at_and_a_migrated_entry(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    _enter_all(stepwise, account_id, clock)
    clock.advance(hours=1)
    assert sequences.put(stepwise.db, account_id, "flow", V2, clock())[0].version == 2
    with stepwise.db.read() as conn:
        c = t.runs.c
        rows = conn.execute(select(c.version, c.step, c.step_entered_at, c.wake_at, c.claimable_at, c.recheck)).all()
    assert len(rows) == len(EMAILS)
    assert {(r.version, r.step, r.wake_at - r.step_entered_at) for r in rows} == {(2, 2, 3 * 86400 * 1_000_000)}
    assert all(r.claimable_at == r.wake_at and not r.recheck for r in rows)
    items, _ = timeline_page(stepwise.db, account_id, EMAILS[0], cursor=None, limit=100)
    migrated = [e.model_dump() for e in items if e.kind == "migrated"]
    assert len(migrated) == 1
    detail = {k: migrated[0][k] for k in ("from_version", "to_version", "from_step", "to_step")}
    assert detail == {"from_version": 1, "to_version": 2, "from_step": 2, "to_step": 2}


def test_S17_a_run_a_stale_worker_labels_with_the_old_version_is_moved_before_the_migration_is_finished(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    _enter_all(stepwise, account_id, clock)
    assert sequences.put(stepwise.db, account_id, "flow", V2, clock())[0].version == 2
    with stepwise.db.write() as conn:  # as a worker whose catalog still had version 1 would write a new run
        first = conn.execute(select(t.runs.c.id).order_by(t.runs.c.id)).scalars().first()
        conn.execute(update(t.runs).where(t.runs.c.id == first).values(version=1))
    with stepwise.db.read() as conn:
        assert version_store.unfinished(conn, account_id) != []  # not marked before SETTLE has passed
    clock.advance(seconds=versions.SETTLE)
    assert versions.finish_migrations(stepwise.db, account_id, clock()).runs == 1
    assert {r.version for r in _runs(stepwise, account_id)} == {2}
    with stepwise.db.read() as conn:
        assert version_store.unfinished(conn, account_id) == []
