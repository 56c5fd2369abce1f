"""Subscribers and their list memberships."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from stepwise.domain.statuses import SubscriberStatus
from stepwise.errors import UnreadableRow
from stepwise.storage import date_triggers, dialects, schema_segments
from stepwise.storage import schema as t
from stepwise.storage.codec import decoded_object, dumps
from stepwise.storage.dialects import fast_update, insert_tuples, rows_each, rows_in


@dataclass(slots=True)
class SubscriberRow:
    id: int
    account_id: int
    email: str
    email_key: str
    status: SubscriberStatus
    data: dict[str, Any]
    created_at: int
    updated_at: int


_COLUMNS = (
    t.subscribers.c.id,
    t.subscribers.c.account_id,
    t.subscribers.c.email,
    t.subscribers.c.email_key,
    t.subscribers.c.status,
    t.subscribers.c.data,
    t.subscribers.c.created_at,
    t.subscribers.c.updated_at,
)


def _row(row: Any) -> SubscriberRow:
    data, error = decoded_object(row[5])
    if error:
        raise UnreadableRow(f"the stored data of subscriber {row[2]} cannot be read ({error[:200]})")
    return SubscriberRow(row[0], row[1], row[2], row[3], cast(SubscriberStatus, row[4]), data, row[6], row[7])


def find(conn: Connection, account_id: int, email_key: str, *, for_update: bool = False) -> SubscriberRow | None:
    """Return the subscriber with this address key, optionally locking the row."""
    stmt = select(*_COLUMNS).where(t.subscribers.c.account_id == account_id, t.subscribers.c.email_key == email_key)
    if for_update:
        stmt = dialects.for_update(conn, stmt)
    row = conn.execute(stmt).first()
    return _row(row) if row else None


def find_many(conn: Connection, account_id: int, email_keys: Sequence[str]) -> dict[str, SubscriberRow]:
    """Return subscribers by address key."""
    found: dict[str, SubscriberRow] = {}
    for start in range(0, len(email_keys), 500):
        chunk = list(email_keys[start : start + 500])
        for row in conn.execute(
            select(*_COLUMNS).where(t.subscribers.c.account_id == account_id, t.subscribers.c.email_key.in_(chunk))
        ):
            sub = _row(row)
            found[sub.email_key] = sub
    return found


def clear_data(conn: Connection, account_id: int, email_key: str) -> None:
    """Replace a subscriber's stored data with an empty object (for data that cannot be read)."""
    conn.execute(
        update(t.subscribers)
        .where(t.subscribers.c.account_id == account_id, t.subscribers.c.email_key == email_key)
        .values(data=dumps({}))
    )


def by_ids(conn: Connection, ids: Sequence[int], *, with_data: bool = True) -> list[SubscriberRow]:
    """The subscribers with these ids; without their profile (`data` empty) when the caller reads none of it."""
    if with_data:
        sql = (
            "SELECT id, account_id, email, email_key, status, data, created_at, updated_at FROM subscribers "
            "WHERE id IN ({ids})"
        )
        return [_row(r) for r in rows_in(conn, sql, ids)]
    sql = "SELECT id, account_id, email, email_key, status, created_at, updated_at FROM subscribers WHERE id IN ({ids})"
    return [
        SubscriberRow(r[0], r[1], r[2], r[3], cast(SubscriberStatus, r[4]), {}, r[5], r[6])
        for r in rows_in(conn, sql, ids)
    ]


