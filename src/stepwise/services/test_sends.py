"""Test sends of a draft (SPEC §19): a real message through the configured transport, "[TEST]" first.

A test send is no issue of any sequence: it is archived as an issue of group `test` (so the capture
mailbox shows it), left out of every statistic, never tracked as an event of a subscriber. It is
rate-limited per account (`Context.test_sends`), honours the suppression list and is DKIM-signed
like any other email whose From domain has a key.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from stepwise.delivery.compose import Composed, Composer, sign_outgoing
from stepwise.delivery.message import UnsafeHeader
from stepwise.delivery.rendering import RenderError
from stepwise.delivery.transports import DeliveryError, Transport
from stepwise.domain.deliveries import IssueChange, SentMessage
from stepwise.domain.emails import Email, InvalidEmail, parse_email
from stepwise.domain.jobs import EmailJob, EmailTemplate
from stepwise.errors import NotFound, RateLimited, Unprocessable
from stepwise.ids import new_id
from stepwise.services.context import Context
from stepwise.services.sending_domains import DomainSigners
from stepwise.services.suppressions import is_suppressed
from stepwise.storage import accounts as account_store
from stepwise.storage import drafts as draft_store
from stepwise.storage import issues as issue_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.codec import to_us

TEST_GROUP = "test"
MAX_RECIPIENTS = 5


# A test send: up to five addresses, and optionally the subscriber whose data fills the template.
class TestSendBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: list[str] = Field(min_length=1, max_length=MAX_RECIPIENTS)
    as_: str | None = Field(default=None, alias="as", max_length=320)


# What became of the test email to one address.
class TestSendResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    to: str
    status: str  # sent | failed | skipped
    reason: str | None
    issue: str


# The test emails of one request.
class TestSendOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[TestSendResult]


def send_test(app: Context, account_id: int, key: str, body: TestSendBody, now: datetime) -> TestSendOut:
    """Render the draft for each address and send it now; 404 unknown draft or subscriber, 429 over the limit."""
    recipients = _recipients(body.to)
    with app.db.read() as conn:
        draft = draft_store.get(conn, account_id, key)
        if draft is None:
            raise NotFound(f"no draft {key!r}")
        data = _data_of(conn, account_id, body.as_)
        account = account_store.by_id(conn, account_id)
        suppressed = {r.key for r in recipients if is_suppressed(conn, account_id, r.key)}
        signers = DomainSigners(app.secret).of_accounts(conn, [account_id]) if app.secret else {}
    if not draft.from_email:
        raise Unprocessable.one("from_email", "the draft has no sender (from_email); set one before a test send")
    wait = app.test_sends.take(str(account_id), len(recipients))
    if wait:
        raise RateLimited(f"too many test emails; try again in {wait} s", details={"retry_after": wait})
    template = EmailTemplate(
        "[TEST] " + draft.subject, draft.html, draft.text, draft.from_email, draft.from_name, draft.reply_to
    )
    job = EmailJob(key, {}, data, None, None, to_us(now))
    composer = Composer(app.signer, app.settings.base_url)
    name = account.name if account else "account"
    changes: dict[str, IssueChange] = {}
    outgoing: dict[str, Composed] = {}
    ids = {r.key: new_id() for r in recipients}
    for recipient in recipients:
        issue_id = ids[recipient.key]
        _archive(app, account_id, issue_id, key, recipient, now)
        if recipient.key in suppressed:
            changes[issue_id] = IssueChange("skipped", "suppressed")
            continue
        try:
            composed = composer.compose(
                account_id=account_id,
                account_name=name,
                issue_id=issue_id,
                draft=template,
                email=recipient.value,
                job=job,
                now=now,
            )
        except (RenderError, UnsafeHeader) as exc:
            changes[issue_id] = IssueChange("failed", str(exc)[:2000])
            continue
        signed = sign_outgoing(composed.outgoing, signers, account_id, now) if signers else composed.outgoing
        outgoing[issue_id] = replace(composed, outgoing=signed)
    changes |= asyncio.run(_deliver(app.transport(), outgoing, to_us(now)))
    with app.db.write() as conn:
        issue_store.apply_changes(conn, list(changes.items()))
    return TestSendOut(
        items=[
            TestSendResult(
                to=r.value,
                status=changes[ids[r.key]].status or "failed",
                reason=changes[ids[r.key]].reason,
                issue=ids[r.key],
            )
            for r in recipients
        ]
    )


async def _deliver(transport: Transport, messages: dict[str, Composed], now_us: int) -> dict[str, IssueChange]:
    """Send the messages one after the other on one transport, then close it."""
    changes: dict[str, IssueChange] = {}
    try:
        for issue_id, composed in messages.items():
            out = composed.outgoing
            try:
                await transport.send(out)
            except DeliveryError as exc:
                changes[issue_id] = IssueChange("failed", str(exc)[:2000])
                continue
            message = SentMessage(
                message_id=out.headers["Message-ID"],
                subject=out.subject,
                from_addr=out.from_header,
                headers=out.headers,
                html=composed.archive_html,
                text=out.text,
                links=composed.links,
            )
            changes[issue_id] = IssueChange("sent", None, now_us, transport.name, message)
    finally:
        await transport.close()
    return changes


def _recipients(raw: list[str]) -> list[Email]:
    found: dict[str, Email] = {}
    for index, value in enumerate(raw):
        try:
            email = parse_email(value)
        except InvalidEmail as exc:
            raise Unprocessable.one(f"$.to[{index}]", f"the address {exc}") from exc
        found.setdefault(email.key, email)
    return list(found.values())


def _data_of(conn: Connection, account_id: int, raw: str | None) -> dict[str, object]:
    if not raw:
        return {}
    try:
        key = parse_email(raw).key
    except InvalidEmail as exc:
        raise Unprocessable.one("$.as", f"the address {exc}") from exc
    sub = subscriber_store.find(conn, account_id, key)
    if sub is None:
        raise NotFound(f"no subscriber {raw[:80]!r} to take the data from")
    return dict(sub.data)


def _archive(app: Context, account_id: int, issue_id: str, draft: str, to: Email, now: datetime) -> None:
    row = {
        "id": issue_id,
        "account_id": account_id,
        "subscriber_id": None,
        "email": to.value,
        "email_key": to.key,
        "draft": draft,
        "group_name": TEST_GROUP,
        "status": "queued",
        "created_at": to_us(now),
    }
    with app.db.write() as conn:
        issue_store.add(conn, [row])
