"""What tracking links do (SPEC §6.3): record clicks and opens, unsubscribe.

The signed token is the credential: one that does not verify, or names an issue its account does
not have, changes nothing. Events go to the inbox with source `tracking`, exactly like API events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from stepwise.delivery.tokens import Purpose
from stepwise.domain.edits import Edit
from stepwise.domain.emails import Email
from stepwise.domain.events import EventKind, Happened, new_event
from stepwise.domain.segments import CLICKED, OPENED
from stepwise.services import segment_upkeep
from stepwise.services.context import Context
from stepwise.services.subscribers import apply_edit
from stepwise.storage import accounts as account_store
from stepwise.storage import inbox as inbox_store
from stepwise.storage import issues as issue_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.codec import loads, to_us
from stepwise.storage.issues import IssueRow
from stepwise.storage.subscribers import SubscriberRow


@dataclass
class _Found:
    issue: IssueRow
    subscriber: SubscriberRow | None


def _find(conn: Connection, app: Context, purpose: Purpose, token: str) -> tuple[_Found, int] | None:
    """Return the issue (and its subscriber) a token names, with the token's number; None when invalid."""
    data = app.signer.verify(purpose, token)
    if data is None:
        return None
    # The account comes from the signed token, so an issue of another account is simply not found.
    issue = issue_store.get(conn, data.account_id, data.subject)
    if issue is None:
        return None
    subscriber = None
    if issue.subscriber_id is not None:
        found = subscriber_store.by_ids(conn, [issue.subscriber_id])
        subscriber = found[0] if found and found[0].account_id == data.account_id else None
    return _Found(issue, subscriber), data.number


def _queue(conn: Connection, found: _Found, kind: EventKind, payload: dict[str, Any], now_us: int) -> bool:
    """Put an event for the issue's subscriber into the inbox; False when the subscriber is gone."""
    if found.subscriber is None:
        return False
    issue = found.issue
    full = {"draft": issue.draft, **payload, "sequence": issue.sequence, "pass": issue.pass_no, "issue": issue.id}
    event = new_event(
        issue.account_id, found.subscriber.id, Happened(kind, full), source="tracking", accepted_at=now_us
    )
    inbox_store.add(conn, [event])
    return True


def record_click(app: Context, token: str, now: datetime) -> str | None:
    """Record a click and queue `link_clicked`; return the original URL, or None for a bad token."""
    with app.db.write() as conn:
        hit = _find(conn, app, "click", token)
        if hit is None:
            return None
        found, index = hit
        links = loads(found.issue.links) if found.issue.links else []
        if not 0 <= index < len(links):
            return None
        url = str(links[index])
        issue_store.mark_first(conn, found.issue.account_id, found.issue.id, "clicked_at", to_us(now))
        pair = (found.issue.account_id, found.issue.subscriber_id)
        segment_upkeep.refresh_pairs(conn, [pair], now, (CLICKED, OPENED), status=False)
        _queue(conn, found, "link_clicked", {"url": url}, to_us(now))
    return url


def record_open(app: Context, token: str, now: datetime) -> bool:
    """Record an open and queue `email_opened`; False for a bad token."""
    with app.db.write() as conn:
        hit = _find(conn, app, "open", token)
        if hit is None:
            return False
        found, _ = hit
        issue_store.mark_first(conn, found.issue.account_id, found.issue.id, "opened_at", to_us(now))
        pair = (found.issue.account_id, found.issue.subscriber_id)
        segment_upkeep.refresh_pairs(conn, [pair], now, (OPENED,), status=False)
        _queue(conn, found, "email_opened", {}, to_us(now))
    return True


@dataclass(frozen=True)
class UnsubscribeState:
    """What the unsubscribe page shows."""

    email: str
    account: str
    unsubscribed: bool


def unsubscribe_state(app: Context, token: str) -> UnsubscribeState | None:
    """Describe what the unsubscribe page is about, changing nothing; None for a bad token."""
    with app.db.read() as conn:
        hit = _find(conn, app, "unsubscribe", token)
        if hit is None:
            return None
        found, _ = hit
        account = account_store.by_id(conn, found.issue.account_id)
    sub = found.subscriber
    return UnsubscribeState(
        email=found.issue.email,
        account=account.name if account else "",
        unsubscribed=sub is None or sub.status == "unsubscribed",
    )


def unsubscribe(app: Context, token: str, now: datetime) -> UnsubscribeState | None:
    """Unsubscribe the issue's recipient (queues `unsubscribed`); None for a bad token."""
    with app.db.write() as conn:
        hit = _find(conn, app, "unsubscribe", token)
        if hit is None:
            return None
        found, _ = hit
        sub = found.subscriber
        if sub is not None:
            # The one place that changes a subscriber: it writes the status and queues the event.
            apply_edit(
                conn,
                sub.account_id,
                Email(value=sub.email, key=sub.email_key),
                Edit(status="unsubscribed"),
                source="tracking",
                now=now,
                create=False,
            )
        issue_store.mark_first(conn, found.issue.account_id, found.issue.id, "unsubscribed_at", to_us(now))
        account = account_store.by_id(conn, found.issue.account_id)
    return UnsubscribeState(email=found.issue.email, account=account.name if account else "", unsubscribed=True)
