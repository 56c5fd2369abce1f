"""Sequence versions (SPEC §13, S16): publishing a definition as a new version and moving open runs to it.

`publish` runs inside the caller's transaction: it writes the immutable version row, makes it live and
migrates every open run (mode `migrate`): each run goes to `step_map[step]` (or the same step number),
keeps its `step_entered_at`, gets its time waits recomputed from it and its state waits re-tested at once,
and a `migrated` timeline entry; `"stop"` ends it with reason `edited`. Steps that no longer exist must be
mapped, else 409 `runs_on_removed_steps` and nothing changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Connection

from stepwise.domain.definition import SequenceDefinition
from stepwise.domain.instants import iso
from stepwise.domain.problems import Problem
from stepwise.engine.model import SequenceInfo
from stepwise.errors import Conflict, NotFound, Unprocessable
from stepwise.services import audit, run_migration
from stepwise.services.run_migration import migrate_range
from stepwise.storage import accounts as account_store
from stepwise.storage import run_moves
from stepwise.storage import sequences as sequence_store
from stepwise.storage import versions as version_store
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.database import Database

StepTarget = run_migration.StepTarget
StepMap = run_migration.StepMap
PublishMode = Literal["pin", "migrate"]
PAGE = 1000
BATCH = 10_000  # runs per short transaction of a large migration (well under 1 s each)
INLINE = 5000  # up to this many open runs move inside the publishing transaction itself
# A migration is marked finished only by a pass that starts this many seconds after the publication:
# a worker whose catalog was stale may still label a new run with the old version until then
# (its transaction began before the publication committed); the pass moves such runs too.
SETTLE = 10


class VersionSummary(BaseModel):
    """One published version, as `GET /sequences/{key}/versions` lists it."""

    model_config = ConfigDict(frozen=True)

    version: int
    published_at: str
    who: str
    note: str | None
    mode: str
    runs: int  # active-or-paused runs on it now


class VersionDetail(VersionSummary):
    name: str
    definition: dict[str, Any]


class VersionsOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    sequence: str
    live: int
    items: list[VersionSummary]


@dataclass(frozen=True, slots=True)
class Publication:
    """What to publish: the stored definition (no status), its name, and how to treat open runs."""

    name: str
    stored: dict[str, Any]
    definition: SequenceDefinition
    step_map: StepMap
    note: str | None = None
    mode: PublishMode = "migrate"

    @classmethod
    def of(
        cls, definition: SequenceDefinition, step_map: StepMap | None, mode: PublishMode, note: str | None
    ) -> Publication:
        stored = definition.dump()
        stored.pop("status", None)
        return cls(definition.name, stored, definition, dict(step_map or {}), note, mode)


def _map_problems(step_map: StepMap, old_steps: int, new_steps: int) -> list[Problem]:
    problems = []
    for source, target in step_map.items():
        if not source.isdigit() or not 1 <= int(source) <= max(old_steps, 1):
            problems.append(Problem(f"$.step_map.{source}", f"not a step of the live version (1..{old_steps})"))
        if target != "stop" and not (isinstance(target, int) and 2 <= target <= new_steps):
            # Runs wait at steps 2 and later only: step 1 is where they enter.
            problems.append(Problem(f"$.step_map.{source}", f'the target must be a step 2..{new_steps} or "stop"'))
    return problems


def step_map_problems(step_map: StepMap, old_steps: int, new_steps: int) -> list[str]:
    """What is wrong with a step map, as sentences (the impact preview's `problems`)."""
    return [f"{p.path}: {p.message}" for p in _map_problems(step_map, old_steps, new_steps)]


def check_step_map(step_map: StepMap, old_steps: int, new_steps: int) -> None:
    """422 unless each key is an old step number and each target a new step number or "stop"."""
    problems = _map_problems(step_map, old_steps, new_steps)
    if problems:
        raise Unprocessable.of(problems, "the step map is invalid")


def check_stranded(conn: Connection, account_id: int, seq_id: int, new_steps: int, step_map: StepMap) -> int:
    """409 `runs_on_removed_steps` when open runs wait on steps that the new version lacks and the map leaves.

    Return how many runs are open, counted up to INLINE + 1 (the publishing transaction stays short).
    """
    counts = version_store.open_runs_by_step(conn, account_id, seq_id, above=new_steps)
    stranded = {step: n for step, n in counts.items() if step > new_steps and str(step) not in step_map}
    if stranded:
        total = sum(stranded.values())
        raise Conflict(
            f"{total} run(s) wait on steps this definition removes ({', '.join(map(str, sorted(stranded)))}); "
            "map them in step_map or stop them first",
            code="runs_on_removed_steps",
            details={"runs": total, "steps": sorted(stranded)},
        )
    return version_store.open_runs_up_to(conn, account_id, seq_id, INLINE + 1)


def publish(
    conn: Connection,
    account_id: int,
    row: sequence_store.SequenceRow,
    info: SequenceInfo,
    pub: Publication,
    now: datetime,
) -> int:
    """Write version live+1 and (mode `migrate`) move every open run to it; return the new number.

    In mode `pin` open runs stay on the version they follow (the catalog keeps serving it, S17).
    """
    open_runs = 0
    if pub.mode == "migrate":
        check_step_map(pub.step_map, _steps_of(row), len(pub.definition.steps))
        open_runs = check_stranded(conn, account_id, row.id, len(pub.definition.steps), pub.step_map)
    inline = open_runs <= INLINE
    number = row.live_version + 1
    now_us = to_us(now)
    version_store.add(
        conn,
        account_id,
        row.id,
        number,
        pub.name,
        pub.stored,
        now_us=now_us,
        who=audit.current_actor(),
        note=pub.note,
        mode=pub.mode,
        migrated=pub.mode == "pin",  # migrate: finished by a later re-check (finish_migrations, SETTLE)
        step_map=dict(pub.step_map),
    )
    if pub.mode == "pin" or not inline:
        return number  # many runs: moved in short transactions after this one commits (finish_migrations)
    ids, steps = run_moves.behind(conn, account_id, row.id, number)
    if ids:
        span = (ids[0], ids[-1])
        # Lock the runs' subscribers first, as each batch of finish_migrations does: a worker that holds
        # one is mid-way through moving that run, and would otherwise write the step it read over the
        # move (PostgreSQL; found by tests/integration/versions/test_concurrent_publish.py).
        run_moves.lock_range(conn, account_id, row.id, number, *span)
        migrate_range(conn, account_id, row.id, info, pub.step_map, number=number, ids=span, steps=steps, now_us=now_us)
    return number


def finish_migrations(
    db: Database, account_id: int, now: datetime, *, batch: int | None = None, max_batches: int | None = None
) -> BatchFigures:
    """Move the runs of every unfinished `migrate` publication of the account, a short transaction per batch.

    Each batch locks its subscribers (in id order, as the worker does), so the worker waits at most one
    batch; runs the worker moves meanwhile follow their old version (the catalog serves it) until moved.
    A migration cut short (`max_batches`, or the process killed) stays unfinished: the next call resumes it.
    """
    figures = BatchFigures(limit=max_batches)
    with db.read() as conn:
        pending = version_store.unfinished(conn, account_id)
    if pending:
        with db.write() as conn:
            run_moves.refresh_statistics(conn)  # a batch then costs the same whatever the table's size
    for seq_id, number, published_at in pending:
        _finish_one(db, account_id, (seq_id, number), now, batch or BATCH, figures)
        if figures.finished and to_us(now) - published_at >= SETTLE * 1_000_000:
            with db.write() as conn:
                version_store.mark_migrated(conn, seq_id, number, to_us(now))
    return figures


def resume_migrations(db: Database, now: datetime) -> BatchFigures:
    """Finish the migrations of every account that a stopped process left unfinished (worker start, periodically)."""
    figures = BatchFigures()
    with db.read() as conn:
        accounts = version_store.accounts_unfinished(conn)
    for account_id in accounts:
        found = finish_migrations(db, account_id, now)
        figures.runs += found.runs
        figures.batches += found.batches
        figures.longest_ms = max(figures.longest_ms, found.longest_ms)
    return figures


@dataclass
class BatchFigures:
    runs: int = 0
    batches: int = 0
    longest_ms: float = 0.0
    limit: int | None = None  # stop after this many batches (as a killed process would)
    finished: bool = False  # the last publication worked on has no run left to move

    @property
    def cut_short(self) -> bool:
        return self.limit is not None and self.batches >= self.limit


def _finish_one(
    db: Database, account_id: int, publication: tuple[int, int], now: datetime, batch: int, figures: BatchFigures
) -> None:
    seq_id, number = publication
    figures.finished, skipped = False, 0
    while not figures.cut_short:
        with db.read() as conn:
            ids, steps = run_moves.behind(conn, account_id, seq_id, number)
        moved, skipped = 0, 0
        for lo, hi in ((ids[k], ids[min(k + batch, len(ids)) - 1]) for k in range(0, len(ids), batch)):
            if figures.cut_short:
                return
            started = time.perf_counter()
            with db.write() as conn:
                info = _info_for(conn, account_id, seq_id, number)
                if info is None:
                    break  # a later publication took over: it moves these runs itself
                run_moves.lock_range(conn, account_id, seq_id, number, lo, hi)
                step_map = version_store.step_map_of(conn, seq_id, number)
                done, left = migrate_range(
                    conn,
                    account_id,
                    seq_id,
                    info,
                    step_map,
                    number=number,
                    ids=(lo, hi),
                    steps=steps,
                    now_us=to_us(now),
                )
            moved, skipped = moved + done, skipped + left
            figures.runs += done
            figures.batches += 1
            figures.longest_ms = max(figures.longest_ms, (time.perf_counter() - started) * 1000)
        if not moved:  # a pass that found nothing more to move (runs a stale worker labelled old are moved too)
            break
    figures.finished = not skipped and not figures.cut_short


def _info_for(conn: Connection, account_id: int, seq_id: int, number: int) -> SequenceInfo | None:
    """The engine's view of version `number` (None when the sequence or version is gone, or it changed again)."""
    rows = sequence_store.by_ids(conn, [seq_id])
    found = version_store.one(conn, seq_id, number) if rows else None
    if found is None or rows[0].live_version != number:
        return None  # a later publication took over: it moves these runs itself
    try:
        definition = SequenceDefinition.model_validate(found.definition)
    except ValidationError:
        return None
    account = account_store.by_id(conn, account_id)
    tz = definition.timezone or (account.timezone if account else "UTC")
    status: Literal["active", "paused"] = "active" if rows[0].status == "active" else "paused"
    return SequenceInfo(rows[0].key, status, definition, tz, number, account_id=account_id)


def _steps_of(row: sequence_store.SequenceRow) -> int:
    steps = row.definition.get("steps")
    return len(steps) if isinstance(steps, list) else 0


def _summary(row: version_store.VersionRow, runs: dict[int, int]) -> dict[str, Any]:
    return {
        "version": row.number,
        "published_at": iso(from_us(row.published_at)),
        "who": row.who,
        "note": row.note,
        "mode": row.mode,
        "runs": runs.get(row.number, 0),
    }


def _sequence(conn: Connection, account_id: int, key: str) -> sequence_store.SequenceRow:
    row = sequence_store.get(conn, account_id, key)
    if row is None:
        raise NotFound(f"no sequence {key!r}")
    return row


def all_versions(db: Database, account_id: int, key: str) -> VersionsOut:
    """Every version of a sequence, newest first, with the open runs on each."""
    with db.read() as conn:
        row = _sequence(conn, account_id, key)
        runs = version_store.open_runs_by_version(conn, account_id, row.id)
        items = [VersionSummary(**_summary(v, runs)) for v in version_store.all_of(conn, row.id)]
    return VersionsOut(sequence=key, live=row.live_version, items=items)


def one_version(db: Database, account_id: int, key: str, number: int) -> VersionDetail:
    with db.read() as conn:
        row = _sequence(conn, account_id, key)
        found = version_store.one(conn, row.id, number)
        if found is None:
            raise NotFound(f"sequence {key!r} has no version {number}")
        runs = version_store.open_runs_by_version(conn, account_id, row.id)
    return VersionDetail(**_summary(found, runs), name=found.name, definition=found.definition)
