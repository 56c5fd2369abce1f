"""Random traffic through the engine, with the state carried between calls as the storage layer does.

A Hypothesis state machine sends edge events, custom events, data and list changes, run control
(start/stop/pause/resume), sequence pause/resume, deletions and the passing of time to a few
subscribers of an account with four small sequences. After every step it checks the engine's
invariants against a reference model kept by the test: one open run per subscriber and sequence,
one transition per step of a run, counters equal to the history, deadlines and state waits settled,
nothing moving in a paused sequence or run, and simple predictions of who enters and who stops.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from stepwise.domain import definition as d
from stepwise.domain.paths import changed_paths, merge
from stepwise.domain.statuses import UNAVAILABLE
from stepwise.domain.validation import References, check_sequence
from stepwise.engine.deadlines import step_deadline
from stepwise.engine.matching import state_holds
from stepwise.engine.model import (
    DeleteSubscriber,
    EmailCommand,
    Input,
    Outcome,
    PauseRun,
    ResumeRun,
    Run,
    SequenceInfo,
    StartRun,
    StopRun,
    Subscriber,
)
from stepwise.engine.processor import process
from tests.unit.builders import (
    NOTHING,
    T0,
    add_to,
    after,
    catalog,
    custom,
    custom_event,
    days,
    edge,
    event,
    go_to,
    hours,
    minutes,
    on,
    remove_from,
    send,
    sequence,
    set_data,
    start,
    stop,
    subscriber,
    where,
)

OPEN = ("active", "paused")


def account_sequences() -> dict[str, SequenceInfo]:
    """Four small sequences with time, schedule and state waits, starts, go-tos and stops."""
    return catalog(
        sequence(
            "onboard",
            [on(edge("subscriber_added"), do=send("welcome")), on(custom("signup"), do=[send("welcome")])],
            [
                on(custom("buy"), do={"action": "change_data", "increment": {"custom.orders": 1}}),
                on(after("1d"), do=send("nudge")),
            ],
            [
                on(
                    edge("data_matches", where=where("custom.orders", "gte", 2)), do=[add_to("buyers"), start("upsell")]
                ),
                on(edge("schedule", every="day", at="09:00"), do=go_to("winback")),
            ],
            exit_on_unsubscribe=True,
        ),
        sequence("tagger", on(edge("data_changed", fields=["custom.orders"]), do=add_to("vip"))),
        sequence(
            "upsell",
            on(edge("never"), do=send("upsell")),
            [on(edge("list_matches", list="vip"), do=NOTHING), on(after("2h"), do=stop("onboard"))],
            [on(custom("buy"), do=stop()), on(after("3h"), do=send("last-call"))],
            only_once=True,
        ),
        sequence(
            "winback",
            on(custom("lapsed"), do=send("miss-you")),
            [
                on(custom("buy"), do=[set_data(custom__lapsed=False), stop()]),
                on(after("3d"), do=remove_from("buyers")),
            ],
            only_once=True,
        ),
    )


KEYS = sorted(account_sequences())
SUBSCRIBERS = st.integers(min_value=0, max_value=2)
Recipe = tuple[Any, ...]
RECIPES: st.SearchStrategy[Recipe] = st.one_of(
    st.sampled_from(
        [
            ("custom", "signup"),
            ("custom", "buy"),
            ("custom", "lapsed"),
            ("custom", "other"),
            ("unsubscribed",),
            ("resubscribe",),
            ("subscriber_added",),
        ]
    ),
    st.tuples(st.just("set"), st.sampled_from(["custom.orders", "base.city"]), st.sampled_from([0, 1, 2, "Kazan"])),
    st.tuples(st.sampled_from(["join", "leave"]), st.sampled_from(["vip", "buyers"])),
    st.tuples(st.sampled_from(["start", "stop", "pause", "resume"]), st.sampled_from(KEYS)),
)


def test_the_account_sequences_are_valid_definitions() -> None:
    seqs = account_sequences()
    refs = References(
        drafts=frozenset({"welcome", "nudge", "upsell", "last-call", "miss-you"}),
        lists=frozenset({"vip", "buyers"}),
        step_one_variants={k: len(s.definition.steps[0].variants) for k, s in seqs.items()},
        targeted_by={"upsell": frozenset({"onboard"}), "winback": frozenset({"onboard"})},
    )

    assert {key: check_sequence(key, s.definition, refs) for key, s in seqs.items()} == {k: [] for k in seqs}


@dataclasses.dataclass
class Stored:
    """What storage keeps of one subscriber between calls."""

    subscriber: Subscriber
    runs: dict[tuple[str, int], Run] = dataclasses.field(default_factory=dict)
    deleted: bool = False

    def open_runs(self) -> dict[str, Run]:
        return {run.sequence: run for run in self.runs.values() if run.status in OPEN}

    def passes(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for key, pass_no in self.runs:
            found[key] = max(found.get(key, 0), pass_no)
        return found


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sequences = account_sequences()
        self.now: datetime = T0
        self.stored = {i: Stored(subscriber(f"user{i}@example.com")) for i in range(3)}
        self.counters: Counter[tuple[str, str, int, int]] = Counter()
        self.fired: Counter[tuple[str, int, int]] = Counter()
        self.last_step: dict[tuple[int, str, int], int] = {}  # (subscriber, sequence, pass) -> last fired step
        self.tripped: set[int] = set()  # subscribers whose chain guard fired (S10); state may lag behind

    # ------------------------------------------------------------ driving the engine like the worker does

    def call(self, who: int, inputs: list[Input]) -> Outcome:
        stored = self.stored[who]
        statuses = {key: info.status for key, info in self.sequences.items()}
        paused_runs = {(r.sequence, r.pass_no) for r in stored.open_runs().values() if r.status == "paused"}
        resumed = {item.sequence for item in inputs if isinstance(item, ResumeRun)}
        status = stored.subscriber.status

        outcome = process(
            copy.deepcopy(stored.subscriber),
            [copy.deepcopy(run) for run in stored.open_runs().values()],
            stored.passes(),
            self.sequences,
            inputs,
            self.now,
        )

        for key, run in outcome.runs.items():
            stored.runs[key] = dataclasses.replace(run, arrival_no=None)
        stored.subscriber = copy.deepcopy(outcome.subscriber)
        stored.deleted = stored.deleted or outcome.deleted
        self.counters.update(outcome.counters)
        for entry in outcome.timeline:
            if entry.kind == "loop_detected":
                self.tripped.add(who)
            if entry.kind in ("transition", "entered"):
                assert entry.sequence is not None
                assert statuses[entry.sequence] == "active", "a paused sequence moves and admits no one (S11)"
            if entry.kind == "transition":
                assert entry.sequence is not None
                run_key = (who, entry.sequence, entry.detail["pass"])
                step = entry.detail["step"]
                assert step == self.last_step.get(run_key, 0) + 1, "one variant fires per arrival (S4)"
                self.last_step[run_key] = step
                self.fired[(entry.sequence, step, entry.detail["variant"])] += 1
                if (entry.sequence, entry.detail["pass"]) in paused_runs:
                    assert entry.sequence in resumed, "a paused run does not move (S11)"
        for command in outcome.commands:
            if isinstance(command, EmailCommand):
                assert command.skip_reason == UNAVAILABLE.get(status), "S12"
        return outcome

    def materialize(self, stored: Stored, recipe: Recipe) -> Input | None:
        """Apply an audience change as the API does and return the input it queues (None: no event)."""
        sub = stored.subscriber
        match recipe:
            case ("custom", name):
                return custom_event(name, self.now)
            case ("unsubscribed",):
                sub.status = "unsubscribed"
                return event("unsubscribed", self.now)
            case ("resubscribe",):
                sub.status = "active"
                return None
            case ("subscriber_added",):
                return event("subscriber_added", self.now, confirmed=True)
            case ("set", path, value):
                group, field = path.split(".")
                before = sub.data
                after_ = merge(before, {group: {field: value}})
                changed = changed_paths(before, after_)
                sub.data = after_
                return event("data_changed", self.now, fields=changed, data=copy.deepcopy(after_)) if changed else None
            case ("join", key):
                if key in sub.lists:
                    return None
                sub.lists.add(key)
                return event("list_joined", self.now, list=key)
            case ("leave", key):
                if key not in sub.lists:
                    return None
                sub.lists.discard(key)
                return event("list_left", self.now, list=key)
            case ("start", key):
                return StartRun(sequence=key, at=self.now)
            case ("stop", key):
                return StopRun(sequence=key, at=self.now)
            case ("pause", key):
                return PauseRun(sequence=key, at=self.now)
            case ("resume", key):
                return ResumeRun(sequence=key, at=self.now)
        raise AssertionError(f"unknown recipe {recipe!r}")

    # ------------------------------------------------------------ rules

    def one_input(self, who: int, recipe: Recipe) -> None:
        """Send one input alone, so that the reference model can predict its effect."""
        stored = self.stored[who]
        if stored.deleted:
            return
        before: dict[str, tuple[int, str, int]] = {
            key: (run.pass_no, run.status, run.step) for key, run in stored.open_runs().items()
        }
        passes = stored.passes()
        item = self.materialize(stored, recipe)
        if item is None:
            return
        outcome = self.call(who, [item])
        self.predict(who, recipe, before, passes, outcome)

    @rule(who=SUBSCRIBERS, name=st.sampled_from(["signup", "buy", "lapsed", "other"]))
    def a_custom_event(self, who: int, name: str) -> None:
        self.one_input(who, ("custom", name))

    @rule(who=SUBSCRIBERS, leaves=st.booleans())
    def the_subscriber_unsubscribes_or_comes_back(self, who: int, leaves: bool) -> None:
        self.one_input(who, ("unsubscribed",) if leaves else ("resubscribe",))

    @rule(who=SUBSCRIBERS)
    def a_subscriber_added_event(self, who: int) -> None:
        self.one_input(who, ("subscriber_added",))

    @rule(who=SUBSCRIBERS, path=st.sampled_from(["custom.orders", "base.city"]), value=st.sampled_from([0, 1, 2, "x"]))
    def the_data_changes(self, who: int, path: str, value: object) -> None:
        self.one_input(who, ("set", path, value))

    @rule(who=SUBSCRIBERS, joins=st.booleans(), key=st.sampled_from(["vip", "buyers"]))
    def a_list_membership_changes(self, who: int, joins: bool, key: str) -> None:
        self.one_input(who, ("join" if joins else "leave", key))

    @rule(who=SUBSCRIBERS, action=st.sampled_from(["start", "stop", "pause", "resume"]), key=st.sampled_from(KEYS))
    def a_run_is_controlled(self, who: int, action: str, key: str) -> None:
        self.one_input(who, (action, key))

    @rule(who=SUBSCRIBERS, recipes=st.lists(RECIPES, min_size=2, max_size=4))
    def several_inputs_in_one_call(self, who: int, recipes: list[Recipe]) -> None:
        stored = self.stored[who]
        if stored.deleted:
            return
        inputs = [item for item in (self.materialize(stored, r) for r in recipes) if item is not None]
        self.call(who, inputs)

    @rule(delta=st.sampled_from([minutes(1), minutes(30), hours(2), hours(5), days(1), days(3)]))
    def time_passes(self, delta: timedelta) -> None:
        self.now += delta
        for who, stored in self.stored.items():
            if not stored.deleted:
                self.call(who, [])

    @rule(key=st.sampled_from(KEYS), pause=st.booleans())
    def a_sequence_is_paused_or_resumed(self, key: str, pause: bool) -> None:
        if pause:
            self.sequences[key] = dataclasses.replace(self.sequences[key], status="paused")
        else:
            self.resume_sequence(key)

    def resume_sequence(self, key: str) -> None:
        """As storage does: runs at steps with state waits are flagged, and every subscriber is processed."""
        was_paused = self.sequences[key].status == "paused"
        info = dataclasses.replace(self.sequences[key], status="active")
        self.sequences[key] = info
        if not was_paused:
            return
        for who, stored in self.stored.items():
            if stored.deleted:
                continue
            for run in stored.open_runs().values():
                if run.sequence == key and run.status == "active" and _state_waits(info, run.step):
                    run.recheck = True
            self.call(who, [])

    @rule()
    def the_third_subscriber_is_deleted(self) -> None:
        stored = self.stored[2]
        if stored.deleted:
            return
        open_before = set(stored.open_runs())
        outcome = self.call(2, [DeleteSubscriber(at=self.now)])
        assert outcome.deleted
        assert stored.open_runs() == {}
        assert {run.sequence for run in outcome.runs.values() if run.end_reason == "deleted"} == open_before

    # ------------------------------------------------------------ predictions of a reference model

    def predict(
        self,
        who: int,
        recipe: Recipe,
        before: dict[str, tuple[int, str, int]],
        passes: dict[str, int],
        outcome: Outcome,
    ) -> None:
        stored = self.stored[who]
        now_open = stored.open_runs()
        entered = {e.sequence for e in outcome.timeline if e.kind == "entered"}
        match recipe:
            case ("custom", "signup" | "lapsed"):
                key = "onboard" if recipe[1] == "signup" else "winback"
                info = self.sequences[key]
                once = info.definition.only_once and passes.get(key, 0) > 0
                expected = info.status == "active" and key not in before and not once  # S2, S3, S11
                assert (key in entered) is expected
                if expected:
                    assert (key, passes.get(key, 0) + 1) in outcome.runs
            case ("unsubscribed",):
                if "onboard" in before:
                    pass_no = before["onboard"][0]
                    run = stored.runs[("onboard", pass_no)]
                    if self.sequences["onboard"].status == "active":
                        assert (run.status, run.end_reason) == ("stopped", "unsubscribed")  # S12
                    else:
                        assert run.status in OPEN  # S11: dropped while the sequence is paused
            case ("stop", key):
                assert key not in now_open
                if key in before:
                    run = stored.runs[(key, before[key][0])]
                    assert (run.status, run.end_reason) == ("stopped", "manual")
            case ("pause", key):
                if key in before and before[key][1] == "active":
                    assert (now_open[key].status, now_open[key].step) == ("paused", before[key][2])
                if key in before and before[key][1] == "paused":
                    assert now_open[key].status == "paused"
            case ("resume", key):
                if key in before and before[key][1] == "paused":
                    run = stored.runs[(key, before[key][0])]
                    assert run.status != "paused"
            case ("start", key):
                info = self.sequences[key]
                allowed = (
                    info.status == "active"
                    and info.definition.accepting
                    and key not in before
                    and not (info.definition.only_once and passes.get(key, 0))
                    and len(info.definition.steps[0].variants) == 1
                )
                assert (key in entered) is allowed  # S9
                rejected = [e for e in outcome.timeline if e.kind == "start_rejected" and e.sequence == key]
                assert bool(rejected) is not allowed
            case _:
                pass

    # ------------------------------------------------------------ invariants

    @invariant()
    def at_most_one_open_run_per_subscriber_and_sequence(self) -> None:
        for stored in self.stored.values():
            open_keys = [run.sequence for run in stored.runs.values() if run.status in OPEN]
            assert len(open_keys) == len(set(open_keys))
            for key in {k for k, _ in stored.runs}:
                assert sorted(p for k, p in stored.runs if k == key) == list(range(1, stored.passes()[key] + 1))

    @invariant()
    def runs_stand_where_their_transitions_left_them(self) -> None:
        for who, stored in self.stored.items():
            for (key, pass_no), run in stored.runs.items():
                fired = self.last_step.get((who, key, pass_no), 0)
                assert fired >= 1, "a new run fires its step-1 variant at once"
                if run.status in OPEN:
                    assert run.step == fired + 1 >= 2
                elif run.status == "completed":
                    assert run.step == fired == self.sequences[key].steps
                else:
                    assert run.step in (fired, fired + 1)
                    assert run.end_reason is not None

    @invariant()
    def counters_equal_what_the_history_implies(self) -> None:
        expected: Counter[tuple[str, str, int, int]] = Counter()
        for stored in self.stored.values():
            for (key, pass_no), run in stored.runs.items():
                expected[(key, "entered", 0, 0)] += 1
                if pass_no == 1:
                    expected[(key, "subscribers", 0, 0)] += 1
                if run.status in OPEN:
                    expected[(key, "on_step", run.step, 0)] += 1
                elif run.status == "completed":
                    expected[(key, "completed", 0, 0)] += 1
                else:
                    expected[(key, f"stopped:{run.end_reason}", 0, 0)] += 1
        for (key, step, variant), count in self.fired.items():
            expected[(key, "fired", step, variant)] += count

        assert {k: v for k, v in self.counters.items() if v} == {k: v for k, v in expected.items() if v}

    @invariant()
    def deadlines_are_fixed_on_arrival_and_none_is_overdue(self) -> None:
        for who, stored in self.stored.items():
            if stored.deleted or who in self.tripped:
                continue
            for run in stored.open_runs().values():
                info = self.sequences[run.sequence]
                deadline = step_deadline(info, run.step, run.step_entered_at)
                assert run.wake_at == (deadline[0] if deadline else None)  # S5
                if run.status == "active" and info.status == "active" and run.wake_at is not None:
                    assert run.wake_at > self.now  # due deadlines fired (S5, S11)

    @invariant()
    def no_waiting_run_has_a_state_wait_that_holds(self) -> None:
        for who, stored in self.stored.items():
            if stored.deleted or who in self.tripped:
                continue
            sub = stored.subscriber
            for run in stored.open_runs().values():
                info = self.sequences[run.sequence]
                if run.status != "active" or info.status != "active" or run.recheck:
                    continue
                for variant in info.definition.steps[run.step - 1].variants:
                    for spec in variant.when:
                        if isinstance(spec, d.DataMatches | d.ListMatches):
                            assert not state_holds(spec, sub.data, sub.lists, self.now), "S6"


def _state_waits(info: SequenceInfo, step: int) -> bool:
    return any(
        isinstance(spec, d.DataMatches | d.ListMatches)
        for variant in info.definition.steps[step - 1].variants
        for spec in variant.when
    )


EngineMachine.TestCase.settings = settings(
    max_examples=80,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestEngineUnderRandomTraffic = EngineMachine.TestCase
