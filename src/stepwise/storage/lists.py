"""Lists and memberships."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, and_, delete, func, insert, select, tuple_, update

from stepwise.domain.statuses import SubscriberStatus
from stepwise.storage import schema as t
from stepwise.storage.dialects import insert_ignore


@dataclass(frozen=True, slots=True)
class ListRow:
    id: int
    key: str
    name: str
    created_at: int
    updated_at: int


_COLS = (t.lists.c.id, t.lists.c.key, t.lists.c.name, t.lists.c.created_at, t.lists.c.updated_at)


def get(conn: Connection, account_id: int, key: str) -> ListRow | None:
    row = conn.execute(select(*_COLS).where(t.lists.c.account_id == account_id, t.lists.c.key == key)).first()
    return ListRow(*row) if row else None


def all_lists(conn: Connection, account_id: int, *, after_key: str = "", limit: int = 1000) -> list[ListRow]:
    stmt = select(*_COLS).where(t.lists.c.account_id == account_id, t.lists.c.key > after_key)
    return [ListRow(*r) for r in conn.execute(stmt.order_by(t.lists.c.key).limit(limit))]


def ids_by_key(conn: Connection, account_id: int, keys: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = conn.execute(
        select(t.lists.c.key, t.lists.c.id).where(t.lists.c.account_id == account_id, t.lists.c.key.in_(wanted))
    )
    return {str(key): int(lid) for key, lid in rows}


def keys(conn: Connection, account_id: int) -> frozenset[str]:
    return frozenset(r[0] for r in conn.execute(select(t.lists.c.key).where(t.lists.c.account_id == account_id)))


def put(conn: Connection, account_id: int, key: str, name: str, now_us: int) -> bool:
    """Create or rename a list; return True when it was created."""
    existing = get(conn, account_id, key)
    if existing is None:
        conn.execute(
            insert(t.lists).values(account_id=account_id, key=key, name=name, created_at=now_us, updated_at=now_us)
        )
        return True
    if existing.name != name:
        conn.execute(update(t.lists).where(t.lists.c.id == existing.id).values(name=name, updated_at=now_us))
    return False


def delete_list(conn: Connection, account_id: int, list_id: int) -> None:
    conn.execute(
        delete(t.list_members).where(t.list_members.c.account_id == account_id, t.list_members.c.list_id == list_id)
    )
    conn.execute(delete(t.lists).where(t.lists.c.id == list_id))


def member_ids(conn: Connection, account_id: int, list_id: int, subscriber_ids: Sequence[int]) -> set[int]:
    """Return which of these subscribers are in the list."""
    if not subscriber_ids:
        return set()
    rows = conn.execute(
        select(t.list_members.c.subscriber_id).where(
            t.list_members.c.account_id == account_id,
            t.list_members.c.list_id == list_id,
            t.list_members.c.subscriber_id.in_(list(subscriber_ids)),
        )
    )
    return {r[0] for r in rows}


def add_members(conn: Connection, account_id: int, pairs: Sequence[tuple[int, int]], now_us: int) -> None:
    """Insert (list_id, subscriber_id) memberships, ignoring existing ones."""
    rows: list[dict[str, Any]] = [
        {"account_id": account_id, "list_id": lid, "subscriber_id": sid, "joined_at": now_us} for lid, sid in pairs
    ]
    insert_ignore(conn, t.list_members, rows)


def remove_members(conn: Connection, account_id: int, pairs: Sequence[tuple[int, int]]) -> None:
    if not pairs:
        return
    conn.execute(
        delete(t.list_members).where(
            t.list_members.c.account_id == account_id,
            tuple_(t.list_members.c.list_id, t.list_members.c.subscriber_id).in_(list(pairs)),
        )
    )


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A subscriber on a list."""

    subscriber_id: int
    email: str
    status: SubscriberStatus
    joined_at: int


def members_page(conn: Connection, account_id: int, list_id: int, *, after_id: int, limit: int) -> list[MemberRow]:
    """Return a page of a list's members, by subscriber id."""
    stmt = (
        select(t.subscribers.c.id, t.subscribers.c.email, t.subscribers.c.status, t.list_members.c.joined_at)
        .join(
            t.list_members,
            and_(
                t.list_members.c.subscriber_id == t.subscribers.c.id,
                t.list_members.c.account_id == account_id,
                t.list_members.c.list_id == list_id,
            ),
        )
        .where(t.subscribers.c.id > after_id)
        .order_by(t.subscribers.c.id)
        .limit(limit)
    )
    return [MemberRow(r.id, r.email, cast(SubscriberStatus, r.status), r.joined_at) for r in conn.execute(stmt)]


def member_count(conn: Connection, account_id: int, list_id: int) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(t.list_members)
            .where(t.list_members.c.account_id == account_id, t.list_members.c.list_id == list_id)
        ).scalar_one()
    )
