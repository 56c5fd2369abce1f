"""Runs as the API shows them, and control of one run (S9, S11)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from stepwise.domain.instants import iso
from stepwise.engine.model import Input, PauseRun, ResumeRun, StartRun, StopRun
from stepwise.errors import Conflict, NotFound
from stepwise.services import cursors
from stepwise.services.catalog import SequenceCatalog
from stepwise.services.processing import process_locked
from stepwise.services.subscribers import find_row
from stepwise.storage import runs as run_store
from stepwise.storage import sequences as sequence_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.codec import opt_from_us
from stepwise.storage.database import Database
from stepwise.storage.dialects import lock_subscribers
from stepwise.storage.runs import RunRow


def _time(value: int | None) -> str | None:
    moment = opt_from_us(value)
    return iso(moment) if moment else None


# The views below are the API's response models; comments, not docstrings, describe them (a docstring
# would become the schema's description in the OpenAPI document).


# A run as the API and the UI show it (`pass` in JSON, `pass_` in Python).
class Run(BaseModel):
    sequence: str
    email: str
    status: str
    step: int
    pass_: int = Field(alias="pass")
    entered_at: str | None
    step_entered_at: str | None
    wake_at: str | None
    ended_at: str | None
    end_reason: str | None
    version: int = 1  # the sequence version it follows (S16)
    converted_at: str | None = None  # S24: when a goal event converted it
    converted_step: int | None = None
    converted_variant: int | None = None
    test: bool = False  # a test run (S19): capture mailbox only, left out of every statistic

    model_config = ConfigDict(populate_by_name=True, frozen=True)


# A page of a sequence's runs and the cursor of the next one.
class RunPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    next_cursor: str | None = None
    items: list[Run]


# Every run of a subscriber.
class RunsOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[Run]


def view(run: RunRow, sequence: str, email: str) -> Run:
    return Run(
        sequence=sequence,
        email=email,
        status=run.status,
        step=run.step,
        pass_=run.pass_no,
        entered_at=_time(run.entered_at),
        step_entered_at=_time(run.step_entered_at),
        wake_at=_time(run.wake_at),
        ended_at=_time(run.ended_at),
        end_reason=run.end_reason,
        version=run.version,
        converted_at=_time(run.converted_at),
        converted_step=run.converted_step,
        converted_variant=run.converted_variant,
        test=run.test,
    )


def of_subscriber(db: Database, account_id: int, raw_email: str) -> list[Run]:
    with db.read() as conn:
        sub = find_row(conn, account_id, raw_email)
        keys = {row.id: row.key for row in sequence_store.all_sequences(conn, account_id)}
        rows = run_store.of_subscriber(conn, account_id, sub.id)
    return [view(r, keys.get(r.sequence_id, "?"), sub.email) for r in rows]


def of_sequence(
    db: Database, account_id: int, key: str, *, status: str | None, step: int | None, cursor: str | None, limit: int
) -> tuple[list[Run], str | None]:
    after = cursors.decode_int(cursor)
    with db.read() as conn:
        seq = sequence_store.get(conn, account_id, key)
        if seq is None:
            raise NotFound(f"no sequence {key!r}")
        rows = run_store.page_for_sequence(
            conn, account_id, seq.id, after_id=after, limit=limit, status=status, step=step
        )
        emails = {s.id: s.email for s in subscriber_store.by_ids(conn, list({r.subscriber_id for r in rows}))}
    items = [view(r, key, emails.get(r.subscriber_id, "")) for r in rows]
    return items, cursors.encode(rows[-1].id) if len(rows) == limit else None


def control(
    db: Database,
    catalog: SequenceCatalog,
    account_id: int,
    key: str,
    raw_email: str,
    action: str,
    now: datetime,
    *,
    test: bool = False,
) -> Run:
    """Start (S9; a test run with `test`, S19), stop, pause or resume one subscriber's run; return it afterwards."""
    with db.write() as conn:
        seq = sequence_store.get(conn, account_id, key)
        if seq is None:
            raise NotFound(f"no sequence {key!r}")
        sub = find_row(conn, account_id, raw_email)
        lock_subscribers(conn, [sub.id], skip_locked=False)
        current = _open_run(conn, account_id, sub.id, seq.id)
        command: Input
        if action == "start":
            if current is not None:
                raise Conflict(f"{sub.email} is already in sequence {key!r}", code="already_running")
            if seq.status != "active":
                raise Conflict(f"sequence {key!r} is paused", code="sequence_paused")
            command = StartRun(sequence=key, at=now)
        else:
            if current is None:
                raise NotFound(f"{sub.email} has no active or paused run of {key!r}")
            commands: dict[str, Input] = {
                "stop": StopRun(sequence=key, at=now),
                "pause": PauseRun(sequence=key, at=now),
                "resume": ResumeRun(sequence=key, at=now),
            }
            command = commands[action]
        tests = {sub.id: frozenset({key})} if test else None
        result = process_locked(conn, catalog, [sub.id], now, extra={sub.id: [command]}, test_starts=tests)
        outcome = result.outcomes.get(sub.id)
        rows = run_store.of_subscriber(conn, account_id, sub.id)
    mine = [r for r in rows if r.sequence_id == seq.id]
    if action == "start" and (not mine or (current is None and not _entered(outcome, key))):
        raise Conflict(f"{sub.email} could not enter {key!r} (see the timeline)", code="start_rejected")
    return view(mine[-1], key, sub.email)


def _entered(outcome: Any, key: str) -> bool:
    return outcome is not None and any(seq == key for seq, _ in outcome.runs)


def _open_run(conn: Connection, account_id: int, subscriber_id: int, sequence_id: int) -> RunRow | None:
    for run in run_store.open_runs(conn, account_id, [subscriber_id]).get(subscriber_id, []):
        if run.sequence_id == sequence_id:
            return run
    return None
