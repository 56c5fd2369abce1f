"""PostgreSQL's statements: row locks taken in id order, COPY for bulk inserts, `%s` parameters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Insert, Table, any_, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import UserDefinedType

from stepwise.storage import schema as t
from stepwise.storage.dialects.base import SelectT

UPDATE_CHUNK = 5000


def array_text(values: Sequence[Any]) -> str | list[Any]:
    """PostgreSQL's text form of a one-dimensional array of ints, bools, strings and NULLs ('{1,NULL,"a"}').

    psycopg adapts a list element by element in Python, which on a batch of runs cost more than the
    statement it fed; joining the text here is several times cheaper. The parameter goes as an untyped
    literal, which the statement casts or compares to a typed column. Other element types are returned as
    a list for psycopg to adapt.
    """
    if all(type(v) is int for v in values):
        return "{" + ",".join(map(str, values)) + "}"
    try:
        return "{" + ",".join(map(_element, values)) + "}"
    except TypeError:
        return list(values)


class _ArrayText(UserDefinedType[str]):
    """A parameter holding array_text's literal, cast in the statement to `item[]` ($1::BIGINT[]).

    The cast must sit on the parameter itself: an array built from it by an expression (CAST of a VARCHAR)
    is not folded into a constant, and a scan evaluating it per row parses the whole list each time.
    """

    cache_ok = True
    render_bind_cast = True

    def __init__(self, item: str) -> None:
        self.item = item

    def get_col_spec(self, **kw: Any) -> str:
        return f"{self.item}[]"


def _sql_type(conn: Connection, table: Table, column: str) -> str:
    """The column's type as PostgreSQL names it, for the casts of array parameters (`%s::BIGINT[]`)."""
    return str(table.c[column].type.compile(dialect=conn.dialect))


def _element(value: Any) -> str:
    if value is None:
        return "NULL"
    if type(value) is bool:
        return "t" if value else "f"
    if type(value) is int:
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(type(value).__name__)


