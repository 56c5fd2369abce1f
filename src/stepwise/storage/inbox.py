"""Accepted events waiting to be processed, and the ids that make posting idempotent (S13, S14)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select

from stepwise.domain.events import NewEvent
from stepwise.storage import schema as t
from stepwise.storage.codec import decoded_object, dumps
from stepwise.storage.dialects import fast_delete, insert_tuples, rows_in
from stepwise.storage.notify import WORK, notify

# Called with the number of events each add() queued (the process's metrics count accepted events).
ADDED: list[Callable[[int], None]] = []
# Called with the connection and the events, in the transaction that adds them (services register the
# webhook fan-out here: every edge event passes through `add`, and storage may not import services).
WRITTEN: list[Callable[[Connection, Sequence[NewEvent]], None]] = []


@dataclass(slots=True)  # not frozen: built for every event, and a frozen __init__ costs 5x
class InboxRow:
    id: int
    account_id: int
    subscriber_id: int
    kind: str
    payload: dict[str, Any]
    source: str
    occurred_at: int
    accepted_at: int
    # Why the stored payload cannot be used (not JSON, or not an object); the payload is then empty and
    # `raw` keeps the stored text, so that the worker sets the event aside instead of failing its batch.
    error: str | None = None
    raw: str | None = None


_COLUMNS = ("account_id", "subscriber_id", "kind", "payload", "source", "occurred_at", "accepted_at")


def add(conn: Connection, events: Sequence[NewEvent]) -> None:
    """Append accepted events (the only writer of inbox rows) and wake the advancing loop.

    Events often share one payload object (a segment's join events, say): it is serialised once.
    """
    texts: dict[int, str] = {}
    rows = []
    for e in events:
        text = texts.get(id(e.payload))
        if text is None:
            text = texts[id(e.payload)] = dumps(e.payload)
        rows.append((e.account_id, e.subscriber_id, e.kind, text, e.source, e.occurred_at, e.accepted_at))
    insert_tuples(conn, t.inbox, _COLUMNS, rows)
    if rows:
        notify(conn, WORK)
        for listener in ADDED:
            listener(len(rows))
        for hook in WRITTEN:
            hook(conn, events)


def pending_subscribers(conn: Connection, limit: int) -> list[int]:
    """Return subscribers with the oldest pending events (oldest first)."""
    stmt = select(t.inbox.c.subscriber_id).order_by(t.inbox.c.id).limit(limit)
    return list(dict.fromkeys(r[0] for r in conn.execute(stmt)))


def of_subscribers(conn: Connection, subscriber_ids: Sequence[int]) -> dict[int, list[InboxRow]]:
    """Return pending events of these subscribers in acceptance order."""
    found: dict[int, list[InboxRow]] = defaultdict(list)
    sql = (
        "SELECT id, account_id, subscriber_id, kind, payload, source, occurred_at, accepted_at FROM inbox "
        "WHERE subscriber_id IN ({ids}) ORDER BY id"
    )
    for r in rows_in(conn, sql, subscriber_ids):
        payload, error = decoded_object(r[4])
        raw = None if error is None else str(r[4])
        found[r[2]].append(InboxRow(r[0], r[1], r[2], r[3], payload, r[5], r[6], r[7], error, raw))
    for events in found.values():
        events.sort(key=lambda e: e.id)
    return found


@dataclass(frozen=True, slots=True)
class PendingRef:
    """A pending event, by id, with its acceptance time (microseconds)."""

    id: int
    accepted_at: int


def pending_of(conn: Connection, subscriber_id: int) -> list[PendingRef]:
    """Return one subscriber's pending events in acceptance order."""
    stmt = (
        select(t.inbox.c.id, t.inbox.c.accepted_at)
        .where(t.inbox.c.subscriber_id == subscriber_id)
        .order_by(t.inbox.c.id)
    )
    return [PendingRef(int(r[0]), int(r[1])) for r in conn.execute(stmt)]


def by_id(conn: Connection, event_id: int) -> InboxRow | None:
    """Return one pending event (its payload decoded when it can be), or None when it is gone."""
    row = conn.execute(select(t.inbox).where(t.inbox.c.id == event_id)).first()
    if row is None:
        return None
    payload, error = decoded_object(row.payload)
    return InboxRow(
        row.id,
        row.account_id,
        row.subscriber_id,
        row.kind,
        payload,
        row.source,
        row.occurred_at,
        row.accepted_at,
        error,
        str(row.payload),
    )


def remove_of_subscribers(conn: Connection, subscriber_ids: Sequence[int]) -> None:
    """Drop the pending events of subscribers that no longer exist."""
    fast_delete(conn, t.inbox, "subscriber_id", subscriber_ids)


def remove(conn: Connection, ids: Sequence[int]) -> None:
    fast_delete(conn, t.inbox, "id", ids)


def depth(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(t.inbox)).scalar_one())


def known_ids(conn: Connection, account_id: int, ext_ids: Sequence[str]) -> set[str]:
    """Return which of these client event ids the account already accepted."""
    found: set[str] = set()
    for start in range(0, len(ext_ids), 500):
        chunk = list(ext_ids[start : start + 500])
        rows = conn.execute(
            select(t.event_ids.c.ext_id).where(t.event_ids.c.account_id == account_id, t.event_ids.c.ext_id.in_(chunk))
        )
        found.update(r[0] for r in rows)
    return found


def remember_ids(conn: Connection, account_id: int, ext_ids: Sequence[str], now_us: int) -> None:
    if ext_ids:
        conn.execute(
            insert(t.event_ids), [{"account_id": account_id, "ext_id": e, "accepted_at": now_us} for e in ext_ids]
        )
