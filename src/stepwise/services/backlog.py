"""How much work waits: the database side of /metrics."""

from __future__ import annotations

from dataclasses import dataclass

from stepwise.services.context import Context
from stepwise.storage import inbox as inbox_store
from stepwise.storage import outbox as outbox_store
from stepwise.storage import quarantine as quarantine_store
from stepwise.storage import runs as run_store
from stepwise.storage.codec import to_us


@dataclass(frozen=True)
class Backlog:
    events: int  # accepted, not yet processed
    outbox: int  # emails and URL calls waiting for delivery
    overdue_seconds: float  # age of the most overdue deadline (0 when none)
    quarantined: dict[str, int]  # set aside, per kind


def backlog(context: Context) -> Backlog:
    """Read the backlog of every account."""
    now = to_us(context.clock())
    with context.db.read() as conn:
        events = inbox_store.depth(conn)
        outbox = outbox_store.depth(conn)
        oldest = run_store.oldest_due(conn, now)
        quarantined = dict(quarantine_store.counts(conn))
    overdue = 0 if oldest is None else max(0.0, (now - oldest) / 1e6)
    return Backlog(events, outbox, overdue, quarantined)
