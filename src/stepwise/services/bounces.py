"""Taking in bounce and complaint reports (SPEC S30), from the API, raw messages, the CLI and providers.

Each report is recorded once (its fingerprint is unique per account), matched to our issue by
Message-ID and to the subscriber by address, and then has its effects in the same transaction:
hard bounce → status `bounced`; the account's `soft_bounce_limit` (3) soft bounces within 7 days → `bounced`;
complaint → `unsubscribed`. Each marks the issue (`bounced_at`, `complained_at`), writes the
timeline, suppresses the address (hard, limit reached, complaint) and queues the edge events
`email_bounced` (with its type) and `complained`. A report nobody matches is still recorded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from stepwise.delivery.reports import Report
from stepwise.domain.edits import Edit
from stepwise.domain.emails import Email, InvalidEmail, parse_email
from stepwise.domain.events import EventKind, Happened, new_event
from stepwise.domain.instants import iso
from stepwise.services import cursors, segment_upkeep, settings, suppressions, webhook_facts
from stepwise.services.settings import DEFAULT_SOFT_BOUNCE_LIMIT
from stepwise.services.subscribers import apply_edit
from stepwise.storage import bounces as bounce_store
from stepwise.storage import inbox as inbox_store
from stepwise.storage import issues as issue_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage import timeline as timeline_store
from stepwise.storage.bounces import BounceRow, NewBounce
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.issues import IssueRow
from stepwise.storage.subscribers import SubscriberRow

SOFT_BOUNCE_LIMIT = (
    DEFAULT_SOFT_BOUNCE_LIMIT  # the default of soft bounces within the window that make an address bounced
)
SOFT_BOUNCE_WINDOW = timedelta(days=7)
_OUR_MESSAGE_ID = re.compile(r"<([0-9a-f]{32})@[^>]*>")


# A report as recorded: matched (to an issue, a subscriber) or not.
class BounceView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    email: str
    type: str
    source: str
    message_id: str | None
    reason: str | None
    issue: str | None
    matched: bool
    received_at: str


# What taking in a set of reports did.
class Intake(BaseModel):
    model_config = ConfigDict(frozen=True)

    received: int  # reports in the input
    recorded: int  # new ones, recorded now
    duplicates: int  # seen before: counted once, no effect again
    unmatched: int  # of the new ones, those that name no subscriber of the account


# A page of reports, newest first.
class BouncePage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[BounceView]
    next_cursor: str | None = None


def fingerprint(report: Report, email_key: str) -> str:
    """The identity of a report: the source's own id when it has one, else what it says."""
    identity = report.report_id or "|".join((report.type, email_key, report.message_id or "", report.reason or ""))
    return hashlib.sha256(identity.encode("utf-8", "replace")).hexdigest()


def take_in(db: Database, account_id: int, reports: Sequence[Report], *, source: str, now: datetime) -> Intake:
    """Record reports and apply their effects, all in one transaction."""
    recorded = duplicates = unmatched = 0
    with db.write() as conn:
        for report in reports:
            outcome = _take_one(conn, account_id, report, source, to_us(now), now)
            if outcome is None:
                duplicates += 1
                continue
            recorded += 1
            unmatched += not outcome
    return Intake(received=len(reports), recorded=recorded, duplicates=duplicates, unmatched=unmatched)


def _take_one(
    conn: Connection, account_id: int, report: Report, source: str, now_us: int, now: datetime
) -> bool | None:
    """Record one report and apply it; None when it was a repeat, else whether it matched a subscriber."""
    issue = _issue(conn, account_id, report.message_id)
    address = _address(report.email, issue)
    sub = _subscriber(conn, account_id, address, issue)
    row = NewBounce(
        account_id=account_id,
        fingerprint=fingerprint(report, address.key),
        email=address.value[:320],
        email_key=address.key[:320],
        type=report.type,
        source=source,
        message_id=(report.message_id or None) and (report.message_id or "")[:200],
        reason=(report.reason or None) and (report.reason or "")[:500],
        issue_id=issue.id if issue else None,
        subscriber_id=sub.id if sub else None,
        received_at=now_us,
    )
    if not bounce_store.add(conn, row):
        return None
    if issue is not None:
        issue_store.mark_first(
            conn, account_id, issue.id, "complained_at" if report.type == "complaint" else "bounced_at", now_us
        )
    suppressed = _apply(conn, account_id, report, address, sub, issue, now_us, now)
    if suppressed and address.key.count("@") == 1:
        suppressions.add_in(
            conn, account_id, address.key, "complaint" if report.type == "complaint" else "bounce", now_us
        )
    return sub is not None


def _issue(conn: Connection, account_id: int, message_id: str | None) -> IssueRow | None:
    """Our issue, when the report names one of our Message-IDs (`<issue id@host>`)."""
    found = _OUR_MESSAGE_ID.fullmatch((message_id or "").strip().lower())
    return issue_store.get(conn, account_id, found.group(1)) if found else None


def _address(raw: str, issue: IssueRow | None) -> Email:
    """The reported address, checked; a redacted or broken one falls back on the issue's recipient."""
    try:
        return parse_email(raw)
    except InvalidEmail:
        if issue is not None:
            return Email(issue.email, issue.email_key)
        text = raw.strip()[:320]
        return Email(text, text.lower())


def _subscriber(conn: Connection, account_id: int, address: Email, issue: IssueRow | None) -> SubscriberRow | None:
    if issue is not None and issue.subscriber_id is not None:
        found = subscriber_store.by_ids(conn, [issue.subscriber_id])
        if found and found[0].account_id == account_id:
            return found[0]
    return subscriber_store.find(conn, account_id, address.key, for_update=True)


