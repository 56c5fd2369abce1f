"""The engine rules S1-S13 of SPEC §4, checked through `process()` only.

S7/S14 persistence and S13 idempotency by event id live in the storage layer and are tested there;
here S7 is the engine's half (commands in order, data and list changes in the same call) and S13 is
the ordering half.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from stepwise.engine.model import (
    DeleteSubscriber,
    EmailCommand,
    Event,
    Input,
    PauseRun,
    ResumeRun,
    RunStatus,
    SequenceInfo,
    StartRun,
    StopRun,
    UrlCommand,
)
from stepwise.engine.processor import process
from tests.unit.builders import (
    NOTHING,
    T0,
    World,
    add_to,
    after,
    call,
    catalog,
    counters,
    custom,
    custom_event,
    days,
    edge,
    emails,
    entries,
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
    transitions,
    waiting_run,
    where,
)

GO = custom("go")


def three_steps(key: str = "s", **settings: Any) -> World:
    """A subscriber and a sequence: `go` enters, `two` moves on, `three` completes."""
    return World.of(
        sequence(
            key,
            on(GO, do=send("first")),
            on(custom("two"), do=send("second")),
            on(custom("three"), do=send("third")),
            **settings,
        )
    )


# ---------------------------------------------------------------- S1 runs


def test_s1_one_open_run_per_subscriber_and_sequence() -> None:
    world = three_steps()

    world.feed(custom_event("go", T0), custom_event("go", T0))
    world.feed(custom_event("go", T0 + hours(1)))

    assert [(r.pass_no, r.status, r.step) for r in world.runs.values()] == [(1, "active", 2)]
    assert world.counters[("s", "entered", 0, 0)] == 1


def test_s1_a_run_waits_only_for_the_events_of_its_current_step() -> None:
    world = three_steps()
    world.feed(custom_event("go", T0))

    world.feed(custom_event("three", T0 + hours(1)))
    assert world.last_run("s").step == 2

    world.feed(custom_event("two", T0 + hours(2)))
    world.feed(custom_event("three", T0 + hours(3)))
    assert world.last_run("s").status == "completed"
    assert world.all_transitions() == [("s", 1, 1), ("s", 2, 1), ("s", 3, 1)]


def test_s1_runs_of_different_sequences_run_side_by_side() -> None:
    world = World.of(
        sequence("a", on(GO, do=NOTHING), on(custom("x"), do=NOTHING)),
        sequence("b", on(GO, do=NOTHING), on(custom("x"), do=NOTHING)),
    )

    world.feed(custom_event("go", T0))

    assert sorted((r.sequence, r.step) for r in world.open_runs()) == [("a", 2), ("b", 2)]


# ---------------------------------------------------------------- S2 entry


def test_s2_a_matching_step_one_event_creates_a_run_that_fires_and_arrives_at_step_two() -> None:
    world = three_steps()

    outcome = world.feed(custom_event("go", T0))

    run = world.last_run("s")
    assert (run.pass_no, run.status, run.step, run.entered_at, run.step_entered_at) == (1, "active", 2, T0, T0)
    assert emails(outcome.commands) == ["first"]
    assert transitions(outcome) == [("s", 1, 1)]
    assert counters(outcome, "s") == {
        ("entered", 0, 0): 1,
        ("subscribers", 0, 0): 1,
        ("fired", 1, 1): 1,
        ("on_step", 2, 0): 1,
    }


def test_s2_the_variant_whose_event_matched_is_the_one_that_fires() -> None:
    world = World.of(
        sequence(
            "s",
            [on(custom("a"), do=send("from-a")), on(custom("b"), do=send("from-b"))],
            on(custom("x"), do=NOTHING),
        )
    )

    outcome = world.feed(custom_event("b", T0))

    assert transitions(outcome) == [("s", 1, 2)]
    assert emails(outcome.commands) == ["from-b"]


@pytest.mark.parametrize(
    ("spec", "happened"),
    [
        (custom("go"), custom_event("stop", T0)),
        (edge("form_submitted", form="news"), event("form_submitted", T0, form="other")),
        (edge("list_joined", list="vip"), event("list_joined", T0, list="trial")),
        (edge("list_joined", list="vip"), event("list_left", T0, list="vip")),
        (edge("subscriber_added", confirmed=True), event("subscriber_added", T0, confirmed=False)),
        (edge("subscription_confirmed"), event("subscription_confirmed", T0, method="manual")),
        (edge("never"), event("never", T0)),
    ],
)
def test_s2_an_event_that_matches_no_step_one_event_creates_no_run(spec: dict[str, Any], happened: Event) -> None:
    world = World.of(sequence("s", on(spec, do=NOTHING), on(custom("x"), do=NOTHING)))

    outcome = world.feed(happened)

    assert world.runs == {}
    assert counters(outcome, "s") == {}


def test_s2_a_one_step_sequence_completes_on_entry() -> None:
    world = World.of(sequence("s", on(GO, do=send("hello"))))

    outcome = world.feed(custom_event("go", T0))

    run = world.last_run("s")
    assert (run.status, run.step, run.ended_at, run.end_reason) == ("completed", 1, T0, None)
    assert counters(outcome, "s")[("completed", 0, 0)] == 1
    assert ("on_step", 1, 0) not in counters(outcome, "s")


def test_s2_the_pass_number_is_previous_passes_plus_one() -> None:
    seq = sequence("s", on(GO, do=NOTHING), on(custom("x"), do=NOTHING))

    outcome = process(subscriber(), [], {"s": 2}, catalog(seq), [custom_event("go", T0)], T0)

    assert [(key, run.pass_no) for key, run in outcome.runs.items()] == [(("s", 3), 3)]
    assert counters(outcome, "s")[("entered", 0, 0)] == 1
    assert ("subscribers", 0, 0) not in counters(outcome, "s")  # not a new subscriber of the sequence


def test_s2_a_subscriber_who_completed_a_sequence_enters_it_again() -> None:
    world = World.of(sequence("s", on(GO, do=NOTHING)))

    world.feed(custom_event("go", T0))
    world.feed(custom_event("go", T0 + days(1)))

    assert [(r.pass_no, r.status) for r in world.runs.values()] == [(1, "completed"), (2, "completed")]


def test_s2_only_once_refuses_a_subscriber_who_ever_entered() -> None:
    world = World.of(sequence("s", on(GO, do=NOTHING), only_once=True))

    world.feed(custom_event("go", T0))
    outcome = world.feed(custom_event("go", T0 + days(30)))

    assert [r.pass_no for r in world.runs.values()] == [1]
    assert counters(outcome, "s") == {}


def test_s2_only_once_refuses_a_subscriber_whose_earlier_run_was_stopped() -> None:
    seq = sequence("s", on(GO, do=NOTHING), on(custom("x"), do=NOTHING), only_once=True)

    outcome = process(subscriber(), [], {"s": 1}, catalog(seq), [custom_event("go", T0)], T0)

    assert outcome.runs == {}


def test_s2_a_sequence_that_is_not_accepting_admits_no_one() -> None:
    world = World.of(sequence("s", on(GO, do=NOTHING), accepting=False))

    outcome = world.feed(custom_event("go", T0))

    assert outcome.runs == {}
    assert outcome.commands == []


def test_s2_a_sequence_that_is_not_accepting_still_moves_its_runs() -> None:
    world = World.of(sequence("s", on(GO, do=NOTHING), on(custom("x"), do=NOTHING), accepting=False))
    world.having(waiting_run("s", 2))

    world.feed(custom_event("x", T0 + hours(1)))

    assert world.last_run("s").status == "completed"


def test_s2_a_paused_sequence_admits_no_one() -> None:
    world = World.of(sequence("s", on(GO, do=send("hello")), status="paused"))

    outcome = world.feed(custom_event("go", T0))

    assert outcome.runs == {}
    assert outcome.commands == []


# ---------------------------------------------------------------- S3 no restart


@pytest.mark.parametrize("status", ["active", "paused"])
def test_s3_a_step_one_event_does_not_restart_an_open_run(status: RunStatus) -> None:
    world = three_steps().having(waiting_run("s", 2, status=status))

    outcome = world.feed(custom_event("go", T0 + hours(1)))

    assert transitions(outcome) == []
    assert counters(outcome, "s") == {}
    run = world.last_run("s")
    assert (run.pass_no, run.step, run.step_entered_at, run.status) == (1, 2, T0, status)


@pytest.mark.parametrize("stopper", ["a-stopper", "z-stopper"])
def test_s3_the_event_during_which_a_run_is_stopped_does_not_restart_it(stopper: str) -> None:
    """The event happened while the run was open, so it is no start event for that sequence.

    The outcome must not depend on the order in which sequences are offered the event (their keys).
    """
    world = World.of(
        sequence(stopper, on(GO, do=stop("m-stopped"))),
        sequence("m-stopped", on(GO, do=NOTHING), on(custom("x"), do=NOTHING)),
    ).having(waiting_run("m-stopped", 2))

    world.feed(custom_event("go", T0 + hours(1)))

    assert [(r.pass_no, r.status) for r in world.runs.values() if r.sequence == "m-stopped"] == [(1, "stopped")]


# ---------------------------------------------------------------- S4 firing


def test_s4_the_event_that_moved_a_run_does_not_also_fire_its_next_step() -> None:
    world = World.of(sequence("s", on(GO, do=NOTHING), on(GO, do=NOTHING), on(GO, do=NOTHING)))

    world.feed(custom_event("go", T0))
    assert world.last_run("s").step == 2

    world.feed(custom_event("go", T0 + hours(1)))
    assert world.last_run("s").step == 3


def test_s4_events_before_arrival_do_not_count() -> None:
    """An event accepted before the run arrived (but processed later) does not fire the new step."""
    world = three_steps().having(waiting_run("s", 2, since=T0 + hours(1)))

    outcome = world.feed(custom_event("two", T0), now=T0 + hours(2))

    assert transitions(outcome) == []
    assert world.last_run("s").step == 2


def test_s4_events_are_not_buffered_for_later_steps() -> None:
    world = three_steps()
    world.feed(custom_event("go", T0))

    world.feed(custom_event("three", T0 + hours(1)), custom_event("two", T0 + hours(2)))
    world.advance(days(7))

    run = world.last_run("s")
    assert (run.status, run.step) == ("active", 3)


@pytest.mark.parametrize(
    ("total", "fired"),
    [(500, ["big"]), (5, ["any"])],
)
def test_s4_the_first_listed_variant_whose_event_matches_fires(total: int, fired: list[str]) -> None:
    world = World.of(
        sequence(
            "s",
            on(GO, do=NOTHING),
            [
                on(custom("buy", where=where("event.total", "gt", 100)), do=send("big")),
                on(custom("buy"), do=send("any")),
            ],
        )
    )
    world.feed(custom_event("go", T0))

    outcome = world.feed(custom_event("buy", T0 + hours(1), total=total))

    assert emails(outcome.commands) == fired
    assert len(transitions(outcome)) == 1


def test_s4_one_event_fires_one_variant_even_when_it_matches_several() -> None:
    world = World.of(
        sequence(
            "s",
            on(GO, do=NOTHING),
            [on(custom("buy"), do=send("first")), on(custom("buy"), do=send("second"))],
        )
    )
    world.feed(custom_event("go", T0))

    outcome = world.feed(custom_event("buy", T0 + hours(1)))

    assert emails(outcome.commands) == ["first"]
    assert transitions(outcome) == [("s", 2, 1)]


def test_s4_actions_run_in_order_then_the_run_arrives_at_the_next_step() -> None:
    world = World.of(
        sequence(
            "s",
            on(GO, do=NOTHING),
            on(custom("buy"), do=[send("a"), send("b"), send("c")]),
            on(custom("x"), do=NOTHING),
        )
    )
    world.feed(custom_event("go", T0))

    outcome = world.feed(custom_event("buy", T0 + hours(1)))

    assert emails(outcome.commands) == ["a", "b", "c"]
    run = world.last_run("s")
    assert (run.step, run.step_entered_at) == (3, T0 + hours(1))
    assert counters(outcome, "s") == {("fired", 2, 1): 1, ("on_step", 2, 0): -1, ("on_step", 3, 0): 1}


def test_s4_a_run_completes_after_its_last_step() -> None:
    world = three_steps()
    world.feed(custom_event("go", T0), custom_event("two", T0 + hours(1)))

    outcome = world.feed(custom_event("three", T0 + hours(2)))

    run = world.last_run("s")
    assert (run.status, run.step, run.ended_at, run.wake_at) == ("completed", 3, T0 + hours(2), None)
    assert counters(outcome, "s") == {("fired", 3, 1): 1, ("on_step", 3, 0): -1, ("completed", 0, 0): 1}


# ---------------------------------------------------------------- S5 time


def waits(*variants: dict[str, object]) -> World:
    return World.of(sequence("s", on(GO, do=NOTHING), list(variants), on(custom("x"), do=NOTHING)))


def test_s5_a_time_wait_is_an_absolute_deadline_fixed_on_arrival() -> None:
    world = waits(on(after("2d"), do=send("reminder")))
    world.feed(custom_event("go", T0))
    assert world.last_run("s").wake_at == T0 + days(2)

    assert transitions(world.advance(days(2) - minutes(1))) == []

    outcome = world.advance(minutes(1))
    assert transitions(outcome) == [("s", 2, 1)]
    assert [c.at for c in outcome.commands] == [T0 + days(2)]


@pytest.mark.parametrize(
    ("first", "second", "variant"),
    [
        ("2d", "1d", 2),  # the earlier deadline wins whatever its position
        ("1d", "2d", 1),
        ("1d", "24h", 1),  # a tie goes to the lower variant
        ("24h", "PT1440M", 1),
        ("3h", "10800s", 1),
    ],
)
def test_s5_earliest_deadline_wins_ties_to_lower_variant(first: str, second: str, variant: int) -> None:
    world = waits(on(after(first), do=send("one")), on(after(second), do=send("two")))
    world.feed(custom_event("go", T0))

    outcome = world.advance(days(3))

    assert transitions(outcome) == [("s", 2, variant)]
    assert emails(outcome.commands) == [["one", "two"][variant - 1]]


def test_s5_a_schedule_and_a_time_passed_wait_compete_by_deadline() -> None:
    """T0 is Monday 09:00 UTC: a daily 10:00 schedule is due in 1 h, before a 2 h wait."""
    world = waits(
        on(after("2h"), do=send("later")),
        on(edge("schedule", every="day", at="10:00"), do=send("scheduled")),
    )
    world.feed(custom_event("go", T0))
    assert world.last_run("s").wake_at == T0 + hours(1)

    outcome = world.advance(days(1))

    assert emails(outcome.commands) == ["scheduled"]


@pytest.mark.parametrize(
    ("when", "trigger"),
    [
        ([after("3h"), edge("schedule", every="day", at="10:00")], "schedule"),
        ([edge("schedule", every="day", at="10:00"), after("30m")], "time_passed"),
    ],
)
def test_s5_the_timeline_names_the_wait_that_came_due(when: list[dict[str, object]], trigger: str) -> None:
    world = waits(on(*when, do=NOTHING))
    world.feed(custom_event("go", T0))

    outcome = world.advance(days(1))

    [fired] = entries(outcome, "transition")
    assert (fired.detail["trigger"], fired.detail["variant"]) == (trigger, 1)


def test_s5_a_deadline_processed_late_fires_at_its_own_moment() -> None:
    world = World.of(
        sequence(
            "s",
            on(GO, do=NOTHING),
            on(after("1d"), do=send("day-1")),
            on(after("1d"), do=send("day-2")),
            on(custom("x"), do=NOTHING),
        )
    )
    world.feed(custom_event("go", T0))

    outcome = world.advance(days(5))

    assert [(c.draft, c.at) for c in outcome.commands if isinstance(c, EmailCommand)] == [
        ("day-1", T0 + days(1)),
        ("day-2", T0 + days(2)),
    ]
    run = world.last_run("s")
    assert (run.step, run.step_entered_at, run.wake_at) == (4, T0 + days(2), None)


def test_s5_deadlines_of_several_runs_fire_in_deadline_order() -> None:
    world = World.of(
        sequence("a", on(GO, do=NOTHING), on(after("2d"), do=send("a-late"))),
        sequence("b", on(GO, do=NOTHING), on(after("1d"), do=send("b-early"))),
    )
    world.feed(custom_event("go", T0))

    outcome = world.advance(days(3))

    assert emails(outcome.commands) == ["b-early", "a-late"]


def test_s5_a_deadline_due_before_an_event_fires_before_it() -> None:
    world = World.of(
        sequence(
            "s",
            on(GO, do=NOTHING),
            [on(custom("x"), do=send("by-event")), on(after("1d"), do=send("by-time"))],
            on(custom("x"), do=send("step-3")),
        )
    )
    world.feed(custom_event("go", T0))

    outcome = world.feed(custom_event("x", T0 + days(2)))

    assert emails(outcome.commands) == ["by-time", "step-3"]


# ---------------------------------------------------------------- S6 state waits


def state_wait(spec: dict[str, Any], **subscriber_fields: Any) -> World:
    return World.of(
        sequence("s", on(GO, do=NOTHING), on(spec, do=send("matched")), on(custom("x"), do=NOTHING)),
        **subscriber_fields,
    )


PRO = edge("data_matches", where=where("custom.plan", "eq", "pro"))


def test_s6_data_matches_is_tested_on_arrival() -> None:
    world = state_wait(PRO, data={"custom": {"plan": "pro"}})

    outcome = world.feed(custom_event("go", T0))

    assert transitions(outcome) == [("s", 1, 1), ("s", 2, 1)]
    assert world.last_run("s").step == 3


def test_s6_data_matches_fires_after_a_data_change_while_the_run_waits() -> None:
    world = state_wait(PRO, data={"custom": {"plan": "free"}})
    world.feed(custom_event("go", T0))
    assert world.last_run("s").step == 2

    outcome = world.feed(world.change(T0 + hours(1), set={"custom": {"plan": "pro"}}))

    assert transitions(outcome) == [("s", 2, 1)]
    assert emails(outcome.commands) == ["matched"]


def test_s6_a_data_change_that_does_not_satisfy_the_wait_does_not_fire_it() -> None:
    world = state_wait(PRO, data={"custom": {"plan": "free"}})
    world.feed(custom_event("go", T0))

    outcome = world.feed(world.change(T0 + hours(1), set={"base": {"city": "Kazan"}}))

    assert transitions(outcome) == []


@pytest.mark.parametrize(
    ("member", "initially", "change"),
    [
        (True, {"vip"}, None),  # holds on arrival
        (False, set(), None),
        (True, set(), "join"),  # holds after a membership change
        (False, {"vip"}, "leave"),
    ],
)
def test_s6_list_matches_is_tested_on_arrival_and_after_membership_changes(
    member: bool, initially: set[str], change: str | None
) -> None:
    world = state_wait(edge("list_matches", list="vip", member=member), lists=initially)

    world.feed(custom_event("go", T0))
    if change is not None:
        assert world.last_run("s").step == 2
        at = T0 + hours(1)
        world.feed(world.change(at, join="vip") if change == "join" else world.change(at, leave="vip"))

    assert world.last_run("s").step == 3


def test_s6_list_matches_ignores_changes_of_other_lists() -> None:
    world = state_wait(edge("list_matches", list="vip"))
    world.feed(custom_event("go", T0))

    outcome = world.feed(world.change(T0 + hours(1), join="trial"))

    assert transitions(outcome) == []


def test_s6_a_state_wait_fires_after_a_change_made_by_another_sequences_action() -> None:
    world = World.of(
        sequence("a", on(GO, do=NOTHING), on(edge("list_matches", list="vip"), do=send("welcome-vip"))),
        sequence("b", on(custom("upgrade"), do=add_to("vip"))),
    )
    world.feed(custom_event("go", T0))

    outcome = world.feed(custom_event("upgrade", T0 + hours(1)))

    assert transitions(outcome) == [("b", 1, 1), ("a", 2, 1)]
    assert emails(outcome.commands) == ["welcome-vip"]


def test_s6_one_variant_fires_even_when_several_state_waits_hold() -> None:
    world = World.of(
        sequence(
            "s",
            on(GO, do=NOTHING),
            [on(edge("list_matches", list="vip"), do=send("by-list")), on(PRO, do=send("by-data"))],
            on(custom("x"), do=NOTHING),
        ),
        data={"custom": {"plan": "pro"}},
        lists={"vip"},
    )

    outcome = world.feed(custom_event("go", T0))

    assert emails(outcome.commands) == ["by-list"]
    assert transitions(outcome) == [("s", 1, 1), ("s", 2, 1)]


# ---------------------------------------------------------------- S7 actions


def test_s7_send_email_and_call_url_become_commands_in_order() -> None:
    world = World.of(
        sequence(
            "s",
            on(
                GO,
                do=[
                    send("a"),
                    call("https://crm.example/hook?email={EMAIL}"),
                    send("b"),
                    call("https://crm.example/post", method="post", body={"plan": "{{ data.custom.plan }}"}),
                ],
            ),
            on(custom("x"), do=NOTHING),
        )
    )

    outcome = world.feed(custom_event("go", T0, total=3))

    kinds = [(type(c).__name__, c.draft if isinstance(c, EmailCommand) else c.action["url"]) for c in outcome.commands]
    assert kinds == [
        ("EmailCommand", "a"),
        ("UrlCommand", "https://crm.example/hook?email={EMAIL}"),
        ("EmailCommand", "b"),
        ("UrlCommand", "https://crm.example/post"),
    ]
    assert all((c.sequence, c.pass_no, c.step, c.variant, c.at) == ("s", 1, 1, 1, T0) for c in outcome.commands)
    post = outcome.commands[3]
    assert isinstance(post, UrlCommand)
    assert (post.action["method"], post.action["body"]) == ("POST", {"plan": "{{ data.custom.plan }}"})
    assert post.event == {"total": 3}
    assert world.last_run("s").step == 2  # the run does not wait for delivery


def test_s7_change_data_and_list_actions_take_effect_in_the_same_call() -> None:
    world = World.of(
        sequence(
            "s",
            on(
                GO,
                do=[
                    send("before"),
                    {
                        "action": "change_data",
                        "set": {"custom.plan": "pro", "custom.seen": "$now"},
                        "unset": ["base.tmp"],
                        "increment": {"custom.visits": 2},
                    },
                    add_to("vip"),
                    remove_from("trial"),
                    send("after"),
                ],
            ),
            on(custom("x"), do=NOTHING),
        ),
        data={"base": {"tmp": 1, "name": "Anna"}, "custom": {"visits": 1}},
        lists={"trial"},
    )

    outcome = world.feed(custom_event("go", T0))

    assert outcome.data_changed
    assert outcome.subscriber.data == {
        "base": {"name": "Anna"},
        "custom": {"visits": 3, "plan": "pro", "seen": "2026-03-02T09:00:00Z"},
    }
    assert (outcome.lists_joined, outcome.lists_left, outcome.subscriber.lists) == ({"vip"}, {"trial"}, {"vip"})
    before, after_ = (c for c in outcome.commands if isinstance(c, EmailCommand))
    assert before.data == {"base": {"tmp": 1, "name": "Anna"}, "custom": {"visits": 1}}
    assert after_.data["custom"]["plan"] == "pro"


@pytest.mark.parametrize(
    ("current", "amount", "result"),
    [
        (None, 1, 1),  # a missing field counts from zero
        (2, 1, 3),
        (2, 1.5, 3.5),
        (2.5, 1, 3.5),
        (2, -3, -1),
        ("41", 1, 42),  # numbers compare as numbers, numeric strings included (CSV imports store strings)
        (" 1.5 ", 1, 2.5),
        ("many", 1, 1),  # not a number: counts from zero
        (True, 1, 1),
        (2**63 - 2, 1, 2**63 - 1),  # the largest integer both databases store
        (2**63 - 1, 1, float(2**63)),  # beyond it, a float
        (1e308, 1e308, 1e308),  # a sum that is not finite leaves the value as it was
    ],
)
def test_s7_increment_adds_to_the_number_a_field_holds(current: Any, amount: float, result: float) -> None:
    data = {} if current is None else {"custom": {"n": current}}
    world = World.of(
        sequence("s", on(GO, do={"action": "change_data", "increment": {"custom.n": amount}})),
        data=data,
    )

    world.feed(custom_event("go", T0))

    value = world.subscriber.data["custom"]["n"]
    assert (value, type(value)) == (result, type(result))


def test_s7_change_data_that_changes_no_value_is_no_change() -> None:
    world = World.of(
        sequence("s", on(GO, do=set_data(custom__plan="pro"))),
        sequence("watch", on(edge("data_changed"), do=NOTHING)),
        data={"custom": {"plan": "pro"}},
    )

    outcome = world.feed(custom_event("go", T0))

    assert not outcome.data_changed
    assert transitions(outcome) == [("s", 1, 1)]


def test_s7_list_actions_are_idempotent() -> None:
    world = World.of(
        sequence("s", on(GO, do=[add_to("vip"), remove_from("trial")])),
        sequence("watch", on(edge("list_joined"), do=NOTHING), on(edge("list_left"), do=NOTHING)),
        lists={"vip"},
    )

    outcome = world.feed(custom_event("go", T0))

    assert (outcome.lists_joined, outcome.lists_left) == (set(), set())
    assert transitions(outcome) == [("s", 1, 1)]


# ---------------------------------------------------------------- S8 terminal actions


@pytest.mark.parametrize(
    ("action", "reason"),
    [(stop(), "stop_action"), (stop("s"), "stop_action"), (go_to("t"), "go_to")],
)
def test_s8_stop_of_the_current_sequence_and_go_to_end_the_run(action: dict[str, object], reason: str) -> None:
    world = World.of(
        sequence("s", on(GO, do=NOTHING), on(custom("leave"), do=action), on(custom("x"), do=NOTHING)),
        sequence("t", on(edge("never"), do=NOTHING), on(custom("x"), do=NOTHING)),
    )
    world.feed(custom_event("go", T0))

    outcome = world.feed(custom_event("leave", T0 + hours(1)))

    run = world.last_run("s")
    assert (run.status, run.end_reason, run.step, run.ended_at) == ("stopped", reason, 2, T0 + hours(1))
    assert counters(outcome, "s") == {("fired", 2, 1): 1, ("on_step", 2, 0): -1, (f"stopped:{reason}", 0, 0): 1}


def test_s8_a_run_stopped_by_its_own_step_one_action_never_waits() -> None:
    world = World.of(sequence("s", on(GO, do=[send("bye"), stop()]), on(custom("x"), do=NOTHING)))

    outcome = world.feed(custom_event("go", T0))

    run = world.last_run("s")
    assert (run.status, run.end_reason, run.step) == ("stopped", "stop_action", 1)
    assert emails(outcome.commands) == ["bye"]
    assert ("on_step", 1, 0) not in counters(outcome, "s")
    assert ("on_step", 2, 0) not in counters(outcome, "s")


def test_s8_stopping_another_sequence_is_not_terminal() -> None:
    world = World.of(
        sequence("s", on(GO, do=[stop("other"), send("still-here")]), on(custom("x"), do=NOTHING)),
        sequence("other", on(custom("hello"), do=NOTHING), on(custom("x"), do=NOTHING)),
    )
    world.feed(custom_event("hello", T0))

    outcome = world.feed(custom_event("go", T0 + hours(1)))

    assert emails(outcome.commands) == ["still-here"]
    assert world.last_run("s").step == 2
    other = world.last_run("other")
    assert (other.status, other.end_reason) == ("stopped", "stop_action")
    assert counters(outcome, "other") == {("on_step", 2, 0): -1, ("stopped:stop_action", 0, 0): 1}


def test_s8_a_run_stopped_by_a_sequence_it_started_leaves_its_step_once() -> None:
    world = World.of(
        sequence("s", on(GO, do=NOTHING), on(custom("next"), do=[start("t"), send("skipped")])),
        sequence("t", on(edge("never"), do=stop("s")), on(custom("x"), do=NOTHING)),
    )
    world.feed(custom_event("go", T0))

    outcome = world.feed(custom_event("next", T0 + hours(1)))

    run = world.last_run("s")
    assert (run.status, run.end_reason) == ("stopped", "stop_action")
    assert emails(outcome.commands) == []
    assert counters(outcome, "s") == {("fired", 2, 1): 1, ("on_step", 2, 0): -1, ("stopped:stop_action", 0, 0): 1}


# ---------------------------------------------------------------- S9 entering without the start event


def target(**settings: Any) -> SequenceInfo:
    return sequence("t", on(edge("never"), do=send("t-welcome")), on(custom("x"), do=NOTHING), **settings)


def test_s9_start_sequence_enters_the_target_bypassing_its_step_one_event() -> None:
    world = World.of(
        sequence("s", on(GO, do=[start("t"), send("s-welcome")]), on(custom("x"), do=NOTHING)),
        target(),
    )

    outcome = world.feed(custom_event("go", T0))

    assert emails(outcome.commands) == ["t-welcome", "s-welcome"]
    assert [(r.sequence, r.pass_no, r.status, r.step) for r in world.open_runs()] == [
        ("s", 1, "active", 2),
        ("t", 1, "active", 2),
    ]
    entered = entries(outcome, "entered")
    assert [(e.sequence, e.detail["via"]) for e in entered] == [("s", "custom"), ("t", "sequence:s")]
    assert counters(outcome, "t")[("entered", 0, 0)] == 1


def test_s9_the_api_start_runs_step_one_actions_and_waits_at_step_two() -> None:
    world = World.of(target())

    outcome = world.feed(StartRun(sequence="t", at=T0))

    assert emails(outcome.commands) == ["t-welcome"]
    run = world.last_run("t")
    assert (run.pass_no, run.status, run.step) == (1, "active", 2)
    assert [e.detail["via"] for e in entries(outcome, "entered")] == ["api"]


def test_s9_starting_a_one_step_target_completes_it() -> None:
    world = World.of(sequence("t", on(custom("never-posted"), do=send("only"))))

    outcome = world.feed(StartRun(sequence="t", at=T0))

    assert emails(outcome.commands) == ["only"]
    assert world.last_run("t").status == "completed"


def test_s9_go_to_sequence_ends_the_current_run_and_starts_the_target() -> None:
    world = World.of(
        sequence("s", on(GO, do=NOTHING), on(custom("leave"), do=go_to("t"))),
        target(),
    )
    world.feed(custom_event("go", T0))

    outcome = world.feed(custom_event("leave", T0 + hours(1)))

    source = world.last_run("s")
    assert (source.status, source.end_reason) == ("stopped", "go_to")
    assert (world.last_run("t").status, world.last_run("t").step) == ("active", 2)
    assert emails(outcome.commands) == ["t-welcome"]


def test_s9_go_to_the_own_sequence_starts_a_new_pass() -> None:
    world = World.of(
        sequence("s", on(edge("never"), do=send("hello")), on(custom("again"), do=go_to("s"))),
    )
    world.feed(StartRun(sequence="s", at=T0))

    world.feed(custom_event("again", T0 + hours(1)))

    assert [(r.pass_no, r.status, r.end_reason, r.step) for r in world.runs.values()] == [
        (1, "stopped", "go_to", 2),
        (2, "active", None, 2),
    ]


REFUSALS = [
    pytest.param({"status": "paused"}, None, "sequence is paused", id="paused"),
    pytest.param({"accepting": False}, None, "sequence is not accepting", id="not-accepting"),
    pytest.param({}, "running", "already running", id="already-running"),
    pytest.param({"only_once": True}, "passed", "only_once and already passed", id="only-once-passed"),
]


def refusing_world(action: dict[str, Any], settings: dict[str, Any], history: str | None) -> World:
    """`s` waits at step 2 to run `action` on `next`; the target `t` is set up to refuse it."""
    world = World.of(
        sequence("s", on(GO, do=NOTHING), on(custom("next"), do=[action]), on(custom("x"), do=NOTHING)),
        target(**settings),
    )
    world.feed(custom_event("go", T0))
    if history == "running":
        world.having(waiting_run("t", 2))
    if history == "passed":
        world.having(dataclasses.replace(waiting_run("t", 2), status="completed", ended_at=T0))
    return world


@pytest.mark.parametrize(("settings", "history", "reason"), REFUSALS)
def test_s9_start_sequence_refused_does_nothing_and_the_current_run_goes_on(
    settings: dict[str, object], history: str | None, reason: str
) -> None:
    world = refusing_world(start("t"), settings, history)
    before = {key: (run.status, run.step) for key, run in world.runs.items()}

    outcome = world.feed(custom_event("next", T0 + hours(1)))

    assert world.last_run("s").step == 3
    assert [(key, run.status, run.step) for key, run in world.runs.items() if key[0] == "t"] == [
        (key, *value) for key, value in before.items() if key[0] == "t"
    ]
    assert counters(outcome, "t") == {}
    assert [(e.sequence, e.detail["reason"]) for e in entries(outcome, "start_rejected")] == [("t", reason)]


@pytest.mark.parametrize(("settings", "history", "reason"), REFUSALS)
def test_s9_go_to_rejected_still_ends_the_run(settings: dict[str, object], history: str | None, reason: str) -> None:
    world = refusing_world(go_to("t"), settings, history)

    outcome = world.feed(custom_event("next", T0 + hours(1)))

    source = world.last_run("s")
    assert (source.status, source.end_reason) == ("stopped", "go_to_rejected")
    assert counters(outcome, "s") == {("fired", 2, 1): 1, ("on_step", 2, 0): -1, ("stopped:go_to_rejected", 0, 0): 1}
    assert counters(outcome, "t") == {}
    assert [(e.detail["target"], e.detail["reason"]) for e in entries(outcome, "go_to_rejected")] == [("t", reason)]


@pytest.mark.parametrize(("settings", "history", "reason"), REFUSALS)
def test_s9_the_api_start_is_refused_for_the_same_reasons(
    settings: dict[str, object], history: str | None, reason: str
) -> None:
    world = refusing_world(NOTHING, settings, history)

    outcome = world.feed(StartRun(sequence="t", at=T0 + hours(1)))

    assert counters(outcome, "t") == {}
    assert [e.detail["reason"] for e in entries(outcome, "start_rejected")] == [reason]


# ---------------------------------------------------------------- S10 cascades


def test_s10_changes_made_by_actions_are_events_with_the_sequence_as_source() -> None:
    world = World.of(
        sequence("a", on(GO, do=[set_data(custom__plan="pro"), add_to("vip"), remove_from("trial")])),
        lists={"trial"},
    )

    outcome = world.feed(custom_event("go", T0))

    caused = [(e.detail["event"], e.detail["source"]) for e in entries(outcome, "event")][1:]
    assert caused == [("data_changed", "sequence:a"), ("list_joined", "sequence:a"), ("list_left", "sequence:a")]


def test_s10_caused_events_are_processed_after_the_transition_in_order() -> None:
    """The data change comes first, so the sequence watching data moves first, whatever its key."""
    world = World.of(
        sequence("a", on(GO, do=[set_data(custom__plan="pro"), add_to("vip"), send("a-done")])),
        sequence("b-list", on(edge("list_joined", list="vip"), do=send("b-list"))),
        sequence("z-data", on(edge("data_changed", fields=["custom.plan"]), do=send("z-data"))),
    )

    outcome = world.feed(custom_event("go", T0))

    assert [t[0] for t in transitions(outcome)] == ["a", "z-data", "b-list"]
    assert emails(outcome.commands) == ["a-done", "z-data", "b-list"]


def test_s10_caused_events_can_move_other_runs_at_later_steps() -> None:
    world = World.of(
        sequence("a", on(custom("buy"), do=set_data(custom__plan="pro"))),
        sequence("b", on(GO, do=NOTHING), on(edge("data_changed", fields=["custom.plan"]), do=send("upgraded"))),
    )
    world.feed(custom_event("go", T0))

    outcome = world.feed(custom_event("buy", T0 + hours(1)))

    assert emails(outcome.commands) == ["upgraded"]


def test_s10_a_runs_own_change_does_not_fire_the_edge_event_of_its_next_step() -> None:
    """Reading of S4 with S10: an action's change happens before its run arrives at the next step.

    So a `data_changed` (or `list_joined`) that the run itself caused is an earlier event for that
    next step and does not fire it; the step waits for a later change. A state wait (S6) still sees
    the new data on arrival.
    """
    world = World.of(
        sequence(
            "s",
            on(GO, do=[set_data(custom__plan="pro"), add_to("vip")]),
            [on(edge("data_changed"), do=send("by-data")), on(edge("list_joined"), do=send("by-list"))],
        )
    )

    outcome = world.feed(custom_event("go", T0))

    assert transitions(outcome) == [("s", 1, 1)]
    assert world.last_run("s").step == 2


def loop_world() -> World:
    """A one-step sequence entered by any data change that changes data again: an endless loop."""
    return World.of(
        sequence(
            "loop",
            on(edge("data_changed"), do={"action": "change_data", "increment": {"custom.n": 1}}),
        )
    )


def test_s10_cascade_guard_records_loop_detected_after_20_transitions() -> None:
    """The outside change enters `loop` directly (not counted); then 20 caused transitions, then the guard."""
    world = loop_world()

    outcome = world.feed(world.change(T0, set={"custom": {"start": True}}))

    assert outcome.transitions == 1 + 20
    assert [r.pass_no for r in world.runs.values()] == list(range(1, 22))
    assert world.subscriber.data["custom"]["n"] == 21
    loops = entries(outcome, "loop_detected")
    assert [(e.sequence, e.detail["limit"]) for e in loops] == [("loop", 20)]


def test_s10_each_outside_event_starts_a_new_chain() -> None:
    world = loop_world()
    world.feed(world.change(T0, set={"custom": {"start": 1}}))

    outcome = world.feed(world.change(T0 + hours(1), set={"custom": {"start": 2}}))

    assert outcome.transitions == 1 + 20
    assert world.subscriber.data["custom"]["n"] == 42
    assert len(entries(outcome, "loop_detected")) == 1


def test_s10_the_guard_stops_a_ping_pong_between_two_sequences() -> None:
    world = World.of(
        sequence("ping", on(edge("list_joined", list="ball"), do=remove_from("ball"))),
        sequence("pong", on(edge("list_left", list="ball"), do=add_to("ball"))),
    )

    outcome = world.feed(world.change(T0, join="ball"))

    assert outcome.transitions == 1 + 20  # the outside join moves `ping` directly; 20 caused after it
    assert [t[0] for t in transitions(outcome)] == ["ping"] + ["pong", "ping"] * 10
    assert len(entries(outcome, "loop_detected")) == 1


def test_s10_a_short_chain_is_not_a_loop() -> None:
    world = World.of(
        sequence("a", on(GO, do=add_to("x"))),
        sequence("b", on(edge("list_joined", list="x"), do=add_to("y"))),
        sequence("c", on(edge("list_joined", list="y"), do=send("end"))),
    )

    outcome = world.feed(custom_event("go", T0))

    assert emails(outcome.commands) == ["end"]
    assert entries(outcome, "loop_detected") == []


def test_s10_direct_fanout_does_not_count() -> None:
    """One subscriber_added enters every matching sequence, however many (S10)."""
    keys = [f"welcome-{n:02d}" for n in range(25)]
    world = World.of(*(sequence(key, on(edge("subscriber_added"), do=send(key))) for key in keys))

    outcome = world.feed(event("subscriber_added", T0))

    assert [t[0] for t in transitions(outcome)] == keys
    assert emails(outcome.commands) == keys
    assert entries(outcome, "loop_detected") == []


def test_s10_direct_fanout_does_not_count_and_their_caused_events_still_do() -> None:
    """25 direct entries, each joining a list; the 25 caused list_joined transitions trip the guard at 20."""
    keys = [f"s{n:02d}" for n in range(25)]
    world = World.of(
        *(sequence(key, on(edge("subscriber_added"), do=add_to(f"l{key}"))) for key in keys),
        sequence("watch", on(edge("list_joined"), do=NOTHING)),
    )

    outcome = world.feed(event("subscriber_added", T0))

    assert len(transitions(outcome)) == 25 + 20
    assert [e.sequence for e in entries(outcome, "loop_detected")] == ["watch"]


def test_s10_a_due_deadline_moving_many_runs_is_not_a_loop() -> None:
    """Deadlines are inputs of their own: each one's transition is direct."""
    keys = [f"t{n:02d}" for n in range(25)]
    world = World.of(*(sequence(key, on(GO, do=NOTHING), on(after("1h"), do=send(key))) for key in keys))
    world.feed(custom_event("go", T0))

    outcome = world.advance(hours(2))

    assert emails(outcome.commands) == keys
    assert entries(outcome, "loop_detected") == []


