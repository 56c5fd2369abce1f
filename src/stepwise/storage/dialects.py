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
    if conn.dialect.name != "postgresql":
        return sorted(set(ids))  # ids of subscribers deleted meanwhile are dropped when their rows are read
    stmt = select(t.subscribers.c.id).where(t.subscribers.c.id.in_(sorted(set(ids)))).order_by(t.subscribers.c.id)
    return [row[0] for row in conn.execute(stmt.with_for_update(skip_locked=skip_locked))]


def raw_rows(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run a read on the transaction's own driver cursor and return plain tuples.

    For the hot reads of every batch: SQLAlchemy's row objects cost more than the query there.
    Write `?` for parameters; it is translated to the driver's style.
    """
    if conn.dialect.name == "postgresql":
        sql = sql.replace("?", "%s")
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def marks(count: int) -> str:
    """`?, ?, …` for an IN list of `count` parameters."""
    return ", ".join(["?"] * count)


def _placeholder(conn: Connection) -> str:
    return "%s" if conn.dialect.name == "postgresql" else "?"


def fast_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows through the driver's executemany (no per-row statement processing).

    The hot paths write thousands of rows per batch; SQLAlchemy's per-parameter processing costs more
    than the database does there. Rows must all have the same keys.
    """
    if not rows:
        return
    columns = list(rows[0])
    marks = ", ".join([_placeholder(conn)] * len(columns))
    names = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'
    conn.exec_driver_sql(sql, [tuple(row[c] for c in columns) for row in rows])


def fast_update(conn: Connection, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Update many rows by primary key through executemany; `key` names the key column in each row."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != key]
    mark = _placeholder(conn)
    sets = ", ".join(f'"{c}" = {mark}' for c in columns)
    sql = f'UPDATE "{table.name}" SET {sets} WHERE "{key}" = {mark}'
    conn.exec_driver_sql(sql, [(*(row[c] for c in columns), row[key]) for row in rows])


def fast_delete(conn: Connection, table: Table, key: str, ids: Sequence[Any]) -> None:
    """Delete rows by key, in chunks that stay under every driver's parameter limit."""
    mark = _placeholder(conn)
    for start in range(0, len(ids), 900):
        chunk = list(ids[start : start + 900])
        sql = f'DELETE FROM "{table.name}" WHERE "{key}" IN ({", ".join([mark] * len(chunk))})'
        conn.exec_driver_sql(sql, tuple(chunk))
