"""Run state changes write only what moved: the columns that differ from the state as read, in one statement."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from stepwise.bootstrap import Stepwise
from stepwise.storage import runs as run_store
from stepwise.storage import schema as t
from stepwise.storage.runs import NewRun, RunChange, RunState

WAITING = RunState(
    status="active",
    step=2,
    step_entered_at=100,
    wake_at=200,
    claimable_at=200,
    recheck=False,
    resumed_at=None,
    ended_at=None,
    end_reason=None,
)


def _plant(stepwise: Stepwise, count: int) -> list[int]:
    with stepwise.db.write() as conn:
        run_store.insert_new(conn, [NewRun(1, 1, sid, 1, 50, WAITING) for sid in range(1, count + 1)])
        return [r[0] for r in conn.execute(select(t.runs.c.id).order_by(t.runs.c.id))]


def _states(stepwise: Stepwise) -> dict[int, tuple[object, ...]]:
    with stepwise.db.read() as conn:
        rows = conn.execute(select(t.runs))
        return {r.id: (r.status, r.step, r.wake_at, r.claimable_at, r.end_reason, r.resumed_at) for r in rows}


def test_changed_runs_get_their_new_state_and_unchanged_ones_are_not_written(stepwise: Stepwise) -> None:
    moved, ended, same = _plant(stepwise, 3)
    before = run_store._state_values(WAITING)
    with stepwise.db.write() as conn:
        # Someone else's value in a column this change does not move: it must survive (nothing rewrites it).
        conn.execute(t.runs.update().where(t.runs.c.id == same).values(wake_at=999))
        # …and in a column no change of the batch moves, on a run that does change.
        conn.execute(t.runs.update().where(t.runs.c.id == moved).values(resumed_at=777))
        run_store.save_changes(
            conn,
            [
                RunChange(moved, replace(WAITING, step=3, wake_at=300, claimable_at=300), before),
                RunChange(ended, replace(WAITING, status="ended", claimable_at=None, end_reason="manual"), before),
                RunChange(same, WAITING, before),  # as read: not written at all
            ],
        )
    assert _states(stepwise) == {
        moved: ("active", 3, 300, 300, None, 777),
        ended: ("ended", 2, 200, None, "manual", None),
        same: ("active", 2, 999, 200, None, None),
    }


def test_a_batch_where_nothing_changed_writes_nothing(stepwise: Stepwise) -> None:
    ids = _plant(stepwise, 3)
    before = run_store._state_values(WAITING)
    with stepwise.db.write() as conn:
        run_store.save_changes(conn, [RunChange(run_id, WAITING, before) for run_id in ids])
        run_store.save_changes(conn, [])
    assert set(_states(stepwise).values()) == {("active", 2, 200, 200, None, None)}


def test_a_run_whose_stored_state_is_unknown_gets_every_column(stepwise: Stepwise) -> None:
    (run_id,) = _plant(stepwise, 1)
    with stepwise.db.write() as conn:
        conn.execute(t.runs.update().where(t.runs.c.id == run_id).values(resumed_at=777))
        run_store.save_changes(conn, [RunChange(run_id, replace(WAITING, step=4))])
    assert _states(stepwise) == {run_id: ("active", 4, 200, 200, None, None)}
