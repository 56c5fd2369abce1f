"""Sequences: the list with live counts, the picture of one sequence, the builder, status and runs."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.datastructures import FormData

from stepwise.domain.keys import is_key
from stepwise.domain.problems import Problem
from stepwise.domain.statuses import SequenceStatus
from stepwise.errors import AppError, NotFound, Unprocessable
from stepwise.services import date_triggers, publishing, stats_reset
from stepwise.services import drafts as draft_service
from stepwise.services import forms as form_service
from stepwise.services import issues as issue_service
from stepwise.services import lists as list_service
from stepwise.services import runs as run_service
from stepwise.services import segments as segment_service
from stepwise.services import sequences as service
from stepwise.services.issues import StepIssueStats
from stepwise.services.journey_stats import variant_mail
from stepwise.services.sequences import Sequence, SequenceStats
from stepwise.web import builder, builder_edits, builder_errors
from stepwise.web.builder_fields import ACTION_KINDS, WEEKDAY_CHOICES, event_kinds_for
from stepwise.web.forecast import form_values as forecast_values
from stepwise.web.pages import FormDep, Page, PageDep, PageRoute, safe_next, text_of, texts_of
from stepwise.web.predicate_editor import OP_CHOICES
from stepwise.web.publish import draft_of
from stepwise.web.settings import WindowForm
from stepwise.web.versions import may_write

router = APIRouter(route_class=PageRoute, include_in_schema=False)
RUN_ACTIONS = ("stop", "pause", "resume")


def _counts(page: Page, key: str) -> SequenceStats:
    return service.stats(page.stepwise.db, page.account.id, key)


@router.get("/sequences")
def sequence_list(page: PageDep) -> Response:
    """List the account's sequences with status and live counts."""
    rows = []
    for seq in service.all_sequences(page.stepwise.db, page.account.id):
        rows.append({**seq.model_dump(), "stats": _counts(page, seq.key)})
    return page.render("sequences/list.html", nav="sequences", rows=rows)


@router.get("/sequences/new")
def builder_new(page: PageDep) -> Response:
    """Show the builder of a new sequence."""
    return new_form(page)


@router.post("/sequences/new")
def builder_new_post(page: PageDep, form: FormDep) -> Response:
    """Edit or save a new sequence."""
    return builder_post(page, form, None)


def opt_in_forms(page: Page, definition: dict[str, Any]) -> list[str]:
    """The double-opt-in forms whose unconfirmed subscribers a step 1 `subscriber_added` (no `confirmed`) admits."""
    steps = definition.get("steps") or []
    first = steps[0].get("variants") or [] if steps and isinstance(steps[0], dict) else []
    events = [e for v in first if isinstance(v, dict) for e in v.get("when") or [] if isinstance(e, dict)]
    if not any(e.get("event") == "subscriber_added" and "confirmed" not in e for e in events):
        return []
    forms = form_service.all_forms(page.stepwise.db, page.account.id)
    return [f.key for f in forms if f.double_opt_in]


def _step_mail(page: Page, key: str) -> dict[int, StepIssueStats]:
    stats = issue_service.stats(page.stepwise.db, page.account.id, sequence=key, draft=None)
    return {row.step: row for row in stats.steps if row.step is not None}


