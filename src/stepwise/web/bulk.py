"""Bulk edit in the browser: set and unset profile fields for everyone matching a predicate or a list of addresses.

The page posts what `POST /subscribers/bulk-update` takes (SPEC §5) and shows how many subscribers
matched and how many really changed (only those get a `data_changed` event).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from stepwise.domain.problems import from_validation_error
from stepwise.errors import AppError, Unprocessable
from stepwise.services import bulk as bulk_service
from stepwise.services.bulk import BulkUpdate
from stepwise.web.pages import FormDep, Page, PageDep, PageRoute, text_of
from stepwise.web.problems import FormErrors, from_error
from stepwise.web.values import BadText, parse_assignments, parse_json, parse_paths

router = APIRouter(route_class=PageRoute, include_in_schema=False)
TARGETS = ("where", "emails")
FIELDS = ("where", "emails", "set", "unset")
EMPTY = {"target": "where", "where": "", "emails": "", "set": "", "unset": ""}


@router.get("/subscribers/bulk-update")
def bulk_form(page: PageDep) -> Response:
    """The bulk-edit form."""
    return _page(page, dict(EMPTY), FormErrors())


@router.post("/subscribers/bulk-update")
def bulk_update(page: PageDep, form: FormDep) -> Response:
    """Apply a bulk edit; show the counts, or the problems at their inputs."""
    values = {name: text_of(form, name) for name in FIELDS}
    values["target"] = text_of(form, "target") if text_of(form, "target") in TARGETS else "where"
    errors = FormErrors()
    body: dict[str, Any] = {}
    try:
        if values["target"] == "where":
            body["where"] = parse_json(values["where"]) if values["where"].strip() else None
            if body["where"] is None:
                errors.add("where", "write the predicate that chooses the subscribers")
        else:
            body["emails"] = [e for e in re.split(r"[\s,;]+", values["emails"]) if e]
            if not body["emails"]:
                errors.add("emails", "give at least one address")
    except BadText as exc:
        errors.add("where", str(exc))
    try:
        if values["set"].strip():
            body["set"] = parse_assignments(values["set"])
    except BadText as exc:
        errors.add("set", str(exc))
    if values["unset"].strip():
        body["unset"] = parse_paths(values["unset"])
    if not errors and not (body.get("set") or body.get("unset")):
        errors.add("set", "give at least one field to set or to remove")
    if errors:
        return _page(page, values, errors, status=422)
    try:
        outcome = bulk_service.bulk_update(page.stepwise.db, page.account.id, BulkUpdate(**body), page.now())
    except ValidationError as exc:
        return _page(page, values, from_error(Unprocessable.of(from_validation_error(exc)), FIELDS), status=422)
    except AppError as exc:
        return _page(page, values, from_error(exc, FIELDS), status=422)
    page.flash(
        f"{outcome.matched} subscriber{'s' * (outcome.matched != 1)} matched; "
        f"{outcome.changed} changed (each of those got a data changed event)."
    )
    return page.redirect("/subscribers/bulk-update")


def _page(page: Page, values: dict[str, str], errors: FormErrors, status: int = 200) -> Response:
    return page.render("subscribers/bulk.html", status=status, nav="subscribers", values=values, errors=errors)
