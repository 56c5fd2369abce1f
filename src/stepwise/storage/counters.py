"""Exact statistics counters, written in the same transaction as the state they count (S15)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Connection, func, select

from stepwise.storage import schema as t
from stepwise.storage.dialects import add_to_counters

SHARDS = 8

CounterDelta = tuple[int, int, str, int, int, int]  # account, sequence id, metric, step, variant, delta


def add(conn: Connection, deltas: Iterable[CounterDelta]) -> None:
    """Add deltas (zero deltas are skipped) into one random shard per call."""
    shard = random.randrange(SHARDS)
    rows = [
        {"account_id": a, "sequence_id": s, "metric": m, "step": st, "variant": v, "shard": shard, "value": d}
        for a, s, m, st, v, d in deltas
        if d
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
