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


def lock_subscribers(conn: Connection, ids: Sequence[int], *, skip_locked: bool, limit: int | None = None) -> list[int]:
    """Lock subscriber rows in id order and return the ids this transaction now holds.

    PostgreSQL: row locks (another worker holding one makes us skip it when skip_locked).
    SQLite: the write transaction (BEGIN IMMEDIATE) already excludes every other writer.
    """
    if not ids:
        return []
    if conn.dialect.name != "postgresql":
        # ids of subscribers deleted meanwhile are dropped when their rows are read
        unique = list(dict.fromkeys(ids))
        return unique[:limit] if limit else unique
    stmt = select(t.subscribers.c.id).where(t.subscribers.c.id.in_(sorted(set(ids)))).order_by(t.subscribers.c.id)
    if limit:
        # LIMIT applies after SKIP LOCKED: a second worker takes the next unlocked subscribers of the
        # same candidate list instead of finding all of them taken.
        stmt = stmt.limit(limit)
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


def rows_in(conn: Connection, sql: str, ids: Sequence[Any], *, before: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run a raw_rows read for many ids, IN_CHUNK at a time; return the rows of every chunk.

    `sql` writes `{ids}` where the IN list goes; `before` are the parameters written ahead of it.
    """
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        found += raw_rows(conn, sql.format(ids=marks(len(chunk))), [*before, *chunk])
    return found


IN_CHUNK = 900  # parameters in one IN list: under SQLite's limit of 999 with room for a few others


def marks(count: int) -> str:
    """`?, ?, …` for an IN list of `count` parameters."""
    return ", ".join(["?"] * count)


def _placeholder(conn: Connection) -> str:
    return "%s" if conn.dialect.name == "postgresql" else "?"


def fast_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows (all with the same keys) with insert_tuples."""
    if rows:
        columns = list(rows[0])
        insert_tuples(conn, table, columns, [tuple(row[c] for c in columns) for row in rows])


def insert_tuples(conn: Connection, table: Table, columns: Sequence[str], values: Sequence[tuple[Any, ...]]) -> None:
    """Insert many rows, given as tuples in `columns` order, without per-row statement processing.

    The hot paths write thousands of rows per batch (an import, a million); SQLAlchemy's per-parameter
    processing costs more than the database does there. PostgreSQL gets COPY, several times faster than
    executemany (one round trip, no per-row parse); SQLite the driver's executemany.
    """
    if not values:
        return
    names = ", ".join(f'"{c}"' for c in columns)
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.cursor()
        try:
            with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                for row in values:
                    copy.write_row(row)
        finally:
            cursor.close()
        return
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks(len(columns))})'
    conn.exec_driver_sql(sql, list(values))


def fast_update(conn: Connection, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Update many rows by primary key through executemany; `key` names the key column in each row."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != key]
    if conn.dialect.name == "postgresql":
        _update_from_values(conn, table, key, columns, rows)
        return
    sets = ", ".join(f'"{c}" = ?' for c in columns)
    sql = f'UPDATE "{table.name}" SET {sets} WHERE "{key}" = ?'
    conn.exec_driver_sql(sql, [(*(row[c] for c in columns), row[key]) for row in rows])


def _update_from_values(
    conn: Connection, table: Table, key: str, columns: list[str], rows: Sequence[dict[str, Any]]
) -> None:
    """One UPDATE … FROM (VALUES …) per chunk, after locking the rows in key order (no deadlocks)."""
    names = [key, *columns]
    types = {c: table.c[c].type.compile(dialect=conn.dialect) for c in names}
    row_sql = "(" + ", ".join(f"%s::{types[c]}" for c in names) + ")"
    sets = ", ".join(f'"{c}" = v."{c}"' for c in columns)
    quoted = ", ".join(f'"{c}"' for c in names)
    ordered = sorted(rows, key=lambda row: row[key])
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        keys = [row[key] for row in chunk]
        conn.exec_driver_sql(
            f'SELECT 1 FROM "{table.name}" WHERE "{key}" = ANY(%s) ORDER BY "{key}" FOR UPDATE', (keys,)
        )
        values = ", ".join([row_sql] * len(chunk))
        params = tuple(row[c] for row in chunk for c in names)
        conn.exec_driver_sql(
            f'UPDATE "{table.name}" AS t SET {sets} FROM (VALUES {values}) AS v({quoted}) WHERE t."{key}" = v."{key}"',
            params,
        )


def fast_delete(conn: Connection, table: Table, key: str, ids: Sequence[Any]) -> None:
    """Delete rows by key, in chunks that stay under every driver's parameter limit."""
    mark = _placeholder(conn)
    for start in range(0, len(ids), IN_CHUNK):
        chunk = list(ids[start : start + IN_CHUNK])
        sql = f'DELETE FROM "{table.name}" WHERE "{key}" IN ({", ".join([mark] * len(chunk))})'
        conn.exec_driver_sql(sql, tuple(chunk))


def refresh_statistics(conn: Connection, tables: Sequence[Table]) -> None:
    """Let PostgreSQL's planner see the tables as they are now, after a bulk load changed them.

    Without statistics (autovacuum off, or not yet run) the planner guesses, and a lookup of a batch's
    rows can turn into a read of the whole account. SQLite needs nothing: its indexes are chosen
    without statistics, and the schema leaves it one good choice.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE " + ", ".join(table.name for table in tables))
