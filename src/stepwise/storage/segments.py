"""Segments and their memberships (SPEC §15); `member_count` moves with every membership change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from stepwise.domain.statuses import SubscriberStatus
from stepwise.storage import dialects
from stepwise.storage import schema as t
from stepwise.storage.dialects import IN_CHUNK, insert_ignore_returning
from stepwise.storage.schema_segments import segment_deadlines as D
from stepwise.storage.schema_segments import segment_members as M
from stepwise.storage.schema_segments import segments as S
from stepwise.storage.subscribers import _COLUMNS as subscriber_columns
from stepwise.storage.subscribers import SubscriberRow
from stepwise.storage.subscribers import _row as subscriber_row


@dataclass(frozen=True, slots=True)
class SegmentRow:
    id: int
    key: str
    name: str
    where: str
    member_count: int
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class MemberRow:
    subscriber_id: int
    email: str
    status: SubscriberStatus
    joined_at: int


@dataclass(frozen=True, slots=True)
class Activity:
    """The latest sent, opened and clicked instants (µs) of one subscriber's emails."""

    sent: int | None
    opened: int | None
    clicked: int | None


_COLS = (S.c.id, S.c.key, S.c.name, S.c.where, S.c.member_count, S.c.created_at, S.c.updated_at)


def get(conn: Connection, account_id: int, key: str, *, for_update: bool = False) -> SegmentRow | None:
    stmt = select(*_COLS).where(S.c.account_id == account_id, S.c.key == key)
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    return SegmentRow(*row) if row else None


def keys(conn: Connection, account_id: int) -> frozenset[str]:
    """The keys of the account's segments (what a sequence may refer to)."""
    return frozenset(r[0] for r in conn.execute(select(S.c.key).where(S.c.account_id == account_id)))


def get_by_id(conn: Connection, segment_id: int) -> str | None:
    """The stored predicate text of a segment, or None when it is gone."""
    return cast(str | None, conn.execute(select(S.c.where).where(S.c.id == segment_id)).scalar_one_or_none())


def all_segments(conn: Connection, account_id: int) -> list[SegmentRow]:
    stmt = select(*_COLS).where(S.c.account_id == account_id).order_by(S.c.key)
    return [SegmentRow(*r) for r in conn.execute(stmt)]


def insert_one(conn: Connection, account_id: int, key: str, name: str, where: str, now_us: int) -> int:
    values = {"account_id": account_id, "key": key, "name": name, "where": where}
    result = conn.execute(insert(S).values(**values, member_count=0, created_at=now_us, updated_at=now_us))
    return int(cast(Any, result.inserted_primary_key)[0])


def update_one(conn: Connection, segment_id: int, name: str, where: str, now_us: int) -> None:
    conn.execute(update(S).where(S.c.id == segment_id).values(name=name, where=where, updated_at=now_us))


def delete_one(conn: Connection, account_id: int, segment_id: int) -> None:
    conn.execute(delete(D).where(D.c.account_id == account_id, D.c.segment_id == segment_id))
    conn.execute(delete(M).where(M.c.account_id == account_id, M.c.segment_id == segment_id))
    conn.execute(delete(S).where(S.c.id == segment_id))


def memberships(
    conn: Connection, account_id: int, segment_ids: Sequence[int], subscriber_ids: Sequence[int]
) -> dict[int, set[int]]:
    """Which of these subscribers are members of each of these segments, in one query per chunk."""
    found: dict[int, set[int]] = {segment_id: set() for segment_id in segment_ids}
    if not subscriber_ids or not segment_ids:
        return found
    stmt = select(M.c.segment_id, M.c.subscriber_id).where(
        M.c.account_id == account_id,
        dialects.ids_in(conn, M.c.subscriber_id, subscriber_ids),
        dialects.ids_in(conn, M.c.segment_id, segment_ids, "segment_ids"),
    )
    for segment_id, subscriber_id in conn.execute(stmt):
        found[int(segment_id)].add(int(subscriber_id))
    return found


def change_members(
    conn: Connection, account_id: int, segment_id: int, joined: Sequence[int], left: Sequence[int], now_us: int
) -> tuple[list[int], list[int]]:
    """Add `joined` and remove `left`; return those actually added and removed (the count moves by them).

    The caller chose them from a membership read; with several writers on PostgreSQL another
    transaction may have moved one of them since, and the rows written, not the read, are what counts.
    """
    rows = [
        {"account_id": account_id, "segment_id": segment_id, "subscriber_id": s, "joined_at": now_us} for s in joined
    ]
    added = [int(s) for s in insert_ignore_returning(conn, M, rows, "subscriber_id")]
    _count(conn, segment_id, len(added))
    removed = leave_all(conn, segment_id, left)
    return sorted(added), removed


def join_all(
    conn: Connection, account_id: int, segment_id: int, subscriber_ids: Sequence[int], now_us: int
) -> list[int]:
    """Make these subscribers of the account members; return those who were not (the count moves by them).

    One statement per batch: existing subscribers of the account only, members already in left as
    they are, and the rows it inserted say who joined (exact with many writers: a row another
    transaction inserted first is not counted twice).
    """
    sql = (
        "INSERT INTO segment_members (account_id, segment_id, subscriber_id, joined_at) "
        "SELECT ?, ?, id, ? FROM subscribers WHERE account_id = ? AND id IN ({ids}) "
        "ON CONFLICT DO NOTHING RETURNING subscriber_id"
    )
    joined = [
        int(r[0])
        for r in dialects.rows_in(conn, sql, subscriber_ids, before=[account_id, segment_id, now_us, account_id])
    ]
    _count(conn, segment_id, len(joined))
    return sorted(joined)


