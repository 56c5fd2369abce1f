"""A subscriber's timeline as the API shows it."""

from __future__ import annotations

from typing import Any

from stepwise.domain.instants import iso
from stepwise.services import cursors
from stepwise.services.subscribers import find_row
from stepwise.storage import timeline as timeline_store
from stepwise.storage.codec import from_us, loads
from stepwise.storage.database import Database


def page(
    db: Database, account_id: int, raw_email: str, *, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    after = cursors.decode_int(cursor)
    with db.read() as conn:
        sub = find_row(conn, account_id, raw_email)
        rows = timeline_store.page(conn, account_id, sub.id, after_id=after, limit=limit)
    items = [{"at": iso(from_us(r.at)), "kind": r.kind, "sequence": r.sequence, **loads(r.detail)} for r in rows]
    return items, cursors.encode(rows[-1].id) if len(rows) == limit else None