def test_s10_go_to_ping_pong_started_by_actions_is_still_a_loop() -> None:
    world = World.of(
        sequence("ping", on(GO, do=go_to("pong"))),
        sequence("pong", on(edge("never"), do=go_to("ping"))),
    )

    outcome = world.feed(custom_event("go", T0))

    assert len(entries(outcome, "loop_detected")) == 1
    assert outcome.transitions == 1 + 20


# ---------------------------------------------------------------- S11 pause


def test_s11_paused_sequence_drops_edge_events_and_fires_overdue_deadlines_on_resume() -> None:
    """Reading of S11 with S5: deadlines keep running while paused; overdue ones fire at once on resume,
    in deadline order, and the runs arrive at their next step at the resume, so a long pause does not
    make every later step fire at once too.
    """
    world = World.of(
        sequence(
            "a",
            on(GO, do=NOTHING),
            [on(custom("x"), do=send("a-by-event")), on(after("2d"), do=send("a-late"))],
            on(custom("y"), do=NOTHING),
        ),
        sequence("b", on(GO, do=NOTHING), on(after("1d"), do=send("b-early")), on(custom("y"), do=NOTHING)),
    )
    world.feed(custom_event("go", T0))
    world.pause_sequence("a")
    world.pause_sequence("b")

    dropped = world.feed(custom_event("x", T0 + hours(1)), custom_event("go", T0 + hours(2)))
    idle = world.advance(days(3))
    assert transitions(dropped) == transitions(idle) == []

    world.resume_sequence("a", at=T0 + days(4))
    world.resume_sequence("b", at=T0 + days(4))
    resumed = world.feed(now=T0 + days(4))

    assert emails(resumed.commands) == ["b-early", "a-late"]
    assert [(r.sequence, r.step, r.step_entered_at) for r in world.open_runs()] == [
        ("a", 3, T0 + days(4)),
        ("b", 3, T0 + days(4)),
    ]


