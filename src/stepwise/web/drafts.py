"""Drafts: the editor and a rendered preview for a chosen subscriber, in a sandboxed frame."""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from stepwise.domain.keys import is_key
from stepwise.domain.problems import from_validation_error
from stepwise.errors import AppError, NotFound, Unprocessable
from stepwise.services import drafts as service
from stepwise.services import subscribers as subscriber_service
from stepwise.services.drafts import Draft, DraftBody, Preview
from stepwise.services.test_sends import MAX_RECIPIENTS, TestSendBody, send_test
from stepwise.web.pages import FormDep, Page, PageDep, PageRoute, is_htmx, text_of
from stepwise.web.problems import FormErrors, from_error

router = APIRouter(route_class=PageRoute, include_in_schema=False)
FIELDS = ("key", "subject", "from_email", "from_name", "reply_to", "html", "text")
EMPTY: dict[str, Any] = dict.fromkeys(FIELDS, "")
_SEPARATORS = re.compile(r"[,;\s]+")
_TO_INDEX = re.compile(r"\$\.to\[(\d{1,3})\]")


@router.get("/drafts")
def draft_list(page: PageDep) -> Response:
    """List the account's drafts."""
    return page.render("drafts/list.html", nav="drafts", rows=service.all_drafts(page.stepwise.db, page.account.id))


@router.get("/drafts/new")
def new(page: PageDep) -> Response:
    """Show an empty draft editor."""
    return _editor(page, None, {**EMPTY, "html": "<p>Hello {{ data.base.firstName }},</p>\n"}, FormErrors())


@router.post("/drafts/new")
def create(page: PageDep, form: FormDep) -> Response:
    """Create a draft."""
    values = _values(form)
    errors = FormErrors()
    key = values["key"]
    if not is_key(key):
        errors.add("key", "use lowercase letters, digits, '_' and '-', e.g. welcome")
    else:
        try:
            service.get(page.stepwise.db, page.account.id, key)
        except NotFound:
            pass
        else:
            errors.add("key", f"a draft {key!r} already exists")
    return _save(page, None, values, errors)


@router.get("/drafts/{key}")
async def edit(page: PageDep, key: str, preview: str | None = None) -> Response:
    """Show a draft in the editor, with a preview for ?preview=<email> (rendered in a preview thread)."""
    work = partial(_edit, page, key, preview)
    return await (service.off_the_loop(work) if preview else run_in_threadpool(work))


def _edit(page: Page, key: str, preview: str | None) -> Response:
    draft = service.get(page.stepwise.db, page.account.id, key)
    values = {name: getattr(draft, name) or "" for name in FIELDS}
    return _editor(page, draft, values, FormErrors(), preview_email=preview)


@router.post("/drafts/{key}")
def update(page: PageDep, form: FormDep, key: str) -> Response:
    """Save a draft."""
    draft = service.get(page.stepwise.db, page.account.id, key)
    values = {**_values(form), "key": key}
    return _save(page, draft, values, FormErrors())


@router.post("/drafts/{key}/delete")
def delete(page: PageDep, form: FormDep, key: str) -> Response:
    """Delete a draft (refused while a sequence or form uses it)."""
    service.get(page.stepwise.db, page.account.id, key)  # 404 for another account's draft
    return page.delete("Draft", key, service.delete, "drafts")


@router.post("/drafts/{key}/test")
def test_send(page: PageDep, form: FormDep, key: str) -> Response:
    """Send the saved draft now to up to five addresses ("[TEST]" before the subject), optionally with a
    subscriber's data; show what became of each (with htmx in place, else on the editor)."""
    draft = service.get(page.stepwise.db, page.account.id, key)
    test = _send_test(page, key, text_of(form, "to").strip(), text_of(form, "as").strip())
    if is_htmx(page.request):
        return page.render("drafts/_test_send.html", status=test["status"], draft=draft, test=test)
    values = {name: getattr(draft, name) or "" for name in FIELDS}
    return _editor(page, draft, values, FormErrors(), status=test["status"], test=test)


