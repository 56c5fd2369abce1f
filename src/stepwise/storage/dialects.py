"""The few statements that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from stepwise.storage import schema as t


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, skipping those that collide with an existing key."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(postgresql.insert(table).on_conflict_do_nothing(), list(rows))
    else:
        conn.execute(sqlite.insert(table).on_conflict_do_nothing(), list(rows))


def add_to_counters(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Add deltas to counters; rows are applied in key order so parallel writers cannot deadlock."""
    if not rows:
        return
    keys = ("account_id", "sequence_id", "metric", "step", "variant", "shard")
    ordered = sorted(rows, key=lambda r: tuple(r[k] for k in keys))
    if conn.dialect.name == "postgresql":
        pg = postgresql.insert(t.counters)
        conn.execute(
            pg.on_conflict_do_update(index_elements=list(keys), set_={"value": t.counters.c.value + pg.excluded.value}),
            ordered,
        )
    else:
        lite = sqlite.insert(t.counters)
        conn.execute(
            lite.on_conflict_do_update(
                index_elements=list(keys), set_={"value": t.counters.c.value + lite.excluded.value}
            ),
            ordered,
        )


def lock_subscribers(conn: Connection, ids: Sequence[int], *, skip_locked: bool) -> list[int]:
    """Lock subscriber rows in id order and return the ids this transaction now holds.

    PostgreSQL: row locks (another worker holding one makes us skip it when skip_locked).
    SQLite: the write transaction (BEGIN IMMEDIATE) already excludes every other writer.
    """
    if not ids:
        return []
    stmt = select(t.subscribers.c.id).where(t.subscribers.c.id.in_(sorted(set(ids)))).order_by(t.subscribers.c.id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=skip_locked)
    return [row[0] for row in conn.execute(stmt)]