def test_s11_a_deadline_overdue_after_resume_fires_once_and_the_next_wait_counts_from_the_resume() -> None:
    world = World.of(
        sequence("s", on(GO, do=NOTHING), on(after("1d"), do=send("first")), on(after("1d"), do=send("second")))
    )
    world.feed(custom_event("go", T0))
    world.feed(PauseRun(sequence="s", at=T0 + hours(1)))
    world.advance(days(5))
    resume = world.now

    resumed = world.feed(ResumeRun(sequence="s", at=resume), now=resume)

    assert emails(resumed.commands) == ["first"]
    assert world.last_run("s").step_entered_at == resume
    assert emails(world.advance(hours(23)).commands) == []
    assert emails(world.advance(hours(1)).commands) == ["second"]


def test_s11_a_paused_sequence_moves_no_one_while_other_sequences_go_on() -> None:
    world = World.of(
        sequence("a", on(GO, do=NOTHING), on(after("1d"), do=send("a"))),
        sequence("b", on(GO, do=NOTHING), on(after("1d"), do=send("b"))),
    )
    world.feed(custom_event("go", T0))
    world.pause_sequence("a")

    outcome = world.advance(days(2))

    assert emails(outcome.commands) == ["b"]
    assert world.run("a") is not None


def test_s11_a_resumed_sequence_retests_state_waits() -> None:
    world = state_wait(PRO, data={"custom": {"plan": "free"}})
    world.feed(custom_event("go", T0))
    world.pause_sequence("s")
    assert transitions(world.feed(world.change(T0 + hours(1), set={"custom": {"plan": "pro"}}))) == []

    world.resume_sequence("s")
    outcome = world.feed(now=T0 + hours(2))

    assert transitions(outcome) == [("s", 2, 1)]


