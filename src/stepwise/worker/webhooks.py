"""The webhook loop: lease `webhook` outbox rows, sign and POST each message, record (S29).

At most one duplicate per crash. Within a worker, requests go out ONE AT A TIME, and right after a
2xx reply the row's `accepted_at` is written by an autocommitted one-row UPDATE (storage/acceptance.py,
the same write that follows an SMTP 250) before the next request is sent. A row that has
`accepted_at` is recorded as delivered by whoever claims it next, never sent again. So the only
message a receiver can have without a durable record is the one in flight when the worker dies:
kill -9 repeats at most one message per worker killed. Claiming the next batch, reading bodies and
keys, and opening connections do not send anything and may overlap; the rest of the record (log,
outbox rows) is written per batch.

Ordering: the outbox leases only the oldest row per (subscriber, endpoint) (`sequence_id` is the
endpoint's negative id), and a row leaves the outbox only when it is delivered or has failed for
good, so a subscriber's messages reach an endpoint in order.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import replace
from datetime import datetime, timedelta

from stepwise.clock import Clock
from stepwise.delivery.hook_client import HookClient
from stepwise.delivery.retry import URL_BACKOFF, decide
from stepwise.delivery.transports import DeliveryError
from stepwise.domain import webhooks as hooks
from stepwise.domain.instants import to_us
from stepwise.services.webhook_delivery import Attempt, DatabaseWebhookStore, Done, Outcome
from stepwise.worker.ports import AcceptanceWriter
from stepwise.worker.recording import until_written

log = logging.getLogger("stepwise.webhooks")
LEASE_US = 60 * 1_000_000
_INACTIVE_HOLD_US = 3600 * 1_000_000  # rows of an inactive endpoint wait (set active again: due at once)
_WAIT_US = 5 * 1_000_000
_RETRYABLE = frozenset({408, 425, 429})


class WebhookDeliverer:
    """Delivers webhook messages of the outbox, one request at a time per worker."""

    def __init__(
        self,
        store: DatabaseWebhookStore,
        client: HookClient,
        clock: Clock,
        *,
        batch_size: int = 200,
        backoff: tuple[timedelta, ...] = URL_BACKOFF,
    ) -> None:
        self.store = store
        self.client = client
        self.clock = clock
        self.batch_size = batch_size
        self.backoff = backoff
        self._acceptance: AcceptanceWriter | None = None
        self._next: asyncio.Task[list[Attempt]] | None = None

    async def run_once(self) -> int:
        """Deliver one batch (the next one is claimed and read meanwhile); return rows handled."""
        if self._acceptance is None:
            self._acceptance = self.store.acceptance()
        batch = await (self._next or asyncio.ensure_future(self._claim()))
        self._next = None
        if not batch:
            return 0
        self._next = asyncio.ensure_future(self._claim())
        done = await self._deliver(batch)
        now_us = to_us(self.clock())
        await until_written(lambda: asyncio.to_thread(self.store.record, done, now_us), "recording webhooks failed")
        return len(batch)

    async def _claim(self) -> list[Attempt]:
        now_us = to_us(self.clock())
        rows = await asyncio.to_thread(self.store.claim, now_us, secrets.token_hex(8), self.batch_size, LEASE_US)
        return await asyncio.to_thread(self.store.prepare, rows) if rows else []

    async def close(self) -> None:
        """Wait for a claim in progress (its rows return when their lease ends), close connections."""
        if self._next is not None:
            try:
                await self._next
            except Exception:
                log.exception("claiming webhooks failed while stopping")
            self._next = None
        await self.client.close()
        if self._acceptance is not None:
            await self._acceptance.close()

    async def _deliver(self, batch: list[Attempt]) -> list[Done]:
        done: list[Done] = []
        failing: set[str] = set()  # endpoints that failed in this batch: their other rows wait their turn
        started = time.monotonic()
        for attempt in batch:
            url = attempt.url or ""
            if url in failing or time.monotonic() - started > LEASE_US / 2_000_000:
                # Not attempted: back in a few seconds (no attempt counted), so a failing or slow endpoint
                # costs one attempt per batch rather than holding every other endpoint's messages.
                hold_us = to_us(self.clock()) + _WAIT_US
                done.append(Done(attempt.row, None, hold_until_us=hold_us, revision=attempt.revision))
                continue
            result = replace(await self._one(attempt), revision=attempt.revision)
            if result.outcome is not None and result.outcome.status != "delivered" and result.retry_at_us:
                failing.add(url)
            done.append(result)
        return done

    async def _one(self, attempt: Attempt) -> Done:
        row, now = attempt.row, self.clock()
        now_us = to_us(now)
        if attempt.url is None or attempt.body is None:
            return Done(row, None)  # the endpoint or its message was deleted
        if not attempt.active:
            return Done(row, None, hold_until_us=now_us + _INACTIVE_HOLD_US)

        def outcome(status: str, code: int | None, error: str | None) -> Outcome:
            return Outcome(attempt.message_id, row.sequence_id * -1, status, code, error, now_us)

        if row.accepted_at is not None:  # a worker that died had it delivered: record, never resend
            return Done(row, outcome("delivered", None, None))
        if attempt.key is None:
            return Done(row, outcome("failed", None, "the endpoint's secret cannot be unsealed"))
        timestamp = int(now.timestamp())
        headers = hooks.headers(attempt.key, attempt.message_id, timestamp, attempt.body)
        try:
            reply = await self.client.post(attempt.url, headers, attempt.body)
        except DeliveryError as exc:
            return self._failed(attempt, outcome("pending", None, str(exc)), exc.permanent, now)
        if 200 <= reply.status < 300:
            assert self._acceptance is not None
            acceptance = self._acceptance
            # Durable before the next request goes out: this is what bounds duplicates to one per crash.
            await until_written(
                lambda: acceptance.record(row.id, row.lease_token, to_us(self.clock())), "recording a webhook failed"
            )
            return Done(row, outcome("delivered", reply.status, None))
        retryable = reply.status >= 500 or reply.status in _RETRYABLE
        error = f"HTTP {reply.status}: {reply.snippet[:200]}"
        return self._failed(attempt, outcome("pending", reply.status, error), not retryable, now)

    def _failed(self, attempt: Attempt, pending: Outcome, permanent: bool, now: datetime) -> Done:
        delay = decide(permanent=permanent, attempt=attempt.row.attempts, schedule=self.backoff)
        if delay is None:
            return Done(attempt.row, replace(pending, status="failed"))
        return Done(attempt.row, pending, retry_at_us=pending.at_us + int(delay.total_seconds() * 1_000_000))