def _apply(
    conn: Connection,
    account_id: int,
    report: Report,
    address: Email,
    sub: SubscriberRow | None,
    issue: IssueRow | None,
    now_us: int,
    now: datetime,
) -> bool:
    """The effects on the subscriber, timeline and inbox; True when the address is to be suppressed."""
    if report.type == "complaint":
        if sub is not None:
            if sub.status != "unsubscribed":
                apply_edit(
                    conn,
                    account_id,
                    Email(sub.email, sub.email_key),
                    Edit(status="unsubscribed"),
                    source="bounce",
                    now=now,
                    create=False,
                    existing=sub,
                )
            _note(
                conn,
                sub,
                issue,
                "complained",
                {"reason": report.reason, "status": "unsubscribed", "because": "complaint"},
                now_us,
            )
            _queue(conn, sub, issue, "complained", {}, now_us)
        return True
    since = now_us - int(SOFT_BOUNCE_WINDOW.total_seconds() * 1_000_000)
    limit = settings.read(conn, account_id).soft_bounce_limit if report.type == "soft" else 0
    hard = report.type == "hard" or bounce_store.soft_since(conn, account_id, address.key, since) >= limit
    if sub is not None:
        if hard and sub.status != "bounced":
            subscriber_store.mark_bounced(conn, sub.id, now_us)
            segment_upkeep.refresh(conn, account_id, [sub.id], from_us(now_us))
            fact = webhook_facts.subscriber_fact(sub.id, sub.email, "subscriber.bounced", now_us, type=report.type)
            webhook_facts.emit(conn, account_id, [fact])  # S29: in the transaction of the bounce
        detail = {"type": report.type, "reason": report.reason, "status": "bounced" if hard else sub.status}
        _note(conn, sub, issue, "email_bounced", detail, now_us)
        _queue(conn, sub, issue, "email_bounced", {"type": report.type, "reason": report.reason}, now_us)
    return hard


def _note(
    conn: Connection, sub: SubscriberRow, issue: IssueRow | None, kind: str, detail: dict[str, Any], now_us: int
) -> None:
    about = {"issue": issue.id, "draft": issue.draft} if issue else {}
    entry = timeline_store.NewEntry(
        sub.account_id,
        sub.id,
        now_us,
        kind,
        issue.sequence if issue else None,
        {**about, **{k: v for k, v in detail.items() if v is not None}},
    )
    timeline_store.add_entries(conn, [entry])


def _queue(
    conn: Connection, sub: SubscriberRow, issue: IssueRow | None, kind: EventKind, payload: dict[str, Any], now_us: int
) -> None:
    about = (
        {"draft": issue.draft, "sequence": issue.sequence, "pass": issue.pass_no, "issue": issue.id} if issue else {}
    )
    happened = Happened(kind, {**about, **{k: v for k, v in payload.items() if v is not None}})
    inbox_store.add(conn, [new_event(sub.account_id, sub.id, happened, source="bounce", accepted_at=now_us)])


def view(row: BounceRow) -> BounceView:
    return BounceView(
        id=row.id,
        email=row.email,
        type=row.type,
        source=row.source,
        message_id=row.message_id,
        reason=row.reason,
        issue=row.issue_id,
        matched=row.subscriber_id is not None,
        received_at=iso(from_us(row.received_at)),
    )


def page(
    db: Database, account_id: int, *, email: str | None, issue: str | None, cursor: str | None, limit: int
) -> BouncePage:
    """Reports, newest first, for an address or an issue when asked."""
    key = None
    if email:
        try:
            key = parse_email(email).key
        except InvalidEmail:
            key = email.strip().lower()
    before = cursors.decode_int(cursor) or None
    with db.read() as conn:
        rows = bounce_store.page(conn, account_id, email_key=key, issue_id=issue, before_id=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return BouncePage(items=[view(r) for r in rows], next_cursor=cursors.encode(rows[-1].id) if more and rows else None)


# The account's bounce and complaint rates over the last 7 days, and whether they pass the thresholds.
class Health(BaseModel):
    model_config = ConfigDict(frozen=True)

    sent: int
    bounced: int
    complained: int
    bounce_rate: float
    complaint_rate: float
    warnings: list[str]


BOUNCE_WARNING = 0.02
COMPLAINT_WARNING = 0.003


def health(db: Database, account_id: int, now: datetime) -> Health:
    """Rates over the last 7 days: reports received ÷ emails sent; warnings past 2 % and 0.3 %."""
    since = to_us(now - timedelta(days=7))
    with db.read() as conn:
        counts = bounce_store.counts_since(conn, account_id, since)
        sent = bounce_store.sent_since(conn, account_id, since)
    bounced = counts.get("hard", 0) + counts.get("soft", 0)
    complained = counts.get("complaint", 0)
    bounce_rate = round(bounced / sent, 4) if sent else 0.0
    complaint_rate = round(complained / sent, 4) if sent else 0.0
    warnings = []
    if sent and bounce_rate > BOUNCE_WARNING:
        warnings.append(f"Bounce rate over the last 7 days is {bounce_rate:.1%} (above 2 %): clean the list.")
    if sent and complaint_rate > COMPLAINT_WARNING:
        warnings.append(
            f"Complaint rate over the last 7 days is {complaint_rate:.2%} (above 0.3 %): providers may block you."
        )
    return Health(
        sent=sent,
        bounced=bounced,
        complained=complained,
        bounce_rate=bounce_rate,
        complaint_rate=complaint_rate,
        warnings=warnings,
    )
