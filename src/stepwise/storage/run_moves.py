"""Set-based moves of open runs to a new version (S17 `migrate` at scale, SPEC §21).

A migration moves runs per old step: every open run of the sequence on a version before `number`, at
step `step`, with an id in [lo, hi], goes to the same new step. One INSERT ... SELECT writes their
`migrated` timeline entries and one UPDATE moves them, deadline recomputed in SQL from
`step_entered_at` (the new step's time waits are fixed delays: the earliest is `delay_us`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from stepwise.storage.codec import dumps

_RANGE = (
    "account_id = :account_id AND sequence_id = :sequence_id AND status IN ('active', 'paused') "
    "AND version < :number AND id >= :lo AND id <= :hi"
)


@dataclass(frozen=True, slots=True)
class Move:
    """Where the runs of one old step go: `to_step`, its earliest fixed delay (None: no time wait), a re-test."""

    step: int
    to_step: int
    delay_us: int | None
    recheck: bool


def behind(conn: Connection, account_id: int, sequence_id: int, number: int) -> tuple[list[int], list[int]]:
    """(ids in order, distinct steps) of the open runs of the sequence on a version before `number` (one scan)."""
    sql = text(f"SELECT id, step FROM runs WHERE {_RANGE}")
    params = {"account_id": account_id, "sequence_id": sequence_id, "number": number, "lo": 0, "hi": 2**62}
    rows = conn.execute(sql, params).all()
    return sorted(int(row[0]) for row in rows), sorted({int(row[1]) for row in rows})


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

    SQLite needs nothing: the write transaction already excludes every other writer.
    """
    if conn.dialect.name != "postgresql":
        return
    sql = text(
        f"SELECT id FROM subscribers WHERE id IN (SELECT subscriber_id FROM runs WHERE {_RANGE}) ORDER BY id FOR UPDATE"
    )
    conn.execute(sql, {"account_id": account_id, "sequence_id": sequence_id, "number": number, "lo": lo, "hi": hi})


def move_step(
    conn: Connection,
    *,
    account_id: int,
    sequence_id: int,
    key: str,
    number: int,
    move: Move,
    lo: int,
    hi: int,
    now_us: int,
    sequence_active: bool,
) -> int:
    """Move the runs of one old step in [lo, hi] to `move.to_step` of version `number`; return how many.

    Writes one `migrated` timeline entry per run (from/to version and step) and keeps `step_entered_at`.
    The run is claimable at its new deadline (now, when its state waits are re-tested) while it and the
    sequence are active, as a run moved one by one would be.
    """
    params = {
        "account_id": account_id,
        "sequence_id": sequence_id,
        "number": number,
        "lo": lo,
        "hi": hi,
        "step": move.step,
        "now": now_us,
        "key": key,
        "to_step": move.to_step,
        "recheck": move.recheck,
    }
    tail = dumps({"to_version": number, "from_step": move.step, "to_step": move.to_step})
    params["tail"] = "," + tail[1:]
    where = f"{_RANGE} AND step = :step AND NOT test"  # test runs (S19) move one by one: counted nowhere
    conn.execute(
        text(
            "INSERT INTO timeline (account_id, subscriber_id, at, kind, sequence, detail) "
            "SELECT account_id, subscriber_id, :now, 'migrated', :key, "
            "'{\"from_version\":' || CAST(version AS VARCHAR(12)) || :tail "
            f"FROM runs WHERE {where} ORDER BY id"
        ),
        params,
    )
    wake = "CAST(NULL AS BIGINT)" if move.delay_us is None else f"step_entered_at + {int(move.delay_us)}"
    claim = "CAST(:now AS BIGINT)" if move.recheck else wake
    claimable = f"CASE WHEN status = 'active' THEN {claim} END" if sequence_active else "CAST(NULL AS BIGINT)"
    result = conn.execute(
        text(
            f"UPDATE runs SET step = :to_step, wake_at = {wake}, claimable_at = {claimable}, "
            f"recheck = :recheck, version = :number WHERE {where}"
        ),
        params,
    )
    return int(result.rowcount)
