"""Exact statistics counters, written in the same transaction as the state they count (S15)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select

from stepwise.storage import schema as t
from stepwise.storage.dialects import add_to_counters

SHARDS = 8

CounterTuple = tuple[int, int, str, int, int, int]  # account, sequence id, metric, step, variant, delta


@dataclass(frozen=True, slots=True)
class CounterDelta:
    """A change of one counter (step and variant 0 when the metric has none)."""

    account_id: int
    sequence_id: int
    metric: str
    step: int
    variant: int
    delta: int


def add(conn: Connection, deltas: Iterable[CounterTuple]) -> None:
    """Add deltas given as tuples (zero deltas are skipped) into one random shard per call."""
    add_deltas(conn, [CounterDelta(*delta) for delta in deltas])


def add_deltas(conn: Connection, deltas: Iterable[CounterDelta]) -> None:
    """Add deltas (zero deltas are skipped) into one random shard per call."""
    shard = random.randrange(SHARDS)
    rows = [
        {
            "account_id": d.account_id,
            "sequence_id": d.sequence_id,
            "metric": d.metric,
            "step": d.step,
            "variant": d.variant,
            "shard": shard,
            "value": d.delta,
        }
        for d in deltas
        if d.delta
    ]
    add_to_counters(conn, rows)


def read(conn: Connection, account_id: int, sequence_id: int) -> dict[tuple[str, int, int], int]:
    """Return {(metric, step, variant): value} summed over shards."""
    stmt = (
        select(t.counters.c.metric, t.counters.c.step, t.counters.c.variant, func.sum(t.counters.c.value))
        .where(t.counters.c.account_id == account_id, t.counters.c.sequence_id == sequence_id)
        .group_by(t.counters.c.metric, t.counters.c.step, t.counters.c.variant)
    )
    totals: dict[tuple[str, int, int], int] = defaultdict(int)
    for metric, step, variant, value in conn.execute(stmt):
        totals[(metric, step, variant)] = int(value)
    return totals


# S19: the moment a sequence's statistics were last reset is kept as one more counter row, so it goes
# with the sequence's other counters (and is deleted with them); add() never writes this metric.
RESET_AT = "reset_at"
KEPT_ON_RESET = ("on_step", "subscribers")


def reset_history(conn: Connection, account_id: int, sequence_id: int, at_us: int) -> None:
    """Delete every history counter of a sequence (all but current positions and distinct subscribers)
    and record the reset moment (microseconds) in shard 0."""
    c = t.counters.c
    conn.execute(
        delete(t.counters).where(
            c.account_id == account_id, c.sequence_id == sequence_id, c.metric.not_in(KEPT_ON_RESET)
        )
    )
    conn.execute(
        insert(t.counters).values(
            account_id=account_id, sequence_id=sequence_id, metric=RESET_AT, step=0, variant=0, shard=0, value=at_us
        )
    )


def reset_moment(conn: Connection, account_id: int, sequence_id: int) -> int | None:
    """When the sequence's statistics were last reset (microseconds), or None."""
    c = t.counters.c
    stmt = select(func.max(c.value)).where(
        c.account_id == account_id, c.sequence_id == sequence_id, c.metric == RESET_AT
    )
    value = conn.execute(stmt).scalar()
    return int(value) if value is not None else None
