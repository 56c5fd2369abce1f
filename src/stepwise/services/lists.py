"""Lists and memberships."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from stepwise.domain.edits import Edit
from stepwise.domain.instants import iso
from stepwise.domain.jsonvalues import HAS_NUL
from stepwise.domain.statuses import SubscriberStatus
from stepwise.errors import Conflict, NotFound, Unprocessable
from stepwise.services import audit, cursors
from stepwise.services.references import users_of
from stepwise.services.subscribers import apply_edit, parse_address
from stepwise.storage import lists as list_store
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.lists import ListRow


class ListOut(BaseModel):
    """A list as the API and the UI show it (`members` only where it was counted)."""

    model_config = ConfigDict(frozen=True)

    key: str
    name: str
    created_at: str
    updated_at: str
    members: int | None = None


class ListsOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    next_cursor: str | None = None
    items: list[ListOut]


class Member(BaseModel):
    model_config = ConfigDict(frozen=True)

    email: str
    status: SubscriberStatus
    joined_at: str


class MemberPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    next_cursor: str | None = None
    items: list[Member]


def view(row: ListRow, members: int | None = None) -> ListOut:
    created_at, updated_at = iso(from_us(row.created_at)), iso(from_us(row.updated_at))
    return ListOut(key=row.key, name=row.name, created_at=created_at, updated_at=updated_at, members=members)


def put(db: Database, account_id: int, key: str, name: str, now: datetime) -> tuple[ListOut, bool]:
    if "\0" in name:
        raise Unprocessable.one("$.name", HAS_NUL)
    with db.write() as conn:
        old = list_store.get(conn, account_id, key)
        created = list_store.put(conn, account_id, key, name, to_us(now))
        row = list_store.get(conn, account_id, key)
        if old is None or old.name != name:
            before = {"name": old.name} if old else None
            audit.record(conn, account_id, "list", key, "create" if created else "update", before, {"name": name})
    assert row is not None
    return view(row), created


def get(db: Database, account_id: int, key: str) -> ListOut:
    with db.read() as conn:
        row = list_store.get(conn, account_id, key)
        if row is None:
            raise NotFound(f"no list {key!r}")
        return view(row, list_store.member_count(conn, account_id, row.id))


def all_lists(db: Database, account_id: int) -> list[ListOut]:
    with db.read() as conn:
        return [view(row) for row in list_store.all_lists(conn, account_id)]


def delete(db: Database, account_id: int, key: str) -> None:
    with db.write() as conn:
        row = list_store.get(conn, account_id, key)
        if row is None:
            raise NotFound(f"no list {key!r}")
        users = users_of(conn, account_id, "lists", key)
        if users:
            raise Conflict(f"list {key!r} is used by {', '.join(users)}", code="in_use", details={"used_by": users})
        list_store.delete_list(conn, account_id, row.id)
        audit.record(conn, account_id, "list", key, "delete", {"name": row.name}, None)


def set_member(
    db: Database, account_id: int, key: str, raw_email: str, member: bool, *, source: str, now: datetime
) -> None:
    """Add or remove a subscriber (idempotent), emitting list_joined / list_left."""
    email = parse_address(raw_email)
    with db.write() as conn:
        if list_store.get(conn, account_id, key) is None:
            raise NotFound(f"no list {key!r}")
        edit = Edit(lists_add=[key]) if member else Edit(lists_remove=[key])
        result = apply_edit(conn, account_id, email, edit, source=source, now=now, create=False)
        if result is None:
            raise NotFound(f"no subscriber {email.value!r}")


def members(
    db: Database, account_id: int, key: str, *, cursor: str | None, limit: int
) -> tuple[list[Member], str | None]:
    after = cursors.decode_int(cursor)
    with db.read() as conn:
        row = list_store.get(conn, account_id, key)
        if row is None:
            raise NotFound(f"no list {key!r}")
        rows = list_store.members_page(conn, account_id, row.id, after_id=after, limit=limit)
    items = [Member(email=r.email, status=r.status, joined_at=iso(from_us(r.joined_at))) for r in rows]
    return items, cursors.encode(rows[-1].subscriber_id) if len(rows) == limit else None
