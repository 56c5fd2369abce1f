"""The batched edit path behaves exactly like `apply_edit` applied one edit at a time (SPEC §5).

Both plan with `plan_edit`; this checks what the batching itself adds (state carried through a batch,
batched statements). The sharing path helpers are checked against plain reference versions.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from stepwise.bootstrap import Stepwise
from stepwise.domain.edits import Edit
from stepwise.domain.emails import parse_email
from stepwise.domain.paths import changed_paths, changed_since, merge, split_path, unset_path, without
from stepwise.services import lists as list_service
from stepwise.services.accounts import create_account
from stepwise.services.batch_edits import apply_edits
from stepwise.services.subscribers import apply_edit
from stepwise.storage import schema as t
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.codec import loads

SEGMENTS = st.sampled_from(["a", "b", "c"])
PATHS = st.lists(SEGMENTS, min_size=1, max_size=3).map(".".join)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from(["x", "y", ""]))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=2), st.dictionaries(SEGMENTS, inner, max_size=3)),
    max_leaves=6,
)
DATA = st.dictionaries(SEGMENTS, VALUES, max_size=3)


def _deep_merge(data: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The reference: a deep copy of data with the patch merged in place."""
    result = copy.deepcopy(data)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            inner = _deep_merge(result[key] if isinstance(result.get(key), dict) else {}, value)
            if inner or (isinstance(result.get(key), dict) and not value):
                result[key] = inner
            else:
                result.pop(key, None)
        else:
            result[key] = copy.deepcopy(value)
    return result


@given(DATA.map(lambda d: _deep_merge({}, d)), DATA)
def test_sharing_merge_equals_deep_merge(before: dict[str, Any], patch: dict[str, Any]) -> None:
    frozen = copy.deepcopy(before)
    assert merge(before, patch) == _deep_merge(before, patch)
    assert before == frozen


@given(DATA.map(lambda d: _deep_merge({}, d)), PATHS)
def test_sharing_unset_equals_unset_path(before: dict[str, Any], path: str) -> None:
    frozen = copy.deepcopy(before)
    expected = copy.deepcopy(before)
    unset_path(expected, path)
    assert without(before, split_path(path)) == expected
    assert before == frozen


EDITS = st.builds(
    Edit,
    data=st.one_of(st.none(), DATA),
    unset=st.lists(PATHS, max_size=2),
    lists_add=st.lists(st.sampled_from(["l1", "l2"]), max_size=2),
    lists_remove=st.lists(st.sampled_from(["l1", "l2"]), max_size=2),
    status=st.one_of(st.none(), st.sampled_from(["active", "unconfirmed", "unsubscribed", "bounced"])),
)
STEPS = st.lists(st.tuples(st.sampled_from(["ann@x.com", "bob@x.com", "Ann@x.com"]), EDITS), max_size=8)


def _state(stepwise: Stepwise, account_id: int) -> tuple[dict[str, Any], list[tuple[str, str, Any]]]:
    with stepwise.db.read() as conn:
        subs = subscriber_store.page(conn, account_id, after_id=0, limit=100)
        lists = subscriber_store.list_keys(conn, account_id, [s.id for s in subs])
        emails = {s.id: s.email_key for s in subs}
        events = conn.execute(
            select(t.inbox.c.subscriber_id, t.inbox.c.kind, t.inbox.c.payload, t.inbox.c.source)
            .where(t.inbox.c.account_id == account_id)
            .order_by(t.inbox.c.id)
        ).all()
    people = {s.email_key: (s.email, s.status, s.data, sorted(lists.get(s.id, ()))) for s in subs}
    return people, [(emails[sid], kind, loads(payload)) for sid, kind, payload, _ in events]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS, create=st.booleans(), chunk=st.integers(1, 4))
def test_batched_edits_equal_single_edits(
    stepwise: Stepwise, steps: list[tuple[str, Edit]], create: bool, chunk: int
) -> None:
    singles = _account(stepwise)
    batched = _account(stepwise)
    single_outcomes = []
    for raw, edit in steps:
        with stepwise.db.write() as conn:
            result = apply_edit(
                conn, singles, parse_email(raw), edit, source="api", now=stepwise.clock(), create=create
            )
        single_outcomes.append(None if result is None else (result.created, result.changed, result.joined, result.left))
    batch_outcomes = []
    for start in range(0, len(steps), chunk):
        part = [(parse_email(raw), edit) for raw, edit in steps[start : start + chunk]]
        with stepwise.db.write() as conn:
            outcomes = apply_edits(conn, batched, part, source="api", now=stepwise.clock(), create=create)
        batch_outcomes += [
            None if o.absent else (o.created, list(o.changed), list(o.joined), list(o.left)) for o in outcomes
        ]
    assert batch_outcomes == single_outcomes
    assert _state(stepwise, batched) == _state(stepwise, singles)


_counter = iter(range(1_000_000))


def _account(stepwise: Stepwise) -> int:
    row, _ = create_account(stepwise.db, f"acct-{next(_counter)}", "UTC", stepwise.clock())
    for key in ("l1", "l2"):
        list_service.put(stepwise.db, row.id, key, key, stepwise.clock())
    return row.id


@given(DATA.map(lambda d: _deep_merge({}, d)), DATA, st.lists(PATHS, max_size=2))
def test_sharing_diff_equals_changed_paths(before: dict[str, Any], patch: dict[str, Any], unset: list[str]) -> None:
    after = merge(before, patch)
    for path in unset:
        after = without(after, split_path(path))
    assert changed_since(before, after) == changed_paths(before, after)
    assert changed_since(before, copy.deepcopy(after)) == changed_paths(before, after)
