"""Set-based moves of open runs to a new version (S17 `migrate` at scale, SPEC §21).

A migration moves runs per old step and old version: every open run of the sequence on version
`from_version` (before `number`), at step `step`, with an id in [lo, hi], goes to the same new step.
One statement moves them, deadline recomputed in SQL from `step_entered_at` (the new step's time waits
are fixed delays: the earliest is `delay_us`), and writes their `migrated` timeline entries: on
PostgreSQL an UPDATE ... RETURNING feeding the INSERT (one scan, one snapshot), on SQLite an
INSERT ... SELECT then the UPDATE (the write lock keeps the two consistent).

The statements select by id range: the range is a primary key range whatever the run's step, so a batch
costs the same at the start of a million runs as at its end (PostgreSQL picks that plan once the table
has statistics: `refresh_statistics`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from stepwise.storage.codec import dumps

_RANGE = (
    "account_id = :account_id AND sequence_id = :sequence_id AND status IN ('active', 'paused') "
    "AND version < :number AND id >= :lo AND id <= :hi"
)
# ANALYZE the runs table before a migration when this share of its rows changed since the last one.
STALE_SHARE = 0.2
LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True, slots=True)
class Move:
    """Where the runs of one old step go: `to_step`, its earliest fixed delay (None: no time wait), a re-test."""

    step: int
    to_step: int
    delay_us: int | None
    recheck: bool


def behind(conn: Connection, account_id: int, sequence_id: int, number: int) -> tuple[list[int], list[tuple[int, int]]]:
    """(ids in order, distinct (step, version) pairs) of the open runs of the sequence on a version before
    `number` (one scan)."""
    sql = text(f"SELECT id, step, version FROM runs WHERE {_RANGE}")
    params = {"account_id": account_id, "sequence_id": sequence_id, "number": number, "lo": 0, "hi": 2**62}
    rows = conn.execute(sql, params).all()
    return sorted(int(row[0]) for row in rows), sorted({(int(row[1]), int(row[2])) for row in rows})


def refresh_statistics(conn: Connection) -> None:
    """PostgreSQL: ANALYZE the runs table when it has no statistics yet or many rows changed since.

    Without them (runs just imported: autovacuum has not sampled them yet) the planner can scan every run
    of the sequence for each batch instead of the batch's id range, and a migration of N runs costs N².
    Sampling takes a fraction of a second and blocks no reader or writer. SQLite plans by its indexes.
    """
    if conn.dialect.name != "postgresql":
        return
    row = conn.execute(
        text(
            "SELECT n_live_tup, n_mod_since_analyze, COALESCE(last_analyze, last_autoanalyze) IS NULL "
            "FROM pg_stat_user_tables WHERE relid = 'runs'::regclass"
        )
    ).first()
    if row is None or not (row[2] or row[1] > STALE_SHARE * max(row[0], 1)):
        return
    try:
        with conn.begin_nested():
            # Autovacuum at work on the table holds the lock ANALYZE needs (and samples it too): let it be.
            conn.execute(text("SET LOCAL lock_timeout = '200ms'"))
            conn.execute(text("ANALYZE runs"))
    except OperationalError as error:
        if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise


def ids_one_by_one(
    conn: Connection, account_id: int, sequence_id: int, number: int, lo: int, hi: int, steps: list[int]
) -> list[int]:
    """Ids of the runs behind version `number` in [lo, hi] that move one by one: those at one of `steps`,
    and test runs (S19), which the set-based statements leave out. One query."""
    on_steps = f"step IN ({', '.join(str(int(step)) for step in steps)}) OR " if steps else ""
    sql = text(f"SELECT id FROM runs WHERE {_RANGE} AND ({on_steps}test) ORDER BY id")
    params = {"account_id": account_id, "sequence_id": sequence_id, "number": number, "lo": lo, "hi": hi}
    return [int(row[0]) for row in conn.execute(sql, params)]


def lock_range(conn: Connection, account_id: int, sequence_id: int, number: int, lo: int, hi: int) -> None:
    """PostgreSQL: lock the subscribers of the runs in [lo, hi] in id order, as the worker does.

    Their ids are read first, then locked by primary key: as one join, the planner may hash it over every
    subscriber of the account for each batch. SQLite needs nothing: the write transaction already excludes
    every other writer.
    """
    if conn.dialect.name != "postgresql":
        return
    params = {"account_id": account_id, "sequence_id": sequence_id, "number": number, "lo": lo, "hi": hi}
    found = conn.execute(text(f"SELECT subscriber_id FROM runs WHERE {_RANGE}"), params)
    ids = sorted({int(row[0]) for row in found})
    if ids:
        sql = "SELECT id FROM subscribers WHERE id = ANY(CAST(:ids AS BIGINT[])) ORDER BY id FOR UPDATE"
        conn.execute(text(sql), {"ids": ids})


def move_step(
    conn: Connection,
    *,
    account_id: int,
    sequence_id: int,
    key: str,
    number: int,
    move: Move,
    from_version: int,
    lo: int,
    hi: int,
    now_us: int,
    sequence_active: bool,
) -> int:
    """Move the runs of one old step and version in [lo, hi] to `move.to_step` of version `number`;
    return how many.

    Writes one `migrated` timeline entry per run (from/to version and step) and keeps `step_entered_at`.
    The run is claimable at its new deadline (now, when its state waits are re-tested) while it and the
    sequence are active, as a run moved one by one would be.
    """
    params = {
        "account_id": account_id,
        "sequence_id": sequence_id,
        "number": number,
        "from_version": from_version,
        "lo": lo,
        "hi": hi,
        "step": move.step,
        "now": now_us,
        "key": key,
        "to_step": move.to_step,
        "recheck": move.recheck,
        "detail": dumps(
            {"from_version": from_version, "to_version": number, "from_step": move.step, "to_step": move.to_step}
        ),
    }
    # Test runs (S19) move one by one: counted nowhere.
    where = f"{_RANGE} AND version = :from_version AND step = :step AND NOT test"
    wake = "CAST(NULL AS BIGINT)" if move.delay_us is None else f"step_entered_at + {int(move.delay_us)}"
    claim = "CAST(:now AS BIGINT)" if move.recheck else wake
    claimable = f"CASE WHEN status = 'active' THEN {claim} END" if sequence_active else "CAST(NULL AS BIGINT)"
    update = (
        f"UPDATE runs SET step = :to_step, wake_at = {wake}, claimable_at = {claimable}, "
        f"recheck = :recheck, version = :number WHERE {where}"
    )
    insert = (
        "INSERT INTO timeline (account_id, subscriber_id, at, kind, sequence, detail) "
        "SELECT account_id, subscriber_id, :now, 'migrated', :key, :detail "
    )
    if conn.dialect.name == "postgresql":
        sql = f"WITH moved AS ({update} RETURNING id, account_id, subscriber_id) {insert} FROM moved ORDER BY id"
        return int(conn.execute(text(sql), params).rowcount)
    conn.execute(text(f"{insert} FROM runs WHERE {where} ORDER BY id"), params)
    return int(conn.execute(text(update), params).rowcount)
