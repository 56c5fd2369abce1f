"""A subscriber's timeline: events, transitions, actions and deliveries, oldest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from stepwise.storage import schema as t
from stepwise.storage.codec import dumps
from stepwise.storage.dialects import insert_tuples


@dataclass(slots=True)  # not frozen: built for every event, and a frozen __init__ costs 5x
class NewEntry:
    """A timeline entry to append (`at` in microseconds; `detail` is serialised on write)."""

    account_id: int
    subscriber_id: int
    at: int
    kind: str
    sequence: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EntryRow:
    """A stored timeline entry; `detail` is its stored JSON text."""

    id: int
    at: int
    kind: str
    sequence: str | None
    detail: str


_NEW = ("account_id", "subscriber_id", "at", "kind", "sequence", "detail")
_READ = (t.timeline.c.id, t.timeline.c.at, t.timeline.c.kind, t.timeline.c.sequence, t.timeline.c.detail)


def add_entries(conn: Connection, entries: Sequence[NewEntry]) -> None:
    """Append entries."""
    values = [(e.account_id, e.subscriber_id, e.at, e.kind, e.sequence, dumps(e.detail)) for e in entries]
    insert_tuples(conn, t.timeline, _NEW, values)


def _entries(rows: Any) -> list[EntryRow]:
    return [EntryRow(id=r.id, at=r.at, kind=r.kind, sequence=r.sequence, detail=r.detail) for r in rows]


def page(conn: Connection, account_id: int, subscriber_id: int, *, after_id: int, limit: int) -> list[EntryRow]:
    stmt = (
        select(*_READ)
        .where(
            t.timeline.c.account_id == account_id,
            t.timeline.c.subscriber_id == subscriber_id,
            t.timeline.c.id > after_id,
        )
        .order_by(t.timeline.c.id)
        .limit(limit)
    )
    return _entries(conn.execute(stmt))


def newest(
    conn: Connection, account_id: int, subscriber_id: int, *, before_id: int | None, limit: int
) -> list[EntryRow]:
    """Entries newest first, those older than `before_id` when given (keyset paging backwards)."""
    stmt = select(*_READ).where(t.timeline.c.account_id == account_id, t.timeline.c.subscriber_id == subscriber_id)
    if before_id is not None:
        stmt = stmt.where(t.timeline.c.id < before_id)
    return _entries(conn.execute(stmt.order_by(t.timeline.c.id.desc()).limit(limit)))


def subscriber_id(conn: Connection, account_id: int, email_key: str) -> int | None:
    """Return the id of the subscriber with this address key, without reading (decoding) the rest of the row.

    So a subscriber whose stored data cannot be read, and whom the worker set aside, still has a timeline.
    """
    stmt = select(t.subscribers.c.id).where(
        t.subscribers.c.account_id == account_id, t.subscribers.c.email_key == email_key
    )
    row = conn.execute(stmt).first()
    return None if row is None else int(row[0])
