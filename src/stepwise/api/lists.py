"""/lists and their members."""

from __future__ import annotations

from fastapi import APIRouter, Response

from stepwise.api import schemas
from stepwise.api.auth import Account, App
from stepwise.api.checked import CheckedRoute
from stepwise.api.common import Cursor, EmailPath, KeyPath, Limit, page_by_key
from stepwise.services import lists as service
from stepwise.services.lists import ListOut, ListsOut, MemberPage

router = APIRouter(prefix="/lists", tags=["lists"], route_class=CheckedRoute)


@router.put("/{key}", response_model=ListOut, responses={201: {"model": ListOut}})
def put_list(key: KeyPath, body: schemas.ListPut, account: Account, app: App, response: Response) -> ListOut:
    """Create or rename a list."""
    view, created = service.put(app.db, account.id, key, body.name, app.clock())
    response.status_code = 201 if created else 200
    return view


@router.get("", response_model=ListsOut)
def all_lists(account: Account, app: App, limit: Limit = 100, cursor: Cursor = None) -> ListsOut:
    """All of them, by key, a page at a time."""
    items, next_cursor = page_by_key(service.all_lists(app.db, account.id), cursor, limit)
    return ListsOut(items=items, next_cursor=next_cursor)


@router.get("/{key}", response_model=ListOut)
def get_list(key: KeyPath, account: Account, app: App) -> ListOut:
    return service.get(app.db, account.id, key)


@router.delete("/{key}", status_code=204)
def delete_list(key: KeyPath, account: Account, app: App) -> Response:
    """Delete a list (409 while a sequence or form uses it)."""
    service.delete(app.db, account.id, key)
    return Response(status_code=204)


@router.put("/{key}/members/{email}", status_code=204)
def add_member(key: KeyPath, email: EmailPath, account: Account, app: App) -> Response:
    """Add a subscriber to the list (idempotent; emits list_joined when new)."""
    service.set_member(app.db, account.id, key, email, True, source="api", now=app.clock())
    return Response(status_code=204)


@router.delete("/{key}/members/{email}", status_code=204)
def remove_member(key: KeyPath, email: EmailPath, account: Account, app: App) -> Response:
    """Remove a subscriber from the list (idempotent; emits list_left when they were in it)."""
    service.set_member(app.db, account.id, key, email, False, source="api", now=app.clock())
    return Response(status_code=204)


@router.get("/{key}/members", response_model=MemberPage)
def list_members(key: KeyPath, account: Account, app: App, limit: Limit = 100, cursor: Cursor = None) -> MemberPage:
    items, next_cursor = service.members(app.db, account.id, key, cursor=cursor, limit=limit)
    return MemberPage(items=items, next_cursor=next_cursor)
