"""The delivery loop: lease outbox rows, prepare, send or call, record (S7, SPEC §3, §6).

The loop only schedules: reads and writes go through a DeliveryStore (ports.py), preparing a row
(the S12 re-check, composing) is preparing.py, and turning a result into a record is recording.py.

Deliveries run as tasks. Each `run_once` claims what fits beside the deliveries still running, starts
them, and records whatever finished; so a slow SMTP server or webhook target holds only its own rows.
Emails and URL calls have their own concurrency, and URL calls a limit per host.

Sending happens outside any transaction. Right after the SMTP server's 250, before the transport
hands over any other message, the row's `accepted_at` is written (retried until the database
answers); a row that has it is recorded as sent by whoever claims it next, never sent again. Only a
crash between the 250 and that one-row write sends a message twice: at most one per crash, the only
duplicate SPEC §12 allows. The rest of the record is written per group of finished deliveries.
A lease lasts LEASE, far longer than one attempt, renewed at half-time meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy.exc import DBAPIError

from stepwise.clock import Clock
from stepwise.delivery.compose import Composer
from stepwise.delivery.retry import EMAIL_BACKOFF, URL_BACKOFF
from stepwise.delivery.tokens import TokenSigner
from stepwise.delivery.transports import DeliveryError, Transport
from stepwise.delivery.webhooks import UrlCaller
from stepwise.domain.jobs import OutboxRow
from stepwise.worker.ports import AcceptanceWriter, DeliveryStore, to_us
from stepwise.worker.preparing import Preparer
from stepwise.worker.recording import Policy, Prepared, Recorder, Result, until_written

log = logging.getLogger("stepwise.delivery")
# Outlives any attempt (SMTP 30 s, URL call 10 s; renewed at half-time); a killed worker's rows return in a minute.
LEASE = timedelta(minutes=1)
_LEASE_US = int(LEASE.total_seconds() * 1_000_000)


@dataclass
class _HostSlots:
    semaphore: asyncio.Semaphore
    users: int = 0


@dataclass
class _Running:
    row: OutboxRow
    task: asyncio.Task[Result]
    lease_until_us: int


class Deliverer:
    """Delivers the outbox: emails through one transport, URL calls through a UrlCaller."""

    def __init__(
        self,
        store: DeliveryStore,
        transport: Transport,
        signer: TokenSigner,
        base_url: str,
        clock: Clock,
        *,
        batch_size: int = 100,
        concurrency: int = 16,
        on_result: Callable[[str], None] | None = None,
        urls: UrlCaller | None = None,
        url_concurrency: int = 16,
        url_per_host: int = 4,
        email_backoff: tuple[timedelta, ...] = EMAIL_BACKOFF,
        url_backoff: tuple[timedelta, ...] = URL_BACKOFF,
        # Finished deliveries are recorded in groups at least this often: a group is one transaction, and on
        # SQLite every message's acceptance waits while one runs, so fewer, larger groups stall it less
        # (and cost less per delivery); a run's next email waits at most this long for the record.
        tick: float = 0.2,
    ) -> None:
        self.store = store
        self.transport = transport
        self.signer = signer
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.on_result = on_result or (lambda outcome: None)
        self.urls = urls or UrlCaller()
        self.url_concurrency = url_concurrency
        self.url_per_host = url_per_host
        self.tick = tick
        self.preparer = Preparer(store, Composer(signer, self.base_url, with_raw=transport.name != "capture"))
        self.recorder = Recorder(store, clock, Policy(transport.name, email_backoff, url_backoff), self.on_result)
        self._running: dict[int, _Running] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._email_slots: asyncio.Semaphore | None = None
        self._url_slots: asyncio.Semaphore | None = None
        self._hosts: dict[str, _HostSlots] = {}
        self._acceptance: AcceptanceWriter | None = None
        # Claims nobody will work on (the database went away while claiming or preparing them), as
        # (lease token, lease end): released once the database answers, not left until the lease runs out.
        self._abandoned: list[tuple[str, int]] = []

    def _bind_loop(self) -> None:
        # Semaphores and tasks belong to one event loop; a new loop (a restarted thread) starts afresh,
        # and rows whose tasks died with the old loop come back when their lease ends.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._email_slots = asyncio.Semaphore(self.concurrency)
            self._url_slots = asyncio.Semaphore(self.url_concurrency)
            self._hosts = {}
            self._running = {}
            self._acceptance = self.store.acceptance()  # a connection of the old loop is left to the collector

    @property
    def running(self) -> int:
        """How many deliveries are in progress."""
        return len(self._running)

    async def run_once(self) -> int:
        """Claim what fits, start it, record what finished; return rows claimed, recorded or still running."""
        self._bind_loop()
        await self._renew_leases()
        # Record what finishes while the next batch is claimed and rendered, so that finished rows leave the
        # outbox (and their runs go on) without waiting for the whole batch.
        starting = asyncio.ensure_future(self._start())
        recorded = 0
        while not starting.done():
            if self._running:
                recorded += await self._collect(wait=self.tick)
            else:
                await asyncio.wait({starting})
        try:
            claimed = starting.result()
        except Exception:  # the database is away: still record what is running (that write retries)
            if not self._running:
                raise
            log.exception("claiming outbox rows failed")
            claimed = 0
        recorded += await self._collect(wait=self.tick)
        if claimed or recorded:
            return claimed + recorded
        return len(self._running)

    async def close(self) -> None:
        """Close the transport's connections and the acceptance log's (after drain)."""
        await self.transport.close()
        if self._acceptance is not None:
            await self._acceptance.close()

    async def drain(self) -> int:
        """Wait for every running delivery and record it (before stopping); return rows recorded."""
        self._bind_loop()
        total = 0
        while self._running:
            total += await self._collect(wait=None)
        return total

    async def _start(self) -> int:
        kinds = [r.row.kind for r in self._running.values()]
        # Up to two batches of a kind in flight: the next one is claimed and rendered while one is sending.
        room = {kind: min(self.batch_size, 2 * self.batch_size - kinds.count(kind)) for kind in ("email", "url")}
        if max(room.values()) <= 0:
            return 0
        if self._abandoned:
            abandoned, self._abandoned = self._abandoned, []
            try:
                await asyncio.to_thread(self.store.release, abandoned, to_us(self.clock()))
            except Exception:  # still away: try again next time
                self._abandoned = abandoned + self._abandoned
                raise
        token = secrets.token_hex(8)
        now = self.clock()
        lease_until = to_us(now) + _LEASE_US
        try:
            rows = await asyncio.to_thread(self.store.claim, to_us(now), token, room, _LEASE_US)
            if not rows:
                return 0
            prepared = await asyncio.to_thread(self.preparer.prepare, rows, now)
        except DBAPIError:
            # The database went away: the claim may have committed before the connection broke, or its rows
            # could not be prepared. Leased to us but never started, they go back as soon as it answers.
            self._abandoned.append((token, lease_until))
            raise
        for item in prepared:
            task = asyncio.create_task(self._deliver(item), name=f"deliver-{item.row.id}")
            self._running[item.row.id] = _Running(item.row, task, lease_until)
        return len(rows)

    async def _collect(self, *, wait: float | None) -> int:
        if not self._running:
            return 0
        tasks = [r.task for r in self._running.values()]
        done, _ = await asyncio.wait(tasks, timeout=wait)
        results: list[Result] = []
        for row_id, running in list(self._running.items()):
            if running.task in done:
                del self._running[row_id]
                if not running.task.cancelled():
                    results.append(running.task.result())
        if results:
            await self.recorder.record_with_retry(results)
        return len(results)

    async def _renew_leases(self) -> None:
        now_us = to_us(self.clock())
        due = [r for r in self._running.values() if r.lease_until_us - now_us < _LEASE_US // 2]
        if not due:
            return
        until = now_us + _LEASE_US

        try:
            kept = await asyncio.to_thread(self.store.renew, [(r.row.id, r.row.lease_token) for r in due], until)
        except Exception:  # the database is away; the next turn tries again, well before the lease ends
            log.exception("renewing delivery leases failed")
            return
        for running, ok in zip(due, kept, strict=True):
            if ok:
                running.lease_until_us = until
            else:
                log.warning("lease of outbox row %s was lost while its delivery was running", running.row.id)

    # -- sending (tasks of the loop) -----------------------------------------------------------

    async def _deliver(self, item: Prepared) -> Result:
        try:
            if item.row.kind == "url":
                return await self._call(item)
            return await self._send(item)
        except Exception as exc:  # a transport bug must not lose the row: retry it
            log.exception("delivery of outbox row %s failed unexpectedly", item.row.id)
            return Result(item, DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False))

    async def _send(self, item: Prepared) -> Result:
        if item.outgoing is None or item.handed_over or getattr(item.row.job, "test", False):
            return Result(item)  # S19: a test run's email is kept for the capture mailbox only, never sent
        assert self._email_slots is not None
        async with self._email_slots:
            try:
                await self.transport.send(item.outgoing, lambda: self._mark_accepted(item.row))
            except DeliveryError as exc:
                return Result(item, exc)
        return Result(item)

    async def _mark_accepted(self, row: OutboxRow) -> None:
        """Write that the server accepted the row's message (without it a crash would send it again)."""
        acceptance = self._acceptance
        assert acceptance is not None
        kept = await until_written(
            lambda: acceptance.record(row.id, row.lease_token, to_us(self.clock())),
            "recording an accepted message failed",
        )
        if not kept:
            log.warning("lease of outbox row %s was lost before its acceptance was recorded", row.id)

    async def _call(self, item: Prepared) -> Result:
        if item.request is None:
            return Result(item)
        assert self._url_slots is not None
        host = (urlsplit(item.request.url).hostname or "").lower()
        slots = self._hosts.get(host) or self._hosts.setdefault(host, _HostSlots(asyncio.Semaphore(self.url_per_host)))
        slots.users += 1
        try:
            # The host's slot first: calls queued for one slow host must not hold the global slots.
            async with slots.semaphore, self._url_slots:
                try:
                    response = await self.urls.call(item.request)
                except DeliveryError as exc:
                    return Result(item, exc)
            return Result(item, response=response)
        finally:
            slots.users -= 1
            if slots.users == 0:  # forget idle hosts, so the map does not grow with every host ever called
                del self._hosts[host]