class PostgresStatements:
    name = "postgresql"
    mark = "%s"

    def insert_ignore(self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            columns = list(rows[0])
            self._from_arrays(conn, table, columns, [tuple(row[c] for c in columns) for row in rows], "DO NOTHING")

    def upsert_tuples(
        self,
        conn: Connection,
        table: Table,
        columns: Sequence[str],
        conflict: Sequence[str],
        values: Sequence[tuple[Any, ...]],
    ) -> None:
        keys = ", ".join(f'"{c}"' for c in conflict)
        sets = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in conflict)
        self._from_arrays(conn, table, columns, values, f"({keys}) DO UPDATE SET {sets}")

    def insert_ignore_returning(
        self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]], returning: str
    ) -> list[Any]:
        if not rows:
            return []
        columns = list(rows[0])
        values = [tuple(row[c] for c in columns) for row in rows]
        return self._from_arrays(conn, table, columns, values, f'DO NOTHING RETURNING "{returning}"')

    def _from_arrays(
        self, conn: Connection, table: Table, columns: Sequence[str], values: Sequence[tuple[Any, ...]], conflict: str
    ) -> list[Any]:
        """One INSERT … SELECT FROM unnest(one array per column) ON CONFLICT …: one statement, one round trip,
        and the same text whatever the row count (executemany sends a statement per row)."""
        if not values:
            return []
        names = ", ".join(f'"{c}"' for c in columns)
        arrays = ", ".join(f"%s::{_sql_type(conn, table, c)}[]" for c in columns)
        params = tuple(array_text(column) for column in zip(*values, strict=True))
        result = conn.exec_driver_sql(
            f'INSERT INTO "{table.name}" ({names}) SELECT * FROM unnest({arrays}) ON CONFLICT {conflict}', params
        )
        return [r[0] for r in result] if result.returns_rows else []

    def insert_ignore_one(self, table: Table, row: dict[str, Any]) -> Insert:
        return postgresql.insert(table).values(**row).on_conflict_do_nothing()

    def add_to(self, conn: Connection, table: Table, keys: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
        stmt = postgresql.insert(table)
        update = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={"value": table.c.value + stmt.excluded.value}
        )
        conn.execute(update, list(rows))

    def for_update(self, stmt: SelectT, *, skip_locked: bool = False, of: Table | None = None) -> SelectT:
        return stmt.with_for_update(skip_locked=skip_locked, of=of)

    def lock_subscribers(
        self, conn: Connection, ids: Sequence[int], *, skip_locked: bool, limit: int | None
    ) -> list[int]:
        ids_ = t.subscribers.c.id
        stmt = select(ids_).where(self.ids_in_one_parameter(ids_, sorted(set(ids)), "ids")).order_by(ids_)
        if limit:
            # LIMIT applies after SKIP LOCKED: a second worker takes the next unlocked subscribers of the
            # same candidate list instead of finding all of them taken.
            stmt = stmt.limit(limit)
        return [row[0] for row in conn.execute(stmt.with_for_update(skip_locked=skip_locked))]

    def in_one_parameter(self, column: ColumnElement[str], values: Sequence[str], name: str) -> ColumnElement[bool]:
        return column == any_(bindparam(name, array_text([str(v) for v in values]), type_=_ArrayText("VARCHAR")))

    def ids_in_one_parameter(self, column: ColumnElement[int], ids: Sequence[int], name: str) -> ColumnElement[bool]:
        return column == any_(bindparam(name, array_text([int(i) for i in ids]), type_=_ArrayText("BIGINT")))

    def driver_sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def insert_tuples(
        self, conn: Connection, table: Table, columns: Sequence[str], values: Sequence[tuple[Any, ...]]
    ) -> None:
        """COPY: several times faster than executemany (one round trip, no per-row parse)."""
        names = ", ".join(f'"{c}"' for c in columns)
        cursor = conn.connection.cursor()
        try:
            with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                for row in values:
                    copy.write_row(row)
        finally:
            cursor.close()

    def update_rows(
        self, conn: Connection, table: Table, key: str, columns: list[str], rows: Sequence[dict[str, Any]]
    ) -> None:
        """One UPDATE … FROM unnest(one array per column) per chunk, after locking the rows in key order (no
        deadlocks). The statement's text is the same whatever the row count, so neither psycopg nor the server
        parses it anew per batch (a VALUES list of 500 rows made psycopg spend a fifth of a deadline on it)."""
        names = [key, *columns]
        types = {c: _sql_type(conn, table, c) for c in names}
        arrays = ", ".join(f"%s::{types[c]}[]" for c in names)
        sets = ", ".join(f'"{c}" = v."{c}"' for c in columns)
        quoted = ", ".join(f'"{c}"' for c in names)
        lock = f'SELECT 1 FROM "{table.name}" WHERE "{key}" = ANY(%s::{types[key]}[]) ORDER BY "{key}" FOR UPDATE'
        update = (
            f'UPDATE "{table.name}" AS t SET {sets} FROM unnest({arrays}) AS v({quoted}) WHERE t."{key}" = v."{key}"'
        )
        ordered = sorted(rows, key=lambda row: row[key])
        for start in range(0, len(ordered), UPDATE_CHUNK):
            chunk = ordered[start : start + UPDATE_CHUNK]
            conn.exec_driver_sql(lock, (array_text([row[key] for row in chunk]),))
            conn.exec_driver_sql(update, tuple(array_text([row[c] for row in chunk]) for c in names))

    def delete_rows(self, conn: Connection, table: Table, key: str, ids: Sequence[Any]) -> None:
        """One statement with the keys as one array: the same text whatever the count, no per-key parameter."""
        item = _sql_type(conn, table, key)
        conn.exec_driver_sql(f'DELETE FROM "{table.name}" WHERE "{key}" = ANY(%s::{item}[])', (array_text(ids),))

    def refresh_statistics(self, conn: Connection, tables: Sequence[Table]) -> None:
        """ANALYZE: without statistics the planner guesses, and a batch lookup can read the whole account."""
        conn.exec_driver_sql("ANALYZE " + ", ".join(table.name for table in tables))

    def notify(self, conn: Connection, channel: str) -> None:
        conn.exec_driver_sql(f"NOTIFY {channel}")