def test_s11_a_paused_run_ignores_events_and_deadlines_until_resumed() -> None:
    world = waits(on(custom("x"), do=send("by-event")), on(after("1d"), do=send("by-time")))
    world.feed(custom_event("go", T0))

    paused = world.feed(PauseRun(sequence="s", at=T0 + hours(1)), custom_event("x", T0 + hours(2)))
    idle = world.advance(days(2))
    assert transitions(paused) == transitions(idle) == []
    assert world.last_run("s").status == "paused"

    resumed = world.feed(ResumeRun(sequence="s", at=T0 + days(3)))

    assert emails(resumed.commands) == ["by-time"]
    assert (world.last_run("s").status, world.last_run("s").step) == ("active", 3)
    assert [e.kind for e in paused.timeline][:1] == ["run_paused"]
    assert [e.kind for e in resumed.timeline][:1] == ["run_resumed"]


def test_s11_a_resumed_run_retests_its_state_waits() -> None:
    world = state_wait(PRO, data={"custom": {"plan": "free"}})
    world.feed(custom_event("go", T0))
    world.feed(PauseRun(sequence="s", at=T0 + hours(1)))
    assert transitions(world.feed(world.change(T0 + hours(2), set={"custom": {"plan": "pro"}}))) == []

    outcome = world.feed(ResumeRun(sequence="s", at=T0 + hours(3)))

    assert transitions(outcome) == [("s", 2, 1)]


