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
SEGMENT_RETEST_EVERY = timedelta(seconds=10)  # S22 allows a minute
SEGMENT_RETEST_BATCH = 1000


@dataclass
class Advancer:
    """One batch at a time: claim -> engine -> persist, in one transaction (S7, S14)."""

    store: AdvanceStore
    clock: Clock
    batch_size: int = 200
    # S22: re-test segment members whose answer time alone may have changed (services/segments.py).
    segment_retest: Callable[[datetime], int] | None = None
    _next_retest: datetime | None = field(default=None, repr=False)

    def run_once(self) -> BatchResult:
        """Process one batch; return what it did (an empty result when idle).

        A batch that fails for a reason other than the database is reprocessed in pieces, and what
        still fails is set aside (worker/isolation.py): nothing stored stops processing for others.
        """
        now = self.clock()
        self._retest_segments(now)
        if not self.store.has_work(now):
            return BatchResult()
        try:
            return self.store.process_batch(now, self.batch_size)
        except BatchFailed as failed:
            locked = failed.subscriber_ids
            log.warning("a batch of %d subscribers failed; processing them one by one", len(locked), exc_info=True)
            return Isolation(self.store).run(locked, now)

    def _retest_segments(self, now: datetime) -> None:
        """At most every SEGMENT_RETEST_EVERY, re-test the segment members that fell due (never fails the loop)."""
        if self.segment_retest is None or (self._next_retest is not None and now < self._next_retest):
            return
        try:
            for _ in range(100):  # bounded: the advancing loop must go on
                if self.segment_retest(now) < SEGMENT_RETEST_BATCH:
                    break
        except Exception:
            log.exception("re-testing segment members failed; will retry")
        self._next_retest = now + SEGMENT_RETEST_EVERY
