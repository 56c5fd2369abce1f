"""Subscription forms: their definitions (the public pages at /f/… are served elsewhere)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.datastructures import FormData

from stepwise.domain.forms import FormField
from stepwise.domain.keys import is_key
from stepwise.domain.paths import DataPath
from stepwise.errors import AppError, NotFound
from stepwise.services import drafts as draft_service
from stepwise.services import forms as service
from stepwise.services import lists as list_service
from stepwise.services.forms import Form
from stepwise.web.pages import FormDep, Page, PageDep, PageRoute, text_of, texts_of
from stepwise.web.problems import FormErrors, from_error

router = APIRouter(route_class=PageRoute, include_in_schema=False)
FIELDS = ("key", "title", "description", "fields", "lists", "double_opt_in", "confirmation_draft", "success_url")
_LINE = re.compile(r"^\[(\d+)\]")
EMPTY: dict[str, Any] = {
    "key": "",
    "title": "",
    "description": "",
    "fields": "base.firstName | First name",
    "lists": [],
    "double_opt_in": True,
    "confirmation_draft": "",
    "success_url": "",
}


def show_fields(fields: list[DataPath | FormField]) -> str:
    """Show form fields as lines of `path | label | required`."""
    lines = []
    for item in fields:
        if isinstance(item, str):
            lines.append(item)
            continue
        parts = [item.path, item.label or ""]
        if item.required:
            parts.append("required")
        lines.append(" | ".join(parts).rstrip(" |"))
    return "\n".join(lines)


def parse_fields(text: str) -> list[Any]:
    """Read lines of `path | label | required` into form fields."""
    found: list[Any] = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if not parts[0]:
            continue
        label = parts[1] if len(parts) > 1 and parts[1] else None
        required = len(parts) > 2 and parts[2].lower() in ("required", "yes", "true", "*")
        found.append(
            {"path": parts[0], "label": label, "required": True}
            if required
            else ({"path": parts[0], "label": label} if label else parts[0])
        )
    return found


def _values(form: FormData) -> dict[str, Any]:
    return {
        "key": text_of(form, "key").strip(),
        "title": text_of(form, "title").strip(),
        "description": text_of(form, "description").strip(),
        "fields": text_of(form, "fields"),
        "lists": texts_of(form, "lists"),
        "double_opt_in": text_of(form, "double_opt_in") == "on",
        "confirmation_draft": text_of(form, "confirmation_draft"),
        "success_url": text_of(form, "success_url").strip(),
    }


def _body(values: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "fields": parse_fields(values["fields"]),
        "lists": values["lists"],
        "double_opt_in": values["double_opt_in"],
    }
    for name in ("title", "description", "confirmation_draft", "success_url"):
        if values[name]:
            body[name] = values[name]
    return body


@router.get("/forms")
def form_list(page: PageDep) -> Response:
    """List the account's forms with their public addresses."""
    rows = service.all_forms(page.stepwise.db, page.account.id)
    return page.render("forms/list.html", nav="forms", rows=rows, base_url=page.stepwise.settings.base_url)


@router.get("/forms/new")
def new(page: PageDep) -> Response:
    """Show an empty form editor."""
    return _editor(page, None, dict(EMPTY), FormErrors())


@router.post("/forms/new")
def create(page: PageDep, form: FormDep) -> Response:
    """Create a form."""
    values = _values(form)
    errors = FormErrors()
    if not is_key(values["key"]):
        errors.add("key", "use lowercase letters, digits, '_' and '-', e.g. newsletter")
    else:
        try:
            service.get(page.stepwise.db, page.account.id, values["key"])
        except NotFound:
            pass
        else:
            errors.add("key", f"a form {values['key']!r} already exists")
    return _save(page, None, values, errors)


@router.get("/forms/{key}")
def edit(page: PageDep, key: str) -> Response:
    """Show a form in the editor."""
    stored = service.get(page.stepwise.db, page.account.id, key)
    values = {
        "key": key,
        "title": stored.title or "",
        "description": stored.description or "",
        "fields": show_fields(stored.fields),
        "lists": list(stored.lists),
        "double_opt_in": stored.double_opt_in,
        "confirmation_draft": stored.confirmation_draft or "",
        "success_url": stored.success_url or "",
    }
    return _editor(page, stored, values, FormErrors())


@router.post("/forms/{key}")
def update(page: PageDep, form: FormDep, key: str) -> Response:
    """Save a form."""
    stored = service.get(page.stepwise.db, page.account.id, key)
    return _save(page, stored, {**_values(form), "key": key}, FormErrors())


@router.post("/forms/{key}/delete")
def delete(page: PageDep, form: FormDep, key: str) -> Response:
    """Delete a form (refused while a sequence listens for it)."""
    service.get(page.stepwise.db, page.account.id, key)  # 404 for another account's form
    return page.delete("Form", key, service.delete, "forms")


def _save(page: Page, stored: Form | None, values: dict[str, Any], errors: FormErrors) -> Response:
    try:
        spec = service.parse(_body(values))
    except AppError as exc:
        _add(errors, exc)
        return _editor(page, stored, values, errors, status=422)
    if not errors:
        try:
            saved, _ = service.put(page.stepwise.db, page.account.id, values["key"], spec, page.now())
        except AppError as exc:
            _add(errors, exc)
        else:
            page.flash(f"Form {saved.key} saved.")
            return page.redirect(f"/forms/{saved.key}")
    return _editor(page, stored, values, errors, status=422)


def _add(errors: FormErrors, exc: AppError) -> None:
    placed = from_error(exc, FIELDS)
    for name, messages in placed.fields.items():
        for message in messages:
            line = _LINE.match(message)
            if line and name in ("fields", "lists"):
                where = "line" if name == "fields" else "list"
                errors.add(name, f"{where} {int(line.group(1)) + 1}{message[line.end() :]}")
            else:
                errors.add(name, message)
    errors.general += placed.general


def _editor(
    page: Page, stored: Form | None, values: dict[str, Any], errors: FormErrors, *, status: int = 200
) -> Response:
    db, account_id = page.stepwise.db, page.account.id
    return page.render(
        "forms/edit.html",
        status=status,
        nav="forms",
        stored=stored,
        values=values,
        errors=errors,
        lists=list_service.all_lists(db, account_id),
        drafts=draft_service.all_drafts(db, account_id),
        public_url=f"{page.stepwise.settings.base_url}/f/{page.account.name}/{values['key']}" if stored else "",
    )