def test_s11_a_paused_run_can_be_stopped() -> None:
    world = three_steps()
    world.feed(custom_event("go", T0), PauseRun(sequence="s", at=T0))

    outcome = world.feed(StopRun(sequence="s", at=T0 + hours(1)))

    run = world.last_run("s")
    assert (run.status, run.end_reason) == ("stopped", "manual")
    assert counters(outcome, "s") == {("on_step", 2, 0): -1, ("stopped:manual", 0, 0): 1}


# ---------------------------------------------------------------- S12 unavailable subscribers


@pytest.mark.parametrize(
    ("status", "skip_reason"),
    [
        ("active", None),
        ("unsubscribed", "subscriber_unsubscribed"),
        ("bounced", "subscriber_bounced"),
        ("unconfirmed", "subscriber_unconfirmed"),
    ],
)
def test_s12_send_email_to_unsubscribed_is_skipped_with_reason(status: str, skip_reason: str | None) -> None:
    world = World.of(
        sequence("s", on(GO, do=[send("hello"), call("https://crm.example/")]), on(custom("x"), do=NOTHING)),
        status=status,
    )

    outcome = world.feed(custom_event("go", T0))

    mail = outcome.commands[0]
    assert isinstance(mail, EmailCommand)
    assert mail.skip_reason == skip_reason
    assert isinstance(outcome.commands[1], UrlCommand)
    assert world.last_run("s").step == 2  # the run moves on as usual


