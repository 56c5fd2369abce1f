"""A subscriber's timeline: events, transitions, actions and deliveries, oldest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, select

from stepwise.storage import schema as t
from stepwise.storage.codec import dumps
from stepwise.storage.dialects import fast_insert


def add(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Append entries; `detail` may be a dict (it is serialised here)."""
    fast_insert(conn, t.timeline, [{**r, "detail": dumps(r["detail"])} for r in rows])


def page(conn: Connection, account_id: int, subscriber_id: int, *, after_id: int, limit: int) -> list[Row[Any]]:
    stmt = (
        select(t.timeline)
        .where(
            t.timeline.c.account_id == account_id,
            t.timeline.c.subscriber_id == subscriber_id,
            t.timeline.c.id > after_id,
        )
        .order_by(t.timeline.c.id)
        .limit(limit)
    )
    return list(conn.execute(stmt))
