"""S23 random split through the engine: one variant fires on arrival, chosen by the hash, no stored state."""

from __future__ import annotations

import dataclasses
from collections import Counter

from stepwise.engine.model import Event, SequenceInfo
from stepwise.engine.processor import process
from stepwise.engine.splits import split_met, split_variant
from tests.unit.builders import (
    NOTHING,
    T0,
    World,
    counters,
    custom,
    custom_event,
    days,
    emails,
    on,
    send,
    sequence,
    subscriber,
    transitions,
    waiting_run,
)


def _split(*weights: int, drafts: tuple[str, ...] = ("a", "b", "c")) -> list[dict[str, object]]:
    return [on({"event": "split", "weight": w}, do=send(drafts[i])) for i, w in enumerate(weights)]


def _promo(*weights: int, account_id: int = 1) -> SequenceInfo:
    seq = sequence("promo", on(custom("go"), do=NOTHING), _split(*weights), on(custom("done"), do=NOTHING))
    return dataclasses.replace(seq, account_id=account_id)


def test_S23_a_split_step_fires_one_variant_on_arrival() -> None:
    seq = _promo(50, 50)
    world = World.of(seq)
    outcome = world.feed(custom_event("go", T0))
    chosen = split_variant(seq, 1, 1, 2)
    assert chosen is not None
    assert transitions(outcome) == [("promo", 1, 1), ("promo", 2, chosen + 1)]
    assert emails(outcome.commands) == ["ab"[chosen]]
    fired = [e for e in outcome.timeline if e.kind == "transition" and e.detail["step"] == 2]
    assert fired[0].detail["trigger"] == "split"
    assert counters(outcome, "promo")[("fired", 2, chosen + 1)] == 1
    assert world.runs[("promo", 1)].step == 3


def test_S23_the_choice_is_reproducible_and_depends_on_the_pass() -> None:
    seq = _promo(1, 1)
    first = [split_variant(seq, sid, 1, 2) for sid in range(200)]
    assert first == [split_variant(seq, sid, 1, 2) for sid in range(200)]
    assert first != [split_variant(seq, sid, 2, 2) for sid in range(200)]
    assert split_variant(seq, 1, 1, 1) is None
    assert split_met(waiting_run("promo", 3), seq, 1, T0) is None


def test_S23_ten_thousand_subscribers_through_the_engine_within_two_percent() -> None:
    seq = _promo(70, 30)
    chosen: Counter[str] = Counter()
    for sid in range(1, 10_001):
        sub = dataclasses.replace(subscriber(), id=sid)
        outcome = process(sub, [], {}, {"promo": seq}, [custom_event("go", T0)], T0)
        chosen.update(emails(outcome.commands))
    assert chosen.total() == 10_000
    assert abs(chosen["a"] / 10_000 - 0.70) <= 0.02 and abs(chosen["b"] / 10_000 - 0.30) <= 0.02


def test_S23_a_weight_of_zero_is_never_chosen() -> None:
    seq = _promo(0, 1)
    for sid in range(1, 300):
        sub = dataclasses.replace(subscriber(), id=sid)
        outcome = process(sub, [], {}, {"promo": seq}, [custom_event("go", T0)], T0)
        assert emails(outcome.commands) == ["b"]


def test_S23_a_run_flagged_for_recheck_at_a_split_step_fires_then() -> None:
    # The definition changed under a waiting run: its step is now a split (storage flags it for re-testing).
    seq = _promo(1, 1)
    run = waiting_run("promo", 2, recheck=True)
    outcome = process(subscriber(), [run], {"promo": 1}, {"promo": seq}, [], T0 + days(1))
    assert [t[1] for t in transitions(outcome)] == [2]


def test_S23_a_split_step_does_not_fire_while_the_sequence_is_paused() -> None:
    seq = dataclasses.replace(_promo(1, 1), status="paused")
    run = waiting_run("promo", 2, recheck=True)
    outcome = process(subscriber(), [run], {"promo": 1}, {"promo": seq}, [], T0)
    assert transitions(outcome) == []


def test_S23_outside_events_named_split_do_nothing() -> None:
    seq = _promo(1, 1)
    world = World.of(seq).having(waiting_run("promo", 3))
    outcome = world.feed(Event(kind="split", payload={"weight": 1}, source="api", at=T0))
    assert transitions(outcome) == []