def _send_test(page: Page, key: str, to: str, as_: str) -> dict[str, Any]:
    """The test form's values and outcome: `items` (a result per address) or `error`, and the HTTP status."""
    test: dict[str, Any] = {"to": to, "as": as_, "items": [], "error": "", "status": 200}
    addresses = [a for a in _SEPARATORS.split(to) if a]
    if not addresses or len(addresses) > MAX_RECIPIENTS:
        return {**test, "error": f"give 1 to {MAX_RECIPIENTS} addresses, separated by commas", "status": 422}
    try:
        try:
            body = TestSendBody.model_validate({"to": addresses, "as": as_ or None})
        except ValidationError as exc:
            raise Unprocessable.of(from_validation_error(exc, {"to": addresses, "as": as_})) from exc
        out = send_test(page.stepwise, page.account.id, key, body, page.now())
    except AppError as exc:
        return {**test, "error": _test_problems(exc, addresses), "status": exc.status}
    return {**test, "items": out.items}


def _test_problems(exc: AppError, addresses: list[str]) -> str:
    """An error of a test send in words, naming the address a problem is about (`$.to[1]` → the second)."""
    lines = []
    for detail in exc.details if isinstance(exc.details, list) else []:
        if not isinstance(detail, dict) or not detail.get("message"):
            continue
        found = _TO_INDEX.fullmatch(str(detail.get("path", "")))
        index = int(found.group(1)) if found else -1
        lines.append(f"{addresses[index]}: {detail['message']}" if 0 <= index < len(addresses) else detail["message"])
    return "; ".join(str(line) for line in lines) or exc.message


def _values(form: FormData) -> dict[str, Any]:
    return {
        name: text_of(form, name).strip() if name not in ("html", "text") else text_of(form, name) for name in FIELDS
    }


def _save(page: Page, draft: Draft | None, values: dict[str, Any], errors: FormErrors) -> Response:
    body_values = {name: values[name] or None for name in ("text", "from_email", "from_name", "reply_to")}
    try:
        body = DraftBody(subject=values["subject"], html=values["html"], **body_values)
    except ValidationError as exc:
        placed = from_error(Unprocessable.of(from_validation_error(exc, values)), FIELDS)
        return _editor(page, draft, values, _merge(errors, placed), status=422)
    errors = _merge(errors, _checked(body))
    if not errors:
        try:
            saved, _ = service.put(page.stepwise.db, page.account.id, values["key"], body, page.now())
        except AppError as exc:
            errors = from_error(exc, FIELDS)
        else:
            page.flash(f"Draft {saved.key} saved.")
            return page.redirect(f"/drafts/{saved.key}")
    return _editor(page, draft, values, errors, status=422)


def _checked(body: DraftBody) -> FormErrors:
    found = service.problems(body)
    return from_error(Unprocessable.of(found), FIELDS) if found else FormErrors()


def _merge(a: FormErrors, b: FormErrors) -> FormErrors:
    for name, messages in b.fields.items():
        for message in messages:
            a.add(name, message)
    a.general += b.general
    return a


def _editor(
    page: Page,
    draft: Draft | None,
    values: dict[str, Any],
    errors: FormErrors,
    *,
    preview_email: str | None = None,
    status: int = 200,
    test: dict[str, Any] | None = None,
) -> Response:
    db, account_id = page.stepwise.db, page.account.id
    people, _ = subscriber_service.page(db, account_id, status=None, list_key=None, cursor=None, limit=50)
    preview: Preview | None = None
    preview_error = ""
    stranger = False
    if draft is not None and preview_email:
        try:
            preview = service.preview(
                db, account_id, draft.key, preview_email, page.stepwise.settings.base_url, page.now()
            )
            stranger = not _is_subscriber(page, preview_email)
        except AppError as exc:
            placed = from_error(exc, ())
            preview_error = "; ".join(placed.general) or exc.message
    template = "drafts/preview.html" if is_htmx(page.request) and preview_email is not None else "drafts/edit.html"
    return page.render(
        template,
        status=status,
        nav="drafts",
        draft=draft,
        values=values,
        errors=errors,
        people=[p.email for p in people],
        preview=preview,
        preview_email=preview_email or (people[0].email if people else ""),
        preview_error=preview_error,
        preview_stranger=stranger,
        test=test or {"to": "", "as": "", "items": [], "error": ""},
    )


def _is_subscriber(page: Page, email: str) -> bool:
    try:
        subscriber_service.get(page.stepwise.db, page.account.id, email)
    except NotFound:
        return False
    return True
