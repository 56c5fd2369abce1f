"""Accepted events waiting to be processed, and the ids that make posting idempotent (S13, S14)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select

from stepwise.storage import schema as t
from stepwise.storage.codec import dumps, loads
from stepwise.storage.dialects import fast_delete, fast_insert, rows_in
from stepwise.storage.notify import WORK, notify

# Called with the number of events each add() queued (the process's metrics count accepted events).
ADDED: list[Callable[[int], None]] = []


@dataclass(frozen=True, slots=True)
class InboxRow:
    id: int
    account_id: int
    subscriber_id: int
    kind: str
    payload: dict[str, Any]
    source: str
    occurred_at: int
    accepted_at: int


def add(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Append events; each row has account_id, subscriber_id, kind, payload (dict), source, times."""
    fast_insert(conn, t.inbox, [{**r, "payload": dumps(r["payload"])} for r in rows])
    if rows:
        notify(conn, WORK)
        for listener in ADDED:
            listener(len(rows))


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
        found[r[2]].append(InboxRow(r[0], r[1], r[2], r[3], loads(r[4]), r[5], r[6], r[7]))
    for events in found.values():
        events.sort(key=lambda e: e.id)
    return found


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
