"""/drafts and their preview."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from stepwise.api import schemas
from stepwise.api.auth import Account, App
from stepwise.api.common import Cursor, KeyPath, Limit, page_by_key
from stepwise.services import drafts as service
from stepwise.services.drafts import DraftBody

router = APIRouter(prefix="/drafts", tags=["drafts"])


@router.put("/{key}", response_model=schemas.Draft, responses={201: {"model": schemas.Draft}})
def put_draft(key: KeyPath, body: DraftBody, account: Account, app: App, response: Response) -> dict[str, Any]:
    """Create or replace a draft; templates are checked for syntax."""
    view, created = service.put(app.db, account.id, key, body, app.clock())
    response.status_code = 201 if created else 200
    return view


@router.get("", response_model=schemas.DraftsOut)
def all_drafts(account: Account, app: App, limit: Limit = 100, cursor: Cursor = None) -> dict[str, Any]:
    """All of them, by key, a page at a time."""
    return page_by_key(service.all_drafts(app.db, account.id), cursor, limit)


@router.get("/{key}", response_model=schemas.Draft)
def get_draft(key: KeyPath, account: Account, app: App) -> dict[str, Any]:
    return service.get(app.db, account.id, key)


@router.delete("/{key}", status_code=204)
def delete_draft(key: KeyPath, account: Account, app: App) -> Response:
    """Delete a draft (409 while a sequence or form uses it)."""
    service.delete(app.db, account.id, key)
    return Response(status_code=204)


@router.post("/{key}/preview", response_model=schemas.Preview)
def preview(key: KeyPath, body: schemas.PreviewRequest, account: Account, app: App) -> dict[str, Any]:
    """Render the draft for a subscriber (their data; nothing is sent)."""
    return service.preview(app.db, account.id, key, body.email, app.settings.base_url, app.clock())
