"""S16/S17 as a property, on both databases: random publications (pin and migrate, random step maps) between
random events never leave a run on a step its version lacks, never lose or duplicate a run, and keep the
statistics equal to the stored history."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from stepwise.bootstrap import Stepwise
from stepwise.errors import Conflict, Unprocessable
from stepwise.services import publishing, sequences, versions
from stepwise.services.events import PostedEvent, ingest
from stepwise.services.publishing import PublishIn
from stepwise.services.subscribers import Edit, edit_one
from stepwise.storage import schema as t
from tests.support.clock import FakeClock
from tests.support.drive import settle

NAMES = ("e1", "e2", "e3")
PEOPLE = 3
_examples = itertools.count()


def _definition(events: list[str]) -> dict[str, Any]:
    steps = [{"variants": [{"when": [{"event": "custom", "name": n}], "do": [{"action": "nothing"}]}]} for n in events]
    return {"name": "Prop", "status": "active", "steps": steps}


step_events = st.lists(st.sampled_from(NAMES), min_size=1, max_size=4)
targets = st.one_of(st.integers(min_value=2, max_value=4), st.just("stop"))
publish_op = st.tuples(
    st.just("publish"),
    st.sampled_from(["pin", "migrate"]),
    step_events,
    st.dictionaries(st.sampled_from(["2", "3", "4"]), targets, max_size=3),
)
event_op = st.tuples(st.just("event"), st.integers(min_value=0, max_value=PEOPLE - 1), st.sampled_from(("go", *NAMES)))
operations = st.lists(st.one_of(event_op, event_op, publish_op), min_size=1, max_size=12)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_S17_random_publications_keep_runs_on_their_versions_and_stats_equal_history(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock, ops: list[tuple[Any, ...]]
) -> None:
    account_id, _ = account
    n = next(_examples)
    key, emails = f"p{n}", [f"x{n}-{i}@example.com" for i in range(PEOPLE)]
    sequences.put(stepwise.db, account_id, key, _definition(["go", "e1", "e2"]), clock())
    for email in emails:
        edit_one(stepwise.db, account_id, email, Edit(), source="api", now=clock(), create=True)
    for op in ops:
        if op[0] == "event":
            ingest(stepwise.db, account_id, [PostedEvent(type="custom", name=op[2], email=emails[op[1]])], clock())
            settle(stepwise)
            continue
        publishing.put_draft(stepwise.db, account_id, key, _definition(["go", *op[2]]), clock())
        body = PublishIn(mode=op[1], step_map=op[3] if op[1] == "migrate" else None)
        try:
            publishing.publish(stepwise.db, account_id, key, body, clock())
        except (Conflict, Unprocessable):
            publishing.delete_draft(stepwise.db, account_id, key)  # refused: nothing changed
        settle(stepwise)
    _check(stepwise, account_id, key)


def _check(stepwise: Stepwise, account_id: int, key: str) -> None:
    with stepwise.db.read() as conn:
        seq_id = conn.execute(select(t.sequences.c.id).where(t.sequences.c.key == key)).scalar_one()
        runs = list(conn.execute(select(t.runs).where(t.runs.c.sequence_id == seq_id)))
        entered_events = conn.execute(
            select(t.timeline.c.id).where(t.timeline.c.kind == "entered", t.timeline.c.sequence == key)
        ).all()
    steps_of = {
        v.version: len(versions.one_version(stepwise.db, account_id, key, v.version).definition["steps"])
        for v in versions.all_versions(stepwise.db, account_id, key).items
    }
    open_runs = [r for r in runs if r.status in ("active", "paused")]
    for run in open_runs:
        assert 2 <= run.step <= steps_of[run.version], (run.step, run.version, steps_of)
    assert len(runs) == len(entered_events)  # every entry is one stored run: none lost, none twice
    assert len({(r.subscriber_id, r.pass_no) for r in runs}) == len(runs)
    assert len({r.subscriber_id for r in open_runs}) == len(open_runs)
    stats = sequences.stats(stepwise.db, account_id, key)
    assert stats.entered == len(runs)
    assert stats.on_steps == len(open_runs)
    assert stats.completed == sum(r.status == "completed" for r in runs)
    history = Counter(r.end_reason for r in runs if r.status == "stopped")
    assert {k: v for k, v in stats.stopped_by.items() if v} == dict(history)
    on_step = Counter(r.step for r in open_runs)
    counted = {s.step: s.on_step for s in stats.steps if s.on_step}
    assert {step: n for step, n in on_step.items() if step <= len(stats.steps)} == counted
