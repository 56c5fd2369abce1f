"""Tracking pages reached from emails: click redirect, open pixel, unsubscribe (SPEC §6.3).

There is no API key here: the signed token in the path is the credential. A token that does not
verify, or names an issue its account does not have, gets 404 and changes nothing. Events go to
the inbox with source `tracking`, exactly like API events, and the worker is woken for them.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection, Row

from stepwise.api.auth import app_of
from stepwise.bootstrap import Stepwise
from stepwise.delivery.tokens import Purpose
from stepwise.domain.emails import Email
from stepwise.services.subscribers import Edit, apply_edit
from stepwise.storage import accounts as account_store
from stepwise.storage import inbox as inbox_store
from stepwise.storage import issues as issue_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.codec import loads, to_us
from stepwise.storage.subscribers import SubscriberRow

router = APIRouter(prefix="/t", include_in_schema=False)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")  # 1x1 transparent GIF
_NO_STORE = {"Cache-Control": "no-store, private", "X-Robots-Tag": "noindex, nofollow"}


@dataclass
class _Found:
    issue: Row[Any]
    subscriber: SubscriberRow | None


def _find(conn: Connection, app: Stepwise, purpose: Purpose, token: str) -> tuple[_Found, int] | None:
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


def _queue(conn: Connection, found: _Found, kind: str, payload: dict[str, Any], now_us: int) -> bool:
    """Put an event for the issue's subscriber into the inbox; False when the subscriber is gone."""
    if found.subscriber is None:
        return False
    inbox_store.add(
        conn,
        [
            {
                "account_id": found.issue.account_id,
                "subscriber_id": found.subscriber.id,
                "kind": kind,
                "payload": {
                    "draft": found.issue.draft,
                    **payload,
                    "sequence": found.issue.sequence,
                    "pass": found.issue.pass_no,
                    "issue": found.issue.id,
                },
                "source": "tracking",
                "occurred_at": now_us,
                "accepted_at": now_us,
            }
        ],
    )
    return True


def record_click(app: Stepwise, token: str, now: datetime) -> str | None:
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
        queued = _queue(conn, found, "link_clicked", {"url": url}, to_us(now))
    if queued:
        app.db.wakeup.set()
    return url


def record_open(app: Stepwise, token: str, now: datetime) -> bool:
    """Record an open and queue `email_opened`; False for a bad token."""
    with app.db.write() as conn:
        hit = _find(conn, app, "open", token)
        if hit is None:
            return False
        found, _ = hit
        issue_store.mark_first(conn, found.issue.account_id, found.issue.id, "opened_at", to_us(now))
        queued = _queue(conn, found, "email_opened", {}, to_us(now))
    if queued:
        app.db.wakeup.set()
    return True


@dataclass(frozen=True)
class UnsubscribeState:
    """What the unsubscribe page shows."""

    email: str
    account: str
    unsubscribed: bool


def unsubscribe_state(app: Stepwise, token: str) -> UnsubscribeState | None:
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


def unsubscribe(app: Stepwise, token: str, now: datetime) -> UnsubscribeState | None:
    """Unsubscribe the issue's recipient (queues `unsubscribed`); None for a bad token."""
    with app.db.write() as conn:
        hit = _find(conn, app, "unsubscribe", token)
        if hit is None:
            return None
        found, _ = hit
        sub = found.subscriber
        events = 0
        if sub is not None:
            # The one place that changes a subscriber: it writes the status and queues the event.
            result = apply_edit(
                conn,
                sub.account_id,
                Email(value=sub.email, key=sub.email_key),
                Edit(status="unsubscribed"),
                source="tracking",
                now=now,
                create=False,
            )
            events = result.events if result else 0
        issue_store.mark_first(conn, found.issue.account_id, found.issue.id, "unsubscribed_at", to_us(now))
        account = account_store.by_id(conn, found.issue.account_id)
    if events:
        app.db.wakeup.set()
    return UnsubscribeState(email=found.issue.email, account=account.name if account else "", unsubscribed=True)


# -- routes ------------------------------------------------------------------------------------


@router.get("/c/{token}")
def click(token: str, request: Request) -> Response:
    """Redirect (302) to the link's original URL after recording the click."""
    app = app_of(request)
    url = record_click(app, token, app.clock())
    if url is None:
        return _not_found()
    # Location must be ASCII: percent-encode only non-ASCII characters, leaving the URL otherwise exact.
    location = "".join(ch if ch.isascii() else "".join(f"%{b:02X}" for b in ch.encode()) for ch in url)
    return Response(status_code=302, headers={"Location": location, "Referrer-Policy": "no-referrer", **_NO_STORE})


@router.get("/o/{token}")
def pixel(token: str, request: Request) -> Response:
    """Return the 1x1 open pixel after recording the open."""
    app = app_of(request)
    if not record_open(app, token, app.clock()):
        return _not_found()
    return Response(PIXEL, media_type="image/gif", headers=_NO_STORE)


@router.get("/u/{token}")
def unsubscribe_page(token: str, request: Request) -> Response:
    """Show the unsubscribe page with a confirm button; a GET changes nothing (link scanners follow links)."""
    app = app_of(request)
    state = unsubscribe_state(app, token)
    if state is None:
        return _not_found()
    if state.unsubscribed:
        return _page("Unsubscribed", f"<p>{html.escape(state.email)} is unsubscribed.</p>")
    form = (
        f"<p>Stop emails to <strong>{html.escape(state.email)}</strong>?</p>"
        '<form method="post">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button>'
        "</form>"
    )
    return _page("Unsubscribe", form)


@router.post("/u/{token}")
def unsubscribe_post(token: str, request: Request) -> Response:
    """Unsubscribe: the page's button and the RFC 8058 one-click POST (List-Unsubscribe=One-Click)."""
    app = app_of(request)
    state = unsubscribe(app, token, app.clock())
    if state is None:
        return _not_found()
    return _page("Unsubscribed", f"<p>{html.escape(state.email)} will get no more of these emails.</p>")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:1.1rem/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}"
        "button{font:inherit;padding:.5rem 1.25rem;cursor:pointer}</style>"
        f"</head><body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(text, status_code=status, headers=_NO_STORE)


def _not_found() -> HTMLResponse:
    return _page("Link not valid", "<p>This link is not valid. It may have been copied incompletely.</p>", 404)
