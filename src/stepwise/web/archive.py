"""The issue archive (every email sent, failed or skipped) and the mailbox of captured emails."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from stepwise.errors import Conflict
from stepwise.services import issues as service
from stepwise.web.pages import Page, PageDep, PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)
ISSUE_STATUSES = ("queued", "sent", "failed", "skipped")
_BASE_TAG = re.compile(r"<base\b[^>]*>", re.IGNORECASE)


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


@router.get("/issues")
def archive(
    page: PageDep,
    email: str | None = None,
    sequence: str | None = None,
    draft: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
) -> Response:
    """Page through the archive, filtered by address, sequence, draft and status."""
    filters = {"email": _clean(email), "sequence": _clean(sequence), "draft": _clean(draft)}
    chosen = status if status in ISSUE_STATUSES else None
    items, next_cursor = service.page(
        page.stepwise.db, page.account.id, **filters, status=chosen, cursor=cursor, limit=50
    )
    totals = service.stats(page.stepwise.db, page.account.id, sequence=filters["sequence"], draft=filters["draft"])
    return page.render(
        "archive/issues.html",
        nav="issues",
        items=items,
        next_cursor=next_cursor,
        filters={k: v or "" for k, v in filters.items()},
        issue_status=chosen or "",
        statuses=ISSUE_STATUSES,
        totals=totals["totals"],
    )


def viewable(page: Page, html: str | None) -> str:
    """Prepare a message's HTML for the sandboxed frame: links open outside it; the open pixel stays silent."""
    if not html:
        return ""
    pixel = f"{page.stepwise.settings.base_url}/t/o/"
    shown = html.replace(f'src="{pixel}', 'data-pixel="').replace(f"src='{pixel}", "data-pixel='")
    shown = _BASE_TAG.sub("", shown)
    return '<base target="_blank">' + shown


def _message(page: Page, issue: dict[str, Any]) -> dict[str, Any] | None:
    try:
        message = service.message(page.stepwise.db, page.account.id, issue["id"])
    except Conflict:
        return None
    return {**message, "shown": viewable(page, message.get("html"))}


@router.get("/issues/{issue_id}")
def issue(page: PageDep, issue_id: str) -> Response:
    """Show one issue with its rendered message."""
    found = service.get(page.stepwise.db, page.account.id, issue_id)
    return page.render("archive/issue.html", nav="issues", issue=found, message=_message(page, found))


@router.get("/mailbox")
def mailbox(page: PageDep, id: str | None = None, cursor: str | None = None) -> Response:
    """Show the emails the capture transport kept, newest first, and one of them."""
    items, next_cursor = service.page(
        page.stepwise.db,
        page.account.id,
        email=None,
        sequence=None,
        draft=None,
        status=None,
        cursor=cursor,
        limit=50,
        transport="capture",
    )
    chosen = None
    if id:
        chosen = service.get(page.stepwise.db, page.account.id, id)
    elif items and cursor is None:
        chosen = items[0]
    message = _message(page, chosen) if chosen else None
    return page.render(
        "archive/mailbox.html", nav="mailbox", items=items, next_cursor=next_cursor, chosen=chosen, message=message
    )
