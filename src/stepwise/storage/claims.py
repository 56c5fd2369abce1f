"""Reads the advancing loop claims by: which subscribers still exist."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from stepwise.storage import schema as t


def existing_subscribers(conn: Connection, ids: Sequence[int]) -> set[int]:
    """Return those of `ids` that name a stored subscriber."""
    if not ids:
        return set()
    stmt = select(t.subscribers.c.id).where(t.subscribers.c.id.in_(list(ids)))
    return {int(row.id) for row in conn.execute(stmt)}
