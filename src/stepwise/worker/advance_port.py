"""What the advancing loop needs from storage (implemented by services/advancing_store.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from stepwise.services.processing import BatchResult, PendingEvent


class AdvanceStore(Protocol):
    """Each call runs in a transaction of its own."""

    def has_work(self, now: datetime) -> bool:
        """Are there pending events or due deadlines? (a read: it must not block writers)"""
        ...

    def process_batch(self, now: datetime, limit: int) -> BatchResult:
        """Claim up to `limit` subscribers and process them; BatchFailed when processing them failed."""
        ...

    def process_one(self, subscriber_id: int, now: datetime, *, upto: int | None) -> BatchResult | None:
        """Process one subscriber, their events up to id `upto` (all: None; none: 0); None when held elsewhere."""
        ...

    def pending_events(self, subscriber_id: int) -> list[PendingEvent]:
        """One subscriber's pending events in acceptance order."""
        ...

    def set_aside_event(self, subscriber_id: int, event_id: int, error: str, now: datetime) -> None:
        """Take one event out of the inbox into the quarantine."""
        ...

    def set_aside_subscriber(self, subscriber_id: int, error: str, now: datetime) -> None:
        """Set aside a subscriber's pending events and hold their runs."""
        ...
