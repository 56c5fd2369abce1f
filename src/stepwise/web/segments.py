"""Segments (SPEC §15): the list with live counts, one segment's rule and members, its CSV export.

Segments are created and edited through the API or definition files (`stepwise apply`); these pages
show them.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse

from stepwise.services import segments as service
from stepwise.web.describe import predicate
from stepwise.web.pages import PageDep, PageRoute, secure

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/segments")
def index(page: PageDep) -> Response:
    """Show the account's segments with their stored counts."""
    rows = service.all_segments(page.stepwise.db, page.account.id)
    return page.render("segments/index.html", nav="segments", rows=rows)


@router.get("/segments/{key}")
def show(page: PageDep, key: str, cursor: str | None = None) -> Response:
    """Show one segment: its rule in words, its count and a page of its members."""
    db, account_id = page.stepwise.db, page.account.id
    row = service.get(db, account_id, key)
    members, next_cursor = service.members(db, account_id, key, cursor=cursor, limit=100)
    return page.render(
        "segments/show.html",
        nav="segments",
        row=row,
        rule=predicate(row.where),
        members=members,
        next_cursor=next_cursor,
    )


@router.get("/segments/{key}/export.csv")
def export(page: PageDep, key: str) -> Response:
    """Download the members as CSV (email, status, joined_at), written as it is read."""
    body = service.export_csv(page.stepwise.db, page.account.id, key)
    headers = {"Content-Disposition": f'attachment; filename="segment-{key}.csv"'}
    return secure(StreamingResponse(body, media_type="text/csv; charset=utf-8", headers=headers))
