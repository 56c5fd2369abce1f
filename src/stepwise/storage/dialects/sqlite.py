"""SQLite's statements: one writer at a time (BEGIN IMMEDIATE), no row locks, `?` parameters."""

from __future__ import annotations

from collections.abc import Sequence
from json import dumps
from typing import Any

from sqlalchemy import ColumnElement, Connection, Insert, Integer, Select, String, Table, bindparam, func, select
from sqlalchemy import column as column_
from sqlalchemy.dialects import sqlite

from stepwise.storage.dialects.base import IN_CHUNK, SelectT, marks


class SqliteStatements:
    name = "sqlite"
    mark = "?"

    def insert_ignore(self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Plain values of the same keys, through the driver: SQLAlchemy's per-row processing cost more."""
        if not rows:
            return
        columns = list(rows[0])
        names = ", ".join(f'"{c}"' for c in columns)
        sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks(len(columns))}) ON CONFLICT DO NOTHING'
        conn.exec_driver_sql(sql, [tuple(row[c] for c in columns) for row in rows])

    def upsert_tuples(
        self,
        conn: Connection,
        table: Table,
        columns: Sequence[str],
        conflict: Sequence[str],
        values: Sequence[tuple[Any, ...]],
    ) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        keys = ", ".join(f'"{c}"' for c in conflict)
        sets = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in conflict)
        sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks(len(columns))}) ON CONFLICT ({keys}) DO UPDATE SET '
        conn.exec_driver_sql(sql + sets, list(values))

    def insert_ignore_returning(
        self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]], returning: str
    ) -> list[Any]:
        """Multi-row VALUES, IN_CHUNK parameters at a time (executemany cannot return rows)."""
        if not rows:
            return []
        columns = list(rows[0])
        names = ", ".join(f'"{c}"' for c in columns)
        per = max(1, IN_CHUNK // len(columns))
        found: list[Any] = []
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            values = ", ".join([f"({marks(len(columns))})"] * len(chunk))
            sql = f'INSERT INTO "{table.name}" ({names}) VALUES {values} ON CONFLICT DO NOTHING RETURNING "{returning}"'
            params = tuple(row[c] for row in chunk for c in columns)
            found += [r[0] for r in conn.exec_driver_sql(sql, params)]
        return found

    def insert_ignore_one(self, table: Table, row: dict[str, Any]) -> Insert:
        return sqlite.insert(table).values(**row).on_conflict_do_nothing()

    def add_to(self, conn: Connection, table: Table, keys: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
        stmt = sqlite.insert(table)
        update = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={"value": table.c.value + stmt.excluded.value}
        )
        conn.execute(update, list(rows))

    def for_update(self, stmt: SelectT, *, skip_locked: bool = False, of: Table | None = None) -> SelectT:
        return stmt  # the write transaction already excludes every other writer

    def lock_subscribers(
        self, conn: Connection, ids: Sequence[int], *, skip_locked: bool, limit: int | None
    ) -> list[int]:
        # ids of subscribers deleted meanwhile are dropped when their rows are read
        unique = list(dict.fromkeys(ids))
        return unique[:limit] if limit else unique

    def in_one_parameter(self, column: ColumnElement[str], values: Sequence[str], name: str) -> ColumnElement[bool]:
        listed: Select[str] = select(column_("value", String)).select_from(
            func.json_each(bindparam(name, dumps(list(values))))
        )
        return column.in_(listed.scalar_subquery())

    def ids_in_one_parameter(self, column: ColumnElement[int], ids: Sequence[int], name: str) -> ColumnElement[bool]:
        listed: Select[int] = select(column_("value", Integer)).select_from(
            func.json_each(bindparam(name, dumps([int(i) for i in ids])))
        )
        return column.in_(listed.scalar_subquery())

    def driver_sql(self, sql: str) -> str:
        return sql

    def insert_tuples(
        self, conn: Connection, table: Table, columns: Sequence[str], values: Sequence[tuple[Any, ...]]
    ) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks(len(columns))})'
        conn.exec_driver_sql(sql, list(values))

    def update_rows(
        self, conn: Connection, table: Table, key: str, columns: list[str], rows: Sequence[dict[str, Any]]
    ) -> None:
        sets = ", ".join(f'"{c}" = ?' for c in columns)
        sql = f'UPDATE "{table.name}" SET {sets} WHERE "{key}" = ?'
        conn.exec_driver_sql(sql, [(*(row[c] for c in columns), row[key]) for row in rows])

    def delete_rows(self, conn: Connection, table: Table, key: str, ids: Sequence[Any]) -> None:
        """In chunks that stay under SQLite's parameter limit."""
        for start in range(0, len(ids), IN_CHUNK):
            chunk = list(ids[start : start + IN_CHUNK])
            sql = f'DELETE FROM "{table.name}" WHERE "{key}" IN ({marks(len(chunk))})'
            conn.exec_driver_sql(sql, tuple(chunk))

    def refresh_statistics(self, conn: Connection, tables: Sequence[Table]) -> None:
        """Nothing: SQLite chooses indexes without statistics, and the schema leaves it one good choice."""

    def notify(self, conn: Connection, channel: str) -> None:
        """Nothing: SQLite processes poll."""