@router.get("/sequences/{key}")
def sequence_view(
    page: PageDep, key: str, status: str | None = None, step: str | None = None, cursor: str | None = None
) -> Response:
    """Show a sequence as a picture of its steps, with counts, email stats and runs."""
    db, account_id = page.stepwise.db, page.account.id
    seq = service.get(db, account_id, key)
    step_no = int(step) if step and step.isdigit() and int(step) > 0 else None
    run_status = status if status in ("active", "paused", "completed", "stopped") else None
    runs, next_cursor = run_service.of_sequence(
        db, account_id, key, status=run_status, step=step_no, cursor=cursor, limit=50
    )
    return page.render(
        "sequences/view.html",
        nav="sequences",
        seq=seq,
        stats=_counts(page, key),
        mail=_step_mail(page, key),
        variant_mail=variant_mail(db, account_id, key),
        runs=runs,
        next_cursor=next_cursor,
        run_status=run_status or "",
        run_step=str(step_no or ""),
        opt_in_forms=opt_in_forms(page, seq.definition),
        window_summary=_window_summary(seq.definition.get("send_window")),
        values=forecast_values(),  # the Forecast panel's fields (web/forecast.py)
        forecast=None,
        forecast_error="",
        draft=draft_of(page, key),  # the draft beside the live version (web/publish.py)
        may_write=may_write(page, key),
        dates_ahead=date_triggers.dates_ahead(db, account_id, key),  # S26: who step 1 will enter by a date
    )


def _window_summary(window: Any) -> str:
    """The sequence's own send window in words, or what holds without one."""
    if not isinstance(window, dict):
        return "the account's"
    return WindowForm.of(window).summary()


@router.post("/sequences/{key}/activate")
def activate(page: PageDep, form: FormDep, key: str) -> Response:
    """Activate a sequence (its drafts need a subject and a sender)."""
    return _set_status(page, form, key, "active")


@router.post("/sequences/{key}/pause")
def pause(page: PageDep, form: FormDep, key: str) -> Response:
    """Pause a sequence: it admits and moves no one."""
    return _set_status(page, form, key, "paused")


def _set_status(page: Page, form: FormData, key: str, status: SequenceStatus) -> Response:
    back = safe_next(text_of(form, "next"), f"/sequences/{key}")
    try:
        service.set_status(page.stepwise.db, page.account.id, key, status, page.now())
    except Unprocessable as exc:
        problems = "; ".join(str(d.get("message")) for d in exc.details or [])
        page.flash(f"{exc.message}: {problems}" if problems else exc.message, "error")
        return page.redirect(back)
    page.flash("Sequence activated." if status == "active" else "Sequence paused.")
    return page.redirect(back)


@router.post("/sequences/{key}/delete")
def delete(page: PageDep, form: FormDep, key: str) -> Response:
    """Delete a sequence with its runs and statistics."""
    service.get(page.stepwise.db, page.account.id, key)  # 404 for another account's sequence
    return page.delete("Sequence", key, service.delete, "sequences")


@router.post("/sequences/{key}/stats/reset")
def reset_stats(page: PageDep, form: FormDep, key: str) -> Response:
    """S19: history counters start from zero; current positions stay (editors and up, by the role check)."""
    stats_reset.reset(page.stepwise.db, page.account.id, key, page.now())
    page.flash("Statistics reset.")
    return page.redirect(f"/sequences/{key}")


@router.post("/sequences/{key}/start")
def start_run(page: PageDep, form: FormDep, key: str) -> Response:
    """Put a subscriber into the sequence bypassing its step-1 event (S9); `test=1` starts a test run (S19)."""
    service.get(page.stepwise.db, page.account.id, key)
    email, test = text_of(form, "email").strip(), text_of(form, "test") == "1"
    stepwise = page.stepwise
    try:
        run_service.control(stepwise.db, stepwise.catalog, page.account.id, key, email, "start", page.now(), test=test)
    except AppError as exc:
        page.flash(_problem_text(exc), "error")
    else:
        page.flash(f"{email} started in {key}{' as a test run' if test else ''}.")
    return page.redirect(f"/sequences/{key}")


@router.post("/sequences/{key}/runs/{email}/{action}")
def control_run(page: PageDep, form: FormDep, key: str, email: str, action: str) -> Response:
    """Stop, pause or resume one subscriber's run."""
    if action not in RUN_ACTIONS:
        raise NotFound(f"no run action {action!r}")
    service.get(page.stepwise.db, page.account.id, key)
    back = safe_next(text_of(form, "next"), f"/sequences/{key}")
    try:
        run_service.control(page.stepwise.db, page.stepwise.catalog, page.account.id, key, email, action, page.now())
    except AppError as exc:
        page.flash(_problem_text(exc), "error")
    else:
        page.flash({"stop": "Run stopped.", "pause": "Run paused.", "resume": "Run resumed."}[action])
    return page.redirect(back)