def test_s12_unsubscribing_does_not_end_runs_by_default() -> None:
    world = three_steps()
    world.feed(custom_event("go", T0))
    world.subscriber.status = "unsubscribed"

    outcome = world.feed(event("unsubscribed", T0 + hours(1)))

    assert world.last_run("s").status == "active"
    assert counters(outcome, "s") == {}


@pytest.mark.parametrize("run_status", ["active", "paused"])
def test_s12_exit_on_unsubscribe_ends_runs_with_reason_unsubscribed(run_status: RunStatus) -> None:
    world = three_steps(exit_on_unsubscribe=True).having(waiting_run("s", 2, status=run_status))

    outcome = world.feed(event("unsubscribed", T0 + hours(1)))

    run = world.last_run("s")
    assert (run.status, run.end_reason, run.ended_at) == ("stopped", "unsubscribed", T0 + hours(1))
    assert counters(outcome, "s") == {("on_step", 2, 0): -1, ("stopped:unsubscribed", 0, 0): 1}


def test_s12_an_unsubscribe_that_ends_a_run_does_not_also_start_it_again() -> None:
    world = World.of(
        sequence("s", on(edge("unsubscribed"), do=NOTHING), on(custom("x"), do=NOTHING), exit_on_unsubscribe=True)
    ).having(waiting_run("s", 2))

    world.feed(event("unsubscribed", T0 + hours(1)))

    assert world.open_runs() == []


