"""Setting aside an outbox row the delivery loop cannot decode, prepare or record.

Such a row is recorded as failed (its issue too, for an email), removed from the outbox and kept in the
quarantine with its error and stored text, so that it never blocks the claims and records of others.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection

from stepwise.services.quarantine import TIMELINE_KIND
from stepwise.storage import issues as issue_store
from stepwise.storage import outbox as outbox_store
from stepwise.storage import quarantine as quarantine_store
from stepwise.storage import timeline as timeline_store
from stepwise.storage.codec import dumps
from stepwise.storage.outbox import OutboxRow

log = logging.getLogger("stepwise.delivery")


def text_or_none(value: Any, limit: int) -> str | None:
    """A stored string from a payload field, or None when the field is not a string."""
    return value[:limit] if isinstance(value, str) else None


def quarantine_item(row: OutboxRow, error: str, now_us: int) -> quarantine_store.NewItem:
    """The quarantine row of an outbox row that was set aside."""
    kept = row.raw if row.raw is not None else dumps(row.payload)
    return quarantine_store.item(
        row.account_id, "outbox", str(row.id), error, now_us, subscriber_id=row.subscriber_id, payload=kept
    )


def set_aside(conn: Connection, row: OutboxRow, error: str, now_us: int) -> bool:
    """Take a row we hold out of the outbox into the quarantine; False when its lease was lost."""
    if not outbox_store.finish(conn, row.id, row.lease_token):
        return False
    log.error("outbox row %s set aside: %s", row.id, error)
    quarantine_store.add(conn, [quarantine_item(row, error, now_us)])
    if row.issue_id:
        issue_store.fail(conn, row.issue_id, f"set aside: {error}")
    detail = {"set_aside": "outbox", "outbox": row.kind, "issue": row.issue_id, "error": error[:500]}
    sequence = text_or_none(row.payload.get("sequence"), 64)
    entry = timeline_store.NewEntry(row.account_id, row.subscriber_id, now_us, TIMELINE_KIND, sequence, detail)
    timeline_store.add_entries(conn, [entry])
    return True
