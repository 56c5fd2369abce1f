"""The with/without-policy figures of `stepwise bench` are taken in turn, the order swapped every round."""

from __future__ import annotations

from stepwise.bench.runner import in_turn


def test_runs_alternate_and_each_side_gets_every_round() -> None:
    order: list[bool] = []

    def measure(policy: bool) -> int:
        order.append(policy)
        return len(order)

    runs = in_turn(measure, rounds=4)
    assert order == [False, True, True, False, False, True, True, False]
    assert runs == {False: [1, 4, 5, 8], True: [2, 3, 6, 7]}
