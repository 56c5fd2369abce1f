"""Helpers for the audience tests: read queued events and runs straight from the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stepwise.bootstrap import Stepwise
from stepwise.storage import schema as t
from stepwise.storage.codec import loads


def queued_events(stepwise: Stepwise, account_id: int) -> list[tuple[str, str, dict[str, Any], str]]:
    """(email, kind, payload, source) of every event waiting in the inbox, in acceptance order."""
    with stepwise.db.read() as conn:
        rows = conn.execute(
            select(t.subscribers.c.email, t.inbox.c.kind, t.inbox.c.payload, t.inbox.c.source)
            .join(t.subscribers, t.subscribers.c.id == t.inbox.c.subscriber_id)
            .where(t.inbox.c.account_id == account_id)
            .order_by(t.inbox.c.id)
        ).all()
    return [(email, kind, loads(payload), source) for email, kind, payload, source in rows]


def kinds(stepwise: Stepwise, account_id: int) -> list[tuple[str, str]]:
    """(email, kind) of every queued event."""
    return [(email, kind) for email, kind, _, _ in queued_events(stepwise, account_id)]


def clear_inbox(stepwise: Stepwise, account_id: int) -> None:
    with stepwise.db.write() as conn:
        conn.execute(t.inbox.delete().where(t.inbox.c.account_id == account_id))


def entered(stepwise: Stepwise, account_id: int, sequence: str) -> set[str]:
    """Addresses of the subscribers that ever entered a sequence."""
    with stepwise.db.read() as conn:
        rows = conn.execute(
            select(t.subscribers.c.email)
            .join(t.runs, t.runs.c.subscriber_id == t.subscribers.c.id)
            .join(t.sequences, t.sequences.c.id == t.runs.c.sequence_id)
            .where(t.runs.c.account_id == account_id, t.sequences.c.key == sequence)
        ).all()
    return {row[0] for row in rows}


def one_step(event: dict[str, Any]) -> dict[str, Any]:
    """An active one-step sequence entered by `event`."""
    return {
        "name": "probe",
        "status": "active",
        "steps": [{"variants": [{"when": [event], "do": [{"action": "nothing"}]}]}],
    }
