"""Subscribers: search, add, the profile with its data editor, lists, runs and timeline."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from stepwise.domain.instants import parse_instant
from stepwise.domain.paths import InvalidPath, leaf_paths, set_path, split_path
from stepwise.domain.problems import from_validation_error
from stepwise.errors import AppError
from stepwise.services import bounces as bounce_service
from stepwise.services import drafts as draft_service
from stepwise.services import events as event_service
from stepwise.services import issues as issue_service
from stepwise.services import lists as list_service
from stepwise.services import runs as run_service
from stepwise.services import sequences as sequence_service
from stepwise.services import subscribers as service
from stepwise.services import timeline as timeline_service
from stepwise.services.events import PostedEvent
from stepwise.services.subscribers import STATUSES, Edit, Subscriber
from stepwise.web.pages import FormDep, Page, PageDep, PageRoute, text_of, texts_of
from stepwise.web.problems import FormErrors, from_error
from stepwise.web.suppressions import entry_of
from stepwise.web.values import BadText, parse_assignments, parse_json, parse_value, show_value

TIMELINE_PAGE = 100
router = APIRouter(route_class=PageRoute, include_in_schema=False)
NEW_ROWS = 3


@router.get("/subscribers")
def subscriber_list(
    page: PageDep, q: str | None = None, status: str | None = None, list: str | None = None, cursor: str | None = None
) -> Response:
    """Search and page through subscribers."""
    return _index(page, q, status, list, cursor, FormErrors(), {"email": "", "status": "active", "data": ""})


def _index(
    page: Page,
    q: str | None,
    status: str | None,
    list_key: str | None,
    cursor: str | None,
    errors: FormErrors,
    values: dict[str, Any],
    http_status: int = 200,
) -> Response:
    db, account_id = page.stepwise.db, page.account.id
    lists = list_service.all_lists(db, account_id)
    status = status if status in STATUSES else None
    list_key = list_key if list_key in {row.key for row in lists} else None
    items, next_cursor = service.page(
        db, account_id, status=status, list_key=list_key, cursor=cursor, limit=50, search=(q or "").strip() or None
    )
    return page.render(
        "subscribers/list.html",
        status=http_status,
        nav="subscribers",
        items=items,
        next_cursor=next_cursor,
        q=q or "",
        filter_status=status or "",
        filter_list=list_key or "",
        lists=lists,
        statuses=STATUSES,
        errors=errors,
        values=values,
    )


@router.post("/subscribers")
def add(page: PageDep, form: FormDep) -> Response:
    """Add a subscriber (or update the one with this address): emits subscriber_added with source ui."""
    values: dict[str, Any] = {
        "email": text_of(form, "email").strip(),
        "status": text_of(form, "status") or "active",
        "data": text_of(form, "data"),
        "lists": texts_of(form, "lists"),
    }
    errors = FormErrors()
    data: dict[str, Any] = {}
    try:
        for path, value in parse_assignments(values["data"]).items():
            set_path(data, path, value)
    except BadText as exc:
        errors.add("data", str(exc))
    if not errors:
        edit = Edit(data=data or None, lists_add=values["lists"], status=values["status"])
        try:
            view, created = service.edit_one(
                page.stepwise.db, page.account.id, values["email"], edit, source="ui", now=page.now(), create=True
            )
        except AppError as exc:
            errors = from_error(exc, ("email", "status", "data", "lists"))
        else:
            page.flash(f"{view.email} {'added' if created else 'already existed and was updated'}.")
            return page.redirect(f"/subscribers/{view.email}")
    return _index(page, None, None, None, None, errors, values, http_status=422)


@router.get("/subscribers/{email}")
def profile(page: PageDep, email: str, after: str | None = None) -> Response:
    """Show one subscriber: profile, data, lists, runs, emails and timeline."""
    sub = service.get(page.stepwise.db, page.account.id, email)
    return _profile(page, sub, after=after)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def data_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Show profile data as editable rows of (path, value)."""
    return [{"path": path, "value": show_value(value), "remove": False} for path, value in leaf_paths(data)]


