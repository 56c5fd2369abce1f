"""What the worker set aside (poison isolation): the list, with each item's error, and dismissing one."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from stepwise.errors import NotFound
from stepwise.services import quarantine
from stepwise.web.pages import FormDep, PageDep, PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/set-aside")
def set_aside_list(page: PageDep, cursor: str | None = None) -> Response:
    """List the events, sequences, outbox rows and subscribers the worker set aside, newest first."""
    items, next_cursor = quarantine.page(page.stepwise.db, page.account.id, cursor=cursor, limit=100)
    return page.render("set_aside.html", items=items, next_cursor=next_cursor)


@router.post("/set-aside/{item_id}/dismiss")
def dismiss(page: PageDep, form: FormDep, item_id: int) -> Response:
    """Forget one item (it stays out of processing; the timeline keeps its entry)."""
    if not quarantine.dismiss(page.stepwise.db, page.account.id, item_id):
        raise NotFound("no such item")
    page.flash("Dismissed.")
    return page.redirect("/set-aside")
