"""The advancing loop: claim subscribers with pending events or due deadlines, run the engine, commit."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from itertools import zip_longest

from stepwise.clock import Clock
from stepwise.services.catalog import SequenceCatalog
from stepwise.services.processing import BatchResult, forget_orphans, process_locked
from stepwise.storage import inbox as inbox_store
from stepwise.storage import runs as run_store
from stepwise.storage.codec import to_us
from stepwise.storage.database import Database
from stepwise.storage.dialects import lock_subscribers

log = logging.getLogger("stepwise.worker")


@dataclass
class Advancer:
    """One batch at a time: claim -> engine -> persist, in one transaction (S7, S14)."""

    db: Database
    catalog: SequenceCatalog
    clock: Clock
    batch_size: int = 200

    def run_once(self) -> BatchResult:
        """Process one batch; return what it did (an empty result when idle)."""
        now = self.clock()
        if not self._has_work(now):
            return BatchResult()
        with self.db.write() as conn:
            # More candidates than a batch, so that parallel workers can each lock a different batch
            # (PostgreSQL); SQLite has one writer at a time, nobody else holds a candidate.
            reach = self.batch_size if self.db.is_sqlite else self.batch_size * 4
            candidates = inbox_store.pending_subscribers(conn, reach)
            due = run_store.due_subscribers(conn, to_us(now), reach)
            # Alternate the two sources so that a flood of events cannot starve due deadlines.
            mixed = [sid for pair in zip_longest(candidates, due) for sid in pair if sid is not None]
            wanted = list(dict.fromkeys(mixed))
            if not wanted:
                return BatchResult()
            # Another worker may hold some of these subscribers: skip them rather than wait (PostgreSQL).
            locked = lock_subscribers(conn, wanted, skip_locked=True, limit=self.batch_size)
            if len(locked) < self.batch_size:  # some candidates were not lockable: maybe they no longer exist
                forget_orphans(conn, candidates, locked)
            return process_locked(conn, self.catalog, locked, now)

    def _has_work(self, now: datetime) -> bool:
        """Look before taking the write lock: idle polls must not block writers (SQLite has one)."""
        with self.db.read() as conn:
            return bool(inbox_store.pending_subscribers(conn, 1) or run_store.due_subscribers(conn, to_us(now), 1))
