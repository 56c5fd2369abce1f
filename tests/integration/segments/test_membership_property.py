"""S22 as a property: after any sequence of edits, stored membership equals the predicate evaluated afresh."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepwise.bootstrap import Stepwise
from stepwise.domain.instants import iso
from stepwise.domain.segments import Facts, matches, parse_where
from stepwise.services import lists, segments
from stepwise.services import subscribers as subs
from stepwise.services.accounts import create_account
from stepwise.services.subscribers import Edit, edit_one
from stepwise.storage import segments as segment_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.codec import from_us
from tests.support.clock import FakeClock

PEOPLE = ["a@x.com", "b@x.com", "c@x.com", "d@x.com"]
LISTS = ["news", "vip"]
WHERES: list[dict[str, Any]] = [
    {"field": "base.city", "op": "eq", "value": "Paris"},
    {"field": "subscriber.lists", "op": "contains", "value": "vip"},
    {"field": "subscriber.lists", "op": "not_contains", "value": "news"},
    {
        "all": [
            {"field": "subscriber.status", "op": "eq", "value": "active"},
            {"field": "base.age", "op": "gte", "value": 30},
        ]
    },
    {"field": "subscriber.created_at", "op": "gte", "value": {"now": "-3d"}},
    {
        "any": [
            {"field": "base.city", "op": "starts_with", "value": "L"},
            {"not": {"field": "base.age", "op": "exists"}},
        ]
    },
]
_accounts = itertools.count()

edits = st.tuples(
    st.just("edit"),
    st.sampled_from(PEOPLE),
    st.sampled_from([None, "Paris", "Lyon", "Rome"]),
    st.sampled_from([None, 20, 35]),
    st.lists(st.sampled_from(LISTS), max_size=2, unique=True),
    st.lists(st.sampled_from(LISTS), max_size=2, unique=True),
    st.sampled_from([None, "active", "unsubscribed"]),
)
operations = st.lists(
    st.one_of(
        edits,
        st.tuples(st.just("delete"), st.sampled_from(PEOPLE)),
        st.tuples(st.just("segment"), st.sampled_from(["s1", "s2"]), st.integers(0, len(WHERES) - 1)),
        st.tuples(st.just("time"), st.integers(1, 3)),
    ),
    max_size=14,
)


def afresh(stepwise: Stepwise, account_id: int, where: Any) -> set[int]:
    predicate, _ = parse_where(where)
    assert predicate is not None
    now = stepwise.clock()
    with stepwise.db.read() as conn:
        rows = subscriber_store.batch_after(conn, account_id, 0, 1000)
        keys = subscriber_store.list_keys(conn, account_id, [r.id for r in rows])
    found = set()
    for r in rows:
        facts = Facts(r.status, frozenset(keys.get(r.id, ())), iso(from_us(r.created_at)))
        if matches(predicate, r.data, facts, now):
            found.add(r.id)
    return found


def apply(stepwise: Stepwise, clock: FakeClock, account_id: int, op: tuple[Any, ...]) -> None:
    if op[0] == "edit":
        _, who, city, age, add, remove, status = op
        data = {"base": {"city": city, "age": age}}
        edit = Edit(data=data, lists_add=add, lists_remove=[k for k in remove if k not in add], status=status)
        edit_one(stepwise.db, account_id, who, edit, source="api", now=clock(), create=True)
    elif op[0] == "delete":
        try:
            subs.delete(stepwise.db, stepwise.catalog, account_id, op[1], clock())
        except Exception as exc:  # absent: nothing to delete
            assert "no subscriber" in str(exc)
    elif op[0] == "segment":
        segments.put(stepwise.db, account_id, op[1], op[1], WHERES[op[2]], clock())
    else:
        clock.advance(timedelta(days=op[1]))
        segments.retest_due(stepwise.db, clock())  # what the worker does at least once a minute


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_S22_membership_equals_the_predicate_evaluated_afresh(
    stepwise: Stepwise, clock: FakeClock, ops: list[tuple[Any, ...]]
) -> None:
    row, _ = create_account(stepwise.db, f"prop{next(_accounts)}", "UTC", clock())
    for key in LISTS:
        lists.put(stepwise.db, row.id, key, key, clock())
    for op in ops:
        apply(stepwise, clock, row.id, op)
    for view in segments.all_segments(stepwise.db, row.id):
        with stepwise.db.read() as conn:
            stored = segment_store.get(conn, row.id, view.key)
            assert stored is not None
            members = {
                r.subscriber_id for r in segment_store.members_page(conn, row.id, stored.id, after_id=0, limit=1000)
            }
            assert stored.member_count == segment_store.counted(conn, stored.id) == len(members)
        assert members == afresh(stepwise, row.id, view.where), (view.key, view.where)