def _profile(
    page: Page,
    sub: Subscriber,
    *,
    after: str | None = None,
    rows: list[dict[str, Any]] | None = None,
    new_rows: list[dict[str, str]] | None = None,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    db, account_id = page.stepwise.db, page.account.id
    timeline, next_after = timeline_service.newest_page(db, account_id, sub.email, cursor=after, limit=TIMELINE_PAGE)
    emails, _ = issue_service.page(
        db, account_id, email=sub.email, sequence=None, draft=None, status=None, cursor=None, limit=20
    )
    sequences = sequence_service.all_sequences(db, account_id)
    names = {
        "sequences": {s.key: s.name or s.key for s in sequences},
        "drafts": {d.key: d.subject or "" for d in draft_service.all_drafts(db, account_id)},
        "issues": {e.id: f"{e.draft} “{e.subject}”" if e.subject else e.draft for e in emails},
    }
    zone = _zone(page.account.timezone)
    entries = []
    for entry in timeline:
        moment = parse_instant(entry.at)
        at_text = moment.astimezone(zone).strftime("%d %b %Y %H:%M:%S") if moment else entry.at
        entries.append({**entry.model_dump(), "at_text": at_text})
    return page.render(
        "subscribers/profile.html",
        status=status,
        nav="subscribers",
        sub=sub,
        rows=rows if rows is not None else data_rows(sub.data),
        new_rows=new_rows or [{"path": "", "value": ""} for _ in range(NEW_ROWS)],
        errors=errors or FormErrors(),
        statuses=STATUSES,
        lists=list_service.all_lists(db, account_id),
        runs=run_service.of_subscriber(db, account_id, sub.email),
        sequences=sequences,
        timeline=entries,
        timeline_names=names,
        next_after=next_after,
        emails=emails,
        **_deliverability(page, sub),
    )


def _deliverability(page: Page, sub: Subscriber) -> dict[str, Any]:
    """The profile's bounce and complaint reports, and the suppression-list entry that stops its email."""
    found = bounce_service.page(page.stepwise.db, page.account.id, email=sub.email, issue=None, cursor=None, limit=20)
    return {
        "bounce_reports": found.items,
        "more_reports": found.next_cursor is not None,
        "suppressed": entry_of(page, sub.email),
    }


@router.post("/subscribers/{email}/data")
def edit_data(page: PageDep, form: FormDep, email: str) -> Response:
    """Save the profile data editor: changed values, removed fields and new fields."""
    sub = service.get(page.stepwise.db, page.account.id, email)
    rows, new_rows, patch, unset, errors = _read_data(form)
    if not errors:
        try:
            service.edit_one(
                page.stepwise.db,
                page.account.id,
                sub.email,
                Edit(data=patch or None, unset=unset),
                source="ui",
                now=page.now(),
                create=False,
            )
        except AppError as exc:
            errors = from_error(exc, ("data", "unset"))
        else:
            page.flash("Profile data saved.")
            return page.redirect(f"/subscribers/{sub.email}")
    return _profile(page, sub, rows=rows, new_rows=new_rows, errors=errors, status=422)


def _read_data(
    form: FormData,
) -> tuple[list[dict[str, Any]], list[dict[str, str]], dict[str, Any], list[str], FormErrors]:
    errors = FormErrors()
    rows: list[dict[str, Any]] = []
    patch: dict[str, Any] = {}
    unset: list[str] = []
    index = 0
    while f"row{index}.path" in form:
        path = text_of(form, f"row{index}.path")
        value = text_of(form, f"row{index}.value")
        remove = text_of(form, f"row{index}.remove") == "on"
        rows.append({"path": path, "value": value, "remove": remove})
        if remove:
            unset.append(path)
        elif value != text_of(form, f"row{index}.was"):
            _set(patch, path, value, errors)
        index += 1
    new_rows: list[dict[str, str]] = []
    index = 0
    while f"new{index}.path" in form:
        path, value = text_of(form, f"new{index}.path").strip(), text_of(form, f"new{index}.value")
        new_rows.append({"path": path, "value": value})
        if path:
            _set(patch, path, value, errors)
        index += 1
    return rows, new_rows, patch, unset, errors


def _set(patch: dict[str, Any], path: str, value: str, errors: FormErrors) -> None:
    try:
        split_path(path)
    except InvalidPath as exc:
        errors.add("data", f"{path}: {exc}")
        return
    set_path(patch, path, parse_value(value))


@router.post("/subscribers/{email}/status")
def edit_status(page: PageDep, form: FormDep, email: str) -> Response:
    """Change a subscriber's status (unsubscribe, confirm, …)."""
    sub = service.get(page.stepwise.db, page.account.id, email)
    status = text_of(form, "status")
    try:
        service.edit_one(
            page.stepwise.db,
            page.account.id,
            sub.email,
            Edit(status=service.status_of(status)),
            source="ui",
            now=page.now(),
            create=False,
        )
    except AppError as exc:
        page.flash("; ".join(from_error(exc, ()).general), "error")
    else:
        page.flash(f"Status set to {status}.")
    return page.redirect(f"/subscribers/{sub.email}")


@router.post("/subscribers/{email}/lists")
def edit_lists(page: PageDep, form: FormDep, email: str) -> Response:
    """Set which lists a subscriber is in."""
    sub = service.get(page.stepwise.db, page.account.id, email)
    wanted = set(texts_of(form, "lists"))
    current = set(sub.lists)
    edit = Edit(lists_add=sorted(wanted - current), lists_remove=sorted(current - wanted))
    try:
        service.edit_one(page.stepwise.db, page.account.id, sub.email, edit, source="ui", now=page.now(), create=False)
    except AppError as exc:
        page.flash("; ".join(from_error(exc, ()).general), "error")
    else:
        page.flash("Lists saved.")
    return page.redirect(f"/subscribers/{sub.email}")


@router.post("/subscribers/{email}/start")
def start(page: PageDep, form: FormDep, email: str) -> Response:
    """Start the subscriber in a sequence bypassing its step-1 event (S9)."""
    sub = service.get(page.stepwise.db, page.account.id, email)
    key = text_of(form, "sequence")
    try:
        run_service.control(
            page.stepwise.db, page.stepwise.catalog, page.account.id, key, sub.email, "start", page.now()
        )
    except AppError as exc:
        page.flash("; ".join(from_error(exc, ()).general), "error")
    else:
        page.flash(f"Started in {key}.")
    return page.redirect(f"/subscribers/{sub.email}")


@router.post("/subscribers/{email}/event")
def post_event(page: PageDep, form: FormDep, email: str) -> Response:
    """Post a custom event for the subscriber, as an outside system would through the API."""
    sub = service.get(page.stepwise.db, page.account.id, email)
    name, raw = text_of(form, "name").strip(), text_of(form, "data").strip()
    try:
        data = parse_json(raw) if raw else None
        if data is not None and not isinstance(data, dict):
            raise BadText("the event data must be a JSON object")
        event = PostedEvent(type="custom", name=name, email=sub.email, data=data)
        event_service.ingest(page.stepwise.db, page.account.id, [event], page.now(), source="ui")
    except BadText as exc:
        page.flash(f"The event was not posted: {exc}", "error")
    except ValidationError as exc:
        problems = from_validation_error(exc)
        page.flash("The event was not posted: " + "; ".join(p.message for p in problems), "error")
    except AppError as exc:
        page.flash("The event was not posted: " + "; ".join(from_error(exc, ()).general), "error")
    else:
        page.flash(f"Event {name} posted.")
    return page.redirect(f"/subscribers/{sub.email}")


@router.post("/subscribers/{email}/delete")
def delete(page: PageDep, form: FormDep, email: str) -> Response:
    """Delete a subscriber; their runs end with reason `deleted`."""
    sub = service.get(page.stepwise.db, page.account.id, email)
    service.delete(page.stepwise.db, page.stepwise.catalog, page.account.id, sub.email, page.now())
    page.flash(f"{sub.email} deleted.")
    return page.redirect("/subscribers")
