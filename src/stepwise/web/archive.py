"""The issue archive (every email sent, failed or skipped) and the mailbox of captured emails."""

from __future__ import annotations

import contextlib
import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import Response

from stepwise.errors import Conflict
from stepwise.services import issues as service
from stepwise.services.issues import Issue, Message
from stepwise.web.pages import Page, PageDep, PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)
ISSUE_STATUSES = ("queued", "deferred", "sent", "failed", "skipped")
_BASE_TAG = re.compile(r"<base\b[^>]*>", re.IGNORECASE)


REASONS = {
    "send_window": "outside the send window",
    "frequency_cap": "a frequency cap was reached",
    "suppressed": "the address is on the suppression list",
}


def why(issue: Issue) -> str:
    """An issue's reason in words: `send_window: held until …` reads "outside the send window"."""
    reason = issue.reason or ""
    return REASONS.get(reason.split(":", 1)[0].strip(), reason)


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _day(value: str | None, zone_name: str, *, next_day: bool = False) -> datetime | None:
    """The start of a YYYY-MM-DD day in the account's time zone (of the day after, for an inclusive end)."""
    try:
        day = date.fromisoformat((value or "").strip())
    except ValueError:
        return None
    try:
        zone = ZoneInfo(zone_name)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return datetime.combine(day + timedelta(days=1 if next_day else 0), time(), zone)


def _search(page: Page, q: str | None, since: str | None, until: str | None) -> dict[str, Any]:
    """The search and date filters shared by the archive and the mailbox (raw for the form, parsed for the query)."""
    zone = page.account.timezone
    start, end = _day(since, zone), _day(until, zone, next_day=True)
    return {
        "form": {"q": _clean(q) or "", "since": since if start else "", "until": until if end else ""},
        "search": _clean(q),
        "since": start,
        "until": end,
    }


@router.get("/issues")
def archive(
    page: PageDep,
    email: str | None = None,
    sequence: str | None = None,
    draft: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    q: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Response:
    """Page through the archive, filtered by address, sequence, draft, status, search text and dates."""
    filters = {"email": _clean(email), "sequence": _clean(sequence), "draft": _clean(draft)}
    chosen = status if status in ISSUE_STATUSES else None
    found = _search(page, q, since, until)
    items, next_cursor = service.page(
        page.stepwise.db,
        page.account.id,
        **filters,
        status=chosen,
        cursor=cursor,
        limit=50,
        search=found["search"],
        since=found["since"],
        until=found["until"],
    )
    totals = service.stats(page.stepwise.db, page.account.id, sequence=filters["sequence"], draft=filters["draft"])
    return page.render(
        "archive/issues.html",
        nav="issues",
        items=items,
        next_cursor=next_cursor,
        filters={**{k: v or "" for k, v in filters.items()}, **found["form"]},
        issue_status=chosen or "",
        statuses=ISSUE_STATUSES,
        totals=totals.totals,
        why=why,
    )


def viewable(page: Page, html: str | None) -> str:
    """Prepare a message's HTML for the sandboxed frame: links open outside it; the open pixel stays silent."""
    if not html:
        return ""
    pixel = f"{page.stepwise.settings.base_url}/t/o/"
    shown = html.replace(f'src="{pixel}', 'data-pixel="').replace(f"src='{pixel}", "data-pixel='")
    shown = _BASE_TAG.sub("", shown)
    return '<base target="_blank">' + shown


def _message(page: Page, issue: Issue | None) -> dict[str, Any]:
    """The template values of an issue's message: `message` (None when it has none) and `shown`, its viewable HTML."""
    message: Message | None = None
    if issue is not None:
        with contextlib.suppress(Conflict):  # no message: nothing was rendered for this issue
            message = service.message(page.stepwise.db, page.account.id, issue.id)
    return {"message": message, "shown": viewable(page, message.html) if message else ""}


@router.get("/issues/{issue_id}")
def issue(page: PageDep, issue_id: str) -> Response:
    """Show one issue with its rendered message."""
    found = service.get(page.stepwise.db, page.account.id, issue_id)
    return page.render("archive/issue.html", nav="issues", issue=found, why=why, **_message(page, found))


@router.get("/mailbox")
def mailbox(
    page: PageDep,
    id: str | None = None,
    cursor: str | None = None,
    q: str | None = None,
    sequence: str | None = None,
    status: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Response:
    """Show the emails the capture transport kept, newest first (searched and filtered), and one of them."""
    found = _search(page, q, since, until)
    chosen_status = status if status in ISSUE_STATUSES else None
    items, next_cursor = service.page(
        page.stepwise.db,
        page.account.id,
        email=None,
        sequence=_clean(sequence),
        draft=None,
        status=chosen_status,
        cursor=cursor,
        limit=50,
        transport="capture",
        search=found["search"],
        since=found["since"],
        until=found["until"],
    )
    filters = {**found["form"], "sequence": _clean(sequence) or "", "status": chosen_status or ""}
    chosen = None
    if id:
        chosen = service.get(page.stepwise.db, page.account.id, id)
    elif items and cursor is None:
        chosen = items[0]
    return page.render(
        "archive/mailbox.html",
        nav="mailbox",
        items=items,
        next_cursor=next_cursor,
        chosen=chosen,
        filters=filters,
        **_message(page, chosen),
        statuses=ISSUE_STATUSES,
    )
