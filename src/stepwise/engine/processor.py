"""Process one subscriber's inputs against every sequence of the account (SPEC §4, S1-S13).

`process` is pure: it reads the subscriber, their runs and the sequences, and returns an Outcome
(new state, commands for the outbox, timeline entries, counter deltas). Callers persist it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, assert_never

from stepwise.domain.jsonvalues import copy_json
from stepwise.domain.statuses import EndReason
from stepwise.engine.actions import ActionContext, run_action
from stepwise.engine.deadlines import date_notes, earliest_due, has_state_waits, step_deadline
from stepwise.engine.goals import offer_goal
from stepwise.engine.model import (
    MAX_CHAIN,
    DeleteSubscriber,
    Event,
    Input,
    Outcome,
    PauseRun,
    ResumeRun,
    Run,
    SequenceInfo,
    StartRun,
    StopRun,
    Subscriber,
    TimelineEntry,
)
from stepwise.engine.selection import entry_variant, event_detail, select_variant, start_refusal, state_wait_met
from stepwise.engine.splits import split_met

MAX_DEADLINES_PER_CALL = 10_000


class Processor:
    """Working state for one processing call. Use `process()`."""

    def __init__(
        self,
        subscriber: Subscriber,
        runs: Iterable[Run],
        passes: Mapping[str, int],
        sequences: Mapping[str, SequenceInfo],
    ) -> None:
        # The caller's values are never changed: the engine works on copies; change_data replaces the profile.
        sub = subscriber
        self.sub = Subscriber(sub.id, sub.email, sub.status, sub.data, set(sub.lists), sub.segments)
        self.runs: dict[str, Run] = {run.sequence: run.copy() for run in runs if run.status in ("active", "paused")}
        self.passes = dict(passes)
        self.sequences = dict(sorted(sequences.items()))
        self.out = Outcome(subscriber=self.sub)
        self._snapshot: dict[str, Any] | None = None  # the profile as commands carry it; None once it changed
        self._ordinal = 0
        self._chain = 0  # transitions in the current chain that events caused by actions made (S10)
        self._broken = False  # the current chain hit the guard; the rest of it is dropped
        # True while the chain's own input acts (the outside event, a deadline, a start, a resume): the
        # transitions it causes directly do not count towards the guard (S10).
        self._direct = False
        self._queue: deque[tuple[Event, int]] = deque()
        self._initial_lists = set(subscriber.lists)

    # ------------------------------------------------------------ entry points

    def handle(self, item: Input) -> None:
        """Handle one input, first firing deadlines due before it (per-subscriber order, S13)."""
        if self.out.deleted:
            return
        self.fire_due(item.at)
        self._new_chain()
        match item:
            case Event():
                self.record(item.at, "event", None, event_detail(item))
                ordinal = self._next()
                self._direct = True
                self._dispatch(item, ordinal)
                self._drain()
            case StartRun(sequence=key):
                self._direct = True
                self._start(key, item.at, event=None, source=item.source)
                self._drain()
            case StopRun(sequence=key, reason=reason):
                run = self.runs.get(key)
                if run is not None:
                    self.end(run, reason, item.at)
            case PauseRun(sequence=key):
                run = self.runs.get(key)
                if run is not None and run.status == "active":
                    run.status = "paused"
                    self._touch(run)
                    self.record(item.at, "run_paused", key, {"pass": run.pass_no, "step": run.step})
            case ResumeRun(sequence=key):
                run = self.runs.get(key)
                if run is not None and run.status == "paused":
                    run.status = "active"
                    run.recheck = True
                    run.resumed_at = item.at
                    self._touch(run)
                    self.record(item.at, "run_resumed", key, {"pass": run.pass_no, "step": run.step})
                    self.fire_due(item.at)
                    self._new_chain()
                    self._recheck(item.at)
                    self._drain()
            case DeleteSubscriber():
                for run in list(self.runs.values()):
                    self.end(run, "deleted", item.at)
                self.out.deleted = True
            case _:
                assert_never(item)

    def fire_due(self, until: datetime) -> None:
        """Fire every deadline due at or before `until`, earliest first (S5, S11)."""
        for _ in range(MAX_DEADLINES_PER_CALL):
            due = [
                run
                for run in self.runs.values()
                if run.status == "active" and run.wake_at is not None and run.wake_at <= until and self._movable(run)
            ]
            if not due:
                break
            run = min(due, key=lambda r: (r.wake_at, r.sequence))
            self._new_chain()
            self._fire_deadline(run, until)
            self._drain()

    def recheck(self, now: datetime) -> None:
        """Re-test state waits of runs flagged after a resume (S11)."""
        self._new_chain()
        self._recheck(now)
        self._drain()

    def outcome(self) -> Outcome:
        sub = self.out.subscriber
        self.out.lists_joined = sub.lists - self._initial_lists
        self.out.lists_left = self._initial_lists - sub.lists
        return self.out

    # ------------------------------------------------------------ the chain

    def _next(self) -> int:
        self._ordinal += 1
        return self._ordinal

    def _new_chain(self) -> None:
        """Start counting afresh for a new input; its own transitions are direct until events it caused act."""
        self._chain = 0
        self._broken = False
        self._direct = True

    def _allow(self, sequence: str, at: datetime, detail: dict[str, Any]) -> bool:
        """S10: admit one more transition in this chain, or record loop_detected and refuse.

        Transitions the chain's input causes directly are always admitted and not counted: one
        `subscriber_added` enters every matching sequence, however many.
        """
        if self._direct:
            return True
        if self._broken:
            return False
        if self._chain >= MAX_CHAIN:
            self._broken = True
            self._queue.clear()
            self.record(at, "loop_detected", sequence, {**detail, "limit": MAX_CHAIN})
            return False
        self._chain += 1
        return True

    def _drain(self) -> None:
        """Process the events that actions caused, in order; every transition they make counts (S10)."""
        self._direct = False
        while self._queue and not self._broken:
            event, ordinal = self._queue.popleft()
            self._dispatch(event, ordinal)
        self._queue.clear()

    def _dispatch(self, event: Event, ordinal: int) -> None:
        """Offer one edge event to every sequence (S2-S4, S6, S12)."""
        # S3: a run open when the event happened keeps the event from (re)starting its sequence,
        # even if another sequence's action ends that run while the event is being offered.
        open_when_it_happened = set(self.runs)
        for key, live in self.sequences.items():
            if live.status != "active":
                continue  # S11: edge events for a paused sequence are dropped
            run = self.runs.get(key)
            seq = live if run is None else live.for_version(run.version)  # S17: a pinned run follows its version
            if run is not None:
                if event.kind == "unsubscribed" and seq.definition.exit_on_unsubscribe:
                    self.end(run, "unsubscribed", event.at)
                    continue
                if key in open_when_it_happened and offer_goal(self, run, seq, event):
                    continue  # S24: the goal ended the run
                if run.status != "active" or run.step > seq.steps:
                    continue
                if run.arrival_no is not None and run.arrival_no >= ordinal:
                    continue  # S4: the event happened before the run arrived at this step
                if run.arrival_no is None and event.at < run.step_entered_at:
                    continue
                chosen = select_variant(run, seq, event, self.sub)
                if chosen is not None and self._allow(key, event.at, {"pass": run.pass_no, "step": run.step}):
                    self._transition(run, seq, chosen, event)
            elif key not in open_when_it_happened:
                self._try_enter(seq, event)

    def _try_enter(self, seq: SequenceInfo, event: Event) -> None:
        """S2: an edge event matching a step-1 variant creates a run."""
        index = entry_variant(seq, event, self.sub, self.passes)
        if index is None or not self._allow(seq.key, event.at, {"step": 1}):
            return
        run = self._new_run(seq, event.at)
        run.entry = event.entry()  # S25
        self.record(event.at, "entered", seq.key, {"pass": run.pass_no, "via": event.kind})
        self._transition(run, seq, index, event)

    def _new_run(self, seq: SequenceInfo, at: datetime) -> Run:
        pass_no = self.passes.get(seq.key, 0) + 1
        self.passes[seq.key] = pass_no
        run = Run(sequence=seq.key, pass_no=pass_no, status="active", step=1, entered_at=at, step_entered_at=at)
        run.version = seq.version
        self.runs[seq.key] = run
        self._touch(run)
        self.out.counters[(seq.key, "entered", 0, 0)] += 1
        if pass_no == 1:
            self.out.counters[(seq.key, "subscribers", 0, 0)] += 1
        return run

    def _transition(self, run: Run, seq: SequenceInfo, variant_index: int, event: Event | None) -> None:
        """Fire a variant: run its actions in order, then arrive at the next step or complete (S4, S7)."""
        self.out.transitions += 1
        at = event.at if event is not None else run.step_entered_at
        step = run.step
        self.out.counters[(seq.key, "fired", step, variant_index + 1)] += 1
        run.last_variant = variant_index + 1  # S24
        variant = seq.definition.steps[step - 1].variants[variant_index]
        detail: dict[str, Any] = {"pass": run.pass_no, "step": step, "variant": variant_index + 1}
        detail.update(trigger=event.kind if event is not None else "start", actions=[])
        self.record(at, "transition", seq.key, detail)
        ended = False
        context = ActionContext(run, seq, step, variant_index, event, at)
        for action in variant.do:
            summary = run_action(self, action, context)
            detail["actions"].append(summary)
            if run.status not in ("active", "paused"):
                ended = True
                break
        if ended:
            return  # _end already took the run off its step
        if step > 1:
            # Leave the step only now: an action may have ended the run, and _end counts that itself.
            self.out.counters[(seq.key, "on_step", step, 0)] -= 1
        if step >= seq.steps:
            run.status = "completed"
            run.ended_at = at
            run.wake_at = None
            run.recheck = False
            run.resumed_at = None
            self.runs.pop(seq.key, None)
            self._touch(run)
            self.out.counters[(seq.key, "completed", 0, 0)] += 1
            detail["result"] = "completed"
            return
        self._arrive(run, seq, step + 1, at)
        detail["result"] = f"arrived at step {step + 1}"

    def _arrive(self, run: Run, seq: SequenceInfo, step: int, at: datetime) -> None:
        run.step = step
        run.step_entered_at = at
        run.arrival_no = self._next()
        run.recheck = False
        run.resumed_at = None
        deadline = step_deadline(seq, step, at, self.sub.data)  # S26: date waits fixed on arrival
        run.wake_at = deadline[0] if deadline else None
        self.out.timeline += date_notes(seq, step, self.sub.data, run.pass_no, at)
        self._touch(run)
        self.out.counters[(seq.key, "on_step", step, 0)] += 1
        if run.status == "active" and self._movable(run) and has_state_waits(seq, step):
            self._test_state_waits(run, seq, at)  # S6: tested on arrival

    def _test_state_waits(self, run: Run, seq: SequenceInfo, at: datetime) -> None:
        met = split_met(run, seq, self.sub.id, at) or state_wait_met(run, seq, self.sub, at)
        if met is not None and self._allow(seq.key, at, {"pass": run.pass_no, "step": run.step}):
            self._transition(run, seq, met[0], met[1])

    def _recheck(self, at: datetime) -> None:
        for run in list(self.runs.values()):
            if run.recheck and run.status == "active" and self._movable(run):
                run.recheck = False
                self._touch(run)
                self._test_state_waits(run, self.sequences[run.sequence].for_version(run.version), at)

    def _fire_deadline(self, run: Run, until: datetime) -> None:
        seq = self.sequences[run.sequence].for_version(run.version)
        deadline = earliest_due(seq, run, self.sub.data)
        if deadline is None or deadline[0] > until:
            # The definition changed since the deadline was stored: follow the new one.
            run.wake_at = deadline[0] if deadline else None
            self._touch(run)
            return
        # The wait that is due, not merely the variant's first one: the timeline names the trigger.
        moment, index, spec = deadline
        if not self._allow(seq.key, moment, {"pass": run.pass_no, "step": run.step}):
            run.wake_at = None  # the guard tripped; do not fire this deadline again and again
            self._touch(run)
            return
        # S11: a deadline that passed while the run was held fires at the resume, not back in time.
        at = run.resumed_at if run.resumed_at is not None and run.resumed_at > moment else moment
        event = Event(kind=spec.event, payload={"deadline": moment.isoformat()}, source="engine", at=at)
        self._transition(run, seq, index, event)

    def _movable(self, run: Run) -> bool:
        seq = self.sequences.get(run.sequence)
        return seq is not None and seq.status == "active" and run.step <= seq.for_version(run.version).steps

    # ------------------------------------------------------------ what actions call (engine/actions.py)

    def data_snapshot(self) -> dict[str, Any]:
        """The profile as it is now, for a command: a copy no later change reaches."""
        if self._snapshot is None:
            self._snapshot = copy_json(self.sub.data)
        return self._snapshot

    def replace_data(self, data: dict[str, Any]) -> None:
        self.sub.data = data
        self.out.data_changed = True
        self._snapshot = None

    def cascade(self, kind: str, payload: dict[str, Any], key: str, at: datetime) -> None:
        """S10: changes made by actions produce events, processed after the transition."""
        event = Event(kind=kind, payload=payload, source=f"sequence:{key}", at=at)
        self.record(at, "event", None, event_detail(event))
        self._queue.append((event, self._next()))

    def start_by_action(self, key: str, at: datetime, event: Event | None, by: str) -> str:
        """S9 by an action: the transitions it makes count towards the guard (go_to ping-pong is a loop, S10)."""
        direct, self._direct = self._direct, False
        try:
            return self._start(key, at, event=event, source=f"sequence:{by}")
        finally:
            self._direct = direct

    def _start(self, key: str, at: datetime, *, event: Event | None, source: str) -> str:
        """S9: enter `key` bypassing its step-1 event; return what happened."""
        refusal = start_refusal(self.sequences.get(key), key in self.runs, self.passes)
        if refusal is not None:
            self.record(at, "start_rejected", key, {"reason": refusal, "source": source})
            return f"rejected: {refusal}"
        if not self._allow(key, at, {"step": 1}):
            return "rejected: loop_detected"
        seq = self.sequences[key]
        run = self._new_run(seq, at)
        self.record(at, "entered", key, {"pass": run.pass_no, "via": source})
        carried = event if event is not None else Event(kind="start", payload={}, source=source, at=at)
        self._transition(run, seq, 0, carried)
        return "started"

    def end(self, run: Run, reason: EndReason, at: datetime) -> None:
        if run.status not in ("active", "paused"):
            return
        if run.step > 1:
            self.out.counters[(run.sequence, "on_step", run.step, 0)] -= 1
        run.status = "stopped"
        run.end_reason = reason
        run.ended_at = at
        run.wake_at = None
        run.recheck = False
        run.resumed_at = None
        self.runs.pop(run.sequence, None)
        self._touch(run)
        self.out.counters[(run.sequence, f"stopped:{reason}", 0, 0)] += 1
        self.record(at, "stopped", run.sequence, {"pass": run.pass_no, "step": run.step, "reason": reason})

    # ------------------------------------------------------------ bookkeeping

    def _touch(self, run: Run) -> None:
        self.out.runs[(run.sequence, run.pass_no)] = run

    def record(self, at: datetime, kind: str, sequence: str | None, detail: dict[str, Any]) -> None:
        self.out.timeline.append(TimelineEntry(at=at, kind=kind, sequence=sequence, detail=detail))


def process(
    subscriber: Subscriber,
    runs: Iterable[Run],
    passes: Mapping[str, int],
    sequences: Mapping[str, SequenceInfo],
    inputs: Iterable[Input],
    now: datetime,
) -> Outcome:
    """Apply inputs in order, then fire deadlines due by `now` and re-test flagged state waits."""
    processor = Processor(subscriber, runs, passes, sequences)
    for item in inputs:
        processor.handle(item)
    if not processor.out.deleted:
        processor.fire_due(now)
        processor.recheck(now)
    return processor.outcome()
