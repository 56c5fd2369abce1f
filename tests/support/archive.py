"""Reading the issue archive in tests, through the service the API and UI use."""

from __future__ import annotations

from stepwise.services import issues
from stepwise.services.issues import Issue
from stepwise.storage.database import Database


def issues_with_status(db: Database, account_id: int, status: str, limit: int = 50) -> list[Issue]:
    """The account's newest issues with that status."""
    items, _ = issues.page(
        db, account_id, email=None, sequence=None, draft=None, status=status, cursor=None, limit=limit
    )
    return items
