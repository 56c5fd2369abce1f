"""/segments: definitions, their stored counts and their members (SPEC §15)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse

from stepwise.api import schemas
from stepwise.api.auth import Account, App
from stepwise.api.checked import CheckedRoute
from stepwise.api.common import Cursor, KeyPath, Limit, page_by_key
from stepwise.services import segments as service
from stepwise.services.segments import SegmentMemberPage, SegmentOut, SegmentsOut

router = APIRouter(prefix="/segments", tags=["segments"], route_class=CheckedRoute)


@router.put("/{key}", response_model=SegmentOut, responses={201: {"model": SegmentOut}})
def put_segment(key: KeyPath, body: schemas.SegmentPut, account: Account, app: App, response: Response) -> SegmentOut:
    """Create or change a segment; membership is computed for everyone without events before it answers."""
    view, created = service.put(app.db, account.id, key, body.name, body.where, app.clock())
    response.status_code = 201 if created else 200
    return view


@router.get("", response_model=SegmentsOut)
def all_segments(account: Account, app: App, limit: Limit = 100, cursor: Cursor = None) -> SegmentsOut:
    """All of them, by key, with their member counts."""
    items, next_cursor = page_by_key(service.all_segments(app.db, account.id), cursor, limit)
    return SegmentsOut(items=items, next_cursor=next_cursor)


@router.get("/{key}", response_model=SegmentOut)
def get_segment(key: KeyPath, account: Account, app: App) -> SegmentOut:
    return service.get(app.db, account.id, key)


@router.delete("/{key}", status_code=204)
def delete_segment(key: KeyPath, account: Account, app: App) -> Response:
    """Delete a segment; refused (409 `in_use`, `details.used_by`) while a sequence refers to it."""
    service.delete(app.db, account.id, key)
    return Response(status_code=204)


@router.get("/{key}/members", response_model=SegmentMemberPage)
def segment_members(
    key: KeyPath, account: Account, app: App, limit: Limit = 100, cursor: Cursor = None
) -> SegmentMemberPage:
    """The members, by subscriber, a page at a time."""
    items, next_cursor = service.members(app.db, account.id, key, cursor=cursor, limit=limit)
    return SegmentMemberPage(items=items, next_cursor=next_cursor)


@router.get("/{key}/export.csv", response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}}}})
def export_segment(key: KeyPath, account: Account, app: App) -> StreamingResponse:
    """The members as CSV (email, status, joined_at), streamed; cells a spreadsheet would run are neutralised."""
    body = service.export_csv(app.db, account.id, key)
    headers = {"Content-Disposition": f'attachment; filename="segment-{key}.csv"'}
    return StreamingResponse(body, media_type="text/csv", headers=headers)
