"""/audit: the account's audit log (SPEC S35), newest first, filtered by object type and key."""

from __future__ import annotations

from fastapi import APIRouter, Query

from stepwise.api.auth import Account, App
from stepwise.api.checked import CheckedRoute
from stepwise.api.common import Cursor, Limit
from stepwise.services import audit
from stepwise.services.audit import AuditPage

router = APIRouter(prefix="/audit", tags=["audit"], route_class=CheckedRoute)


@router.get("", response_model=AuditPage)
def list_audit(
    account: Account,
    app: App,
    limit: Limit = 100,
    cursor: Cursor = None,
    object: str | None = Query(
        default=None, max_length=32, pattern="^[a-z_]+$", description="object type, e.g. sequence"
    ),
    key: str | None = Query(default=None, max_length=400, description="the object's key (with `object`)"),
) -> AuditPage:
    """Who changed what and when, with the definitions before and after."""
    return audit.entries(app.db, account.id, cursor=cursor, limit=limit, object_type=object, key=key)
