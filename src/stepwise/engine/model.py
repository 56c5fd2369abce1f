"""Values the engine reads and returns. Plain data: no I/O, no clock."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

import orjson

from stepwise.domain.definition import DateReached, Schedule, SequenceDefinition, TimePassed
from stepwise.domain.instants import iso
from stepwise.domain.splits import split_weights
from stepwise.domain.statuses import EndReason, RunStatus

MAX_CHAIN = 20  # S10: transitions per subscriber caused by one outside input
MAX_ENTRY_BYTES = 64 * 1024  # S25: larger entry data is not kept on the run (then `same` never matches)


@dataclass(slots=True)
class Subscriber:
    """The subscriber being processed. The engine changes only its own copy, returned in the Outcome."""

    id: int
    email: str
    status: str
    data: dict[str, Any]
    lists: set[str]
    segments: frozenset[str] = frozenset()  # the segments they are in (SPEC §15), for segment_matches


@dataclass(slots=True)
class Run:
    """One pass of one subscriber through one sequence."""

    sequence: str
    pass_no: int
    status: RunStatus
    step: int  # 1-based step the run waits at (the last step once completed)
    entered_at: datetime
    step_entered_at: datetime
    wake_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: EndReason | None = None
    recheck: bool = False  # state waits must be re-tested (after a resume)
    # Set when the run or its sequence was resumed: an overdue deadline fires at that moment (S11), so the
    # next step's waits count from the resume, not from a deadline that passed during the pause.
    resumed_at: datetime | None = None
    id: int | None = None  # storage identity; None until stored
    # Ordinal of the arrival during the current processing, for S4 "after the run arrived".
    arrival_no: int | None = field(default=None, compare=False)
    version: int | None = None  # the sequence version it follows (S16); None: the live one
    # S24: the last variant fired (1-based, of the step before the one it waits at) and the conversion.
    last_variant: int | None = None
    converted_at: datetime | None = None
    converted_step: int | None = None
    converted_variant: int | None = None
    entry: dict[str, Any] | None = None  # S25: the event that started it (matching.entry_of); None: started by hand

    def copy(self) -> Run:
        """A copy to work on (several times faster than dataclasses.replace, which the engine does per run)."""
        return Run(
            sequence=self.sequence,
            pass_no=self.pass_no,
            status=self.status,
            step=self.step,
            entered_at=self.entered_at,
            step_entered_at=self.step_entered_at,
            wake_at=self.wake_at,
            ended_at=self.ended_at,
            end_reason=self.end_reason,
            recheck=self.recheck,
            resumed_at=self.resumed_at,
            id=self.id,
            arrival_no=self.arrival_no,
            version=self.version,
            last_variant=self.last_variant,
            converted_at=self.converted_at,
            converted_step=self.converted_step,
            converted_variant=self.converted_variant,
            entry=self.entry,
        )


@dataclass(frozen=True)
class SequenceInfo:
    """A sequence as the engine needs it, with lookups precomputed once per definition."""

    key: str
    status: Literal["active", "paused"]
    definition: SequenceDefinition
    timezone: str
    version: int = 1  # the live version number (S16)
    # Older versions that open runs still follow (S17 `pin`), by number; each with this one's status.
    pinned: Mapping[int, SequenceInfo] = field(default_factory=dict, compare=False)
    account_id: int = 0  # S23: part of the split hash

    @property
    def steps(self) -> int:
        return len(self.definition.steps)

    def for_version(self, version: int | None) -> SequenceInfo:
        """The definition a run on `version` follows: the live one unless an older version is pinned."""
        if version is None or version == self.version:
            return self
        return self.pinned.get(version, self)

    @cached_property
    def entry_kinds(self) -> frozenset[str]:
        """Event kinds that can match a step-1 variant (a cheap filter before matching)."""
        return frozenset(spec.event for variant in self.definition.steps[0].variants for spec in variant.when)

    @cached_property
    def step_kinds(self) -> tuple[frozenset[str], ...]:
        """Per step, the event kinds its variants name (edge events and waits alike)."""
        return tuple(
            frozenset(spec.event for variant in step.variants for spec in variant.when)
            for step in self.definition.steps
        )

    @cached_property
    def time_waits(self) -> tuple[tuple[tuple[int, TimePassed | Schedule], ...], ...]:
        """Per step, (variant index, wait) for every time wait, in listed order."""
        return tuple(
            tuple(
                (index, spec)
                for index, variant in enumerate(step.variants)
                for spec in variant.when
                if isinstance(spec, TimePassed | Schedule)
            )
            for step in self.definition.steps
        )

    @cached_property
    def date_waits(self) -> tuple[tuple[tuple[int, DateReached], ...], ...]:
        """Per step, (variant index, wait) for every date_reached wait (S26), in listed order."""
        return tuple(
            tuple(
                (index, spec)
                for index, variant in enumerate(step.variants)
                for spec in variant.when
                if isinstance(spec, DateReached)
            )
            for step in self.definition.steps
        )

    @cached_property
    def state_wait_steps(self) -> frozenset[int]:
        """1-based steps that have data_matches or list_matches waits."""
        return frozenset(
            number
            for number, kinds in enumerate(self.step_kinds, start=1)
            if "data_matches" in kinds or "list_matches" in kinds or "segment_matches" in kinds
        )

    @cached_property
    def reads_segments(self) -> bool:
        """Whether a `segment_matches` wait of this version or of a pinned one reads segment membership."""
        own = any("segment_matches" in kinds for kinds in self.step_kinds)
        return own or any(info.reads_segments for info in self.pinned.values())

    @cached_property
    def split_steps(self) -> dict[int, tuple[int, ...]]:
        """S23: 1-based split steps and their weights."""
        found = {number: split_weights(step) for number, step in enumerate(self.definition.steps, start=1)}
        return {number: weights for number, weights in found.items() if weights is not None and number > 1}


@dataclass(slots=True)  # not frozen: built for every event, and a frozen __init__ costs 3-5x
class Event:
    """An edge event about the subscriber. `at` is its logical time (acceptance, or the chain's time)."""

    kind: str
    payload: dict[str, Any]
    source: str
    at: datetime
    occurred_at: datetime | None = None
    id: int | None = None  # inbox row, for outside events

    def template_data(self) -> dict[str, Any]:
        """The `event` variable templates see: a custom event's data, else its payload."""
        if self.kind == "custom":
            body = self.payload.get("data")
            return dict(body) if isinstance(body, dict) else {}
        return {k: v for k, v in self.payload.items() if k != "data"}

    def entry(self) -> dict[str, Any]:
        """S25: what a run keeps of the event that started it, and what templates see as `entry`.

        `name` is a custom event's name (else the event type), `data` what templates see as `event`.
        Data whose JSON exceeds MAX_ENTRY_BYTES is not kept: `data` is then empty, `data_dropped` true.
        """
        data = self.template_data()
        entry: dict[str, Any] = {
            "type": self.kind,
            "name": self.payload.get("name") if self.kind == "custom" else self.kind,
            "source": self.source,
            "at": iso(self.at),
            "occurred_at": iso(self.occurred_at or self.at),
            "data": data,
        }
        if len(orjson.dumps(data)) > MAX_ENTRY_BYTES:
            entry["data"], entry["data_dropped"] = {}, True
        return entry


# ---------------------------------------------------------------- inputs other than events


@dataclass(frozen=True, slots=True)
class StartRun:
    """Enter a sequence bypassing its step-1 event (S9), on behalf of `source`."""

    sequence: str
    at: datetime
    source: str = "api"


@dataclass(frozen=True, slots=True)
class StopRun:
    sequence: str
    at: datetime
    reason: EndReason = "manual"


@dataclass(frozen=True, slots=True)
class PauseRun:
    sequence: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ResumeRun:
    sequence: str
    at: datetime


@dataclass(frozen=True, slots=True)
class DeleteSubscriber:
    at: datetime


Input = Event | StartRun | StopRun | PauseRun | ResumeRun | DeleteSubscriber


# ---------------------------------------------------------------- outputs


@dataclass(slots=True)  # not frozen: built for every event, and a frozen __init__ costs 3-5x
class EmailCommand:
    """Queue an issue: send this draft to the subscriber (or record it skipped)."""

    sequence: str
    pass_no: int
    step: int
    variant: int
    draft: str
    event: dict[str, Any]
    data: dict[str, Any]  # the profile as it was when the action ran (templates render with it)
    at: datetime
    skip_reason: str | None = None
    entry: dict[str, Any] = field(default_factory=dict)  # S25: templates' `entry`


@dataclass(frozen=True, slots=True)
class UrlCommand:
    """Queue a URL call."""

    sequence: str
    pass_no: int
    step: int
    variant: int
    action: dict[str, Any]
    event: dict[str, Any]
    data: dict[str, Any]
    at: datetime
    entry: dict[str, Any] = field(default_factory=dict)  # S25: templates' `entry`


Command = EmailCommand | UrlCommand


@dataclass(slots=True)  # not frozen: built for every event, and a frozen __init__ costs 3-5x
class TimelineEntry:
    at: datetime
    kind: str
    sequence: str | None
    detail: dict[str, Any]


CounterKey = tuple[str, str, int, int]  # (sequence, metric, step, variant)


@dataclass(slots=True)
class Outcome:
    """Everything one processing call decided (new states included), to be committed in one transaction."""

    subscriber: Subscriber
    data_changed: bool = False
    lists_joined: set[str] = field(default_factory=set)
    lists_left: set[str] = field(default_factory=set)
    runs: dict[tuple[str, int], Run] = field(default_factory=dict)  # touched runs by (sequence, pass)
    commands: list[Command] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    # A defaultdict, not a Counter: this is built for every subscriber processed and Counter() is slow.
    counters: defaultdict[CounterKey, int] = field(default_factory=lambda: defaultdict(int))
    deleted: bool = False
    transitions: int = 0
