"""The engine never changes what its caller passed: it works on copies and returns the new states."""

from __future__ import annotations

import copy

from stepwise.engine.model import EmailCommand, Input, ResumeRun
from stepwise.engine.processor import process
from tests.unit.builders import (
    T0,
    add_to,
    after,
    catalog,
    custom,
    custom_event,
    days,
    hours,
    on,
    remove_from,
    send,
    sequence,
    set_data,
    subscriber,
    waiting_run,
)


def test_process_leaves_its_inputs_unchanged() -> None:
    seqs = catalog(
        sequence(
            "onboard",
            on(custom("signup"), do=[set_data(plan="pro"), add_to("vip"), remove_from("trial"), send("welcome")]),
            on(after("1d"), do=send("tips")),
        ),
        sequence("nurture", on(custom("other"), do=send("hello")), on(after("1h"), do=send("later"))),
    )
    sub = subscriber(data={"plan": "free", "nested": {"n": 1}}, lists=["trial"])
    runs = [waiting_run("nurture", 2, since=T0, status="paused", wake_at=T0 + hours(1))]
    passes = {"nurture": 1}
    inputs: list[Input] = [custom_event("signup", T0 + hours(2), x=1), ResumeRun(sequence="nurture", at=T0 + hours(3))]
    before = copy.deepcopy((sub, runs, passes, inputs))

    outcome = process(sub, runs, passes, seqs, inputs, T0 + days(2))

    assert (sub, runs, passes, inputs) == before
    assert outcome.subscriber is not sub and outcome.subscriber.data["plan"] == "pro"
    assert outcome.subscriber.lists == {"vip"}
    assert all(run is not runs[0] for run in outcome.runs.values())
    assert {(r.sequence, r.status) for r in outcome.runs.values()} == {
        ("onboard", "completed"),
        ("nurture", "completed"),
    }


def test_email_commands_carry_a_snapshot_of_the_profile() -> None:
    seqs = catalog(sequence("onboard", on(custom("signup"), do=[send("welcome"), set_data(plan="pro"), send("again")])))
    sub = subscriber(data={"plan": "free"})

    outcome = process(sub, [], {}, seqs, [custom_event("signup", T0)], T0)

    first, second = (c for c in outcome.commands if isinstance(c, EmailCommand))
    assert first.data == {"plan": "free"} and second.data == {"plan": "pro"}
    outcome.subscriber.data["plan"] = "changed later"
    assert second.data == {"plan": "pro"} and sub.data == {"plan": "free"}


def test_a_run_copy_has_every_field_and_is_another_object() -> None:
    import dataclasses

    run = waiting_run("nurture", 2, since=T0, status="paused", wake_at=T0 + hours(1))
    run.arrival_no = 3
    copied = run.copy()
    assert copied is not run
    assert [getattr(copied, f.name) for f in dataclasses.fields(run)] == [
        getattr(run, f.name) for f in dataclasses.fields(run)
    ]
