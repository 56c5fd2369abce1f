"""/issues: the archive of emails, their messages and statistics."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path

from stepwise.api import schemas
from stepwise.api.auth import Account, App
from stepwise.api.common import Cursor, Limit
from stepwise.services import issues as service

router = APIRouter(prefix="/issues", tags=["issues"])


@router.get("", response_model=schemas.IssuePage)
def list_issues(
    account: Account,
    app: App,
    limit: Limit = 100,
    cursor: Cursor = None,
    email: str | None = None,
    sequence: str | None = None,
    draft: str | None = None,
    status: Literal["queued", "sent", "failed", "skipped"] | None = None,
) -> dict[str, Any]:
    """The archive, newest first."""
    items, next_cursor = service.page(
        app.db, account.id, email=email, sequence=sequence, draft=draft, status=status, cursor=cursor, limit=limit
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get("/stats", response_model=schemas.IssueStats)
def issue_stats(account: Account, app: App, sequence: str | None = None, draft: str | None = None) -> dict[str, Any]:
    """Per draft and per sequence step: queued, sent, failed, skipped, unique opens and clicks, unsubscribes."""
    return service.stats(app.db, account.id, sequence=sequence, draft=draft)


@router.get("/{issue_id}", response_model=schemas.Issue)
def get_issue(account: Account, app: App, issue_id: str = Path(max_length=64)) -> dict[str, Any]:
    return service.get(app.db, account.id, issue_id)


@router.get("/{issue_id}/message", response_model=schemas.Message)
def get_message(account: Account, app: App, issue_id: str = Path(max_length=64)) -> dict[str, Any]:
    """The rendered message: subject, from, to, headers, html, text."""
    return service.message(app.db, account.id, issue_id)
