"""Drive the worker loops by hand, so integration tests are deterministic under a fake clock."""

from __future__ import annotations

import asyncio
from functools import partial

from stepwise.bootstrap import Stepwise
from stepwise.services import date_triggers
from stepwise.services.advancing_store import DatabaseAdvanceStore
from stepwise.services.delivery_store import DatabaseDeliveryStore
from stepwise.services.processing import BatchResult
from stepwise.worker.advancing import Advancer
from stepwise.worker.delivery import Deliverer


def advance(stepwise: Stepwise, *, max_batches: int = 1000) -> BatchResult:
    """Run the advancing loop until it finds nothing to do; return the summed result."""
    advancer = Advancer(
        DatabaseAdvanceStore(stepwise.db, stepwise.catalog), stepwise.clock, batch_size=stepwise.settings.batch_size
    )
    # S26: step-1 dates found for a large account's other subscribers, and those due by the fake clock
    advancer.timed = [partial(date_triggers.backfill, stepwise.db), partial(date_triggers.fire_due, stepwise.db)]
    total = BatchResult()
    for _ in range(max_batches):
        result = advancer.run_once()
        if result.subscribers == 0:
            return total
        total.subscribers += result.subscribers
        total.events += result.events
        total.transitions += result.transitions
        total.commands += result.commands
    raise AssertionError("the advancing loop did not settle")


def deliver(stepwise: Stepwise, *, max_batches: int = 1000) -> int:
    """Run the delivery loop until the due outbox is empty; return rows handled."""
    deliverer = Deliverer(
        DatabaseDeliveryStore(stepwise.db, stepwise.secret),
        stepwise.transport(),
        stepwise.signer,
        stepwise.settings.base_url,
        stepwise.clock,
    )

    async def run() -> int:
        handled = 0
        try:
            for _ in range(max_batches):
                count = await deliverer.run_once()
                if count == 0:
                    return handled
                handled += count
        finally:
            await deliverer.close()
        raise AssertionError("the delivery loop did not settle")

    return asyncio.run(run())


def settle(stepwise: Stepwise) -> None:
    """Advance and deliver until neither has work."""
    for _ in range(100):
        moved = advance(stepwise).subscribers
        sent = deliver(stepwise)
        if not moved and not sent:
            return
    raise AssertionError("the system did not settle")