def insert_one(
    conn: Connection, account_id: int, email: str, email_key: str, status: str, data: dict[str, Any], now_us: int
) -> int:
    result = conn.execute(
        insert(t.subscribers).values(
            account_id=account_id,
            email=email,
            email_key=email_key,
            status=status,
            data=dumps(data),
            created_at=now_us,
            updated_at=now_us,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def save(conn: Connection, sub: SubscriberRow, now_us: int) -> None:
    """Write status and data of a subscriber."""
    conn.execute(
        update(t.subscribers)
        .where(t.subscribers.c.id == sub.id)
        .values(status=sub.status, data=dumps(sub.data), updated_at=now_us)
    )


def save_data_many(conn: Connection, rows: Iterable[tuple[int, dict[str, Any]]], now_us: int) -> None:
    """Write the data of several subscribers."""
    params = [{"b_id": sid, "b_data": dumps(data), "b_now": now_us} for sid, data in rows]
    if params:
        conn.execute(
            update(t.subscribers)
            .where(t.subscribers.c.id == bindparam("b_id"))
            .values(data=bindparam("b_data"), updated_at=bindparam("b_now")),
            params,
        )


def delete_one(conn: Connection, account_id: int, subscriber_id: int) -> None:
    """Delete a subscriber and everything that hangs off them (issues stay in the archive)."""
    where_sub = and_(t.list_members.c.account_id == account_id, t.list_members.c.subscriber_id == subscriber_id)
    conn.execute(delete(t.list_members).where(where_sub))
    conn.execute(delete(t.runs).where(t.runs.c.account_id == account_id, t.runs.c.subscriber_id == subscriber_id))
    conn.execute(
        delete(t.timeline).where(t.timeline.c.account_id == account_id, t.timeline.c.subscriber_id == subscriber_id)
    )
    conn.execute(delete(t.inbox).where(t.inbox.c.subscriber_id == subscriber_id))
    conn.execute(delete(t.outbox).where(t.outbox.c.account_id == account_id, t.outbox.c.subscriber_id == subscriber_id))
    conn.execute(
        update(t.issues)
        .where(t.issues.c.account_id == account_id, t.issues.c.subscriber_id == subscriber_id)
        .values(subscriber_id=None)
    )
    _leave_segments(conn, account_id, subscriber_id)
    date_triggers.forget_subscriber(conn, account_id, subscriber_id)
    conn.execute(delete(t.subscribers).where(t.subscribers.c.id == subscriber_id))


def _leave_segments(conn: Connection, account_id: int, subscriber_id: int) -> None:
    """Drop a deleted subscriber from every segment they were in, with the stored counts (SPEC S22)."""
    seg, mem = schema_segments.segments, schema_segments.segment_members
    held = select(mem.c.segment_id).where(mem.c.account_id == account_id, mem.c.subscriber_id == subscriber_id)
    conn.execute(update(seg).where(seg.c.id.in_(held)).values(member_count=seg.c.member_count - 1))
    conn.execute(delete(mem).where(mem.c.account_id == account_id, mem.c.subscriber_id == subscriber_id))
    due = schema_segments.segment_deadlines
    conn.execute(delete(due).where(due.c.account_id == account_id, due.c.subscriber_id == subscriber_id))


def page(
    conn: Connection,
    account_id: int,
    *,
    after_id: int,
    limit: int,
    status: str | None = None,
    list_id: int | None = None,
    search: str | None = None,
    segment_id: int | None = None,
) -> list[SubscriberRow]:
    """Return a keyset page of subscribers ordered by id."""
    stmt = select(*_COLUMNS).where(t.subscribers.c.account_id == account_id, t.subscribers.c.id > after_id)
    if status:
        stmt = stmt.where(t.subscribers.c.status == status)
    if list_id is not None:
        stmt = stmt.where(
            t.subscribers.c.id.in_(
                select(t.list_members.c.subscriber_id).where(
                    t.list_members.c.account_id == account_id, t.list_members.c.list_id == list_id
                )
            )
        )
    if search:
        stmt = stmt.where(t.subscribers.c.email_key.contains(search.lower(), autoescape=True))
    if segment_id is not None:
        mem = schema_segments.segment_members
        stmt = stmt.where(t.subscribers.c.id.in_(select(mem.c.subscriber_id).where(mem.c.segment_id == segment_id)))
    return [_row(r) for r in conn.execute(stmt.order_by(t.subscribers.c.id).limit(limit))]


def list_keys(conn: Connection, account_id: int, subscriber_ids: Sequence[int]) -> dict[int, set[str]]:
    """Return the keys of the lists each subscriber belongs to."""
    found: dict[int, set[str]] = defaultdict(set)
    sql = (
        "SELECT m.subscriber_id, l.key FROM list_members m JOIN lists l ON l.id = m.list_id "
        "WHERE m.account_id = ? AND m.subscriber_id IN ({ids})"
    )
    for sid, key in rows_each(conn, sql, subscriber_ids, before=[account_id]):
        found[sid].add(key)
    return found


def mark_bounced(conn: Connection, subscriber_id: int, now_us: int) -> None:
    """Record a hard bounce (SPEC §6.2)."""
    conn.execute(
        update(t.subscribers).where(t.subscribers.c.id == subscriber_id).values(status="bounced", updated_at=now_us)
    )


def find_many_locked(conn: Connection, account_id: int, email_keys: Sequence[str]) -> dict[str, SubscriberRow]:
    """Return subscribers by address key in one statement, locking their rows on PostgreSQL.

    Locks are taken in id order so that two batch writers over overlapping addresses cannot deadlock;
    workers lock with SKIP LOCKED and never wait on a batch writer.
    """
    if not email_keys:
        return {}
    stmt = select(*_COLUMNS).where(t.subscribers.c.account_id == account_id, _key_in(conn, email_keys))
    if dialects.has_row_locks(conn):
        stmt = stmt.order_by(t.subscribers.c.id).with_for_update()
    # No ORDER BY on SQLite (its write transaction already excludes everyone): with one, its planner
    # walks the (account_id, id) index through the whole account instead of looking the keys up.
    return {sub.email_key: sub for sub in map(_row, conn.execute(stmt).all())}


def _key_in(conn: Connection, email_keys: Sequence[str]) -> ColumnElement[bool]:
    """Return `email_key IN (keys)` with the keys as one parameter (thousands would cost more than the lookups)."""
    return dialects.in_one_parameter(conn, t.subscribers.c.email_key, email_keys, "email_keys")


def insert_many(conn: Connection, rows: Sequence[SubscriberRow], *, returning: bool) -> dict[str, int]:
    """Insert new subscribers in one statement; with `returning`, map their address keys to ids."""
    if not rows:
        return {}
    columns = ("account_id", "email", "email_key", "status", "data", "created_at", "updated_at")
    values = [(r.account_id, r.email, r.email_key, r.status, dumps(r.data), r.created_at, r.updated_at) for r in rows]
    insert_tuples(conn, t.subscribers, columns, values)
    if not returning:
        return {}
    found = conn.execute(
        select(t.subscribers.c.email_key, t.subscribers.c.id).where(
            t.subscribers.c.account_id == rows[0].account_id, _key_in(conn, [r.email_key for r in rows])
        )
    )
    return {str(key): int(sid) for key, sid in found}


def save_many(conn: Connection, rows: Sequence[SubscriberRow]) -> None:
    """Write status, data and updated_at of several subscribers with one executemany."""
    fast_update(
        conn,
        t.subscribers,
        "id",
        [{"id": r.id, "status": r.status, "data": dumps(r.data), "updated_at": r.updated_at} for r in rows],
    )


def batch_after(
    conn: Connection, account_id: int, after_id: int, limit: int, *, lock: bool = True
) -> list[SubscriberRow]:
    """Return the next keyset batch of an account's subscribers by id, locked on PostgreSQL unless `lock` is False."""
    stmt = (
        select(*_COLUMNS)
        .where(t.subscribers.c.account_id == account_id, t.subscribers.c.id > after_id)
        .order_by(t.subscribers.c.id)
        .limit(limit)
    )
    return [_row(r) for r in conn.execute(dialects.for_update(conn, stmt) if lock else stmt).all()]


def last_confirmation_at(conn: Connection, account_id: int, email_key: str, group: str) -> int | None:
    """Return when the newest email of this group (the double opt-in confirmations) was queued for an address."""
    row = conn.execute(
        select(t.issues.c.created_at)
        .where(t.issues.c.account_id == account_id, t.issues.c.email_key == email_key, t.issues.c.group_name == group)
        .order_by(t.issues.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else int(row[0])
