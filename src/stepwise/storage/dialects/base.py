"""What every dialect provides: the statements that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, Connection, Insert, Select, Table

SelectT = TypeVar("SelectT", bound=Select[Any])
IN_CHUNK = 900  # parameters in one IN list: under SQLite's limit of 999 with room for a few others


def marks(count: int) -> str:
    """`?, ?, …` for an IN list of `count` parameters."""
    return ", ".join(["?"] * count)


class Statements(Protocol):
    """One dialect's statements; `stepwise.storage.dialects.of(conn)` picks the connection's."""

    name: str
    mark: str  # the driver's parameter placeholder

    def insert_ignore(self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None: ...

    def upsert_tuples(
        self,
        conn: Connection,
        table: Table,
        columns: Sequence[str],
        conflict: Sequence[str],
        values: Sequence[tuple[Any, ...]],
    ) -> None:
        """Insert rows (tuples in `columns` order), or update the other columns where the `conflict` keys exist."""

    def insert_ignore_returning(
        self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]], returning: str
    ) -> list[Any]:
        """insert_ignore, returning column `returning` of the rows it inserted (not of those that collided)."""
        ...

    def insert_ignore_one(self, table: Table, row: dict[str, Any]) -> Insert:
        """An INSERT of one row that does nothing when its key exists (rowcount 0)."""

    def add_to(self, conn: Connection, table: Table, keys: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
        """Insert rows, or add their `value` to the row with the same keys."""

    def for_update(self, stmt: SelectT, *, skip_locked: bool = False, of: Table | None = None) -> SelectT:
        """Lock the selected rows where the database has row locks (unchanged on SQLite)."""

    def lock_subscribers(
        self, conn: Connection, ids: Sequence[int], *, skip_locked: bool, limit: int | None
    ) -> list[int]: ...

    def in_one_parameter(self, column: ColumnElement[str], values: Sequence[str], name: str) -> ColumnElement[bool]:
        """`column IN (values)` with all values bound as one parameter."""

    def ids_in_one_parameter(self, column: ColumnElement[int], ids: Sequence[int], name: str) -> ColumnElement[bool]:
        """`column IN (ids)` with all integer ids bound as one parameter."""

    def driver_sql(self, sql: str) -> str:
        """Translate `?` parameters to the driver's style."""

    def insert_tuples(
        self, conn: Connection, table: Table, columns: Sequence[str], values: Sequence[tuple[Any, ...]]
    ) -> None: ...

    def update_rows(
        self, conn: Connection, table: Table, key: str, columns: list[str], rows: Sequence[dict[str, Any]]
    ) -> None: ...

    def delete_rows(self, conn: Connection, table: Table, key: str, ids: Sequence[Any]) -> None: ...

    def refresh_statistics(self, conn: Connection, tables: Sequence[Table]) -> None: ...

    def notify(self, conn: Connection, channel: str) -> None:
        """Tell other processes about a channel on commit (SQLite processes poll instead)."""
