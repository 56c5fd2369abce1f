"""Publishing a sequence's draft in the UI (SPEC S17, S18): the impact preview, pin or migrate, the step map.

The page always shows the dry run of what the form says; "Preview" posts the form back to recompute it,
"Publish" performs it. Conflicts (`no_draft`, `runs_on_removed_steps`) and step-map problems are shown at
their inputs. "Discard" throws the draft away.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import ImmutableMultiDict

from stepwise.errors import AppError, NotFound, Unprocessable
from stepwise.services import publishing
from stepwise.services import sequences as sequence_service
from stepwise.services.impact import Impact
from stepwise.services.publishing import DraftOut, PublishIn
from stepwise.web.pages import FormDep, Page, PageDep, PageRoute, text_of
from stepwise.web.versions import may_write

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _choices(form: ImmutableMultiDict[str, Any]) -> dict[str, Any]:
    """The form's mode, note and step map ({"<old step>": "<new step>" | "stop"}; "" keeps the number)."""

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    step_map = {name[4:]: text(name) for name in form if name.startswith("map-") and text(name)}
    mode = text("mode")
    return {"mode": mode if mode in ("pin", "migrate") else "migrate", "note": text("note"), "map": step_map}


def _body(choices: dict[str, Any], *, dry_run: bool) -> PublishIn:
    migrate = choices["mode"] == "migrate"
    step_map = {k: (int(v) if v.isdigit() else v) for k, v in choices["map"].items()} if migrate else {}
    raw = {"mode": choices["mode"], "step_map": step_map or None, "note": choices["note"] or None, "dry_run": dry_run}
    try:
        return PublishIn.model_validate(raw)
    except ValidationError as exc:
        raise Unprocessable(str(exc.errors()[0]["msg"])) from exc


def draft_of(page: Page, key: str) -> DraftOut | None:
    """The sequence's draft, or None."""
    try:
        return publishing.get_draft(page.stepwise.db, page.account.id, key)
    except NotFound:
        return None


def _render(page: Page, key: str, choices: dict[str, Any], errors: dict[str, str], status: int = 200) -> Response:
    seq = sequence_service.get(page.stepwise.db, page.account.id, key)
    draft = draft_of(page, key)
    preview: Impact | None = None
    if draft is not None:
        try:
            found = publishing.publish(page.stepwise.db, page.account.id, key, _body(choices, dry_run=True), page.now())
            preview = found if isinstance(found, Impact) else None
        except AppError as exc:  # a step map or note the API would refuse: shown at the step map
            errors.setdefault("map", exc.message)
            status = exc.status if status == 200 else status
    else:
        errors.setdefault("draft", f"sequence {key!r} has no draft to publish: edit it or restore a version first")
    new_steps = len(draft.definition.get("steps", [])) if draft else 0
    return page.render(
        "sequences/publish.html",
        status=status,
        nav="sequences",
        seq=seq,
        draft=draft,
        preview=preview,
        choices=choices,
        errors=errors,
        targets=list(range(2, new_steps + 1)),
        may_write=may_write(page, key),
    )


@router.get("/sequences/{key}/publish")
def publish_page(page: PageDep, key: str) -> Response:
    """The draft's impact preview for the choices in the query (mode migrate, no step map, by default).

    Viewers recompute the preview here (a GET form); they may not post.
    """
    return _render(page, key, _choices(page.request.query_params), {})


@router.post("/sequences/{key}/publish")
def publish_post(page: PageDep, form: FormDep, key: str) -> Response:
    """Recompute the preview ("Preview") or publish the draft as the form says ("Publish")."""
    choices = _choices(form)
    if text_of(form, "action") != "publish":
        return _render(page, key, choices, {})
    try:
        done = publishing.publish(page.stepwise.db, page.account.id, key, _body(choices, dry_run=False), page.now())
    except AppError as exc:
        where = {"no_draft": "draft", "runs_on_removed_steps": "map"}.get(exc.code, "map")
        return _render(page, key, choices, {where: exc.message}, status=exc.status)
    version = getattr(done, "version", 0)
    created = getattr(done, "created", False)
    page.flash(f"Version {version} published ({choices['mode']})." if created else "The draft equals the live version.")
    return page.redirect(f"/sequences/{key}/versions")


@router.post("/sequences/{key}/draft/discard")
def discard(page: PageDep, form: FormDep, key: str) -> Response:
    """Throw the draft away; the live version is untouched."""
    try:
        publishing.delete_draft(page.stepwise.db, page.account.id, key)
    except NotFound as exc:
        page.flash(exc.message, "error")
    else:
        page.flash("Draft discarded.")
    return page.redirect(f"/sequences/{key}")


@router.get("/sequences/{key}/draft")
def draft_editor(page: PageDep, key: str) -> Response:
    """The draft as JSON, ready to edit (the live definition when there is no draft yet)."""
    seq = sequence_service.get(page.stepwise.db, page.account.id, key)
    draft = draft_of(page, key)
    text = json.dumps(draft.definition if draft else seq.definition, indent=2, ensure_ascii=False)
    return page.render("sequences/draft.html", nav="sequences", seq=seq, draft=draft, text=text, problems=[])


@router.post("/sequences/{key}/draft")
def draft_save(page: PageDep, form: FormDep, key: str) -> Response:
    """Save the typed definition as the draft (validated as a definition); nothing live changes."""
    seq = sequence_service.get(page.stepwise.db, page.account.id, key)
    text = text_of(form, "definition")
    try:
        document = json.loads(text)
        publishing.put_draft(page.stepwise.db, page.account.id, key, document, page.now())
    except (ValueError, RecursionError) as exc:
        problems: list[Any] = [{"path": "$", "message": f"not valid JSON: {exc}"}]
    except AppError as exc:
        problems = exc.details if isinstance(exc.details, list) else [{"path": "$", "message": exc.message}]
    else:
        page.flash("Draft saved. The live version is unchanged until you publish.")
        return page.redirect(f"/sequences/{key}")
    draft = draft_of(page, key)
    context = {"seq": seq, "draft": draft, "text": text, "problems": problems}
    return page.render("sequences/draft.html", status=422, nav="sequences", **context)
