"""The impact preview of a publication (S18): exact per-step counts from the stored runs, nothing written."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from stepwise.engine.model import SequenceInfo
from stepwise.services.run_migration import StepTarget, moved_values, profiles_for
from stepwise.services.versions import PAGE, Publication, step_map_problems
from stepwise.storage import runs as run_store
from stepwise.storage.sequences import SequenceRow


class StepImpact(BaseModel):
    model_config = ConfigDict(frozen=True)

    step: int  # the step the runs wait on now
    runs: int
    to: StepTarget | None  # where they go: a step of the new version, "stop", or None (removed and unmapped)
    deadline_changes: int  # runs whose next deadline moves
    stopped: int


class Impact(BaseModel):
    """What publishing would do, computed from the stored runs (S18)."""

    model_config = ConfigDict(frozen=True)

    from_version: int
    to_version: int
    mode: str
    runs: int
    steps: list[StepImpact]
    problems: list[str]


@dataclass
class _Tally:
    runs: int = 0
    deadline_changes: int = 0
    stopped: int = 0
    to: StepTarget | None = None
    seen: set[int] = field(default_factory=set)


def preview(conn: Connection, account_id: int, row: SequenceRow, info: SequenceInfo, pub: Publication) -> Impact:
    """Walk every open run of the sequence and say where publishing `pub` would put it."""
    new_steps = len(pub.definition.steps)
    problems = step_map_problems(pub.step_map, _steps_of(row), new_steps) if pub.mode == "migrate" else []
    tallies: dict[int, _Tally] = {}
    total, after_id, now_us = 0, 0, 0
    while page := run_store.open_page(conn, account_id, row.id, after_id=after_id, limit=PAGE):
        after_id = page[-1].id
        profiles = profiles_for(conn, page, info, pub.step_map or {}) if pub.mode == "migrate" else {}
        for run in page:
            total += 1
            tally = tallies.setdefault(run.step, _Tally())
            tally.runs += 1
            if pub.mode == "pin":
                tally.to = run.step  # stays on its version's step
                continue
            target = pub.step_map.get(str(run.step), run.step)
            if target == "stop":
                tally.to, tally.stopped = "stop", tally.stopped + 1
            elif isinstance(target, int) and 2 <= target <= new_steps:
                tally.to = target
                tally.deadline_changes += (
                    moved_values(run, target, info, 0, now_us, profiles.get(run.subscriber_id))["wake_at"]
                    != run.wake_at
                )
    for step, tally in sorted(tallies.items()):
        if pub.mode == "migrate" and tally.to is None:
            problems.append(f"{tally.runs} run(s) wait on step {step}, which the new version removes: map it")
    steps = [
        StepImpact(step=step, runs=t.runs, to=t.to, deadline_changes=t.deadline_changes, stopped=t.stopped)
        for step, t in sorted(tallies.items())
    ]
    return Impact(
        from_version=row.live_version,
        to_version=row.live_version + 1,
        mode=pub.mode,
        runs=total,
        steps=steps,
        problems=problems,
    )


def _steps_of(row: SequenceRow) -> int:
    steps = row.definition.get("steps")
    return len(steps) if isinstance(steps, list) else 0
