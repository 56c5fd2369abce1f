"""The advancing loop: claim subscribers with pending events or due deadlines, run the engine, commit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from stepwise.clock import Clock
from stepwise.services.processing import BatchFailed, BatchResult
from stepwise.worker.advance_port import AdvanceStore
from stepwise.worker.isolation import Isolation

log = logging.getLogger("stepwise.worker")
TIMED_EVERY = timedelta(seconds=10)  # S22 allows a minute for segment re-tests; S26 dates fire within it too
TIMED_BATCH = 1000


@dataclass
class Advancer:
    """One batch at a time: claim -> engine -> persist, in one transaction (S7, S14)."""

    store: AdvanceStore
    clock: Clock
    batch_size: int = 200
    # Work that time alone makes due, each handling up to TIMED_BATCH items per call and saying how many:
    # S22 re-tests of segment members (services/segments.py), S26 step-1 dates (services/date_triggers.py).
    timed: list[Callable[[datetime], int]] = field(default_factory=list)
    _next_timed: datetime | None = field(default=None, repr=False)
    _full: bool = field(default=False, repr=False)  # the last batch was full: more work is likely waiting

    def run_once(self) -> BatchResult:
        """Process one batch; return what it did (an empty result when idle).

        A batch that fails for a reason other than the database is reprocessed in pieces, and what
        still fails is set aside (worker/isolation.py): nothing stored stops processing for others.
        """
        now = self.clock()
        self._run_timed(now)
        # A full batch says more is waiting: the look before taking the write lock is then a read wasted.
        if not self._full and not self.store.has_work(now):
            return BatchResult()
        try:
            result = self.store.process_batch(now, self.batch_size)
            self._full = result.subscribers >= self.batch_size
            return result
        except BatchFailed as failed:
            self._full = False
            locked = failed.subscriber_ids
            log.warning("a batch of %d subscribers failed; processing them one by one", len(locked), exc_info=True)
            return Isolation(self.store).run(locked, now)

    def _run_timed(self, now: datetime) -> None:
        """At most every TIMED_EVERY, do the timed work that fell due (never fails the loop)."""
        if not self.timed or (self._next_timed is not None and now < self._next_timed):
            return
        for job in self.timed:
            try:
                for _ in range(100):  # bounded: the advancing loop must go on
                    if job(now) < TIMED_BATCH:
                        break
            except Exception:
                log.exception("timed work %s failed; will retry", getattr(job, "__name__", job))
        self._next_timed = now + TIMED_EVERY