def _problem_text(exc: AppError) -> str:
    if isinstance(exc.details, list) and exc.details:
        return "; ".join(str(d.get("message")) for d in exc.details if isinstance(d, dict))
    return exc.message


# ---------------------------------------------------------------- the builder


def choices(page: Page) -> builder.Choices:
    """Return what the builder's pickers offer."""
    db, account_id = page.stepwise.db, page.account.id
    return builder.Choices(
        drafts=[(d.key, d.subject or d.key) for d in draft_service.all_drafts(db, account_id)],
        lists=[(row.key, row.name) for row in list_service.all_lists(db, account_id)],
        forms=[(f.key, f.title or f.key) for f in form_service.all_forms(db, account_id)],
        sequences=[(s.key, s.name) for s in service.all_sequences(db, account_id)],
        segments=[(s.key, s.name) for s in segment_service.all_segments(db, account_id)],
    )


def _render_builder(
    page: Page,
    state: builder.BuilderState,
    options: builder.Choices,
    *,
    existing: Sequence | None,
    placed: builder_errors.Placed | None = None,
    focus: str = "",
    notice: str | None = None,
    status: int = 200,
) -> Response:
    action = f"/sequences/{existing.key}/edit" if existing else "/sequences/new"
    return page.render(
        "sequences/builder.html",
        status=status,
        nav="sequences",
        state=state,
        existing=existing,
        action=action,
        choices=options,
        placed=placed or builder_errors.Placed(),
        focus=focus,
        notice=notice,
        fields_of=builder.fields_of,
        event_kinds_for=event_kinds_for,
        action_kinds=ACTION_KINDS,
        weekday_choices=WEEKDAY_CHOICES,
        cap_actions=builder.CAP_ACTIONS,
        op_choices=OP_CHOICES,
        kind_label=builder.kind_label,
        opt_in_forms=opt_in_forms(page, builder.to_document(state)[0]),
    )


def new_form(page: Page) -> Response:
    """Render the builder of a new sequence."""
    options = choices(page)
    return _render_builder(page, builder.new_state(options), options, existing=None, focus="f-key")


def edit_form(page: Page, key: str) -> Response:
    """Render the builder of a stored sequence."""
    seq = service.get(page.stepwise.db, page.account.id, key)
    draft = draft_of(page, key)
    state = builder.from_definition(key, draft.definition if draft else seq.definition, seq.version)
    notice = "You are editing the draft; the live version runs unchanged until you publish." if draft else None
    return _render_builder(page, state, choices(page), existing=seq, notice=notice)


def builder_post(page: Page, form: FormData, key: str | None) -> Response:
    """Apply a builder operation, or save the definition with the API's validation."""
    db, account_id = page.stepwise.db, page.account.id
    existing = service.get(db, account_id, key) if key is not None else None
    options = choices(page)
    state = builder.from_form(
        lambda name: text_of(form, name), lambda name: texts_of(form, name), lambda name: name in form, options
    )
    if existing is not None:
        state.key = existing.key
    op = text_of(form, "op") or "save"
    if op != "save":
        try:
            focus, notice = builder_edits.apply(state, op, options)
        except builder_edits.BadOperation:
            focus, notice = "", "That change could not be applied; the form was out of date."
        return _render_builder(page, state, options, existing=existing, focus=focus, notice=notice)
    return _save(page, state, options, existing)


