"""Email drafts (templates)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from stepwise.storage import schema as t

FIELDS = ("subject", "html", "text", "from_email", "from_name", "reply_to")


@dataclass(frozen=True, slots=True)
class DraftRow:
    id: int
    key: str
    subject: str
    html: str
    text: str | None
    from_email: str | None
    from_name: str | None
    reply_to: str | None
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class DraftContent:
    """What a save writes: every field of a draft but its key and times."""

    subject: str
    html: str
    text: str | None = None
    from_email: str | None = None
    from_name: str | None = None
    reply_to: str | None = None


_COLS = (t.drafts.c.id, t.drafts.c.key, *(t.drafts.c[f] for f in FIELDS), t.drafts.c.created_at, t.drafts.c.updated_at)


def get(conn: Connection, account_id: int, key: str) -> DraftRow | None:
    row = conn.execute(select(*_COLS).where(t.drafts.c.account_id == account_id, t.drafts.c.key == key)).first()
    return DraftRow(*row) if row else None


def many(conn: Connection, account_id: int, keys: Iterable[str]) -> dict[str, DraftRow]:
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = conn.execute(select(*_COLS).where(t.drafts.c.account_id == account_id, t.drafts.c.key.in_(wanted)))
    return {r[1]: DraftRow(*r) for r in rows}


def all_drafts(conn: Connection, account_id: int, *, after_key: str = "", limit: int = 1000) -> list[DraftRow]:
    stmt = select(*_COLS).where(t.drafts.c.account_id == account_id, t.drafts.c.key > after_key)
    return [DraftRow(*r) for r in conn.execute(stmt.order_by(t.drafts.c.key).limit(limit))]


def keys(conn: Connection, account_id: int) -> frozenset[str]:
    return frozenset(r[0] for r in conn.execute(select(t.drafts.c.key).where(t.drafts.c.account_id == account_id)))


def put(conn: Connection, account_id: int, key: str, content: DraftContent, now_us: int) -> bool:
    """Create or replace a draft; return True when created."""
    existing = get(conn, account_id, key)
    row = {f: getattr(content, f) for f in FIELDS}
    if existing is None:
        conn.execute(
            insert(t.drafts).values(account_id=account_id, key=key, created_at=now_us, updated_at=now_us, **row)
        )
        return True
    conn.execute(update(t.drafts).where(t.drafts.c.id == existing.id).values(updated_at=now_us, **row))
    return False


def delete_draft(conn: Connection, draft_id: int) -> None:
    conn.execute(delete(t.drafts).where(t.drafts.c.id == draft_id))
