"""Webhooks pages (SPEC §18): endpoints, the secret shown once, activation, the delivery log, retry, ping."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from stepwise.domain.webhooks import EVENT_TYPES, NOT_EMITTED_YET
from stepwise.errors import AppError
from stepwise.services import webhooks
from stepwise.services.cursors import BadCursor
from stepwise.web.pages import FormDep, Page, PageDep, PageRoute, text_of
from stepwise.web.problems import FormErrors, from_error

router = APIRouter(route_class=PageRoute, include_in_schema=False)
FIELDS = ("key", "url", "events")
LOG_PAGE = 50


def _list_page(
    page: Page,
    *,
    errors: FormErrors | None = None,
    values: dict[str, object] | None = None,
    secret: tuple[str, str] | None = None,
    status: int = 200,
) -> Response:
    items = webhooks.list_all(page.stepwise.db, page.account.id).items
    return page.render(
        "webhooks/list.html",
        status=status,
        nav="webhooks",
        items=items,
        inactive=[w for w in items if not w.active and w.deactivated_reason != "set inactive"],
        event_types=EVENT_TYPES,
        not_yet=NOT_EMITTED_YET,
        errors=errors or FormErrors(),
        values=values or {"key": "", "url": "", "events": []},
        secret=secret,
    )


@router.get("/webhooks")
def webhook_list(page: PageDep) -> Response:
    """Show the endpoints, a notice for those set inactive, and the form to add one."""
    return _list_page(page)


@router.post("/webhooks")
def add_webhook(page: PageDep, form: FormDep) -> Response:
    """Create an endpoint and show its secret, once."""
    key, url = text_of(form, "key").strip(), text_of(form, "url").strip()
    events = [e for e in form.getlist("events") if isinstance(e, str)]
    values: dict[str, object] = {"key": key, "url": url, "events": events}
    errors = FormErrors()
    if not key:
        errors.add("key", "name the endpoint, e.g. crm")
    else:
        try:
            if any(w.key == key for w in webhooks.list_all(page.stepwise.db, page.account.id).items):
                errors.add("key", f"there is already an endpoint {key!r}")
            else:
                made, _ = webhooks.put(
                    page.stepwise.db, page.stepwise.secret, page.account.id, key, url, events, None, page.now()
                )
                return _list_page(page, secret=(made.key, made.secret or ""), status=201)
        except AppError as exc:
            errors = from_error(exc, FIELDS)
    return _list_page(page, errors=errors, values=values, status=422)


@router.post("/webhooks/{key}/active")
def set_active(page: PageDep, form: FormDep, key: str) -> Response:
    """Set an endpoint active (its kept messages go at once) or inactive."""
    active = text_of(form, "active") == "true"
    try:
        found = webhooks.get(page.stepwise.db, page.account.id, key)
        webhooks.put(
            page.stepwise.db, page.stepwise.secret, page.account.id, key, found.url, found.events, active, page.now()
        )
    except AppError as exc:
        page.flash(exc.message, "error")
    else:
        page.flash(f"Endpoint {key} is {'active' if active else 'inactive'}.")
    return page.redirect("/webhooks")


@router.post("/webhooks/{key}/delete")
def delete_webhook(page: PageDep, form: FormDep, key: str) -> Response:
    """Delete an endpoint, its log and its queued messages."""
    try:
        webhooks.delete(page.stepwise.db, page.account.id, key)
    except AppError as exc:
        page.flash(exc.message, "error")
    else:
        page.flash(f"Endpoint {key} deleted.")
    return page.redirect("/webhooks")


@router.get("/webhooks/{key}")
def webhook_log(page: PageDep, key: str, cursor: str | None = None) -> Response:
    """Show one endpoint and its delivery log, newest first."""
    db, account_id = page.stepwise.db, page.account.id
    endpoint = webhooks.get(db, account_id, key)
    try:
        found = webhooks.deliveries(db, account_id, key, cursor, LOG_PAGE)
    except BadCursor:
        found = webhooks.deliveries(db, account_id, key, None, LOG_PAGE)
    return page.render(
        "webhooks/log.html", nav="webhooks", endpoint=endpoint, items=found.items, next_cursor=found.next_cursor
    )


@router.post("/webhooks/{key}/ping")
def ping(page: PageDep, form: FormDep, key: str) -> Response:
    """Send a `webhook.ping` message now."""
    webhooks.ping(page.stepwise.db, page.account.id, page.account.name, key, page.now())
    page.flash("Ping queued: it appears in the log below.")
    return page.redirect(f"/webhooks/{key}")


@router.post("/webhooks/{key}/deliveries/{message_id}/retry")
def retry(page: PageDep, form: FormDep, key: str, message_id: str) -> Response:
    """Queue a message again with the same id."""
    try:
        webhooks.retry(page.stepwise.db, page.account.id, key, message_id, page.now())
    except AppError as exc:
        page.flash(exc.message, "error")
    else:
        page.flash(f"Message {message_id} queued again.")
    return page.redirect(f"/webhooks/{key}")
