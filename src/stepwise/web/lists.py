"""Lists: create, rename, delete, and their members."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from stepwise.domain.keys import is_key
from stepwise.errors import AppError, NotFound
from stepwise.services import lists as service
from stepwise.web.pages import FormDep, PageDep, PageRoute, text_of
from stepwise.web.problems import FormErrors, from_error

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/lists")
def list_index(page: PageDep) -> Response:
    """Show the account's lists with their sizes."""
    return _index(page, FormErrors(), {"key": "", "name": ""})


def _index(page: PageDep, errors: FormErrors, values: dict[str, str], status: int = 200) -> Response:
    db, account_id = page.stepwise.db, page.account.id
    rows = [service.get(db, account_id, row.key) for row in service.all_lists(db, account_id)]
    return page.render("lists/index.html", status=status, nav="lists", rows=rows, errors=errors, values=values)


@router.post("/lists")
def create(page: PageDep, form: FormDep) -> Response:
    """Create a list."""
    key, name = text_of(form, "key").strip(), text_of(form, "name").strip()
    errors = FormErrors()
    if not is_key(key):
        errors.add("key", "use lowercase letters, digits, '_' and '-', e.g. newsletter")
    if not name:
        errors.add("name", "give the list a name")
    if not errors:
        try:
            service.get(page.stepwise.db, page.account.id, key)
        except NotFound:
            service.put(page.stepwise.db, page.account.id, key, name, page.now())
            page.flash(f"List {name} created.")
            return page.redirect(f"/lists/{key}")
        errors.add("key", f"a list {key!r} already exists")
    return _index(page, errors, {"key": key, "name": name}, status=422)


@router.get("/lists/{key}")
def show(page: PageDep, key: str, cursor: str | None = None) -> Response:
    """Show one list and a page of its members."""
    db, account_id = page.stepwise.db, page.account.id
    row = service.get(db, account_id, key)
    members, next_cursor = service.members(db, account_id, key, cursor=cursor, limit=100)
    return page.render(
        "lists/show.html", nav="lists", row=row, members=members, next_cursor=next_cursor, errors=FormErrors()
    )


@router.post("/lists/{key}")
def rename(page: PageDep, form: FormDep, key: str) -> Response:
    """Rename a list."""
    service.get(page.stepwise.db, page.account.id, key)
    name = text_of(form, "name").strip()
    if not name:
        page.flash("A list needs a name.", "error")
    else:
        service.put(page.stepwise.db, page.account.id, key, name, page.now())
        page.flash("List renamed.")
    return page.redirect(f"/lists/{key}")


@router.post("/lists/{key}/delete")
def delete(page: PageDep, form: FormDep, key: str) -> Response:
    """Delete a list (refused while a sequence or form uses it)."""
    service.get(page.stepwise.db, page.account.id, key)  # 404 for another account's list
    return page.delete("List", key, service.delete, "lists")


@router.post("/lists/{key}/members")
def add_member(page: PageDep, form: FormDep, key: str) -> Response:
    """Add a subscriber to the list."""
    return _membership(page, key, text_of(form, "email").strip(), True)


@router.post("/lists/{key}/members/{email}/remove")
def remove_member(page: PageDep, form: FormDep, key: str, email: str) -> Response:
    """Remove a subscriber from the list."""
    return _membership(page, key, email, False)


def _membership(page: PageDep, key: str, email: str, member: bool) -> Response:
    service.get(page.stepwise.db, page.account.id, key)
    try:
        service.set_member(page.stepwise.db, page.account.id, key, email, member, source="ui", now=page.now())
    except AppError as exc:
        errors = from_error(exc, ())
        page.flash("; ".join(errors.general) or exc.message, "error")
    else:
        page.flash(f"{email} {'added to' if member else 'removed from'} the list.")
    return page.redirect(f"/lists/{key}")
