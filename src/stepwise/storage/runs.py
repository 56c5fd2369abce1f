"""Runs: one subscriber's pass through one sequence."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, and_, case, func, select, update

from stepwise.domain.statuses import EndReason, RunStatus
from stepwise.storage import schema as t
from stepwise.storage.dialects import fast_insert, fast_update, has_row_locks, insert_tuples, rows_each, rows_in
from stepwise.storage.notify import WORK, notify

OPEN = ("active", "paused")


@dataclass(slots=True)
class RunRow:
    id: int
    account_id: int
    sequence_id: int
    subscriber_id: int
    pass_no: int
    status: RunStatus
    step: int
    entered_at: int
    step_entered_at: int
    wake_at: int | None
    claimable_at: int | None
    recheck: bool
    ended_at: int | None
    end_reason: EndReason | None
    resumed_at: int | None = None
    version: int = 1  # the sequence version it follows (S16)
    last_variant: int | None = None  # S24
    converted_at: int | None = None
    converted_step: int | None = None
    converted_variant: int | None = None
    entry: str | None = None  # S25: the entry event's JSON; None for runs started by hand
    test: bool = False  # a test run (S19): capture mailbox only, left out of every statistic


_COLS = tuple(t.runs.c[name] for name in RunRow.__dataclass_fields__)


@dataclass(slots=True)  # not frozen: built for every event, and a frozen __init__ costs 5x
class RunState:
    """The columns of a run that processing changes (times in microseconds)."""

    status: RunStatus
    step: int
    step_entered_at: int
    wake_at: int | None
    claimable_at: int | None  # when the worker should claim the run again (the due index); None: never
    recheck: bool
    resumed_at: int | None
    ended_at: int | None
    end_reason: EndReason | None
    last_variant: int | None = None  # S24: the last variant fired and the goal conversion
    converted_at: int | None = None
    converted_step: int | None = None
    converted_variant: int | None = None


@dataclass(slots=True)  # not frozen: built for every event, and a frozen __init__ costs 5x
class RunChange:
    """A stored run's new state; `before`, when known, its stored state (stored_values): only what differs
    is written, and a run that did not change is not written at all."""

    id: int
    state: RunState
    before: tuple[Any, ...] | None = None


@dataclass(slots=True)  # not frozen: built for every event, and a frozen __init__ costs 5x
class NewRun:
    """A run to insert."""

    account_id: int
    sequence_id: int
    subscriber_id: int
    pass_no: int
    entered_at: int
    state: RunState
    version: int = 1  # the sequence version the run follows (S16)
    entry: str | None = None  # S25: the entry event's JSON
    test: bool = False  # a test run (S19)


_STATE = tuple(RunState.__dataclass_fields__)  # _state_values gives the values in this order (a unit test checks)
_NEW = ("account_id", "sequence_id", "subscriber_id", "pass_no", "entered_at")


# A state's values in _STATE order; a stored run's too (RunState and RunRow name these fields alike),
# so that a new state compares with the run as read.
_state_values: Callable[[RunState | RunRow], tuple[Any, ...]] = attrgetter(*_STATE)
stored_values = _state_values


def state_of(row: RunRow, *, claimable_at: int | None) -> RunState:
    """A stored run's state, with another claimable time."""
    return RunState(
        status=row.status,
        step=row.step,
        step_entered_at=row.step_entered_at,
        wake_at=row.wake_at,
        claimable_at=claimable_at,
        recheck=row.recheck,
        resumed_at=row.resumed_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
        last_variant=row.last_variant,
        converted_at=row.converted_at,
        converted_step=row.converted_step,
        converted_variant=row.converted_variant,
    )


def _row(r: Any) -> RunRow:
    return RunRow(
        id=r[0],
        account_id=r[1],
        sequence_id=r[2],
        subscriber_id=r[3],
        pass_no=r[4],
        status=r[5],
        step=r[6],
        entered_at=r[7],
        step_entered_at=r[8],
        wake_at=r[9],
        claimable_at=r[10],
        recheck=bool(r[11]),
        ended_at=r[12],
        end_reason=r[13],
        resumed_at=r[14],
        version=r[15],
        last_variant=r[16],
        converted_at=r[17],
        converted_step=r[18],
        converted_variant=r[19],
        entry=r[20],
        test=bool(r[21]),
    )


