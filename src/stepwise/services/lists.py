"""Lists and memberships."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stepwise.domain.instants import iso
from stepwise.errors import Conflict, NotFound
from stepwise.services import cursors
from stepwise.services.references import users_of
from stepwise.services.subscribers import Edit, apply_edit, parse_address
from stepwise.storage import lists as list_store
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.lists import ListRow


def view(row: ListRow, members: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": row.key,
        "name": row.name,
        "created_at": iso(from_us(row.created_at)),
        "updated_at": iso(from_us(row.updated_at)),
    }
    if members is not None:
        out["members"] = members
    return out


def put(db: Database, account_id: int, key: str, name: str, now: datetime) -> tuple[dict[str, Any], bool]:
    with db.write() as conn:
        created = list_store.put(conn, account_id, key, name, to_us(now))
        row = list_store.get(conn, account_id, key)
    assert row is not None
    return view(row), created


def get(db: Database, account_id: int, key: str) -> dict[str, Any]:
    with db.read() as conn:
        row = list_store.get(conn, account_id, key)
        if row is None:
            raise NotFound(f"no list {key!r}")
        return view(row, list_store.member_count(conn, account_id, row.id))


def all_lists(db: Database, account_id: int) -> list[dict[str, Any]]:
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
    if result.events:
        db.wakeup.set()


def members(
    db: Database, account_id: int, key: str, *, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    after = cursors.decode_int(cursor)
    with db.read() as conn:
        row = list_store.get(conn, account_id, key)
        if row is None:
            raise NotFound(f"no list {key!r}")
        rows = list_store.members_page(conn, account_id, row.id, after_id=after, limit=limit)
    items = [{"email": r[1], "status": r[2], "joined_at": iso(from_us(r[3]))} for r in rows]
    return items, cursors.encode(rows[-1][0]) if len(rows) == limit else None