def test_s12_deleting_a_subscriber_ends_all_runs_with_reason_deleted() -> None:
    world = World.of(
        sequence("a", on(GO, do=NOTHING), on(after("1d"), do=send("never-sent"))),
        sequence("b", on(GO, do=NOTHING), on(custom("x"), do=NOTHING)),
    ).having(waiting_run("a", 2, wake_at=T0 + days(1)), waiting_run("b", 2, status="paused"))

    outcome = world.feed(DeleteSubscriber(at=T0 + hours(1)), custom_event("go", T0 + days(2)), now=T0 + days(3))

    assert outcome.deleted
    assert sorted((r.sequence, r.status, r.end_reason) for r in world.runs.values()) == [
        ("a", "stopped", "deleted"),
        ("b", "stopped", "deleted"),
    ]
    assert outcome.commands == []
    assert counters(outcome, "a") == {("on_step", 2, 0): -1, ("stopped:deleted", 0, 0): 1}


# ---------------------------------------------------------------- S13 ordering


@pytest.mark.parametrize(
    ("names", "step", "status"),
    [(["two", "three"], 3, "completed"), (["three", "two"], 3, "active")],
)
def test_s13_events_apply_in_order(names: list[str], step: int, status: str) -> None:
    world = three_steps()
    world.feed(custom_event("go", T0))

    world.feed(*(custom_event(name, T0 + hours(1)) for name in names))

    run = world.last_run("s")
    assert (run.step, run.status) == (step, status)


