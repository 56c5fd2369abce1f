"""The advancing loop's store (worker/advance_port.py) on the database: claims, batches, setting aside."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import zip_longest

from sqlalchemy import Connection

from stepwise.services.catalog import SequenceCatalog
from stepwise.services.processing import BatchFailed, BatchResult, PendingEvent, forget_orphans, process_locked
from stepwise.services.quarantine import set_aside_events, set_aside_subscriber
from stepwise.services.transient import is_transient
from stepwise.storage import inbox as inbox_store
from stepwise.storage import quarantine as quarantine_store
from stepwise.storage import runs as run_store
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.dialects import has_row_locks, lock_subscribers


@dataclass
class DatabaseAdvanceStore:
    """Each call is one transaction of its own."""

    db: Database
    catalog: SequenceCatalog

    def has_work(self, now: datetime) -> bool:
        """Look before taking the write lock: idle polls must not block writers (SQLite has one)."""
        with self.db.read() as conn:
            return bool(inbox_store.pending_subscribers(conn, 1) or run_store.due_subscribers(conn, to_us(now), 1))

    def process_batch(self, now: datetime, limit: int) -> BatchResult:
        """Claim up to `limit` subscribers and process them in one transaction (S7, S14).

        Raises BatchFailed when processing claimed subscribers fails other than by the database.
        """
        locked: list[int] = []
        try:
            with self.db.write() as conn:
                locked = self._claim(conn, now, limit)
                return process_locked(conn, self.catalog, locked, now) if locked else BatchResult()
        except Exception as exc:
            if not locked or is_transient(exc):
                raise
            raise BatchFailed(locked) from exc

    def _claim(self, conn: Connection, now: datetime, limit: int) -> list[int]:
        # More candidates than a batch where rows are locked one by one, so that parallel workers can each
        # lock a different batch (PostgreSQL); SQLite has one writer at a time, nobody else holds a candidate.
        reach = limit * 4 if has_row_locks(conn) else limit
        candidates = inbox_store.pending_subscribers(conn, reach)
        due = run_store.due_subscribers(conn, to_us(now), reach)
        # Alternate the two sources so that a flood of events cannot starve due deadlines.
        mixed = [sid for pair in zip_longest(candidates, due) for sid in pair if sid is not None]
        wanted = list(dict.fromkeys(mixed))
        if not wanted:
            return []
        # Another worker may hold some of these subscribers: skip them rather than wait (PostgreSQL).
        locked = lock_subscribers(conn, wanted, skip_locked=True, limit=limit)
        if len(locked) < limit:  # some candidates were not lockable: maybe they no longer exist
            forget_orphans(conn, candidates, locked)
        return locked

    def process_one(self, subscriber_id: int, now: datetime, *, upto: int | None) -> BatchResult | None:
        """Process one subscriber (events up to id `upto`, all when None); None when another worker holds them."""
        with self.db.write() as conn:
            if not lock_subscribers(conn, [subscriber_id], skip_locked=True, limit=1):
                return None
            return process_locked(conn, self.catalog, [subscriber_id], now, upto=upto)

    def pending_events(self, subscriber_id: int) -> list[PendingEvent]:
        """One subscriber's pending events in acceptance order."""
        with self.db.read() as conn:
            rows = inbox_store.pending_of(conn, subscriber_id)
        return [PendingEvent(id=ref.id, accepted_at=from_us(ref.accepted_at)) for ref in rows]

    def set_aside_event(self, subscriber_id: int, event_id: int, error: str, now: datetime) -> None:
        """Take one event out of the inbox into the quarantine."""
        with self.db.write() as conn:
            if not lock_subscribers(conn, [subscriber_id], skip_locked=True, limit=1):
                return
            row = inbox_store.by_id(conn, event_id)
            if row is not None:
                set_aside_events(conn, [row], error, to_us(now))

    def set_aside_subscriber(self, subscriber_id: int, error: str, now: datetime) -> None:
        """Set aside a subscriber's pending events and hold their runs."""
        with self.db.write() as conn:
            if not lock_subscribers(conn, [subscriber_id], skip_locked=True, limit=1):
                return
            account_id = quarantine_store.account_of_subscriber(conn, subscriber_id)
            if account_id is not None:
                set_aside_subscriber(conn, account_id, subscriber_id, error, to_us(now))
