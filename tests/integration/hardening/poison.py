"""Planting unreadable rows with raw SQL, and watching the worker go on (poison isolation tests)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text

from stepwise.bootstrap import Stepwise
from stepwise.metrics import render_metrics
from stepwise.services import sequences, timeline
from stepwise.services.events import PostedEvent, ingest
from stepwise.services.subscribers import Edit, edit_one

COUNTING = {
    "name": "Counting",
    "status": "active",
    "steps": [
        {
            "variants": [
                {
                    "when": [{"event": "custom", "name": "go"}],
                    "do": [{"action": "change_data", "increment": {"custom.n": 1}}],
                }
            ]
        }
    ],
}

WAITING = {
    "name": "Waiting",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "custom", "name": "enter"}], "do": [{"action": "nothing"}]}]},
        {"variants": [{"when": [{"event": "time_passed", "after": "1h"}], "do": [{"action": "nothing"}]}]},
    ],
}

# What a NaN or 1e400 became when it was stored: a null where the definition needs a number.
NULL_NUMBER = (
    '{"name": "Waiting", "steps": [{"variants": [{"when": [{"event": "custom", "name": "enter"}], '
    '"do": [{"action": "change_data", "increment": {"custom.n": null}}]}]}, '
    '{"variants": [{"when": [{"event": "time_passed", "after": "1h"}], "do": [{"action": "nothing"}]}]}]}'
)


def plant(stepwise: Stepwise, sql: str, **params: Any) -> None:
    """Write a row behind the application's back."""
    with stepwise.db.write() as conn:
        conn.execute(text(sql), params)


def scalar(stepwise: Stepwise, sql: str, **params: Any) -> Any:
    with stepwise.db.read() as conn:
        return conn.execute(text(sql), params).scalar()


def rows(stepwise: Stepwise, sql: str, **params: Any) -> list[Any]:
    with stepwise.db.read() as conn:
        return list(conn.execute(text(sql), params))


def subscriber(stepwise: Stepwise, account_id: int, email: str) -> int:
    edit_one(stepwise.db, account_id, email, Edit(), source="api", now=stepwise.clock(), create=True)
    found = scalar(stepwise, "SELECT id FROM subscribers WHERE account_id = :a AND email = :e", a=account_id, e=email)
    return int(found)


def post(stepwise: Stepwise, account_id: int, email: str, name: str = "go") -> None:
    ingest(stepwise.db, account_id, [PostedEvent(type="custom", name=name, email=email)], stepwise.clock())


def counted(stepwise: Stepwise, subscriber_id: int) -> int:
    """The subscriber's custom.n, read without decoding anything else (0 when unset)."""
    data = scalar(stepwise, "SELECT data FROM subscribers WHERE id = :s", s=subscriber_id)
    import json

    return int(json.loads(data).get("custom", {}).get("n", 0))


def seconds_until(predicate: Callable[[], bool], timeout: float = 10.0, *, since: float | None = None) -> float:
    """Poll until predicate holds; return the seconds since `since` (default: now), failing after timeout."""
    start = time.monotonic() if since is None else since
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.005)
    return time.monotonic() - start


@contextmanager
def running_worker(stepwise: Stepwise) -> Iterator[None]:
    """The process's worker loops, as `serve` runs them (stopped, i.e. drained, at the end)."""
    workers = stepwise.worker()
    workers.start()
    try:
        yield
    finally:
        workers.stop()


def quarantined(stepwise: Stepwise, account_id: int, kind: str) -> list[Any]:
    return rows(
        stepwise,
        "SELECT ref, subscriber_id, error, payload FROM quarantine WHERE account_id = :a AND kind = :k ORDER BY id",
        a=account_id,
        k=kind,
    )


def metric(stepwise: Stepwise, kind: str) -> float:
    """The value of stepwise_quarantined_items{kind=...} in /metrics."""
    for line in render_metrics(stepwise).decode().splitlines():
        if line.startswith(f'stepwise_quarantined_items{{kind="{kind}"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"no stepwise_quarantined_items for {kind}")


def timeline_of(stepwise: Stepwise, account_id: int, email: str) -> list[dict[str, Any]]:
    items, _ = timeline.page(stepwise.db, account_id, email, cursor=None, limit=1000)
    return [item.model_dump() for item in items]


def put(stepwise: Stepwise, account_id: int, key: str, document: dict[str, Any]) -> None:
    sequences.put(stepwise.db, account_id, key, document, stepwise.clock())
