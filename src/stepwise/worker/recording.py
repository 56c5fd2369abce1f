"""Recording what deliveries came to: one write per group of finished deliveries (S7, S14).

`to_record` turns a delivery's result into what is written (a pure function); the store writes a
group of records in one transaction, fenced by the lease tokens. A group that cannot be written
because the database is away is retried until it can; one that fails for another reason is written
one result at a time, and a result that still cannot be written is set aside (poison isolation).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from stepwise.clock import Clock
from stepwise.delivery.message import Outgoing
from stepwise.delivery.retry import decide
from stepwise.delivery.transports import DeliveryError
from stepwise.delivery.webhooks import UrlRequest, UrlResponse
from stepwise.domain.instants import from_us, iso
from stepwise.domain.jobs import ConfirmationJob, EmailJob, OutboxRow, UrlCallJob
from stepwise.services.quarantine import describe_error
from stepwise.services.transient import is_transient
from stepwise.worker.ports import DeliveryStore, IssueChange, Record, SentMessage, to_us

log = logging.getLogger("stepwise.delivery")
_T = TypeVar("_T")
# Retries while the database is away back off to at most this, so that a database back from a restart is
# used again within seconds (SPEC §12); trying a refused connection every 2 s costs nothing.
MAX_RETRY_DELAY = 2.0


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
    poison: str | None = None  # cannot be decoded or prepared: recorded as failed and set aside
    defer: tuple[int, str] | None = None  # held until then (microseconds) by a send window or a cap, and why
    slot: bool = False  # took a cap slot (S28): given back unless the email is sent

    @classmethod
    def set_aside(cls, row: OutboxRow, error: str) -> Prepared:
        """A row that will be recorded as failed and kept in the quarantine (poison isolation)."""
        return cls(row, fail=f"set aside: {error}", poison=error)

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


@dataclass(frozen=True, slots=True)
class Policy:
    """How outcomes are recorded: the transport's name and the retry schedules."""

    transport: str
    email_backoff: tuple[timedelta, ...]
    url_backoff: tuple[timedelta, ...]


def to_record(result: Result, policy: Policy, now: datetime, now_us: int) -> Record:
    """What a delivery came to, as it is written (retry, or final outcome)."""
    record = _to_record(result, policy, now, now_us)
    if result.prepared.slot and record.kind != "email_sent":
        return replace(record, release_slot=True)
    return record


def _deferred(item: Prepared) -> Record:
    """An email held by a send window or a cap: the issue says until when and why; the row waits."""
    assert item.defer is not None
    until_us, why = item.defer
    until = iso(from_us(until_us))
    detail = {**email_detail(item), "reason": why, "deliver_after": until}
    change = IssueChange("deferred", f"{why}: held until {until}", deliver_after_us=until_us)
    return Record(item.row, "email_deferred", detail, change, retry_at_us=until_us, deferred=True, poison=item.poison)


def _to_record(result: Result, policy: Policy, now: datetime, now_us: int) -> Record:
    item = result.prepared
    if item.defer is not None and item.skip is None and item.fail is None:
        return _deferred(item)
    delay = retry_delay(result, policy)
    if delay is not None:
        return _retry_record(result, delay, to_us(now + delay))
    if item.row.kind == "url":
        kind, detail = url_outcome(result)
        return Record(item.row, kind, detail, poison=item.poison)
    return _email_record(result, policy, now_us)


def retry_delay(result: Result, policy: Policy) -> timedelta | None:
    """When to try again, or None: the outcome is final."""
    item, error = result.prepared, result.error
    if item.skip is not None or item.fail is not None or error is None or item.handed_over:
        return None
    schedule = policy.url_backoff if item.row.kind == "url" else policy.email_backoff
    return decide(permanent=error.permanent, attempt=item.row.attempts, schedule=schedule)


def _retry_record(result: Result, delay: timedelta, at_us: int) -> Record:
    item, error = result.prepared, str(result.error)
    if item.row.kind == "url":
        detail = {**url_detail(item), "error": error[:500], "retry_in_s": delay.total_seconds()}
        return Record(item.row, "url_retry", detail, retry_at_us=at_us, error=error, poison=item.poison)
    detail = {**email_detail(item), "error": error[:500], "retry_in_s": int(delay.total_seconds())}
    change = IssueChange(None, f"retrying: {error}"[:2000])
    return Record(item.row, "email_retry", detail, change, retry_at_us=at_us, error=error, poison=item.poison)


