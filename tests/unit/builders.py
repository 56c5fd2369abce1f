"""Factories for unit tests of the pure engine: sequences, subscribers, events, and a `World` that
carries one subscriber's state from one `process()` call to the next the way the storage layer does.

Time is always an argument: tests build datetimes from `T0` and never read the clock.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from stepwise.domain.definition import SequenceDefinition
from stepwise.domain.statuses import RunStatus
from stepwise.engine.deadlines import has_state_waits
from stepwise.engine.model import (
    Command,
    EmailCommand,
    Event,
    Input,
    Outcome,
    Run,
    SequenceInfo,
    Subscriber,
    TimelineEntry,
    UrlCommand,
)
from stepwise.engine.processor import process

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC

Json = dict[str, Any]


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def days(n: float) -> timedelta:
    return timedelta(days=n)


# ---------------------------------------------------------------- definitions


def on(*when: Json, do: Json | list[Json]) -> Json:
    """One variant: fires when any of `when` happens, then runs `do` in order."""
    return {"when": list(when), "do": do if isinstance(do, list) else [do]}


def custom(name: str, **fields: Any) -> Json:
    """The spec of a custom event."""
    return {"event": "custom", "name": name, **fields}


def after(duration: str) -> Json:
    return {"event": "time_passed", "after": duration}


def edge(kind: str, **fields: Any) -> Json:
    return {"event": kind, **fields}


NOTHING: Json = {"action": "nothing"}


def send(draft: str) -> Json:
    return {"action": "send_email", "draft": draft}


def call(url: str, **fields: Any) -> Json:
    return {"action": "call_url", "url": url, **fields}


def set_data(**values: Any) -> Json:
    """change_data with `set`; keyword `custom__plan` means the path `custom.plan`."""
    return {"action": "change_data", "set": {k.replace("__", "."): v for k, v in values.items()}}


def add_to(key: str) -> Json:
    return {"action": "add_to_list", "list": key}


def remove_from(key: str) -> Json:
    return {"action": "remove_from_list", "list": key}


def stop(sequence: str = "current") -> Json:
    return {"action": "stop_sequence", "sequence": sequence}


def start(sequence: str) -> Json:
    return {"action": "start_sequence", "sequence": sequence}


def go_to(sequence: str) -> Json:
    return {"action": "go_to_sequence", "sequence": sequence}


def where(field: str, op: str, value: Any = None, **extra: Any) -> Json:
    comparison: Json = {"field": field, "op": op, **extra}
    if value is not None:
        comparison["value"] = value
    return comparison


def definition(*steps: Json | list[Json], name: str = "Test", **settings: Any) -> SequenceDefinition:
    """A definition from steps, each one variant or a list of variants."""
    return SequenceDefinition.model_validate(
        {
            "name": name,
            "steps": [{"variants": step if isinstance(step, list) else [step]} for step in steps],
            **settings,
        }
    )


def sequence(
    key: str,
    *steps: Json | list[Json],
    status: Literal["active", "paused"] = "active",
    timezone: str = "UTC",
    **settings: Any,
) -> SequenceInfo:
    """A sequence as the engine sees it."""
    return SequenceInfo(
        key=key,
        status=status,
        definition=definition(*steps, name=key, **settings),
        timezone=timezone,
    )


def catalog(*sequences: SequenceInfo) -> dict[str, SequenceInfo]:
    return {s.key: s for s in sequences}


# ---------------------------------------------------------------- subscribers, runs and events


def subscriber(
    email: str = "anna@example.com",
    *,
    status: str = "active",
    data: Json | None = None,
    lists: Iterable[str] = (),
) -> Subscriber:
    return Subscriber(id=1, email=email, status=status, data=copy.deepcopy(data or {}), lists=set(lists))


def waiting_run(
    key: str,
    step: int,
    *,
    since: datetime = T0,
    pass_no: int = 1,
    status: RunStatus = "active",
    wake_at: datetime | None = None,
    recheck: bool = False,
) -> Run:
    """A stored run that waits at `step` since `since`."""
    return Run(
        sequence=key,
        pass_no=pass_no,
        status=status,
        step=step,
        entered_at=since,
        step_entered_at=since,
        wake_at=wake_at,
        recheck=recheck,
        id=pass_no,
    )


def event(kind: str, at: datetime, source: str = "api", **payload: Any) -> Event:
    return Event(kind=kind, payload=payload, source=source, at=at)


def custom_event(name: str, at: datetime, **data: Any) -> Event:
    """A custom event posted to the API, as the inbox hands it to the engine."""
    return Event(kind="custom", payload={"name": name, "data": data}, source="api", at=at)


# ---------------------------------------------------------------- reading outcomes


def transitions(outcome: Outcome, sequence: str | None = None) -> list[tuple[str, int, int]]:
    """(sequence, step, variant) of every transition, in order."""
    return [
        (e.sequence or "", e.detail["step"], e.detail["variant"])
        for e in outcome.timeline
        if e.kind == "transition" and (sequence is None or e.sequence == sequence)
    ]


def entries(outcome: Outcome, kind: str) -> list[TimelineEntry]:
    return [e for e in outcome.timeline if e.kind == kind]


def emails(commands: Iterable[Command]) -> list[str]:
    return [c.draft for c in commands if isinstance(c, EmailCommand)]


def urls(commands: Iterable[Command]) -> list[str]:
    return [str(c.action["url"]) for c in commands if isinstance(c, UrlCommand)]


def counters(outcome: Outcome, sequence: str) -> dict[tuple[str, int, int], int]:
    """Non-zero counter deltas of one sequence as {(metric, step, variant): delta}."""
    return {(m, st, v): n for (s, m, st, v), n in outcome.counters.items() if s == sequence and n}


# ---------------------------------------------------------------- a subscriber's state across calls


@dataclasses.dataclass
class World:
    """One subscriber and the account's sequences; `feed` runs the engine and keeps what storage keeps.

    Between calls, as in storage, only these survive: every run (open ones are active or paused), the
    highest pass per sequence, the subscriber's data, status and lists. Working fields such as the
    arrival ordinal do not.
    """

    sequences: dict[str, SequenceInfo]
    subscriber: Subscriber = dataclasses.field(default_factory=subscriber)
    runs: dict[tuple[str, int], Run] = dataclasses.field(default_factory=dict)
    now: datetime = T0
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)
    counters: Counter[tuple[str, str, int, int]] = dataclasses.field(default_factory=Counter)
    deleted: bool = False

    @classmethod
    def of(cls, *sequences: SequenceInfo, **subscriber_fields: Any) -> World:
        return cls(sequences=catalog(*sequences), subscriber=subscriber(**subscriber_fields))

    def having(self, *runs: Run) -> World:
        """Store runs as if earlier calls had made them."""
        for run in runs:
            self.runs[(run.sequence, run.pass_no)] = run
        return self

    def feed(self, *inputs: Input, now: datetime | None = None) -> Outcome:
        """Process inputs at `now` (default: the latest input time, or the world's time)."""
        moments = [item.at for item in inputs]
        self.now = max([self.now, *moments]) if now is None else now
        outcome = process(
            copy.deepcopy(self.subscriber),
            [copy.deepcopy(run) for run in self.open_runs()],
            self.passes(),
            self.sequences,
            list(inputs),
            self.now,
        )
        for key, run in outcome.runs.items():
            self.runs[key] = dataclasses.replace(run, arrival_no=None)
        self.subscriber = copy.deepcopy(outcome.subscriber)
        self.deleted = self.deleted or outcome.deleted
        self.counters.update(outcome.counters)
        self.outcomes.append(outcome)
        return outcome

    def advance(self, delta: timedelta) -> Outcome:
        """Let time pass and process whatever became due (as the worker does for due deadlines)."""
        return self.feed(now=self.now + delta)

    def open_runs(self) -> list[Run]:
        return [run for run in self.runs.values() if run.status in ("active", "paused")]

    def passes(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for key, pass_no in self.runs:
            found[key] = max(found.get(key, 0), pass_no)
        return found

    def run(self, key: str) -> Run | None:
        """The open run of a sequence, if any."""
        return next((r for r in self.open_runs() if r.sequence == key), None)

    def last_run(self, key: str) -> Run:
        return max((r for r in self.runs.values() if r.sequence == key), key=lambda r: r.pass_no)

    def pause_sequence(self, key: str) -> None:
        self.sequences[key] = dataclasses.replace(self.sequences[key], status="paused")

    def resume_sequence(self, key: str, at: datetime | None = None) -> None:
        """Set the sequence active, stamp its runs with the resume time and flag state waits, like storage."""
        info = dataclasses.replace(self.sequences[key], status="active")
        self.sequences[key] = info
        for run in self.open_runs():
            if run.sequence == key and run.status == "active":
                run.resumed_at = at
                if has_state_waits(info, run.step):
                    run.recheck = True

    def change(
        self, at: datetime, *, set: Json | None = None, join: str | None = None, leave: str | None = None
    ) -> Event:
        """Change data or lists as an API edit does, and return the event it queues."""
        from stepwise.domain.paths import changed_paths, merge

        if set is not None:
            before = self.subscriber.data
            after_data = merge(before, set)
            self.subscriber.data = after_data
            return event("data_changed", at, fields=changed_paths(before, after_data), data=copy.deepcopy(after_data))
        if join is not None:
            self.subscriber.lists.add(join)
            return event("list_joined", at, list=join)
        assert leave is not None
        self.subscriber.lists.discard(leave)
        return event("list_left", at, list=leave)

    def all_transitions(self, sequence: str | None = None) -> list[tuple[str, int, int]]:
        return [t for outcome in self.outcomes for t in transitions(outcome, sequence)]
