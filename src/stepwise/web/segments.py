"""Segments (SPEC §15): the list with live counts; create, edit (the shared predicate editor, with a live
count of the unsaved rule) and delete; one segment's rule and members, its CSV export.

Writes are refused to viewers by the role check of every page (domain/access.py).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import FormData

from stepwise.domain.keys import is_key
from stepwise.errors import AppError, NotFound
from stepwise.services import segment_preview
from stepwise.services import segments as service
from stepwise.web import predicate_editor as pe
from stepwise.web.describe import predicate
from stepwise.web.pages import FormDep, Page, PageDep, PageRoute, secure, text_of
from stepwise.web.predicate_editor import OP_CHOICES
from stepwise.web.problems import FormErrors, from_error
from stepwise.web.values import BadText

router = APIRouter(route_class=PageRoute, include_in_schema=False)
FIELDS = ("key", "name", "where")
RULE = {
    "label": "Rule",
    "help": "Profile paths (base.city, custom.plan) and subscriber.status, .lists, .created_at, "
    '.last_sent_at, .last_opened_at, .last_clicked_at; instants as ISO dates or {"now": "-30d"} in JSON.',
}


@router.get("/segments")
def index(page: PageDep) -> Response:
    """Show the account's segments with their stored counts."""
    rows = service.all_segments(page.stepwise.db, page.account.id)
    return page.render("segments/index.html", nav="segments", rows=rows)


@router.get("/segments/new")
def new_form(page: PageDep) -> Response:
    """The editor for a new segment."""
    return _editor(page, None, {"key": "", "name": ""}, pe.from_json(None), FormErrors(), focus="f-key")


@router.post("/segments/new")
def create(page: PageDep, form: FormDep) -> Response:
    """Apply an edit of the rule, or create the segment (the key must be new)."""
    return _post(page, form, None)


@router.post("/segments/_count")
def live_count(page: PageDep, form: FormDep) -> Response:
    """How many subscribers the rule being edited matches, unsaved (a fragment; bounded in time)."""
    state = pe.from_form(lambda n: text_of(form, n), lambda n: n in form, "where")
    try:
        where = pe.to_json(state)
        found = (
            None
            if where is None
            else segment_preview.preview_count(page.stepwise.db, page.account.id, where, page.now())
        )
        problem = "" if where is not None else "write a rule to see how many match"
    except BadText as exc:
        found, problem = None, str(exc)
    except AppError as exc:
        found, problem = None, "; ".join(from_error(exc, ()).general) or exc.message
    return page.render("segments/_count.html", found=found, problem=problem)


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


@router.get("/segments/{key}/edit")
def edit_form(page: PageDep, key: str) -> Response:
    """The editor of a segment, its rule as rows when it is a flat all/any of comparisons."""
    row = service.get(page.stepwise.db, page.account.id, key)
    return _editor(page, key, {"key": key, "name": row.name}, pe.from_json(row.where), FormErrors())


@router.post("/segments/{key}/edit")
def edit(page: PageDep, form: FormDep, key: str) -> Response:
    """Apply an edit of the rule, or save the segment (membership is recomputed when the rule changed)."""
    service.get(page.stepwise.db, page.account.id, key)  # 404 for another account's segment
    return _post(page, form, key)


@router.post("/segments/{key}/delete")
def delete(page: PageDep, form: FormDep, key: str) -> Response:
    """Delete a segment (refused while a sequence uses it: the reason is shown on its page)."""
    service.get(page.stepwise.db, page.account.id, key)
    return page.delete("Segment", key, service.delete, "segments")


@router.get("/segments/{key}/export.csv")
def export(page: PageDep, key: str) -> Response:
    """Download the members as CSV (email, status, joined_at), written as it is read."""
    body = service.export_csv(page.stepwise.db, page.account.id, key)
    headers = {"Content-Disposition": f'attachment; filename="segment-{key}.csv"'}
    return secure(StreamingResponse(body, media_type="text/csv; charset=utf-8", headers=headers))


def _post(page: Page, form: FormData, existing: str | None) -> Response:
    values = {"key": existing or text_of(form, "key").strip(), "name": text_of(form, "name").strip()}
    state = pe.from_form(lambda n: text_of(form, n), lambda n: n in form, "where")
    errors = FormErrors()
    op = text_of(form, "op") or "save"
    if op != "save":
        focus, notice = _apply(state, op)
        if notice:
            errors.add("where", notice)
        return _editor(page, existing, values, state, errors, focus=focus)
    return _save(page, existing, values, state)


def _apply(state: pe.PredicateState, op: str) -> tuple[str, str | None]:
    """Add or delete a row of the rule, or switch it between rows and JSON; the id to focus and a notice."""
    action, _, arg = op.partition(":")
    if action == "add_row" and state.mode == "rows":
        state.rows.append(pe.Row())
        return f"f-where-r{len(state.rows) - 1}-field", None
    if action == "del_row" and state.mode == "rows":
        index = arg.rpartition(".r")[2]
        if index.isdigit() and int(index) < len(state.rows):
            del state.rows[int(index)]
        state.rows = state.rows or [pe.Row()]
        return "f-where-add", None
    if action == "to_json":
        pe.to_json_mode(state)
        return "f-where-mode", None
    if action == "to_rows":
        return "f-where-mode", pe.to_rows_mode(state)
    return "", "that change could not be applied; the form was out of date"


def _save(page: Page, existing: str | None, values: dict[str, str], state: pe.PredicateState) -> Response:
    db, account_id, key = page.stepwise.db, page.account.id, values["key"]
    errors = FormErrors()
    if existing is None and not is_key(key):
        errors.add("key", "use lowercase letters, digits, '_' and '-', e.g. engaged")
    elif existing is None and _exists(page, key):
        errors.add("key", f"a segment {key!r} already exists")
    if not values["name"]:
        errors.add("name", "give the segment a name")
    try:
        where = pe.to_json(state)
    except BadText as exc:
        errors.add("where", str(exc))
    else:
        if where is None:
            errors.add("where", "write the rule: at least one condition")
    if not errors:
        try:
            service.put(db, account_id, key, values["name"], where, page.now())
        except AppError as exc:
            errors = from_error(exc, FIELDS)
        else:
            page.flash(f"Segment {values['name']} {'created' if existing is None else 'saved'}.")
            return page.redirect(f"/segments/{key}")
    return _editor(page, existing, values, state, errors, status=422)


def _exists(page: Page, key: str) -> bool:
    try:
        service.get(page.stepwise.db, page.account.id, key)
    except NotFound:
        return False
    return True


def _editor(
    page: Page,
    existing: str | None,
    values: dict[str, str],
    state: pe.PredicateState,
    errors: FormErrors,
    *,
    focus: str = "",
    status: int = 200,
) -> Response:
    return page.render(
        "segments/edit.html",
        status=status,
        nav="segments",
        existing=existing,
        values=values,
        state=state,
        rule_field=RULE,
        placed=errors,
        errors=errors,
        focus=focus,
        op_choices=OP_CHOICES,
        action=f"/segments/{existing}/edit" if existing else "/segments/new",
    )
