"""A subscriber's timeline as the API shows it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from stepwise.domain.emails import InvalidEmail, parse_email
from stepwise.domain.instants import iso
from stepwise.errors import NotFound
from stepwise.services import cursors
from stepwise.storage import timeline as timeline_store
from stepwise.storage.codec import from_us, loads
from stepwise.storage.database import Database
from stepwise.storage.timeline import EntryRow


# One entry of a subscriber's timeline: when, what, in which sequence, and the kind's own fields.
class TimelineEntry(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    at: str
    kind: str
    sequence: str | None


# A page of the timeline and the cursor of the next one.
class TimelinePage(BaseModel):
    model_config = ConfigDict(frozen=True)

    next_cursor: str | None = None
    items: list[TimelineEntry]


def _entry(row: EntryRow) -> TimelineEntry:
    return TimelineEntry.model_validate(
        {**loads(row.detail), "at": iso(from_us(row.at)), "kind": row.kind, "sequence": row.sequence}
    )


def _subscriber(conn: Any, account_id: int, raw_email: str) -> int:
    try:
        key = parse_email(raw_email).key
    except InvalidEmail as exc:
        raise NotFound(f"no subscriber {raw_email!r}") from exc
    found = timeline_store.subscriber_id(conn, account_id, key)
    if found is None:
        raise NotFound(f"no subscriber {raw_email!r}")
    return found


def newest_page(
    db: Database, account_id: int, raw_email: str, *, cursor: str | None, limit: int
) -> tuple[list[TimelineEntry], str | None]:
    """The timeline newest first (the UI's order); the cursor names the oldest entry shown."""
    before = cursors.decode_int(cursor) if cursor else None
    with db.read() as conn:
        subscriber_id = _subscriber(conn, account_id, raw_email)
        rows = timeline_store.newest(conn, account_id, subscriber_id, before_id=before, limit=limit)
    items = [_entry(r) for r in rows]
    return items, cursors.encode(rows[-1].id) if len(rows) == limit else None


def page(
    db: Database, account_id: int, raw_email: str, *, cursor: str | None, limit: int
) -> tuple[list[TimelineEntry], str | None]:
    """The timeline oldest first (the API's order); the cursor names the newest entry shown."""
    after = cursors.decode_int(cursor)
    with db.read() as conn:
        subscriber_id = _subscriber(conn, account_id, raw_email)
        rows = timeline_store.page(conn, account_id, subscriber_id, after_id=after, limit=limit)
    items = [_entry(r) for r in rows]
    return items, cursors.encode(rows[-1].id) if len(rows) == limit else None
