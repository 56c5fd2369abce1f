"""Reads for the forecast (S21): one consistent snapshot of an account's subscribers, read only."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select, text

from stepwise.storage import schema as t
from stepwise.storage.subscribers import SubscriberRow, by_ids


def snapshot(conn: Connection) -> None:
    """Make this (just begun) read transaction one snapshot: REPEATABLE READ, READ ONLY on PostgreSQL.

    SQLite's read transactions in WAL mode already see one snapshot. Call it before any other statement.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))


def subscriber_ids(conn: Connection, account_id: int) -> list[int]:
    """Every subscriber id of the account, ascending."""
    stmt = select(t.subscribers.c.id).where(t.subscribers.c.account_id == account_id).order_by(t.subscribers.c.id)
    return [row[0] for row in conn.execute(stmt)]


def rows(conn: Connection, account_id: int, ids: Sequence[int]) -> list[SubscriberRow]:
    """The subscribers with these ids that belong to the account, by id."""
    return sorted((row for row in by_ids(conn, ids) if row.account_id == account_id), key=lambda row: row.id)