@pytest.mark.parametrize(
    ("inputs", "fired"),
    [
        (lambda at: [custom_event("x", at), PauseRun(sequence="s", at=at)], ["by-event"]),
        (lambda at: [PauseRun(sequence="s", at=at), custom_event("x", at)], []),
        (lambda at: [PauseRun("s", at), ResumeRun("s", at), custom_event("x", at)], ["by-event"]),
        (lambda at: [StopRun(sequence="s", at=at), custom_event("x", at)], []),
    ],
)
def test_s13_inputs_of_every_kind_apply_in_order(inputs: Callable[[datetime], list[Input]], fired: list[str]) -> None:
    world = waits(on(custom("x"), do=send("by-event")))
    world.feed(custom_event("go", T0))
    at: datetime = T0 + hours(1)

    outcome = world.feed(*inputs(at))

    assert emails(outcome.commands) == fired


def test_s13_occurred_at_is_shown_beside_the_event_and_never_reorders() -> None:
    """The client's occurred_at goes on the timeline entry of the event; acceptance order still rules."""
    world = three_steps()
    world.feed(custom_event("go", T0))
    late = dataclasses.replace(custom_event("two", T0 + hours(1)), occurred_at=T0 + hours(5))
    early = dataclasses.replace(custom_event("three", T0 + hours(2)), occurred_at=T0 - hours(5))

    outcome = world.feed(late, early)

    shown = [(e.at, e.detail.get("occurred_at")) for e in entries(outcome, "event")]
    assert shown == [(T0 + hours(1), "2026-03-02T14:00:00Z"), (T0 + hours(2), "2026-03-02T04:00:00Z")]
    assert transitions(outcome) == [("s", 2, 1), ("s", 3, 1)]  # in acceptance order, not occurred_at order


def test_s13_an_event_without_its_own_occurred_at_shows_none() -> None:
    world = three_steps()

    outcome = world.feed(dataclasses.replace(custom_event("go", T0), occurred_at=T0))

    assert "occurred_at" not in entries(outcome, "event")[0].detail
