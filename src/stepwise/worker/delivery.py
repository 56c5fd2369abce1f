"""The delivery loop: lease outbox rows, render, send, record (S7, SPEC §6).

Sending happens outside any transaction. The "sent" fact is written right after the transport
accepted the message; that write is retried until the database answers. A crash between the two
leaves the row leased; when the lease ends another attempt sends it again (the only duplicate
SPEC §12 allows).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from stepwise.clock import Clock
from stepwise.delivery import message as message_builder
from stepwise.delivery.rendering import RenderError, render_draft
from stepwise.delivery.retry import EMAIL_BACKOFF, decide
from stepwise.delivery.tokens import TokenSigner
from stepwise.delivery.transports import DeliveryError, Transport
from stepwise.storage import accounts as account_store
from stepwise.storage import drafts as draft_store
from stepwise.storage import issues as issue_store
from stepwise.storage import outbox as outbox_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage import timeline as timeline_store
from stepwise.storage.codec import dumps, from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.drafts import DraftRow
from stepwise.storage.outbox import OutboxRow

log = logging.getLogger("stepwise.delivery")
LEASE = timedelta(minutes=5)  # far longer than one attempt (every call has its own deadline)
UNAVAILABLE = {
    "unsubscribed": "subscriber_unsubscribed",
    "bounced": "subscriber_bounced",
    "unconfirmed": "subscriber_unconfirmed",
}


@dataclass
class Prepared:
    row: OutboxRow
    outgoing: message_builder.Outgoing | None = None
    skip: str | None = None
    fail: str | None = None


@dataclass
class Result:
    prepared: Prepared
    error: DeliveryError | None = None


class Deliverer:
    """Delivers email rows of the outbox through one transport."""

    def __init__(
        self,
        db: Database,
        transport: Transport,
        signer: TokenSigner,
        base_url: str,
        clock: Clock,
        *,
        batch_size: int = 100,
        concurrency: int = 10,
        on_result: Callable[[str], None] | None = None,
    ) -> None:
        self.db = db
        self.transport = transport
        self.signer = signer
        self.base_url = base_url
        self.clock = clock
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.on_result = on_result or (lambda outcome: None)

    async def run_once(self) -> int:
        """Deliver one batch; return how many rows it handled."""
        token = secrets.token_hex(8)
        now = self.clock()
        rows = await asyncio.to_thread(self._claim, now, token)
        if not rows:
            return 0
        prepared = await asyncio.to_thread(self._prepare, rows, now)
        semaphore = asyncio.Semaphore(self.concurrency)

        async def send(item: Prepared) -> Result:
            if item.outgoing is None:
                return Result(item)
            async with semaphore:
                try:
                    await self.transport.send(item.outgoing)
                except DeliveryError as exc:
                    return Result(item, exc)
                except Exception as exc:  # a transport bug must not lose the row: retry it
                    log.exception("transport failed unexpectedly")
                    return Result(item, DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False))
            return Result(item)

        results = await asyncio.gather(*(send(item) for item in prepared))
        await self._record_with_retry(results)
        return len(rows)

    def _claim(self, now: datetime, token: str) -> list[OutboxRow]:
        with self.db.write() as conn:
            return outbox_store.claim(
                conn, to_us(now), self.batch_size, int(LEASE.total_seconds() * 1e6), token, kinds=("email",)
            )

    def _prepare(self, rows: Sequence[OutboxRow], now: datetime) -> list[Prepared]:
        with self.db.read() as conn:
            return [self._prepare_one(conn, row, now) for row in rows]

    def _prepare_one(self, conn: Connection, row: OutboxRow, now: datetime) -> Prepared:
        item = Prepared(row)
        issue = issue_store.by_id(conn, row.issue_id or "")
        if issue is None or issue.status != "queued":
            item.skip = "issue_missing"
            return item
        subscribers = subscriber_store.by_ids(conn, [row.subscriber_id])
        if not subscribers:
            item.skip = "subscriber_deleted"
            return item
        sub = subscribers[0]
        payload = row.payload
        confirmation = payload.get("purpose") == "confirmation"
        if sub.status in UNAVAILABLE and not (confirmation and sub.status == "unconfirmed"):
            item.skip = UNAVAILABLE[sub.status]  # S12, checked again at delivery time
            return item
        # A payload may carry its own template (the built-in confirmation email); else the draft is read.
        inline = payload.get("template")
        draft = (
            DraftRow(0, "", **inline, created_at=0, updated_at=0)
            if inline
            else (draft_store.get(conn, row.account_id, payload["draft"]))
        )
        if draft is None:
            item.fail = f"draft {payload['draft']!r} no longer exists"
            return item
        if not draft.from_email:
            item.fail = "draft has no sender (from_email)"
            return item
        account = account_store.by_id(conn, row.account_id)
        unsubscribe_url = f"{self.base_url}/t/u/{self.signer.sign('unsubscribe', row.account_id, issue.id)}"
        context: dict[str, Any] = {
            "email": sub.email,
            "data": payload.get("data") or {},
            "sequence": payload.get("sequence"),
            "event": payload.get("event") or {},
            "now": from_us(payload.get("at") or to_us(now)),
            "unsubscribe_url": unsubscribe_url,
        }
        if payload.get("confirm_url"):
            context["confirm_url"] = payload["confirm_url"]
        try:
            rendered = render_draft(draft.subject, draft.html, draft.text, context)
            host = self.base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "localhost"
            item.outgoing = message_builder.build(
                issue_id=issue.id,
                sender_email=draft.from_email,
                sender_name=draft.from_name,
                reply_to=draft.reply_to,
                recipient=sub.email,
                subject=rendered.subject,
                html=rendered.html,
                text=rendered.text,
                unsubscribe_url=unsubscribe_url,
                list_id=f"<{payload.get('sequence') or 'transactional'}.{account.name if account else 'account'}.{host}>",
                base_url=self.base_url,
                date=now,
                with_raw=self.transport.name != "capture",
            )
        except (RenderError, message_builder.UnsafeHeader) as exc:
            item.fail = str(exc)
        return item

    async def _record_with_retry(self, results: Sequence[Result]) -> None:
        delay = 0.2
        while True:
            try:
                await asyncio.to_thread(self._record, results)
                return
            except Exception:  # the database is away: the facts must still be written (S14)
                log.exception("recording deliveries failed; retrying")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _record(self, results: Sequence[Result]) -> None:
        now = self.clock()
        now_us = to_us(now)
        with self.db.write() as conn:
            entries: list[dict[str, Any]] = []
            for result in results:
                item, row = result.prepared, result.prepared.row
                outcome = self._record_one(conn, result, now, now_us)
                if outcome is None:
                    continue
                kind, detail = outcome
                entries.append(
                    {
                        "account_id": row.account_id,
                        "subscriber_id": row.subscriber_id,
                        "at": now_us,
                        "kind": kind,
                        "sequence": item.row.payload.get("sequence"),
                        "detail": detail,
                    }
                )
                self.on_result(kind)
            timeline_store.add(conn, entries)

    def _record_one(
        self, conn: Connection, result: Result, now: datetime, now_us: int
    ) -> tuple[str, dict[str, Any]] | None:
        item, row = result.prepared, result.prepared.row
        issue_id = row.issue_id or ""
        base = {"issue": issue_id, "draft": row.payload.get("draft")}
        if item.skip is not None:
            if not outbox_store.finish(conn, row.id, row.lease_token):
                return None
            if item.skip != "issue_missing":
                issue_store.update_issue(conn, issue_id, {"status": "skipped", "reason": item.skip})
            return "email_skipped", {**base, "reason": item.skip}
        if item.fail is not None:
            if not outbox_store.finish(conn, row.id, row.lease_token):
                return None
            issue_store.update_issue(conn, issue_id, {"status": "failed", "reason": item.fail[:2000]})
            return "email_failed", {**base, "reason": item.fail[:500]}
        out = item.outgoing
        assert out is not None
        if result.error is None:
            if not outbox_store.finish(conn, row.id, row.lease_token):
                return None  # another worker owns the row now; it records its own outcome
            issue_store.update_issue(
                conn,
                issue_id,
                {
                    "status": "sent",
                    "sent_at": now_us,
                    "message_id": out.headers["Message-ID"],
                    "transport": self.transport.name,
                    "subject": out.subject,
                    "from_addr": out.from_header,
                    "headers": dumps(out.headers),
                    "html": out.html,
                    "text": out.text,
                    "reason": None,
                },
            )
            return "email_sent", {**base, "transport": self.transport.name}
        error = result.error
        delay = decide(permanent=error.permanent, attempt=row.attempts, schedule=EMAIL_BACKOFF)
        if delay is not None:
            if not outbox_store.reschedule(conn, row.id, row.lease_token, to_us(now + delay), str(error)):
                return None
            issue_store.update_issue(conn, issue_id, {"reason": f"retrying: {error}"[:2000]})
            return "email_retry", {**base, "error": str(error)[:500], "retry_in_s": int(delay.total_seconds())}
        if not outbox_store.finish(conn, row.id, row.lease_token):
            return None
        issue_store.update_issue(conn, issue_id, {"status": "failed", "reason": str(error)[:2000]})
        if error.bounce:
            subscriber_store.mark_bounced(conn, row.subscriber_id, now_us)
        return "email_failed", {**base, "reason": str(error)[:500], "bounced": error.bounce}
