"""/drafts and their preview."""

from __future__ import annotations

from fastapi import APIRouter, Response

from stepwise.api import schemas
from stepwise.api.auth import Account, App
from stepwise.api.checked import CheckedRoute
from stepwise.api.common import Cursor, KeyPath, Limit, page_by_key
from stepwise.services import drafts as service
from stepwise.services import test_sends
from stepwise.services.drafts import Draft, DraftBody, DraftsOut, Preview
from stepwise.services.test_sends import TestSendBody, TestSendOut

router = APIRouter(prefix="/drafts", tags=["drafts"], route_class=CheckedRoute)


@router.put("/{key}", response_model=Draft, responses={201: {"model": Draft}})
def put_draft(key: KeyPath, body: DraftBody, account: Account, app: App, response: Response) -> Draft:
    """Create or replace a draft; templates are checked for syntax."""
    view, created = service.put(app.db, account.id, key, body, app.clock())
    response.status_code = 201 if created else 200
    return view


@router.get("", response_model=DraftsOut)
def all_drafts(account: Account, app: App, limit: Limit = 100, cursor: Cursor = None) -> DraftsOut:
    """All of them, by key, a page at a time."""
    items, next_cursor = page_by_key(service.all_drafts(app.db, account.id), cursor, limit)
    return DraftsOut(items=items, next_cursor=next_cursor)


@router.get("/{key}", response_model=Draft)
def get_draft(key: KeyPath, account: Account, app: App) -> Draft:
    return service.get(app.db, account.id, key)


@router.delete("/{key}", status_code=204)
def delete_draft(key: KeyPath, account: Account, app: App) -> Response:
    """Delete a draft (409 while a sequence or form uses it)."""
    service.delete(app.db, account.id, key)
    return Response(status_code=204)


@router.post("/{key}/preview", response_model=Preview)
async def preview(key: KeyPath, body: schemas.PreviewRequest, account: Account, app: App) -> Preview:
    """Render the draft for a subscriber (their data; nothing is sent)."""
    # In a preview thread: a render may take its whole budget, and must not hold the event loop.
    return await service.preview_off_the_loop(app.db, account.id, key, body.email, app.settings.base_url, app.clock())


@router.post("/{key}/test", response_model=TestSendOut, responses={429: {"description": "Too many test emails"}})
def send_test(key: KeyPath, body: TestSendBody, account: Account, app: App) -> TestSendOut:
    """Send the draft now to up to five addresses, "[TEST]" before the subject (no issue of any sequence)."""
    return test_sends.send_test(app, account.id, key, body, app.clock())
