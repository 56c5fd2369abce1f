"""Run the worker loops in background threads (inside `serve`, or alone in `stepwise worker`)."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol

from stepwise.services.processing import BatchResult
from stepwise.worker.advancing import Advancer
from stepwise.worker.delivery import Deliverer
from stepwise.worker.recording import MAX_RETRY_DELAY
from stepwise.worker.webhooks import WebhookDeliverer

log = logging.getLogger("stepwise.worker")
# A batch allocates many short-lived objects; with CPython's default threshold (700) the collector
# runs many times per batch and walks every survivor each time. A higher first threshold lets a
# batch's garbage go by reference counting, for a few MB of memory (bench: about +25% per worker).
GC_THRESHOLDS = (50_000, 50, 100)
SWITCH_INTERVAL = 0.001  # seconds
UPKEEP_INTERVAL = 60.0  # seconds between two resumptions of unfinished migrations


def tune_interpreter() -> None:
    """Tune a process that runs the worker loops (`serve`, `worker`; process-wide).

    Cycles are collected less often: what exists by now (modules, definitions, the application) lives
    as long as the process, frozen, so the collector no longer walks it on every full collection.
    Threads switch every SWITCH_INTERVAL instead of 5 ms: a database thread inside a write transaction
    gets the interpreter back sooner from the event loop, so it holds the write lock (which each
    message's acceptance waits for on SQLite) for less time.
    """
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL)


class Listening(Protocol):
    """Wakes the loops on notifications from other processes (PostgreSQL LISTEN)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class WorkerThreads:
    """The advancing loop and the delivery loop, each on its own thread, stoppable and drainable."""

    def __init__(
        self,
        advancer: Advancer,
        deliverer: Deliverer,
        wakeup: threading.Event,
        delivery_wakeup: threading.Event,
        *,
        poll_interval: float = 0.2,
        on_batch: Callable[[BatchResult], None] | None = None,
        webhooks: WebhookDeliverer | None = None,
        upkeep: Callable[[], object] | None = None,
        upkeep_interval: float = UPKEEP_INTERVAL,
    ) -> None:
        self.advancer = advancer
        self.deliverer = deliverer
        self.wakeup = wakeup
        self.poll_interval = poll_interval
        self.stopping = threading.Event()
        self.on_batch = on_batch or (lambda result: None)
        self._threads: list[threading.Thread] = []
        self.delivery_wakeup = delivery_wakeup
        self._listener: Listening | None = None
        self.webhooks = webhooks
        self.upkeep = upkeep
        self.upkeep_interval = upkeep_interval

    def listen(self, listener: Listening) -> None:
        """Also wake on notifications from other processes (polling continues regardless); started with the loops."""
        self._listener = listener

    def start(self) -> None:
        if self._listener is not None:
            self._listener.start()
        self._threads = [
            threading.Thread(target=self._advance_loop, name="stepwise-advance", daemon=True),
            threading.Thread(target=self._delivery_loop, name="stepwise-delivery", daemon=True),
        ]
        if self.webhooks is not None:
            self._threads.append(threading.Thread(target=self._webhook_loop, name="stepwise-webhooks", daemon=True))
        if self.upkeep is not None:
            self._threads.append(threading.Thread(target=self._upkeep_loop, name="stepwise-upkeep", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in hand, then stop (graceful drain)."""
        self.stopping.set()
        self.wakeup.set()
        self.delivery_wakeup.set()
        for thread in self._threads:
            thread.join(timeout)
        if self._listener is not None:
            self._listener.stop()

    def _advance_loop(self) -> None:
        backoff = self.poll_interval
        while not self.stopping.is_set():
            try:
                result = self.advancer.run_once()
                backoff = self.poll_interval
            except Exception:
                log.exception("advancing batch failed; will retry")
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_RETRY_DELAY)
                continue
            self.on_batch(result)
            if result.commands:
                self.delivery_wakeup.set()
            if result.subscribers == 0:
                self.wakeup.wait(self.poll_interval)
                self.wakeup.clear()

    def _upkeep_loop(self) -> None:
        """At start and then periodically: work a stopped process left unfinished (migrations cut short)."""
        assert self.upkeep is not None
        while not self.stopping.is_set():
            try:
                self.upkeep()
            except Exception:
                log.exception("upkeep failed; will retry")
            self.stopping.wait(self.upkeep_interval)

    def _delivery_loop(self) -> None:
        asyncio.run(self._deliver())

    async def _deliver(self) -> None:
        backoff = self.poll_interval
        try:
            while not self.stopping.is_set():
                try:
                    handled = await self.deliverer.run_once()
                    backoff = self.poll_interval
                except Exception:
                    log.exception("delivery batch failed; will retry")
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_RETRY_DELAY)
                    continue
                if handled == 0:
                    await asyncio.to_thread(self._wait_delivery)
        finally:
            # Finish and record deliveries in flight: a send cut off after DATA could be repeated later.
            await self.deliverer.drain()
            await self.deliverer.close()

    def _webhook_loop(self) -> None:
        asyncio.run(self._deliver_webhooks())

    async def _deliver_webhooks(self) -> None:
        assert self.webhooks is not None
        backoff = self.poll_interval
        try:
            while not self.stopping.is_set():
                try:
                    handled = await self.webhooks.run_once()
                    backoff = self.poll_interval
                except Exception:
                    log.exception("webhook batch failed; will retry")
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_RETRY_DELAY)
                    continue
                if handled == 0:
                    await asyncio.to_thread(self.stopping.wait, self.poll_interval)
        finally:
            await self.webhooks.close()

    def _wait_delivery(self) -> None:
        self.delivery_wakeup.wait(self.poll_interval)
        self.delivery_wakeup.clear()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll until predicate() holds or timeout passes (for tools and tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
