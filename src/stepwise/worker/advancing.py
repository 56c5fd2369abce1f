"""The advancing loop: claim subscribers with pending events or due deadlines, run the engine, commit."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from stepwise.clock import Clock
from stepwise.services.processing import BatchFailed, BatchResult
from stepwise.worker.advance_port import AdvanceStore
from stepwise.worker.isolation import Isolation

log = logging.getLogger("stepwise.worker")


@dataclass
class Advancer:
    """One batch at a time: claim -> engine -> persist, in one transaction (S7, S14)."""

    store: AdvanceStore
    clock: Clock
    batch_size: int = 200

    def run_once(self) -> BatchResult:
        """Process one batch; return what it did (an empty result when idle).

        A batch that fails for a reason other than the database is reprocessed in pieces, and what
        still fails is set aside (worker/isolation.py): nothing stored stops processing for others.
        """
        now = self.clock()
        if not self.store.has_work(now):
            return BatchResult()
        try:
            return self.store.process_batch(now, self.batch_size)
        except BatchFailed as failed:
            locked = failed.subscriber_ids
            log.warning("a batch of %d subscribers failed; processing them one by one", len(locked), exc_info=True)
            return Isolation(self.store).run(locked, now)