def _email_record(result: Result, policy: Policy, now_us: int) -> Record:
    item, row = result.prepared, result.prepared.row
    base = email_detail(item)
    if item.handed_over and item.skip is None:
        detail = {**base, "transport": policy.transport, "recovered": True}
        return Record(row, "email_sent", detail, _sent(item, policy, now_us), poison=item.poison)
    if item.skip is not None:
        skipped = None if item.skip == "issue_missing" else IssueChange("skipped", item.skip)
        return Record(row, "email_skipped", {**base, "reason": item.skip}, skipped, poison=item.poison)
    if item.fail is not None:
        failed = IssueChange("failed", item.fail[:2000])
        return Record(row, "email_failed", {**base, "reason": item.fail[:500]}, failed, poison=item.poison)
    error = result.error
    if error is not None:  # permanent, or out of retries
        detail = {**base, "reason": str(error)[:500], "bounced": error.bounce}
        failed = IssueChange("failed", str(error)[:2000])
        return Record(row, "email_failed", detail, failed, bounced=bool(error.bounce), poison=item.poison)
    detail = {**base, "transport": _transport(item, policy)}
    return Record(row, "email_sent", detail, _sent(item, policy, now_us), poison=item.poison)


def _sent(item: Prepared, policy: Policy, now_us: int) -> IssueChange:
    """The issue's values once sent: when, and the message as archived (when it could be composed)."""
    out = item.outgoing
    message = None
    if out is not None:
        message = SentMessage(
            message_id=out.headers["Message-ID"],
            subject=out.subject,
            from_addr=out.from_header,
            headers=out.headers,
            html=item.archive_html if item.archive_html is not None else out.html,
            text=out.text,
            links=item.links,
        )
    return IssueChange("sent", None, item.row.accepted_at or now_us, _transport(item, policy), message)


def _transport(item: Prepared, policy: Policy) -> str:
    """The transport an email went through: a test run's emails are captured only (S19)."""
    return "capture" if getattr(item.row.job, "test", False) else policy.transport


def email_detail(item: Prepared) -> dict[str, Any]:
    job = item.row.job
    draft = job.draft if isinstance(job, EmailJob | ConfirmationJob) else None
    if isinstance(job, EmailJob) and job.test:  # S19: the timeline marks a test run's emails
        return {"issue": item.row.issue_id or "", "draft": draft, "test": True}
    return {"issue": item.row.issue_id or "", "draft": draft}


def url_detail(item: Prepared) -> dict[str, Any]:
    job = item.row.job
    action = job.action if isinstance(job, UrlCallJob) else None
    action = action if isinstance(action, dict) else {}
    request = item.request
    return {
        "url": request.url if request else action.get("url"),
        "method": request.method if request else action.get("method", "GET"),
        "step": job.step if job is not None else None,
        "attempt": item.row.attempts,
    }


def url_outcome(result: Result) -> tuple[str, dict[str, Any]]:
    item = result.prepared
    base = url_detail(item)
    if item.fail is not None:
        return "url_failed", {**base, "reason": item.fail[:500]}
    if result.error is not None:  # permanent, or out of retries
        return "url_failed", {**base, "reason": str(result.error)[:500]}
    response = result.response
    assert response is not None
    detail = {
        **base,
        "status": response.status,
        "final_url": response.url,
        "ms": response.elapsed_ms,
        "response": response.snippet,
    }
    return "url_called", detail


class Recorder:
    """Writes the outcomes of finished deliveries through the store, retrying while the database is away."""

    def __init__(self, store: DeliveryStore, clock: Clock, policy: Policy, on_result: Callable[[str], None]) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy
        self.on_result = on_result

    async def record_with_retry(self, results: Sequence[Result]) -> None:
        # The facts must be written (S14), whatever the database's outage; what cannot be written for another
        # reason is written one result at a time, and a result that still fails is set aside.
        delay = 0.2
        while True:
            try:
                await asyncio.to_thread(self._record, results)
                return
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("recording %d deliveries failed; recording them one by one", len(results))
                    break
                log.exception("recording deliveries failed; retrying")
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY)
        for result in results:
            await until_written(partial(asyncio.to_thread, self._record_alone, result), "recording a delivery failed")

    def _record_alone(self, result: Result) -> None:
        try:
            self._record([result])
        except Exception as exc:
            if is_transient(exc):
                raise
            self.store.set_aside(result.prepared.row, describe_error(exc), to_us(self.clock()))

    def _record(self, results: Sequence[Result]) -> None:
        now = self.clock()
        now_us = to_us(now)
        written = self.store.record([to_record(r, self.policy, now, now_us) for r in results], now_us)
        for kind in written:  # only after the commit, so a retried write counts once
            self.on_result(kind)


async def until_written(write: Callable[[], Awaitable[_T]], failure: str) -> _T:
    """Await `write` until it succeeds, backing off to MAX_RETRY_DELAY while the database is away."""
    delay = 0.2
    while True:
        try:
            return await write()
        except Exception:
            log.exception("%s; retrying", failure)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY)
