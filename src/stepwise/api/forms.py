"""/forms: hosted subscription form definitions."""

from __future__ import annotations

from fastapi import APIRouter, Response

from stepwise.api.auth import Account, App
from stepwise.api.checked import CheckedRoute
from stepwise.api.common import Cursor, KeyPath, Limit, page_by_key
from stepwise.domain.forms import FormSpec
from stepwise.services import forms as service
from stepwise.services.forms import Form, FormsOut

router = APIRouter(prefix="/forms", tags=["forms"], route_class=CheckedRoute)


@router.put("/{key}", response_model=Form, responses={201: {"model": Form}})
def put_form(key: KeyPath, body: FormSpec, account: Account, app: App, response: Response) -> Form:
    """Create or replace a form (fields, lists, double opt-in, confirmation draft, success URL)."""
    view, created = service.put(app.db, account.id, key, body, app.clock())
    response.status_code = 201 if created else 200
    return view


@router.get("", response_model=FormsOut)
def all_forms(account: Account, app: App, limit: Limit = 100, cursor: Cursor = None) -> FormsOut:
    """All of them, by key, a page at a time."""
    items, next_cursor = page_by_key(service.all_forms(app.db, account.id), cursor, limit)
    return FormsOut(items=items, next_cursor=next_cursor)


@router.get("/{key}", response_model=Form)
def get_form(key: KeyPath, account: Account, app: App) -> Form:
    return service.get(app.db, account.id, key)


@router.delete("/{key}", status_code=204)
def delete_form(key: KeyPath, account: Account, app: App) -> Response:
    """Delete a form (409 while a sequence listens for it)."""
    service.delete(app.db, account.id, key)
    return Response(status_code=204)
