"""/issues: the archive of emails, their messages and statistics."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path

from stepwise.api.auth import Account, App
from stepwise.api.checked import CheckedRoute
from stepwise.api.common import Cursor, EmailFilter, KeyFilter, Limit
from stepwise.services import issues as service
from stepwise.services.issues import Issue, IssuePage, IssueStats, Message

router = APIRouter(prefix="/issues", tags=["issues"], route_class=CheckedRoute)


@router.get("", response_model=IssuePage)
def list_issues(
    account: Account,
    app: App,
    limit: Limit = 100,
    cursor: Cursor = None,
    email: EmailFilter = None,
    sequence: KeyFilter = None,
    draft: KeyFilter = None,
    status: Literal["queued", "deferred", "sent", "failed", "skipped"] | None = None,
) -> IssuePage:
    """The archive, newest first."""
    items, next_cursor = service.page(
        app.db, account.id, email=email, sequence=sequence, draft=draft, status=status, cursor=cursor, limit=limit
    )
    return IssuePage(items=items, next_cursor=next_cursor)


@router.get("/stats", response_model=IssueStats)
def issue_stats(account: Account, app: App, sequence: KeyFilter = None, draft: KeyFilter = None) -> IssueStats:
    """Per draft and per sequence step: queued, sent, failed, skipped, unique opens and clicks, unsubscribes."""
    return service.stats(app.db, account.id, sequence=sequence, draft=draft)


@router.get("/{issue_id}", response_model=Issue)
def get_issue(account: Account, app: App, issue_id: str = Path(max_length=64)) -> Issue:
    return service.get(app.db, account.id, issue_id)


@router.get("/{issue_id}/message", response_model=Message)
def get_message(account: Account, app: App, issue_id: str = Path(max_length=64)) -> Message:
    """The rendered message: subject, from, to, headers, html, text."""
    return service.message(app.db, account.id, issue_id)
