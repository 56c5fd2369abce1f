"""The runs store writes a state's values as tuples; their order must be the order of the column names."""

from __future__ import annotations

from stepwise.storage import runs


def test_state_values_follow_the_state_columns() -> None:
    state = runs.RunState(
        status="active",
        step=2,
        step_entered_at=3,
        wake_at=4,
        claimable_at=5,
        recheck=True,
        resumed_at=6,
        ended_at=7,
        end_reason="manual",
    )
    assert runs._state_values(state) == tuple(getattr(state, name) for name in runs._STATE)