def leave_all(conn: Connection, segment_id: int, subscriber_ids: Sequence[int]) -> list[int]:
    """Remove these subscribers from the segment; return those who were members (the count moves by them)."""
    sql = "DELETE FROM segment_members WHERE segment_id = ? AND subscriber_id IN ({ids}) RETURNING subscriber_id"
    left = [int(r[0]) for r in dialects.rows_in(conn, sql, subscriber_ids, before=[segment_id])]
    _count(conn, segment_id, -len(left))
    return sorted(left)


def _count(conn: Connection, segment_id: int, delta: int) -> None:
    if delta:
        conn.execute(update(S).where(S.c.id == segment_id).values(member_count=S.c.member_count + delta))


def members_page(conn: Connection, account_id: int, segment_id: int, *, after_id: int, limit: int) -> list[MemberRow]:
    """A page of a segment's members, by subscriber id."""
    subs = t.subscribers
    stmt = (
        select(subs.c.id, subs.c.email, subs.c.status, M.c.joined_at)
        .join(M, and_(M.c.subscriber_id == subs.c.id, M.c.segment_id == segment_id))
        .where(subs.c.account_id == account_id, subs.c.id > after_id)
        .order_by(subs.c.id)
        .limit(limit)
    )
    return [MemberRow(r.id, r.email, cast(SubscriberStatus, r.status), r.joined_at) for r in conn.execute(stmt)]


def members_of(segment_id: int) -> Any:
    """A subquery of the segment's subscriber ids (for filters on other queries)."""
    return select(M.c.subscriber_id).where(M.c.segment_id == segment_id)


def counted(conn: Connection, segment_id: int) -> int:
    """Count the membership rows themselves (the stored count's check)."""
    return int(conn.execute(select(func.count()).select_from(M).where(M.c.segment_id == segment_id)).scalar_one())


def activity(conn: Connection, account_id: int, email_keys: Sequence[str]) -> dict[str, Activity]:
    """The latest sent/opened/clicked instants of each subscriber's emails, by email key (an indexed column)."""
    sql = (
        "SELECT email_key, max(sent_at), max(opened_at), max(clicked_at) FROM issues "
        "WHERE account_id = ? AND email_key IN ({ids}) GROUP BY email_key"
    )
    found = dialects.rows_each(conn, sql, list(email_keys), before=[account_id], item="VARCHAR")
    return {str(key): Activity(sent, opened, clicked) for key, sent, opened, clicked in found}


def batch_after(conn: Connection, account_id: int, segment_id: int, after_id: int, limit: int) -> list[SubscriberRow]:
    """The next keyset batch of a segment's members by id, locked on PostgreSQL (in id order)."""
    subs = t.subscribers
    stmt = (
        select(*subscriber_columns)
        .where(subs.c.account_id == account_id, subs.c.id > after_id, subs.c.id.in_(members_of(segment_id)))
        .order_by(subs.c.id)
        .limit(limit)
    )
    return [subscriber_row(r) for r in conn.execute(dialects.for_update(conn, stmt)).all()]


def set_deadlines(conn: Connection, account_id: int, segment_id: int, due: Mapping[int, int | None]) -> None:
    """Replace these subscribers' re-test moments for the segment (None: time alone changes nothing).

    One upsert for the moments, and a delete only for the subscribers who have none any more.
    """
    gone = sorted(sid for sid, at in due.items() if at is None)
    if gone:
        conn.execute(delete(D).where(D.c.segment_id == segment_id, dialects.ids_in(conn, D.c.subscriber_id, gone)))
    rows = [(account_id, segment_id, sid, at) for sid, at in sorted(due.items()) if at is not None]
    dialects.upsert_tuples(
        conn, D, ("account_id", "segment_id", "subscriber_id", "due_at"), ("segment_id", "subscriber_id"), rows
    )


def due(conn: Connection, now_us: int, limit: int) -> list[tuple[int, int, int]]:
    """(account id, segment id, subscriber id) of re-tests that are due, oldest first."""
    stmt = select(D.c.account_id, D.c.segment_id, D.c.subscriber_id).where(D.c.due_at <= now_us)
    return [(int(a), int(s), int(b)) for a, s, b in conn.execute(stmt.order_by(D.c.due_at).limit(limit))]


def where_by_id(conn: Connection, segment_ids: Sequence[int]) -> dict[int, str]:
    """The stored predicate text of each of these segments that still exists."""
    rows = conn.execute(select(S.c.id, S.c.where).where(S.c.id.in_(sorted(set(segment_ids)))))
    return {int(i): str(w) for i, w in rows}


def keys_by_id(conn: Connection, segment_ids: Sequence[int]) -> dict[int, str]:
    """The key of each of these segments that still exists."""
    rows = conn.execute(select(S.c.id, S.c.key).where(S.c.id.in_(sorted(set(segment_ids)))))
    return {int(i): str(k) for i, k in rows}


def keys_of_members(conn: Connection, account_id: int, subscriber_ids: Sequence[int]) -> dict[int, set[str]]:
    """The keys of the segments each of these subscribers is in."""
    found: dict[int, set[str]] = {}
    for start in range(0, len(subscriber_ids), IN_CHUNK):
        chunk = list(subscriber_ids[start : start + IN_CHUNK])
        stmt = (
            select(M.c.subscriber_id, S.c.key)
            .join(S, S.c.id == M.c.segment_id)
            .where(M.c.account_id == account_id, M.c.subscriber_id.in_(chunk))
        )
        for sid, key in conn.execute(stmt):
            found.setdefault(int(sid), set()).add(str(key))
    return found
