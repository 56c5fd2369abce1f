"""Moving open runs to a new version (S17 `migrate`), set-based where it can be (SPEC §21).

The runs of one old step all go to the same new step. When that step's time waits are fixed delays
(or it has none) and it is not `"stop"`, the runs of each old step and version move in SQL, deadline
from `step_entered_at`, re-test flagged, `migrated` entries written: storage/run_moves.py. The
others (a calendar schedule to compute per run, `"stop"` with its `stopped` entries and webhook facts)
move one by one (`migrate_page`), in the same transaction.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import Connection

from stepwise.domain.waits import TimePassed
from stepwise.engine.deadlines import has_state_waits, step_deadline
from stepwise.engine.model import SequenceInfo
from stepwise.services import webhook_facts
from stepwise.storage import counters as counter_store
from stepwise.storage import run_moves
from stepwise.storage import runs as run_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage import timeline as timeline_store
from stepwise.storage import versions as version_store
from stepwise.storage.codec import from_us, opt_to_us
from stepwise.storage.counters import CounterDelta
from stepwise.storage.runs import RunRow
from stepwise.storage.timeline import NewEntry

StepTarget = int | Literal["stop"]
StepMap = dict[str, StepTarget]


def target_of(step_map: StepMap, step: int) -> StepTarget:
    return step_map.get(str(step), step)


def set_based_move(info: SequenceInfo, step_map: StepMap, step: int) -> run_moves.Move | None:
    """How the runs of old `step` move in SQL, or None when they need per-run work."""
    target = target_of(step_map, step)
    if target == "stop" or target > info.steps:
        return None
    if target >= 2 and info.date_waits[target - 1]:
        return None  # S26: a date wait's moment is read from each subscriber's profile
    waits = info.time_waits[target - 1] if target >= 2 else ()
    fixed = [spec.delay for _, spec in waits if isinstance(spec, TimePassed)]
    if len(fixed) < len(waits):
        return None  # a calendar schedule: its next moment is computed per run
    delays = [delay // timedelta(microseconds=1) for delay in fixed]
    delay = min(delays) if delays else None
    return run_moves.Move(step, target, delay, target >= 2 and has_state_waits(info, target))


def migrate_range(
    conn: Connection,
    account_id: int,
    seq_id: int,
    info: SequenceInfo,
    step_map: StepMap,
    *,
    number: int,
    ids: tuple[int, int],
    steps: list[tuple[int, int]],
    now_us: int,
) -> tuple[int, int]:
    """Move the open runs of the sequence behind version `number` with ids in `ids` = [lo, hi], at `steps`
    ((step, version) pairs: `run_moves.behind`).

    A pair no run of the range is on costs one scan of the range's ids.
    Return (runs moved, runs left on their version: on a removed step the map leaves out).
    """
    lo, hi = ids
    moved, skipped = 0, 0
    deltas: Counter[tuple[str, int]] = Counter()
    one_by_one: set[int] = set()
    for step, from_version in steps:
        move = set_based_move(info, step_map, step)
        if move is None:
            one_by_one.add(step)
            continue
        n = run_moves.move_step(
            conn,
            account_id=account_id,
            sequence_id=seq_id,
            key=info.key,
            number=number,
            move=move,
            from_version=from_version,
            lo=lo,
            hi=hi,
            now_us=now_us,
            sequence_active=info.status == "active",
        )
        moved += n
        if n and move.to_step != step:
            deltas[("on_step", step)] -= n
            deltas[("on_step", move.to_step)] += n
    counter_store.add_deltas(
        conn, [CounterDelta(account_id, seq_id, metric, step, 0, delta) for (metric, step), delta in deltas.items()]
    )
    # Runs of steps that need per-run work, and test runs (S19: moved like the others, counted nowhere),
    # which the set-based statements leave out.
    found = run_moves.ids_one_by_one(conn, account_id, seq_id, number, lo, hi, sorted(one_by_one))
    if found:
        page = [r for r in run_store.open_by_ids(conn, found) if r.version < number]
        if page:
            skipped = migrate_page(conn, account_id, page, info, step_map, number, now_us)
            moved += len(page) - skipped
    return moved, skipped


def migrate_page(
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
    profiles = profiles_for(conn, page, info, step_map)
    for run in page:
        target = target_of(step_map, run.step)
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
        updates.append(moved_values(run, target, info, number, now_us, profiles.get(run.subscriber_id)))
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


def profiles_for(conn: Connection, page: list[RunRow], info: SequenceInfo, step_map: StepMap) -> dict[int, Any]:
    """S26: the profiles of the runs moving onto a step with date waits (their moment is read from them)."""
    ids = set()
    for run in page:
        target = target_of(step_map, run.step)
        if target != "stop" and 2 <= target <= info.steps and info.date_waits[target - 1]:
            ids.add(run.subscriber_id)
    return {sub.id: sub.data for sub in subscriber_store.by_ids(conn, sorted(ids))} if ids else {}


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


def moved_values(
    run: RunRow, step: int, info: SequenceInfo, number: int, now_us: int, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The run at `step` of the new version: deadline from its `step_entered_at` (date waits from the
    profile `data`, when given), state waits re-tested now."""
    deadline = step_deadline(info, step, from_us(run.step_entered_at), data) if step >= 2 else None
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
