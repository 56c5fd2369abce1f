"""/events: custom events from outside systems."""

from __future__ import annotations

from fastapi import APIRouter, Request

from stepwise.api import schemas
from stepwise.api.auth import Account, App
from stepwise.api.checked import CheckedRoute
from stepwise.errors import TooLarge
from stepwise.services import events as service
from stepwise.services.events import MAX_BATCH, EventsResult

router = APIRouter(prefix="/events", tags=["events"], route_class=CheckedRoute)


@router.post("", response_model=EventsResult, status_code=202)
def post_events(body: schemas.EventsBody, account: Account, app: App, request: Request) -> EventsResult:
    """Accept one event or a batch of up to 1000; idempotent by `id`; unknown emails are only counted."""
    events = body.events if isinstance(body, schemas.EventBatch) else [body]
    if len(events) > MAX_BATCH:
        raise TooLarge(f"a batch holds at most {MAX_BATCH} events", code="batch_too_large")
    return service.ingest(app.db, account.id, events, app.clock())
