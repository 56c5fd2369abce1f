"""The segment editor's live count (SPEC S22): how many subscribers an unsaved rule matches, within a time budget.

Nothing is saved. Subscribers are read by id in batches of `PREVIEW_BATCH`, each batch in its own
read transaction, and tested in Python as the backfill tests them; the work stops after
`PREVIEW_BUDGET` seconds, and the answer then says it is a lower bound over the subscribers checked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from stepwise.domain.segments import parse_where
from stepwise.errors import Unprocessable
from stepwise.services.segment_upkeep import matching
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.database import Database

PREVIEW_BATCH = 1000
PREVIEW_BUDGET = 2.0  # seconds of testing at most per count


class Preview(BaseModel):
    """`count` subscribers matched among the `checked` first ones; `complete` when everyone was checked."""

    model_config = ConfigDict(frozen=True)

    count: int
    checked: int
    complete: bool


def preview_count(
    db: Database,
    account_id: int,
    where: Any,
    now: datetime,
    *,
    budget: float = PREVIEW_BUDGET,
    clock: Callable[[], float] = time.monotonic,
) -> Preview:
    """Count the subscribers a rule matches without saving it; 422 with paths when the rule is wrong."""
    predicate, problems = parse_where(where)
    if predicate is None:
        raise Unprocessable.of(problems, "the rule is invalid")
    started, after, count, checked = clock(), 0, 0, 0
    while True:
        with db.read() as conn:
            rows = subscriber_store.batch_after(conn, account_id, after, PREVIEW_BATCH, lock=False)
            count += matching(conn, account_id, predicate, rows, now) if rows else 0
        checked += len(rows)
        if len(rows) < PREVIEW_BATCH:
            return Preview(count=count, checked=checked, complete=True)
        if clock() - started >= budget:
            return Preview(count=count, checked=checked, complete=False)
        after = rows[-1].id