def open_runs(conn: Connection, account_id: int, subscriber_ids: Sequence[int]) -> dict[int, list[RunRow]]:
    """Return the active-or-paused runs of these subscribers."""
    found: dict[int, list[RunRow]] = defaultdict(list)
    names = ", ".join(c.name for c in _COLS)
    sql = (
        f"SELECT {names} FROM runs WHERE account_id = ? AND subscriber_id IN ({{ids}}) "
        "AND status IN ('active', 'paused')"
    )
    for r in rows_each(conn, sql, subscriber_ids, before=[account_id]):
        found[r[3]].append(_row(r))
    return found


def passes(conn: Connection, account_id: int, subscriber_ids: Sequence[int]) -> dict[int, dict[int, int]]:
    """Return {subscriber: {sequence id: highest pass number}}."""
    found: dict[int, dict[int, int]] = defaultdict(dict)
    sql = (
        "SELECT subscriber_id, sequence_id, MAX(pass_no) FROM runs "
        "WHERE account_id = ? AND subscriber_id IN ({ids}) GROUP BY subscriber_id, sequence_id"
    )
    for sid, seq_id, top in rows_each(conn, sql, subscriber_ids, before=[account_id]):
        found[sid][seq_id] = int(top)
    return found


def insert_many(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    fast_insert(conn, t.runs, rows)


def insert_new(conn: Connection, runs: Sequence[NewRun]) -> None:
    """Insert new runs."""
    values = [
        (
            r.account_id,
            r.sequence_id,
            r.subscriber_id,
            r.pass_no,
            r.entered_at,
            *_state_values(r.state),
            r.version,
            r.entry,
            r.test,
        )
        for r in runs
    ]
    if values:
        insert_tuples(conn, t.runs, [*_NEW, *_STATE, "version", "entry", "test"], values)


def save_changes(conn: Connection, changes: Sequence[RunChange]) -> None:
    """Write the new states of stored runs: one statement setting the columns that changed in any of them.

    A deadline that only moves a run changes four of the thirteen state columns, and an index is
    rewritten only when a column it holds is set: writing only those cost half as much on SQLite.
    Runs whose stored state is unknown (`before` None) set every column.
    """
    changed: list[tuple[int, tuple[Any, ...]]] = []
    moved = [False] * len(_STATE)
    for change in changes:
        values = _state_values(change.state)
        before = change.before
        if before is None:
            moved = [True] * len(_STATE)
        elif values == before:
            continue  # nothing to write
        else:
            for index, (new, old) in enumerate(zip(values, before, strict=True)):
                if new != old:
                    moved[index] = True
        changed.append((change.id, values))
    if not changed:
        return
    picked = [index for index, flag in enumerate(moved) if flag]
    names = [_STATE[index] for index in picked]
    pairs = list(zip(names, picked, strict=True))
    update_many(conn, [{"id": run_id, **{name: v[i] for name, i in pairs}} for run_id, v in changed])


def update_many(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write changed runs; each row holds the id and the mutable columns (all rows the same columns)."""
    # In id order: see _locked_in_id_order.
    fast_update(conn, t.runs, "id", sorted(rows, key=lambda row: int(row["id"])))


def due_subscribers(conn: Connection, now_us: int, limit: int) -> list[int]:
    """Return subscribers with a run due by now, earliest first (uses the partial due index)."""
    stmt = (
        select(t.runs.c.subscriber_id)
        .where(t.runs.c.claimable_at.is_not(None), t.runs.c.claimable_at <= now_us)
        .order_by(t.runs.c.claimable_at)
        .limit(limit)
    )
    return list(dict.fromkeys(r[0] for r in conn.execute(stmt)))


def oldest_due(conn: Connection, now_us: int) -> int | None:
    """Return the claimable time of the most overdue run, if any."""
    row = conn.execute(
        select(func.min(t.runs.c.claimable_at)).where(
            t.runs.c.claimable_at.is_not(None), t.runs.c.claimable_at <= now_us
        )
    ).first()
    return None if row is None or row[0] is None else int(row[0])


def next_due(conn: Connection) -> int | None:
    row = conn.execute(select(func.min(t.runs.c.claimable_at)).where(t.runs.c.claimable_at.is_not(None))).first()
    return None if row is None or row[0] is None else int(row[0])


def of_subscriber(conn: Connection, account_id: int, subscriber_id: int) -> list[RunRow]:
    stmt = select(*_COLS).where(t.runs.c.account_id == account_id, t.runs.c.subscriber_id == subscriber_id)
    return [_row(r) for r in conn.execute(stmt.order_by(t.runs.c.id))]


def page_for_sequence(
    conn: Connection,
    account_id: int,
    sequence_id: int,
    *,
    after_id: int,
    limit: int,
    status: str | None = None,
    step: int | None = None,
) -> list[RunRow]:
    stmt = select(*_COLS).where(
        t.runs.c.account_id == account_id, t.runs.c.sequence_id == sequence_id, t.runs.c.id > after_id
    )
    if status:
        stmt = stmt.where(t.runs.c.status == status)
    if step is not None:
        stmt = stmt.where(t.runs.c.step == step)
    return [_row(r) for r in conn.execute(stmt.order_by(t.runs.c.id).limit(limit))]


def hold_sequence(conn: Connection, account_id: int, sequence_id: int) -> None:
    """Take a paused sequence's runs out of the due index (S11: they move no one)."""
    conn.execute(
        update(t.runs)
        .where(
            _locked_in_id_order(conn, account_id, sequence_id),
            t.runs.c.status == "active",
            t.runs.c.claimable_at.is_not(None),
        )
        .values(claimable_at=None)
    )


def release_sequence(
    conn: Connection, account_id: int, sequence_id: int, now_us: int, state_wait_steps: Sequence[int]
) -> None:
    """Put a resumed sequence's runs back: overdue deadlines fire at once, state waits are re-tested."""
    recheck = t.runs.c.step.in_(list(state_wait_steps)) if state_wait_steps else None
    values: dict[str, Any] = {"claimable_at": t.runs.c.wake_at, "resumed_at": now_us}
    if recheck is not None:
        values = {
            "claimable_at": case((recheck, now_us), else_=t.runs.c.wake_at),
            "recheck": case((recheck, True), else_=t.runs.c.recheck),
            "resumed_at": now_us,
        }
    conn.execute(
        update(t.runs)
        .where(_locked_in_id_order(conn, account_id, sequence_id), t.runs.c.status == "active")
        .values(**values)
    )
    notify(conn, WORK)


def _locked_in_id_order(conn: Connection, account_id: int, sequence_id: int) -> Any:
    """Rows of a sequence's open runs; on PostgreSQL locked in id order first.

    Workers update runs in id order too, so a bulk update and a worker batch always take their row
    locks in the same order and cannot deadlock.
    """
    scope = (t.runs.c.account_id == account_id, t.runs.c.sequence_id == sequence_id, t.runs.c.status.in_(OPEN))
    if not has_row_locks(conn):
        return and_(*scope)
    ordered = select(t.runs.c.id).where(*scope).order_by(t.runs.c.id).with_for_update()
    return t.runs.c.id.in_(ordered.scalar_subquery())


def count_open_on_steps(conn: Connection, account_id: int, sequence_id: int, steps_above: int) -> int:
    """Count active-or-paused runs waiting at steps beyond `steps_above`."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(t.runs)
            .where(
                t.runs.c.account_id == account_id,
                t.runs.c.sequence_id == sequence_id,
                t.runs.c.status.in_(OPEN),
                t.runs.c.step > steps_above,
            )
        ).scalar_one()
    )


def open_page(conn: Connection, account_id: int, sequence_id: int, *, after_id: int, limit: int) -> list[RunRow]:
    stmt = select(*_COLS).where(
        t.runs.c.account_id == account_id,
        t.runs.c.sequence_id == sequence_id,
        t.runs.c.status.in_(OPEN),
        t.runs.c.id > after_id,
    )
    return [_row(r) for r in conn.execute(stmt.order_by(t.runs.c.id).limit(limit))]


def open_by_ids(conn: Connection, ids: Sequence[int]) -> list[RunRow]:
    """These runs, if still active or paused, in id order."""
    if not ids:
        return []
    names = ", ".join(c.name for c in _COLS)
    sql = f"SELECT {names} FROM runs WHERE id IN ({{ids}}) AND status IN ('active', 'paused') ORDER BY id"
    return [_row(r) for r in rows_in(conn, sql, ids)]
