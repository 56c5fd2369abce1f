"""The suppression list (SPEC §19): search, add, remove, import a CSV file and export one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import UploadFile

from stepwise.errors import AppError, NotFound
from stepwise.services import suppressions as service
from stepwise.services.cursors import BadCursor
from stepwise.services.suppressions import Suppression, SuppressionReason
from stepwise.web.pages import FormDep, Page, PageDep, PageRoute, safe_next, secure, text_of
from stepwise.web.problems import FormErrors

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PAGE_SIZE = 100
FIELDS = ("address", "reason", "note")
EMPTY = {"address": "", "reason": "manual", "note": ""}
MAX_QUERY = 320  # longer search text or cursors than an address can be match nothing


def placed(exc: AppError, names: Iterable[str]) -> FormErrors:
    """Place an error's details at the inputs their paths name (`$.name` or `name`); the rest is general."""
    known = set(names)
    errors = FormErrors()
    details: Any = exc.details
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, dict):
            continue
        path, message = str(detail.get("path", "")), str(detail.get("message", ""))
        name = path.removeprefix("$.")
        if name in known:
            errors.add(name, message)
        else:
            errors.general.append(f"{path}: {message}" if path and path != "$" else message)
    if not errors:
        errors.general.append(exc.message)
    return errors


def problem_lines(exc: AppError) -> list[str]:
    """Every problem of a 422 as `where: what` lines (a CSV file's bad rows)."""
    details: Any = exc.details
    lines = [
        f"{d.get('path')}: {d.get('message')}" if d.get("path") else str(d.get("message"))
        for d in (details if isinstance(details, list) else [])
        if isinstance(d, dict)
    ]
    return lines


def _reason(raw: str) -> SuppressionReason | None:
    return next((reason for reason in service.REASONS if reason == raw), None)


@router.get("/suppressions")
def suppression_list(page: PageDep, q: str | None = None, cursor: str | None = None) -> Response:
    """Show a page of the suppression list (searched by the start of the address), with the forms."""
    return _index(page, q=q, cursor=cursor)


def _index(
    page: Page,
    *,
    q: str | None = None,
    cursor: str | None = None,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
    import_error: str = "",
    import_problems: list[str] | None = None,
    status: int = 200,
) -> Response:
    search = (q or "").strip()[:MAX_QUERY]
    try:
        found = service.page(page.stepwise.db, page.account.id, cursor=cursor, limit=PAGE_SIZE, search=search)
    except BadCursor:  # a cursor this page did not make: start from the first entry
        found = service.page(page.stepwise.db, page.account.id, cursor=None, limit=PAGE_SIZE, search=search)
    return page.render(
        "deliverability/suppressions.html",
        status=status,
        nav="suppressions",
        found=found,
        q=search,
        errors=errors or FormErrors(),
        values=values or EMPTY,
        reasons=service.REASONS,
        import_error=import_error,
        import_problems=import_problems or [],
        max_bytes=page.stepwise.settings.max_body_bytes,
    )


@router.post("/suppressions")
def add(page: PageDep, form: FormDep) -> Response:
    """Add an address or a whole @domain to the list (or change the reason of an entry)."""
    values = {name: text_of(form, name).strip() for name in FIELDS}
    errors = FormErrors()
    reason = _reason(values["reason"] or "manual")
    if not values["address"]:
        errors.add("address", "give an address (name@example.com) or a domain (@example.com)")
    if reason is None:
        errors.add("reason", f"choose one of {', '.join(service.REASONS)}")
    if not errors and reason is not None:
        try:
            entry, created = service.put(
                page.stepwise.db, page.account.id, values["address"], reason, values["note"] or None, page.now()
            )
        except AppError as exc:
            errors = placed(exc, FIELDS)
        else:
            page.flash(f"{entry.address} {'added to' if created else 'updated on'} the suppression list.")
            return page.redirect("/suppressions")
    return _index(page, errors=errors, values=values, status=422)


@router.post("/suppressions/remove")
def remove(page: PageDep, form: FormDep) -> Response:
    """Take an entry off the list (its address gets email again), then go back where the button was."""
    address = text_of(form, "address").strip()
    try:
        service.remove(page.stepwise.db, page.account.id, address)
    except AppError as exc:
        page.flash(exc.message, "error")
    else:
        page.flash(f"{address} removed from the suppression list.")
    return page.redirect(safe_next(text_of(form, "next"), "/suppressions"))


@router.get("/suppressions/export.csv")
def export(page: PageDep) -> Response:
    """Download the whole list as CSV (address, reason, note, created_at), written as it is read."""
    name = f"suppressions-{page.now():%Y-%m-%d}.csv"
    response = StreamingResponse(
        service.export_csv(page.stepwise.db, page.account.id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
    return secure(response)


@router.post("/suppressions/import")
def import_file(page: PageDep, form: FormDep) -> Response:
    """Add the rows of an uploaded CSV file; any bad row: every problem is shown and nothing changes."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _index(page, import_error="Choose a CSV file to import.", status=422)
    data = upload.file.read()
    try:
        done = service.import_csv(page.stepwise.db, page.account.id, data, page.now())
    except AppError as exc:
        return _index(page, import_error=exc.message, import_problems=problem_lines(exc), status=exc.status)
    page.flash(f"Imported {upload.filename}: {done.added} added, {done.updated} updated.")
    return page.redirect("/suppressions")


def entry_of(page: Page, email: str) -> Suppression | None:
    """The entry that suppresses an address: the address itself, else its @domain; None when neither is listed."""
    for raw in (email, "@" + email.rpartition("@")[2]):
        try:
            return service.get(page.stepwise.db, page.account.id, raw)
        except NotFound:
            continue
        except AppError:
            return None
    return None
