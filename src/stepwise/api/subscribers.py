"""/subscribers: upsert, read, edit, delete, unsubscribe, runs, timeline, bulk update."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response, status

from stepwise.api import schemas
from stepwise.api.auth import Account, App
from stepwise.api.checked import CheckedRoute
from stepwise.api.common import Cursor, EmailFilter, EmailPath, KeyFilter, Limit
from stepwise.services import bulk as bulk_service
from stepwise.services import runs as run_service
from stepwise.services import subscribers as service
from stepwise.services import timeline as timeline_service
from stepwise.services.bulk import BulkResult, BulkUpdate
from stepwise.services.runs import RunsOut
from stepwise.services.subscribers import Edit, Subscriber, SubscriberPage
from stepwise.services.timeline import TimelinePage

router = APIRouter(prefix="/subscribers", tags=["subscribers"], route_class=CheckedRoute)


@router.post(
    "",
    response_model=Subscriber,
    status_code=201,
    responses={200: {"model": Subscriber, "description": "Updated (data merged)"}},
)
def upsert(body: schemas.SubscriberUpsert, account: Account, app: App, response: Response) -> Subscriber:
    """Create a subscriber, or update one with this address (data is merged, lists are added)."""
    edit = Edit(data=body.data, lists_add=list(body.lists or []), status=body.status)
    view, created = service.edit_one(app.db, account.id, body.email, edit, source="api", now=app.clock(), create=True)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return view


@router.post("/bulk-update", response_model=BulkResult)
def bulk_update(body: BulkUpdate, account: Account, app: App) -> BulkResult:
    """Set/unset fields for every subscriber matching `where` or in `emails`; data_changed only for real changes."""
    return bulk_service.bulk_update(app.db, account.id, body, app.clock())


@router.get("", response_model=SubscriberPage)
def list_subscribers(
    account: Account,
    app: App,
    limit: Limit = 100,
    cursor: Cursor = None,
    list: KeyFilter = None,
    status: Literal["active", "unconfirmed", "unsubscribed", "bounced"] | None = None,
    q: EmailFilter = None,
    segment: KeyFilter = None,
) -> SubscriberPage:
    """List subscribers, optionally of one list, segment or status (`q` searches addresses)."""
    items, next_cursor = service.page(
        app.db, account.id, status=status, list_key=list, cursor=cursor, limit=limit, search=q, segment_key=segment
    )
    return SubscriberPage(items=items, next_cursor=next_cursor)


@router.get("/{email}", response_model=Subscriber)
def get_subscriber(email: EmailPath, account: Account, app: App) -> Subscriber:
    """One subscriber with data and lists."""
    return service.get(app.db, account.id, email)


@router.patch("/{email}", response_model=Subscriber)
def patch_subscriber(email: EmailPath, body: schemas.SubscriberPatch, account: Account, app: App) -> Subscriber:
    """Merge data, unset paths, or change status; emits data_changed, unsubscribed, subscription_confirmed."""
    edit = Edit(data=body.data, unset=list(body.unset or []), status=body.status)
    view, _ = service.edit_one(app.db, account.id, email, edit, source="api", now=app.clock(), create=False)
    return view


@router.delete("/{email}", status_code=204)
def delete_subscriber(email: EmailPath, account: Account, app: App) -> Response:
    """Delete a subscriber; their runs end with reason `deleted`."""
    service.delete(app.db, app.catalog, account.id, email, app.clock())
    return Response(status_code=204)


@router.post("/{email}/unsubscribe", response_model=Subscriber)
def unsubscribe(email: EmailPath, account: Account, app: App) -> Subscriber:
    """Unsubscribe (emits `unsubscribed`; runs continue unless their sequence exits on unsubscribe)."""
    view, _ = service.edit_one(
        app.db, account.id, email, Edit(status="unsubscribed"), source="api", now=app.clock(), create=False
    )
    return view


@router.get("/{email}/runs", response_model=RunsOut)
def subscriber_runs(email: EmailPath, account: Account, app: App) -> RunsOut:
    """Every run of the subscriber, oldest first."""
    return RunsOut(items=run_service.of_subscriber(app.db, account.id, email))


@router.get("/{email}/timeline", response_model=TimelinePage)
def subscriber_timeline(
    email: EmailPath, account: Account, app: App, limit: Limit = 100, cursor: Cursor = None
) -> TimelinePage:
    """Events, transitions, actions and deliveries, oldest first."""
    items, next_cursor = timeline_service.page(app.db, account.id, email, cursor=cursor, limit=limit)
    return TimelinePage(items=items, next_cursor=next_cursor)
