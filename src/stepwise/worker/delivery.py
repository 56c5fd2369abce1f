"""The delivery loop: lease outbox rows, prepare, send or call, record (S7, SPEC §3, §6).

Deliveries run as tasks. Each `run_once` claims what fits beside the deliveries still running,
starts them, and records whatever finished; so a slow SMTP server or webhook target holds only its
own rows while the loop keeps claiming and recording the others. Emails and URL calls have their
own concurrency, and URL calls a limit per host.

Sending happens outside any transaction. Right after the SMTP server's 250, before the transport
hands over any other message, the row's `accepted_at` is written (retried until the database
answers); a row that has it is recorded as sent by whoever claims it next, never sent again. Only a
crash between the 250 and that one-row write sends a message twice: at most one per crash, the only
duplicate SPEC §12 allows. The rest of the record (issue, timeline, removing the row) is written per
group of finished deliveries. A lease lasts LEASE, far longer than one attempt's deadline, and is
renewed at half-time for a delivery still running (e.g. waiting for its turn under the send rate).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from stepwise.clock import Clock
from stepwise.delivery.compose import Composer, template_context
from stepwise.delivery.message import Outgoing, UnsafeHeader
from stepwise.delivery.rendering import RenderError
from stepwise.delivery.retry import EMAIL_BACKOFF, URL_BACKOFF, decide
from stepwise.delivery.tokens import TokenSigner
from stepwise.delivery.transports import DeliveryError, Transport
from stepwise.delivery.webhooks import InvalidRequest, UrlCaller, UrlRequest, UrlResponse, build_request
from stepwise.storage import accounts as account_store
from stepwise.storage import drafts as draft_store
from stepwise.storage import issues as issue_store
from stepwise.storage import outbox as outbox_store
from stepwise.storage import schema as t
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage import timeline as timeline_store
from stepwise.storage.acceptance import AcceptanceLog
from stepwise.storage.accounts import AccountRow
from stepwise.storage.codec import dumps, to_us
from stepwise.storage.database import Database
from stepwise.storage.dialects import fast_update
from stepwise.storage.drafts import DraftRow
from stepwise.storage.outbox import OutboxRow

log = logging.getLogger("stepwise.delivery")
_T = TypeVar("_T")
# Longer than any one attempt (an SMTP message has 30 s, a URL call 10 s) and renewed at half-time while an
# attempt runs; short enough that the rows of a worker killed mid-send are retried within a minute.
LEASE = timedelta(minutes=1)
_LEASE_US = int(LEASE.total_seconds() * 1_000_000)
# Retries while the database is away back off to at most this, so that a database back from a restart is
# used again within seconds (SPEC §12); trying a refused connection every 2 s costs nothing.
MAX_RETRY_DELAY = 2.0
UNAVAILABLE = {
    "unsubscribed": "subscriber_unsubscribed",
    "bounced": "subscriber_bounced",
    "unconfirmed": "subscriber_unconfirmed",
}


@dataclass
class Prepared:
    """One claimed row made ready: a message or request to send, or the reason it will not be sent."""

    row: OutboxRow
    outgoing: Outgoing | None = None
    archive_html: str | None = None  # the HTML as sent, without the open pixel (viewing it is no open)
    links: list[str] | None = None
    request: UrlRequest | None = None
    skip: str | None = None
    fail: str | None = None

    @property
    def handed_over(self) -> bool:
        """The server accepted this message from a holder that died before recording it: record, never resend."""
        return self.row.kind == "email" and self.row.accepted_at is not None


@dataclass
class Result:
    """What came of one delivery attempt."""

    prepared: Prepared
    error: DeliveryError | None = None
    response: UrlResponse | None = None


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
        db: Database,
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
        tick: float = 0.05,
    ) -> None:
        self.db = db
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
        self.email_backoff = email_backoff
        self.url_backoff = url_backoff
        self.tick = tick
        self.composer = Composer(signer, self.base_url, with_raw=transport.name != "capture")
        self._running: dict[int, _Running] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._email_slots: asyncio.Semaphore | None = None
        self._url_slots: asyncio.Semaphore | None = None
        self._hosts: dict[str, _HostSlots] = {}
        self._acceptance: AcceptanceLog | None = None
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
            self._acceptance = AcceptanceLog(self.db)  # a connection of the old loop is left to the collector

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
                await asyncio.to_thread(self._release, abandoned)
            except Exception:  # still away: try again next time
                self._abandoned = abandoned + self._abandoned
                raise
        token = secrets.token_hex(8)
        now = self.clock()
        lease_until = to_us(now) + _LEASE_US
        try:
            rows = await asyncio.to_thread(self._claim, now, token, room)
            if not rows:
                return 0
            prepared = await asyncio.to_thread(self._prepare, rows, now)
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
            await self._record_with_retry(results)
        return len(results)

    async def _renew_leases(self) -> None:
        now_us = to_us(self.clock())
        due = [r for r in self._running.values() if r.lease_until_us - now_us < _LEASE_US // 2]
        if not due:
            return
        until = now_us + _LEASE_US

        def renew() -> list[bool]:
            with self.db.write() as conn:
                return [outbox_store.renew(conn, r.row.id, r.row.lease_token, until) for r in due]

        try:
            kept = await asyncio.to_thread(renew)
        except Exception:  # the database is away; the next turn tries again, well before the lease ends
            log.exception("renewing delivery leases failed")
            return
        for running, ok in zip(due, kept, strict=True):
            if ok:
                running.lease_until_us = until
            else:
                log.warning("lease of outbox row %s was lost while its delivery was running", running.row.id)

    # -- claiming and preparing (worker threads, one transaction each) --------------------------

    def _release(self, abandoned: Sequence[tuple[str, int]]) -> None:
        with self.db.write() as conn:
            now_us = to_us(self.clock())
            for token, lease_until in abandoned:
                outbox_store.release(conn, token, lease_until, now_us)

    def _claim(self, now: datetime, token: str, room: dict[str, int]) -> list[OutboxRow]:
        rows: list[OutboxRow] = []
        with self.db.write() as conn:
            for kind, limit in room.items():
                if limit > 0:
                    rows += outbox_store.claim(conn, to_us(now), limit, _LEASE_US, token, kinds=(kind,))
        return rows

    def _prepare(self, rows: Sequence[OutboxRow], now: datetime) -> list[Prepared]:
        with self.db.read() as conn:
            lookups = _Lookups(conn, [row for row in rows if row.kind != "url"])
            return [
                self._prepare_url(row, now) if row.kind == "url" else self._prepare_email(lookups, row, now)
                for row in rows
            ]

    def _prepare_email(self, lookups: _Lookups, row: OutboxRow, now: datetime) -> Prepared:
        item = Prepared(row)
        issue_id = row.issue_id or ""
        if lookups.issues.get(issue_id) != "queued":
            item.skip = "issue_missing"
            return item
        sub = lookups.subscribers.get(row.subscriber_id)
        if item.handed_over:  # already out: composed again only for the archive, whatever happened since
            if sub is not None:
                self._compose(lookups, item, sub.email, now)
                item.fail = None
            return item
        if sub is None:
            item.skip = "subscriber_deleted"
            return item
        payload = row.payload
        confirmation = payload.get("purpose") == "confirmation"
        if sub.status in UNAVAILABLE and not (confirmation and sub.status == "unconfirmed"):
            item.skip = UNAVAILABLE[sub.status]  # S12, checked again at delivery time
            return item
        self._compose(lookups, item, sub.email, now)
        return item

    def _compose(self, lookups: _Lookups, item: Prepared, email: str, now: datetime) -> None:
        """Render the row's message into `item`, or set `item.fail` with the reason."""
        row, payload = item.row, item.row.payload
        # A payload may carry its own template (the built-in confirmation email); else the draft is read.
        inline = payload.get("template")
        draft = (
            DraftRow(0, "", **inline, created_at=0, updated_at=0)
            if inline
            else lookups.draft(row.account_id, payload["draft"])
        )
        if draft is None:
            item.fail = f"draft {payload['draft']!r} no longer exists"
            return
        if not draft.from_email:
            item.fail = "draft has no sender (from_email)"
            return
        account = lookups.account(row.account_id)
        try:
            composed = self.composer.compose(
                account_id=row.account_id,
                account_name=account.name if account else "account",
                issue_id=row.issue_id or "",
                draft=draft,
                email=email,
                payload=payload,
                now=now,
            )
        except (RenderError, UnsafeHeader) as exc:
            item.fail = str(exc)
            return
        item.outgoing, item.archive_html, item.links = composed.outgoing, composed.archive_html, composed.links

    def _prepare_url(self, row: OutboxRow, now: datetime) -> Prepared:
        item = Prepared(row)
        payload = row.payload
        email = str(payload.get("email") or "")
        context = template_context(email, payload, now)
        try:
            item.request = build_request(payload.get("action") or {}, context, email)
        except (RenderError, InvalidRequest, KeyError) as exc:
            item.fail = f"cannot build the request: {exc}"
        return item

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
        if item.outgoing is None or item.handed_over:
            return Result(item)
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
        kept = await _until_written(
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

    # -- recording (one transaction per group of results) ---------------------------------------

    async def _record_with_retry(self, results: Sequence[Result]) -> None:
        # The facts must be written (S14), whatever the database's outage.
        await _until_written(lambda: asyncio.to_thread(self._record, results), "recording deliveries failed")

    def _record(self, results: Sequence[Result]) -> None:
        now = self.clock()
        now_us = to_us(now)
        delays = {r.prepared.row.id: d for r in results if (d := self._retry_delay(r)) is not None}
        entries: list[dict[str, Any]] = []
        outcomes: list[str] = []
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        with self.db.write() as conn:
            owned = self._finish(conn, [r.prepared.row for r in results if r.prepared.row.id not in delays])
            for result in results:
                row = result.prepared.row
                delay = delays.get(row.id)
                if delay is not None:
                    if not outbox_store.reschedule(
                        conn, row.id, row.lease_token, to_us(now + delay), str(result.error)
                    ):
                        continue  # another worker owns the row now; it records its own outcome
                    kind, detail, update = self._retry_outcome(result, delay)
                elif row.id in owned:
                    kind, detail, update = self._final_outcome(result, now_us)
                else:
                    continue  # as above: the lease was lost, the fact is the new holder's to write
                if update is not None:
                    updates[tuple(update)].append({**update, "id": row.issue_id})
                if kind == "email_failed" and detail.get("bounced"):
                    subscriber_store.mark_bounced(conn, row.subscriber_id, now_us)
                entries.append(
                    {
                        "account_id": row.account_id,
                        "subscriber_id": row.subscriber_id,
                        "at": now_us,
                        "kind": kind,
                        "sequence": row.payload.get("sequence"),
                        "detail": detail,
                    }
                )
                outcomes.append(kind)
            for group in updates.values():
                fast_update(conn, t.issues, "id", group)
            timeline_store.add(conn, entries)
        for kind in outcomes:  # only after the commit, so a retried write counts once
            self.on_result(kind)

    def _finish(self, conn: Connection, rows: Sequence[OutboxRow]) -> set[int]:
        """Delete finished rows whose lease we still hold; return their ids."""
        by_token: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            by_token[row.lease_token].append(row.id)
        owned: set[int] = set()
        for token, ids in by_token.items():
            owned |= outbox_store.finish_many(conn, token, ids)
        return owned

    def _retry_delay(self, result: Result) -> timedelta | None:
        item, error = result.prepared, result.error
        if item.skip is not None or item.fail is not None or error is None or item.handed_over:
            return None
        schedule = self.url_backoff if item.row.kind == "url" else self.email_backoff
        return decide(permanent=error.permanent, attempt=item.row.attempts, schedule=schedule)

    def _retry_outcome(self, result: Result, delay: timedelta) -> _Outcome:
        item, error = result.prepared, str(result.error)
        if item.row.kind == "url":
            return "url_retry", {**_url_detail(item), "error": error[:500], "retry_in_s": delay.total_seconds()}, None
        detail = {**_email_detail(item), "error": error[:500], "retry_in_s": int(delay.total_seconds())}
        return "email_retry", detail, {"reason": f"retrying: {error}"[:2000]}

    def _final_outcome(self, result: Result, now_us: int) -> _Outcome:
        item = result.prepared
        if item.row.kind == "url":
            return _url_outcome(result)
        base = _email_detail(item)
        if item.handed_over and item.skip is None:
            return "email_sent", {**base, "transport": self.transport.name, "recovered": True}, self._sent(item, now_us)
        if item.skip is not None:
            skipped = None if item.skip == "issue_missing" else {"status": "skipped", "reason": item.skip}
            return "email_skipped", {**base, "reason": item.skip}, skipped
        if item.fail is not None:
            return "email_failed", {**base, "reason": item.fail[:500]}, {"status": "failed", "reason": item.fail[:2000]}
        error = result.error
        if error is not None:  # permanent, or out of retries
            detail = {**base, "reason": str(error)[:500], "bounced": error.bounce}
            return "email_failed", detail, {"status": "failed", "reason": str(error)[:2000]}
        return "email_sent", {**base, "transport": self.transport.name}, self._sent(item, now_us)

    def _sent(self, item: Prepared, now_us: int) -> dict[str, Any]:
        """The issue's values once sent: when, and the message as archived (when it could be composed)."""
        sent: dict[str, Any] = {
            "status": "sent",
            "sent_at": item.row.accepted_at or now_us,
            "transport": self.transport.name,
            "reason": None,
        }
        out = item.outgoing
        if out is not None:
            sent |= {
                "message_id": out.headers["Message-ID"],
                "subject": out.subject,
                "from_addr": out.from_header,
                "headers": dumps(out.headers),
                "html": item.archive_html if item.archive_html is not None else out.html,
                "text": out.text,
                "links": dumps(item.links) if item.links else None,
            }
        return sent


async def _until_written(write: Callable[[], Awaitable[_T]], failure: str) -> _T:
    """Await `write` until it succeeds, backing off to MAX_RETRY_DELAY while the database is away."""
    delay = 0.2
    while True:
        try:
            return await write()
        except Exception:
            log.exception("%s; retrying", failure)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY)


