"""When to try a failed delivery again."""

from __future__ import annotations

from datetime import timedelta

EMAIL_BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=8),
)
URL_BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))


def decide(*, permanent: bool, attempt: int, schedule: tuple[timedelta, ...]) -> timedelta | None:
    """Return the delay before the next attempt, or None to give up.

    `attempt` counts attempts made so far (1 after the first failure).
    """
    if permanent or attempt > len(schedule):
        return None
    return schedule[attempt - 1]
