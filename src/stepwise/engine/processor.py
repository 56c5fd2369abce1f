"""Process one subscriber's inputs against every sequence of the account (SPEC §4, S1-S13).

`process` is pure: it reads the subscriber, their runs and the sequences, and returns an Outcome
(new state, commands for the outbox, timeline entries, counter deltas). Callers persist it.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, assert_never

from stepwise.domain import definition as d
from stepwise.domain.instants import iso
from stepwise.domain.paths import changed_paths, get_path, set_path, unset_path
from stepwise.engine.deadlines import due_wait, has_state_waits, step_deadline
from stepwise.engine.matching import edge_matches, state_holds, template_event
from stepwise.engine.model import (
    MAX_CHAIN,
    UNAVAILABLE,
    DeleteSubscriber,
    EmailCommand,
    EndReason,
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
    UrlCommand,
)

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
        self.sub = subscriber
        self.runs: dict[str, Run] = {run.sequence: run for run in runs if run.status in ("active", "paused")}
        self.passes = dict(passes)
        self.sequences = dict(sorted(sequences.items()))
        self.out = Outcome(subscriber=subscriber)
        self._ordinal = 0
        self._chain = 0  # transitions in the current chain (S10)
        self._broken = False  # the current chain hit the guard; the rest of it is dropped
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
                self._record(item.at, "event", None, _event_detail(item))
                self._queue.append((item, self._next()))
                self._drain()
            case StartRun(sequence=key):
                self._start(key, item.at, event=None, source=item.source)
                self._drain()
            case StopRun(sequence=key, reason=reason):
                run = self.runs.get(key)
                if run is not None:
                    self._end(run, reason, item.at)
            case PauseRun(sequence=key):
                run = self.runs.get(key)
                if run is not None and run.status == "active":
                    run.status = "paused"
                    self._touch(run)
                    self._record(item.at, "run_paused", key, {"pass": run.pass_no, "step": run.step})
            case ResumeRun(sequence=key):
                run = self.runs.get(key)
                if run is not None and run.status == "paused":
                    run.status = "active"
                    run.recheck = True
                    run.resumed_at = item.at
                    self._touch(run)
                    self._record(item.at, "run_resumed", key, {"pass": run.pass_no, "step": run.step})
                    self.fire_due(item.at)
                    self._recheck(item.at)
                    self._drain()
            case DeleteSubscriber():
                for run in list(self.runs.values()):
                    self._end(run, "deleted", item.at)
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
        self._chain = 0
        self._broken = False

    def _allow(self, sequence: str, at: datetime, detail: dict[str, Any]) -> bool:
        """S10: admit one more transition in this chain, or record loop_detected and refuse."""
        if self._broken:
            return False
        if self._chain >= MAX_CHAIN:
            self._broken = True
            self._queue.clear()
            self._record(at, "loop_detected", sequence, {**detail, "limit": MAX_CHAIN})
            return False
        self._chain += 1
        return True

    def _drain(self) -> None:
        while self._queue and not self._broken:
            event, ordinal = self._queue.popleft()
            self._dispatch(event, ordinal)
        self._queue.clear()

    def _dispatch(self, event: Event, ordinal: int) -> None:
        """Offer one edge event to every sequence (S2-S4, S6, S12)."""
        # S3: a run open when the event happened keeps the event from (re)starting its sequence,
        # even if another sequence's action ends that run while the event is being offered.
        open_when_it_happened = set(self.runs)
        for key, seq in self.sequences.items():
            if seq.status != "active":
                continue  # S11: edge events for a paused sequence are dropped
            run = self.runs.get(key)
            if run is not None:
                if event.kind == "unsubscribed" and seq.definition.exit_on_unsubscribe:
                    self._end(run, "unsubscribed", event.at)
                    continue
                if run.status != "active" or run.step > seq.steps:
                    continue
                if run.arrival_no is not None and run.arrival_no >= ordinal:
                    continue  # S4: the event happened before the run arrived at this step
                if run.arrival_no is None and event.at < run.step_entered_at:
                    continue
                chosen = self._select(run, seq, event)
                if chosen is not None and self._allow(key, event.at, {"pass": run.pass_no, "step": run.step}):
                    self._transition(run, seq, chosen, event)
            elif key not in open_when_it_happened:
                self._try_enter(seq, event)

    def _select(self, run: Run, seq: SequenceInfo, event: Event) -> int | None:
        """Return the 0-based index of the first variant of the run's step matched by event (S4)."""
        state_change = event.kind in ("data_changed", "list_joined", "list_left")
        kinds = seq.step_kinds[run.step - 1]
        if event.kind not in kinds and not (state_change and seq.state_wait_steps):
            return None  # nothing at this step listens for this kind of event
        variants = seq.definition.steps[run.step - 1].variants
        for index, variant in enumerate(variants):
            for spec in variant.when:
                if isinstance(spec, d.DataMatches | d.ListMatches):
                    relevant = (
                        event.kind == "data_changed"
                        if isinstance(spec, d.DataMatches)
                        else (event.kind in ("list_joined", "list_left") and event.payload.get("list") == spec.list)
                    )
                    if state_change and relevant and state_holds(spec, self.sub.data, self.sub.lists, event.at):
                        return index
                elif not isinstance(spec, d.TimePassed | d.Schedule) and edge_matches(
                    spec, event, step=run.step, sequence=seq.key, pass_no=run.pass_no, data=self.sub.data
                ):
                    return index
        return None

    def _try_enter(self, seq: SequenceInfo, event: Event) -> None:
        """S2: an edge event matching a step-1 variant creates a run."""
        if event.kind not in seq.entry_kinds or not seq.definition.accepting:
            return
        if seq.definition.only_once and self.passes.get(seq.key, 0) > 0:
            return
        for index, variant in enumerate(seq.definition.steps[0].variants):
            if any(
                edge_matches(spec, event, step=1, sequence=seq.key, pass_no=None, data=self.sub.data)
                for spec in variant.when
            ):
                if not self._allow(seq.key, event.at, {"step": 1}):
                    return
                run = self._new_run(seq, event.at)
                self._record(event.at, "entered", seq.key, {"pass": run.pass_no, "via": event.kind})
                self._transition(run, seq, index, event)
                return

    def _new_run(self, seq: SequenceInfo, at: datetime) -> Run:
        pass_no = self.passes.get(seq.key, 0) + 1
        self.passes[seq.key] = pass_no
        run = Run(sequence=seq.key, pass_no=pass_no, status="active", step=1, entered_at=at, step_entered_at=at)
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
        variant = seq.definition.steps[step - 1].variants[variant_index]
        trigger = event.kind if event is not None else "start"
        detail: dict[str, Any] = {
            "pass": run.pass_no,
            "step": step,
            "variant": variant_index + 1,
            "trigger": trigger,
            "actions": [],
        }
        self._record(at, "transition", seq.key, detail)
        ended = False
        for action in variant.do:
            summary = self._act(action, run, seq, step, variant_index, event, at)
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
        deadline = step_deadline(seq, step, at)
        run.wake_at = deadline[0] if deadline else None
        self._touch(run)
        self.out.counters[(seq.key, "on_step", step, 0)] += 1
        if run.status == "active" and self._movable(run) and has_state_waits(seq, step):
            self._test_state_waits(run, seq, at)  # S6: tested on arrival

    def _test_state_waits(self, run: Run, seq: SequenceInfo, at: datetime) -> None:
        for index, variant in enumerate(seq.definition.steps[run.step - 1].variants):
            for spec in variant.when:
                if isinstance(spec, d.DataMatches | d.ListMatches) and state_holds(
                    spec, self.sub.data, self.sub.lists, at
                ):
                    if self._allow(seq.key, at, {"pass": run.pass_no, "step": run.step}):
                        self._transition(run, seq, index, _state_event(spec, at))
                    return

    def _recheck(self, at: datetime) -> None:
        for run in list(self.runs.values()):
            if run.recheck and run.status == "active" and self._movable(run):
                run.recheck = False
                self._touch(run)
                self._test_state_waits(run, self.sequences[run.sequence], at)

    def _fire_deadline(self, run: Run, until: datetime) -> None:
        seq = self.sequences[run.sequence]
        deadline = due_wait(seq, run.step, run.step_entered_at)
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
        return seq is not None and seq.status == "active" and run.step <= seq.steps

    # ------------------------------------------------------------ actions (§3)

    def _act(
        self,
        action: d.Action,
        run: Run,
        seq: SequenceInfo,
        step: int,
        variant: int,
        event: Event | None,
        at: datetime,
    ) -> dict[str, Any]:
        match action:
            case d.Nothing():
                return {"action": "nothing"}
            case d.SendEmail(draft=draft):
                skip = UNAVAILABLE.get(self.sub.status)
                self.out.commands.append(
                    EmailCommand(
                        sequence=seq.key,
                        pass_no=run.pass_no,
                        step=step,
                        variant=variant + 1,
                        draft=draft,
                        event=template_event(event),
                        data=self.sub.data,
                        at=at,
                        skip_reason=skip,
                    )
                )
                return {"action": "send_email", "draft": draft, "result": f"skipped: {skip}" if skip else "queued"}
            case d.CallUrl():
                self.out.commands.append(
                    UrlCommand(
                        sequence=seq.key,
                        pass_no=run.pass_no,
                        step=step,
                        variant=variant + 1,
                        action=action.dump(),
                        event=template_event(event),
                        data=self.sub.data,
                        at=at,
                    )
                )
                return {"action": "call_url", "url": action.url, "result": "queued"}
            case d.ChangeData():
                changed = self._change_data(action, seq.key, at)
                return {"action": "change_data", "changed": changed}
            case d.AddToList(list=key):
                joined = key not in self.sub.lists
                if joined:
                    self.sub.lists.add(key)
                    self._cascade("list_joined", {"list": key}, seq.key, at)
                return {"action": "add_to_list", "list": key, "result": "joined" if joined else "already a member"}
            case d.RemoveFromList(list=key):
                left = key in self.sub.lists
                if left:
                    self.sub.lists.discard(key)
                    self._cascade("list_left", {"list": key}, seq.key, at)
                return {"action": "remove_from_list", "list": key, "result": "left" if left else "not a member"}
            case d.StopSequence(sequence=target):
                key = seq.key if target == "current" else target
                other = self.runs.get(key)
                if other is None:
                    return {"action": "stop_sequence", "sequence": key, "result": "not running"}
                self._end(other, "stop_action", at)
                return {"action": "stop_sequence", "sequence": key, "result": "stopped"}
            case d.StartSequence(sequence=target):
                result = self._start(target, at, event=event, source=f"sequence:{seq.key}")
                return {"action": "start_sequence", "sequence": target, "result": result}
            case d.GoToSequence(sequence=target):
                refusal = self._start_refusal(target, leaving=seq.key)
                self._end(run, "go_to" if refusal is None else "go_to_rejected", at)
                if refusal is not None:
                    self._record(at, "go_to_rejected", seq.key, {"target": target, "reason": refusal})
                    return {"action": "go_to_sequence", "sequence": target, "result": f"rejected: {refusal}"}
                result = self._start(target, at, event=event, source=f"sequence:{seq.key}")
                return {"action": "go_to_sequence", "sequence": target, "result": result}
        assert_never(action)

    def _change_data(self, action: d.ChangeData, key: str, at: datetime) -> list[str]:
        before = self.sub.data
        after = copy.deepcopy(before)
        stamp = iso(at)
        for path, value in (action.set or {}).items():
            set_path(after, path, stamp if value == "$now" else copy.deepcopy(value))
        for path in action.unset or []:
            unset_path(after, path)
        for path, amount in (action.increment or {}).items():
            base = _number_of(get_path(after, path))
            total = base + amount
            set_path(
                after,
                path,
                int(total)
                if float(total).is_integer() and isinstance(base, int) and float(amount).is_integer()
                else total,
            )
        changed = changed_paths(before, after)
        if changed:
            self.sub.data = after
            self.out.data_changed = True
            self._cascade("data_changed", {"fields": changed, "data": copy.deepcopy(after)}, key, at)
        return changed

    def _cascade(self, kind: str, payload: dict[str, Any], key: str, at: datetime) -> None:
        """S10: changes made by actions produce events, processed after the transition."""
        event = Event(kind=kind, payload=payload, source=f"sequence:{key}", at=at)
        self._record(at, "event", None, _event_detail(event))
        self._queue.append((event, self._next()))

    def _start_refusal(self, key: str, leaving: str | None = None) -> str | None:
        seq = self.sequences.get(key)
        if seq is None:
            return "unknown sequence"
        if seq.status != "active":
            return "sequence is paused"
        if not seq.definition.accepting:
            return "sequence is not accepting"
        if key in self.runs and key != leaving:
            return "already running"
        if seq.definition.only_once and self.passes.get(key, 0) > 0:
            return "only_once and already passed"
        if len(seq.definition.steps[0].variants) != 1:
            return "step 1 has more than one variant"
        return None

    def _start(self, key: str, at: datetime, *, event: Event | None, source: str) -> str:
        """S9: enter `key` bypassing its step-1 event; return what happened."""
        refusal = self._start_refusal(key)
        if refusal is not None:
            self._record(at, "start_rejected", key, {"reason": refusal, "source": source})
            return f"rejected: {refusal}"
        if not self._allow(key, at, {"step": 1}):
            return "rejected: loop_detected"
        seq = self.sequences[key]
        run = self._new_run(seq, at)
        self._record(at, "entered", key, {"pass": run.pass_no, "via": source})
        carried = event if event is not None else Event(kind="start", payload={}, source=source, at=at)
        self._transition(run, seq, 0, carried)
        return "started"

    def _end(self, run: Run, reason: EndReason, at: datetime) -> None:
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
        self._record(at, "stopped", run.sequence, {"pass": run.pass_no, "step": run.step, "reason": reason})

    # ------------------------------------------------------------ bookkeeping

    def _touch(self, run: Run) -> None:
        self.out.runs[(run.sequence, run.pass_no)] = run

    def _record(self, at: datetime, kind: str, sequence: str | None, detail: dict[str, Any]) -> None:
        self.out.timeline.append(TimelineEntry(at=at, kind=kind, sequence=sequence, detail=detail))


def _number_of(value: Any) -> int | float:
    """Return the number a value holds for `increment`: numbers, numeric strings (CSV imports store those), else 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return 0
        return number if math.isfinite(number) else 0
    return 0


def _event_detail(event: Event) -> dict[str, Any]:
    detail: dict[str, Any] = {"event": event.kind, "source": event.source}
    payload = {k: v for k, v in event.payload.items() if k != "data" or event.kind == "custom"}
    if payload:
        detail["payload"] = payload
    return detail


def _state_event(spec: d.StateWait, at: datetime) -> Event:
    payload: dict[str, Any] = {"list": spec.list} if isinstance(spec, d.ListMatches) else {}
    return Event(kind=spec.event, payload=payload, source="engine", at=at)


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
