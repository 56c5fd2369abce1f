"""Exact statistics counters, written in the same transaction as the state they count (S15)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

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