def _save(page: Page, state: builder.BuilderState, options: builder.Choices, existing: Sequence | None) -> Response:
    db, account_id = page.stepwise.db, page.account.id
    document, local = builder.to_document(state)
    if existing is None:
        if not is_key(state.key):
            local.insert(0, Problem("$.key", "use lowercase letters, digits, '_' and '-' (up to 64), e.g. welcome"))
        else:
            try:
                service.get(db, account_id, state.key)
            except NotFound:
                pass
            else:
                local.insert(0, Problem("$.key", f"a sequence {state.key!r} already exists"))
    elif state.version and state.version != str(existing.version):
        state.version = str(existing.version)
        notice = "Someone saved this sequence after you opened it. Save again to replace their version with yours."
        return _render_builder(page, state, options, existing=existing, notice=notice, status=409)
    problems = [p.as_dict() for p in local]
    if local:
        try:
            service.parse(document)
        except Unprocessable as exc:
            seen = [p.path for p in local]
            problems += [d for d in exc.details or [] if not _covered(str(d["path"]), str(d["message"]), seen)]
    else:
        try:
            if existing is not None:  # a live sequence: the change goes to its draft (S17)
                return _saved_draft(page, state.key, document)
            seq, _ = service.put(db, account_id, state.key, document, page.now())
        except Unprocessable as exc:
            problems = list(exc.details or [])
        except AppError as exc:
            problems = [{"path": "$", "message": exc.message}]
        else:
            page.flash(f"Sequence {seq.name} saved.")
            return page.redirect(f"/sequences/{seq.key}")
    placed = builder_errors.place(state, problems)
    return _render_builder(page, state, options, existing=existing, placed=placed, focus="errors", status=422)


def _covered(path: str, message: str, seen: list[str]) -> bool:
    """Whether a builder-found problem already says what an API problem says (the weekdays of a weekly wait)."""
    return any(path.startswith(s) or (s == f"{path}.weekdays" and "weekdays" in message) for s in seen)


def _saved_draft(page: Page, key: str, document: Any) -> Response:
    """Store an editor's content as the draft (none when it equals the live version); back to the sequence."""
    draft = publishing.save_draft(page.stepwise.db, page.account.id, key, document, page.now())
    if draft is None:
        page.flash("No changes: the content equals the live version, so there is no draft to publish.")
    else:
        page.flash("Draft saved. The live version runs unchanged until you publish the draft.")
    return page.redirect(f"/sequences/{key}")


@router.get("/sequences/{key}/json")
def json_editor(page: PageDep, key: str) -> Response:
    """Show the draft (or, without one, the live version) as JSON, as the API and definition files take it."""
    seq = service.get(page.stepwise.db, page.account.id, key)
    draft = draft_of(page, key)
    text = json.dumps(draft.definition if draft else seq.definition, indent=2, ensure_ascii=False)
    return page.render("sequences/json.html", nav="sequences", seq=seq, text=text, problems=[], draft=draft)


@router.post("/sequences/{key}/json")
def json_save(page: PageDep, form: FormDep, key: str) -> Response:
    """Save a definition typed as JSON as the draft, with the API's validation."""
    seq = service.get(page.stepwise.db, page.account.id, key)
    text = text_of(form, "definition")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        problems = [{"path": "$", "message": f"not valid JSON: {exc}"}]
    else:
        try:
            return _saved_draft(page, key, document)
        except AppError as exc:
            problems = exc.details if isinstance(exc.details, list) else [{"path": "$", "message": exc.message}]
    draft = draft_of(page, key)
    return page.render(
        "sequences/json.html", status=422, nav="sequences", seq=seq, text=text, problems=problems, draft=draft
    )


@router.get("/sequences/{key}/edit")
def builder_edit(page: PageDep, key: str) -> Response:
    """Show the builder of an existing sequence."""
    return edit_form(page, key)


@router.post("/sequences/{key}/edit")
def builder_edit_post(page: PageDep, form: FormDep, key: str) -> Response:
    """Edit or save an existing sequence."""
    return builder_post(page, form, key)
