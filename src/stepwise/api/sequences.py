"""/sequences: definitions, status, statistics and runs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from stepwise.api import schemas
from stepwise.api.auth import Account, App
from stepwise.api.checked import CheckedRoute
from stepwise.api.common import Cursor, EmailPath, KeyPath, Limit, page_by_key
from stepwise.domain.definition import MAX_STEPS, SequenceDefinition
from stepwise.services import runs as run_service
from stepwise.services import sequences as service
from stepwise.services import stats_reset, version_stats
from stepwise.services.runs import Run, RunPage
from stepwise.services.sequences import Sequence, SequencesOut, SequenceStats

router = APIRouter(prefix="/sequences", tags=["sequences"], route_class=CheckedRoute)


class SequencePut(SequenceDefinition):
    """A definition, and where open runs on steps it changes go (S16: published in mode `migrate`)."""

    step_map: dict[str, Annotated[int, Field(ge=1, le=MAX_STEPS)] | Literal["stop"]] | None = Field(
        default=None, description='{"<old step>": <new step> | "stop"}; unmapped steps keep their number'
    )


@router.put("/{key}", response_model=Sequence, responses={201: {"model": Sequence}})
def put_sequence(key: KeyPath, definition: SequencePut, account: Account, app: App, response: Response) -> Sequence:
    """Create or replace a definition (a new version when the content changed). 422 lists every problem."""
    document = definition.model_dump(mode="json", by_alias=True, exclude={"step_map"})
    step_map = dict(definition.step_map or {})
    view, created = service.put(app.db, account.id, key, document, app.clock(), step_map=step_map)
    response.status_code = 201 if created else 200
    return view


@router.get("", response_model=SequencesOut)
def all_sequences(account: Account, app: App, limit: Limit = 100, cursor: Cursor = None) -> SequencesOut:
    """All of them, by key, a page at a time."""
    items, next_cursor = page_by_key(service.all_sequences(app.db, account.id), cursor, limit)
    return SequencesOut(items=items, next_cursor=next_cursor)


@router.get("/{key}", response_model=Sequence)
def get_sequence(key: KeyPath, account: Account, app: App) -> Sequence:
    return service.get(app.db, account.id, key)


@router.delete("/{key}", status_code=204)
def delete_sequence(key: KeyPath, account: Account, app: App) -> Response:
    """Delete a sequence with its runs and statistics (409 while another sequence starts or stops it)."""
    service.delete(app.db, account.id, key)
    return Response(status_code=204)


@router.post("/{key}/activate", response_model=Sequence)
def activate(key: KeyPath, account: Account, app: App) -> Sequence:
    """Activate; every draft it uses must have a subject and a sender. Overdue deadlines fire at once."""
    return service.set_status(app.db, account.id, key, "active", app.clock())


@router.post("/{key}/pause", response_model=Sequence)
def pause(key: KeyPath, account: Account, app: App) -> Sequence:
    """Pause: admits and moves no one; deadlines keep running."""
    return service.set_status(app.db, account.id, key, "paused", app.clock())


@router.get("/{key}/stats", response_model=SequenceStats)
def stats(
    key: KeyPath,
    account: Account,
    app: App,
    version: int | None = Query(default=None, ge=1, le=2_000_000_000, description="count only this version's runs"),
) -> SequenceStats:
    """Entered, on steps, completed, stopped by reason, per-step and per-variant counts, and per version."""
    return version_stats.stats(app.db, account.id, key, version)


@router.post("/{key}/stats/reset", response_model=SequenceStats)
def reset_stats(key: KeyPath, account: Account, app: App) -> SequenceStats:
    """S19: history counters (entered, completed, stopped, fired, email figures) start from zero; `on_step` stays."""
    return stats_reset.reset(app.db, account.id, key, app.clock())


@router.get("/{key}/runs", response_model=RunPage)
def runs(
    key: KeyPath,
    account: Account,
    app: App,
    limit: Limit = 100,
    cursor: Cursor = None,
    status: Literal["active", "paused", "completed", "stopped"] | None = None,
    step: int | None = Query(default=None, ge=1, le=MAX_STEPS, description="runs on this step (1-based)"),
) -> RunPage:
    items, next_cursor = run_service.of_sequence(
        app.db, account.id, key, status=status, step=step, cursor=cursor, limit=limit
    )
    return RunPage(items=items, next_cursor=next_cursor)


@router.post("/{key}/runs", response_model=Run, status_code=201)
def start_run(key: KeyPath, body: schemas.RunStart, account: Account, app: App) -> Run:
    """Put a subscriber into the sequence bypassing its step-1 event; `"test": true` starts a test run (S19):
    its emails go to the capture mailbox only, it is exempt from caps and send windows, calls no URL, sends no
    webhook and is left out of every statistic."""
    return run_service.control(app.db, app.catalog, account.id, key, body.email, "start", app.clock(), test=body.test)


def _control(action: str) -> Any:
    def handler(key: KeyPath, email: EmailPath, account: Account, app: App) -> Run:
        return run_service.control(app.db, app.catalog, account.id, key, email, action, app.clock())

    handler.__name__ = f"{action}_run"
    handler.__doc__ = {
        "stop": "End the run (reason `manual`).",
        "pause": "Pause this run only.",
        "resume": "Resume the run: overdue deadlines fire, state waits are re-tested.",
    }[action]
    return handler


for _action in ("stop", "pause", "resume"):
    router.post(f"/{{key}}/runs/{{email}}/{_action}", response_model=Run)(_control(_action))
