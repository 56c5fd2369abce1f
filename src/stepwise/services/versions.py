"""Sequence versions (SPEC §13, S16): publishing a definition as a new version and moving open runs to it.

`publish` runs inside the caller's transaction: it writes the immutable version row, makes it live and
migrates every open run (mode `migrate`): each run goes to `step_map[step]` (or the same step number),
keeps its `step_entered_at`, gets its time waits recomputed from it and its state waits re-tested at once,
and a `migrated` timeline entry; `"stop"` ends it with reason `edited`. Steps that no longer exist must be
mapped, else 409 `runs_on_removed_steps` and nothing changes.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Connection

from stepwise.domain.definition import SequenceDefinition
from stepwise.domain.instants import iso
from stepwise.domain.problems import Problem
from stepwise.engine.deadlines import has_state_waits, step_deadline
from stepwise.engine.model import SequenceInfo
from stepwise.errors import Conflict, NotFound, Unprocessable
from stepwise.services import audit, webhook_facts
from stepwise.storage import accounts as account_store
from stepwise.storage import counters as counter_store
from stepwise.storage import runs as run_store
from stepwise.storage import sequences as sequence_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage import timeline as timeline_store
from stepwise.storage import versions as version_store
from stepwise.storage.codec import from_us, opt_to_us, to_us
from stepwise.storage.counters import CounterDelta
from stepwise.storage.database import Database
from stepwise.storage.dialects import lock_subscribers
from stepwise.storage.runs import RunRow
from stepwise.storage.timeline import NewEntry

StepTarget = int | Literal["stop"]
StepMap = dict[str, StepTarget]
PublishMode = Literal["pin", "migrate"]
PAGE = 1000
BATCH = 1000  # runs per short transaction of a large migration
INLINE = 5000  # up to this many open runs move inside the publishing transaction itself


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


def _target(step_map: StepMap, step: int) -> StepTarget:
    return step_map.get(str(step), step)


def check_stranded(conn: Connection, account_id: int, seq_id: int, new_steps: int, step_map: StepMap) -> int:
    """409 `runs_on_removed_steps` when open runs wait on steps that the new version lacks and the map leaves.

    Return how many runs are open.
    """
    counts = version_store.open_runs_by_step(conn, account_id, seq_id)
    stranded = {step: n for step, n in counts.items() if step > new_steps and str(step) not in step_map}
    if stranded:
        total = sum(stranded.values())
        raise Conflict(
            f"{total} run(s) wait on steps this definition removes ({', '.join(map(str, sorted(stranded)))}); "
            "map them in step_map or stop them first",
            code="runs_on_removed_steps",
            details={"runs": total, "steps": sorted(stranded)},
        )
    return sum(counts.values())


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
        migrated=pub.mode == "pin" or inline,
        step_map=dict(pub.step_map),
    )
    if pub.mode == "pin" or not inline:
        return number  # many runs: moved in short transactions after this one commits (finish_migrations)
    after_id = 0
    while page := run_store.open_page(conn, account_id, row.id, after_id=after_id, limit=PAGE):
        _migrate_page(conn, account_id, page, info, pub.step_map, number, now_us)
        after_id = page[-1].id
    return number


def finish_migrations(db: Database, account_id: int, now: datetime, *, batch: int | None = None) -> BatchFigures:
    """Move the runs of every unfinished `migrate` publication of the account, a short transaction per batch.

    Each batch locks its subscribers (in id order, as the worker does), so the worker waits at most one
    batch; runs the worker moves meanwhile follow their old version (the catalog serves it) until moved.
    """
    figures = BatchFigures()
    with db.read() as conn:
        pending = version_store.unfinished(conn, account_id)
    for seq_id, number in pending:
        _finish_one(db, account_id, seq_id, number, now, batch or BATCH, figures)
    return figures


@dataclass
class BatchFigures:
    runs: int = 0
    batches: int = 0
    longest_ms: float = 0.0


def _finish_one(
    db: Database, account_id: int, seq_id: int, number: int, now: datetime, batch: int, figures: BatchFigures
) -> None:
    after_id, skipped = 0, 0
    while True:
        started = time.perf_counter()
        with db.write() as conn:
            info = _info_for(conn, account_id, seq_id, number)
            ids = version_store.behind_page(conn, account_id, seq_id, number, after_id=after_id, limit=batch)
            if info is None or not ids:
                break
            lock_subscribers(conn, [sid for _, sid in ids], skip_locked=False)
            page = [r for r in run_store.open_by_ids(conn, [rid for rid, _ in ids]) if r.version < number]
            step_map = version_store.step_map_of(conn, seq_id, number)
            if page:
                skipped += _migrate_page(conn, account_id, page, info, step_map, number, to_us(now))
            after_id = ids[-1][0]
        figures.runs += len(page)
        figures.batches += 1
        figures.longest_ms = max(figures.longest_ms, (time.perf_counter() - started) * 1000)
    if not skipped:
        with db.write() as conn:
            version_store.mark_migrated(conn, seq_id, number, to_us(now))


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


def _migrate_page(
    conn: Connection,
    account_id: int,
    page: list[RunRow],
    info: SequenceInfo,
    step_map: StepMap,
    number: int,
    now_us: int,
) -> int:
    """Move one page of open runs to version `number` (one statement per kind of write).

    A run on a removed step that the map leaves out (it arrived there after the publication was checked)
    stays on its version; return how many did.
    """
    updates: list[dict[str, Any]] = []
    entries: list[NewEntry] = []
    deltas: Counter[tuple[str, int]] = Counter()
    skipped = 0
    stopped: list[NewEntry] = []
    for run in page:
        target = _target(step_map, run.step)
        if target != "stop" and target > info.steps:
            skipped += 1
            continue
        detail = {"from_version": run.version, "to_version": number, "from_step": run.step, "to_step": target}
        marked = {"test": True} if run.test else {}  # S19: a test run is marked, and counted nowhere
        weight = 0 if run.test else 1
        detail |= marked
        entries.append(NewEntry(account_id, run.subscriber_id, now_us, "migrated", info.key, detail))
        if target == "stop":
            updates.append(_stopped(run, number, now_us))
            stop = {"pass": run.pass_no, "step": run.step, "reason": "edited"} | marked
            stopped.append(NewEntry(account_id, run.subscriber_id, now_us, "stopped", info.key, stop))
            deltas[("on_step", run.step)] -= weight
            deltas[("stopped:edited", 0)] += weight
            continue
        updates.append(moved_values(run, target, info, number, now_us))
        if target != run.step:
            deltas[("on_step", run.step)] -= weight
            deltas[("on_step", target)] += weight
    run_store.update_many(conn, [row for row in updates if row["status"] == "stopped"])
    version_store.move_runs(conn, [row for row in updates if row["status"] != "stopped"])
    timeline_store.add_entries(conn, entries + stopped)
    if stopped:  # S29: a stopped run is a webhook fact, as when the engine stops one
        emails = {sub.id: sub.email for sub in subscriber_store.by_ids(conn, [e.subscriber_id for e in stopped])}
        facts = webhook_facts.run_facts([e for e in stopped if not e.detail.get("test")], emails)
        webhook_facts.emit(conn, account_id, facts)
    seq_id = page[0].sequence_id
    counter_store.add_deltas(
        conn, [CounterDelta(account_id, seq_id, metric, step, 0, delta) for (metric, step), delta in deltas.items()]
    )
    return skipped


def _stopped(run: RunRow, number: int, now_us: int) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": "stopped",
        "step": run.step,
        "step_entered_at": run.step_entered_at,
        "wake_at": None,
        "claimable_at": None,
        "recheck": False,
        "ended_at": now_us,
        "end_reason": "edited",
        "version": number,
    }


def moved_values(run: RunRow, step: int, info: SequenceInfo, number: int, now_us: int) -> dict[str, Any]:
    """The run at `step` of the new version: deadline from its `step_entered_at`, state waits re-tested now."""
    deadline = step_deadline(info, step, from_us(run.step_entered_at)) if step >= 2 else None
    wake = opt_to_us(deadline[0]) if deadline else None
    recheck = step >= 2 and has_state_waits(info, step)
    open_ = run.status == "active" and info.status == "active"
    return {
        "id": run.id,
        "status": run.status,
        "step": step,
        "step_entered_at": run.step_entered_at,
        "wake_at": wake,
        "claimable_at": (now_us if recheck else wake) if open_ else None,
        "recheck": recheck,
        "ended_at": None,
        "end_reason": None,
        "version": number,
    }


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