_Outcome = tuple[str, dict[str, Any], dict[str, Any] | None]  # timeline kind, its detail, the issue's new values


def _email_detail(item: Prepared) -> dict[str, Any]:
    return {"issue": item.row.issue_id or "", "draft": item.row.payload.get("draft")}


def _url_detail(item: Prepared) -> dict[str, Any]:
    action = item.row.payload.get("action") or {}
    request = item.request
    return {
        "url": request.url if request else action.get("url"),
        "method": request.method if request else action.get("method", "GET"),
        "step": item.row.payload.get("step"),
        "attempt": item.row.attempts,
    }


def _url_outcome(result: Result) -> _Outcome:
    item = result.prepared
    base = _url_detail(item)
    if item.fail is not None:
        return "url_failed", {**base, "reason": item.fail[:500]}, None
    if result.error is not None:  # permanent, or out of retries
        return "url_failed", {**base, "reason": str(result.error)[:500]}, None
    response = result.response
    assert response is not None
    detail = {
        **base,
        "status": response.status,
        "final_url": response.url,
        "ms": response.elapsed_ms,
        "response": response.snippet,
    }
    return "url_called", detail, None


class _Lookups:
    """What preparing a batch of emails reads, fetched once per batch (issues, subscribers, drafts, accounts)."""

    def __init__(self, conn: Connection, rows: Sequence[OutboxRow]) -> None:
        self.conn = conn
        self.issues = issue_store.statuses(conn, [row.issue_id for row in rows if row.issue_id])
        self.subscribers = {s.id: s for s in subscriber_store.by_ids(conn, sorted({row.subscriber_id for row in rows}))}
        self._drafts: dict[tuple[int, str], DraftRow | None] = {}
        self._accounts: dict[int, AccountRow | None] = {}

    def draft(self, account_id: int, key: str) -> DraftRow | None:
        """Return a draft, read once per batch."""
        if (account_id, key) not in self._drafts:
            self._drafts[(account_id, key)] = draft_store.get(self.conn, account_id, key)
        return self._drafts[(account_id, key)]

    def account(self, account_id: int) -> AccountRow | None:
        """Return an account, read once per batch."""
        if account_id not in self._accounts:
            self._accounts[account_id] = account_store.by_id(self.conn, account_id)
        return self._accounts[account_id]
