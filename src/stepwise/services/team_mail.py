"""Emails of team access (invitations, password resets): sent now through the configured transport.

Each is archived as an issue of group `team` with no subscriber, like test sends (group `test`):
the capture mailbox shows it and no statistic counts it. Links are not tracked. Without SMTP the
archive *is* the mailbox the email goes to, so it keeps the link; once an email leaves through SMTP,
the archived copy has the link's secret token (`redact`) blotted out, so the database never holds a
usable link.
"""

from __future__ import annotations

import asyncio
import html
from datetime import datetime
from urllib.parse import urlsplit

from stepwise.delivery.message import Outgoing, UnsafeHeader, build
from stepwise.delivery.transports import DeliveryError, Transport
from stepwise.domain.deliveries import IssueChange, SentMessage
from stepwise.domain.emails import parse_email
from stepwise.ids import new_id
from stepwise.services.context import Context
from stepwise.storage import issues as issue_store
from stepwise.storage.codec import to_us

TEAM_GROUP = "team"


def send(app: Context, account_id: int, to: str, subject: str, text: str, now: datetime, *, redact: str = "") -> str:
    """Send a plain email to one address now; return its issue id (the issue records failures too)."""
    email = parse_email(to)
    issue_id = new_id()
    base = app.settings.base_url.rstrip("/")
    with app.db.write() as conn:
        issue_store.add(
            conn,
            [
                {
                    "id": issue_id,
                    "account_id": account_id,
                    "subscriber_id": None,
                    "email": email.value,
                    "email_key": email.key,
                    "draft": "team",
                    "group_name": TEAM_GROUP,
                    "status": "queued",
                    "created_at": to_us(now),
                }
            ],
        )
    body_html = "<p>" + html.escape(text).replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p>"
    try:
        outgoing = build(
            issue_id=issue_id,
            sender_email=f"stepwise@{urlsplit(base).hostname or 'localhost'}",
            sender_name="Stepwise",
            reply_to=None,
            recipient=email.value,
            subject=subject,
            html=body_html,
            text=text,
            unsubscribe_url=f"{base}/account",
            list_id="<team.stepwise>",
            base_url=base,
            date=now,
        )
    except UnsafeHeader as exc:
        change = IssueChange("failed", str(exc)[:2000])
    else:
        change = asyncio.run(_deliver(app.transport(), outgoing, to_us(now), redact))
    with app.db.write() as conn:
        issue_store.apply_changes(conn, [(issue_id, change)])
    return issue_id


async def _deliver(transport: Transport, outgoing: Outgoing, now_us: int, redact: str) -> IssueChange:
    try:
        await transport.send(outgoing)
    except DeliveryError as exc:
        return IssueChange("failed", str(exc)[:2000])
    finally:
        await transport.close()
    html_part, text_part = outgoing.html, outgoing.text
    if redact and transport.name != "capture":
        html_part, text_part = (part.replace(redact, "[removed from the archive]") for part in (html_part, text_part))
    message = SentMessage(
        message_id=outgoing.headers["Message-ID"],
        subject=outgoing.subject,
        from_addr=outgoing.from_header,
        headers=outgoing.headers,
        html=html_part,
        text=text_part,
        links=[],
    )
    return IssueChange("sent", None, now_us, transport.name, message)
