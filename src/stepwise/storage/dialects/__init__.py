"""The few statements that differ between SQLite and PostgreSQL, gathered per dialect.

Each dialect's statements live in its own module (sqlite.py, postgresql.py) behind one interface
(base.Statements); `of(conn)` picks the connection's. The functions below are what storage calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table

from stepwise.storage import schema as t
from stepwise.storage.dialects.base import IN_CHUNK, SelectT, Statements, marks
from stepwise.storage.dialects.postgresql import PostgresStatements, array_text
from stepwise.storage.dialects.sqlite import SqliteStatements

__all__ = ["IN_CHUNK", "Statements", "marks", "of"]

_BY_NAME: dict[str, Statements] = {"sqlite": SqliteStatements(), "postgresql": PostgresStatements()}
_COUNTER_KEYS = ("account_id", "sequence_id", "metric", "step", "variant", "shard")


def of(conn: Connection) -> Statements:
    """The statements of this connection's database."""
    return _BY_NAME[conn.dialect.name]


def has_row_locks(conn: Connection) -> bool:
    """Whether the database locks single rows (PostgreSQL) rather than the whole database (SQLite)."""
    return conn.dialect.name == "postgresql"


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, skipping those that collide with an existing key."""
    if rows:
        of(conn).insert_ignore(conn, table, rows)


def insert_ignore_returning(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], returning: str
) -> list[Any]:
    """Insert rows, skipping those that collide with an existing key; column `returning` of those inserted."""
    return of(conn).insert_ignore_returning(conn, table, rows, returning) if rows else []


def upsert_tuples(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    conflict: Sequence[str],
    values: Sequence[tuple[Any, ...]],
) -> None:
    """Insert rows given as tuples, or update the other columns where the `conflict` keys exist (one statement)."""
    if values:
        of(conn).upsert_tuples(conn, table, columns, conflict, values)


def insert_new(conn: Connection, table: Table, row: dict[str, Any]) -> bool:
    """Insert one row unless its key exists already; True when this call inserted it."""
    stmt = of(conn).insert_ignore_one(table, row).returning(*table.primary_key.columns)
    return conn.execute(stmt).first() is not None


def add_to_counters(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Add deltas to counters; rows are applied in key order so parallel writers cannot deadlock."""
    if rows:
        ordered = sorted(rows, key=lambda r: tuple(r[k] for k in _COUNTER_KEYS))
        of(conn).add_to(conn, t.counters, _COUNTER_KEYS, ordered)


def for_update(conn: Connection, stmt: SelectT, *, skip_locked: bool = False, of_table: Table | None = None) -> SelectT:
    """Lock the selected rows on PostgreSQL; SQLite's write transaction already excludes other writers."""
    return of(conn).for_update(stmt, skip_locked=skip_locked, of=of_table)


def in_one_parameter(
    conn: Connection, column: ColumnElement[str], values: Sequence[str], name: str
) -> ColumnElement[bool]:
    """`column IN (values)` with the values as one parameter (thousands of parameters would cost more)."""
    return of(conn).in_one_parameter(column, values, name)


def ids_in(conn: Connection, column: ColumnElement[int], ids: Sequence[int], name: str = "ids") -> ColumnElement[bool]:
    """`column IN (ids)` with the integer ids as one parameter: no chunking, and no per-id statement cost
    (SQLAlchemy compiles a bind per id of an IN list; PostgreSQL parses each distinct long list anew)."""
    return of(conn).ids_in_one_parameter(column, ids, name)


def lock_subscribers(conn: Connection, ids: Sequence[int], *, skip_locked: bool, limit: int | None = None) -> list[int]:
    """Lock subscriber rows in id order and return the ids this transaction now holds.

    PostgreSQL: row locks (another worker holding one makes us skip it when skip_locked).
    SQLite: the write transaction (BEGIN IMMEDIATE) already excludes every other writer.
    """
    if not ids:
        return []
    return of(conn).lock_subscribers(conn, ids, skip_locked=skip_locked, limit=limit)


def raw_rows(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run a read on the transaction's own driver cursor and return plain tuples.

    For the hot reads of every batch: SQLAlchemy's row objects cost more than the query there.
    Write `?` for parameters; it is translated to the driver's style.
    """
    cursor = conn.connection.cursor()
    try:
        cursor.execute(of(conn).driver_sql(sql), tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def rows_in(conn: Connection, sql: str, ids: Sequence[Any], *, before: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run a raw_rows read for many ids; return the rows.

    `sql` writes `IN ({ids})` where the list goes; `before` are the parameters written ahead of it.
    SQLite gets the ids IN_CHUNK at a time as plain parameters; PostgreSQL gets them as one array
    (`= ANY(…)`): one statement text whatever the count, which the server need not parse anew.
    """
    if not ids:
        return []
    if of(conn).name == "postgresql":
        return raw_rows(conn, sql.replace("IN ({ids})", "= ANY(?)"), [*before, array_text(ids)])
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        found += raw_rows(conn, sql.format(ids=marks(len(chunk))), [*before, *chunk])
    return found


def rows_each(
    conn: Connection, sql: str, ids: Sequence[Any], *, before: Sequence[Any] = (), item: str = "BIGINT"
) -> list[tuple[Any, ...]]:
    """rows_in for a read that must find each id's rows through an index whatever the statistics say.

    On PostgreSQL the read runs once per id (`unnest` of the ids joined LATERAL to the read, kept apart
    by OFFSET 0), so each id is an index probe on (account_id, subscriber_id, …). Given the whole list at
    once, the planner sometimes probes by account alone and filters every row of the account — with
    statistics taken while a table was still small (a fresh import, a first campaign) that was a
    scan of 20,000 rows per batch of 500. `item` is the SQL type of the ids. Each distinct id counts once.
    """
    if not ids:
        return []
    unique = list(dict.fromkeys(ids))
    if of(conn).name != "postgresql":
        return rows_in(conn, sql, unique, before=before)
    inner = sql.replace("IN ({ids})", "= _id.value")
    each = f"SELECT _each.* FROM unnest(?::{item}[]) AS _id(value) CROSS JOIN LATERAL ({inner} OFFSET 0) AS _each"
    return raw_rows(conn, each, [array_text(unique), *before])


def fast_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows (all with the same keys) with insert_tuples."""
    if rows:
        columns = list(rows[0])
        insert_tuples(conn, table, columns, [tuple(row[c] for c in columns) for row in rows])


def insert_tuples(conn: Connection, table: Table, columns: Sequence[str], values: Sequence[tuple[Any, ...]]) -> None:
    """Insert many rows, given as tuples in `columns` order, without per-row statement processing.

    The hot paths write thousands of rows per batch (an import, a million); SQLAlchemy's per-parameter
    processing costs more than the database does there. PostgreSQL gets COPY; SQLite executemany.
    """
    if values:
        of(conn).insert_tuples(conn, table, columns, values)


def fast_update(conn: Connection, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Update many rows by primary key; `key` names the key column in each row."""
    if rows:
        of(conn).update_rows(conn, table, key, [c for c in rows[0] if c != key], rows)


def fast_delete(conn: Connection, table: Table, key: str, ids: Sequence[Any]) -> None:
    """Delete rows by key: one array on PostgreSQL, chunks under SQLite's parameter limit."""
    if ids:
        of(conn).delete_rows(conn, table, key, ids)


def refresh_statistics(conn: Connection, tables: Sequence[Table]) -> None:
    """Let the planner see the tables as they are now, after a bulk load changed them (PostgreSQL only)."""
    of(conn).refresh_statistics(conn, tables)
