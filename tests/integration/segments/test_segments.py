"""S22 segment membership through the services, on both databases (SPEC §15)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from stepwise.bootstrap import Stepwise
from stepwise.errors import NotFound, Unprocessable
from stepwise.services import lists, segments
from stepwise.services import subscribers as subs
from stepwise.services.subscribers import Edit, edit_one
from stepwise.storage import segments as segment_store
from stepwise.storage import subscribers as subscriber_store
from tests.integration.audience.support import queued_events

VIP_IN_PARIS = {
    "all": [
        {"field": "base.city", "op": "eq", "value": "Paris"},
        {"field": "subscriber.lists", "op": "contains", "value": "vip"},
    ]
}


@pytest.fixture
def account_id(stepwise: Stepwise, account: tuple[int, str]) -> int:
    for key in ("news", "vip"):
        lists.put(stepwise.db, account[0], key, key, stepwise.clock())
    return account[0]


def edit(stepwise: Stepwise, account_id: int, email: str, **changes: Any) -> None:
    edit_one(stepwise.db, account_id, email, Edit(**changes), source="api", now=stepwise.clock(), create=True)


def members(stepwise: Stepwise, account_id: int, key: str) -> list[str]:
    found, _ = segments.members(stepwise.db, account_id, key, cursor=None, limit=1000)
    return [m.email for m in found]


def stored_count_is_true(stepwise: Stepwise, account_id: int, key: str) -> bool:
    with stepwise.db.read() as conn:
        row = segment_store.get(conn, account_id, key)
        assert row is not None
        return row.member_count == segment_store.counted(conn, row.id)


def test_S22_creating_a_segment_backfills_everyone_without_events(stepwise: Stepwise, account_id: int) -> None:
    edit(stepwise, account_id, "ann@x.com", data={"base": {"city": "Paris"}}, lists_add=["vip"])
    edit(stepwise, account_id, "bob@x.com", data={"base": {"city": "Paris"}})
    edit(stepwise, account_id, "cy@x.com", data={"base": {"city": "Rome"}}, lists_add=["vip"])
    before = len(queued_events(stepwise, account_id))
    view, created = segments.put(stepwise.db, account_id, "paris-vip", "Paris VIPs", VIP_IN_PARIS, stepwise.clock())
    assert created and view.count == 1 and view.where == VIP_IN_PARIS
    assert members(stepwise, account_id, "paris-vip") == ["ann@x.com"]
    assert len(queued_events(stepwise, account_id)) == before  # a backfill never floods sequences
    # Editing the predicate recomputes membership for everyone.
    anyone_in_paris = {"field": "base.city", "op": "eq", "value": "Paris"}
    view, created = segments.put(stepwise.db, account_id, "paris-vip", "Paris", anyone_in_paris, stepwise.clock())
    assert not created and view.count == 2
    assert members(stepwise, account_id, "paris-vip") == ["ann@x.com", "bob@x.com"]
    assert stored_count_is_true(stepwise, account_id, "paris-vip")


def test_S22_membership_follows_data_lists_status_and_deletion(stepwise: Stepwise, account_id: int) -> None:
    segments.put(stepwise.db, account_id, "paris-vip", "Paris VIPs", VIP_IN_PARIS, stepwise.clock())
    active = {"field": "subscriber.status", "op": "eq", "value": "active"}
    segments.put(stepwise.db, account_id, "active", "Active", active, stepwise.clock())
    not_news = {"field": "subscriber.lists", "op": "not_contains", "value": "news"}
    segments.put(stepwise.db, account_id, "no-news", "Not on news", not_news, stepwise.clock())
    edit(stepwise, account_id, "ann@x.com", data={"base": {"city": "Paris"}})
    assert members(stepwise, account_id, "paris-vip") == []
    assert members(stepwise, account_id, "no-news") == ["ann@x.com"]
    edit(stepwise, account_id, "ann@x.com", lists_add=["vip", "news"])
    assert members(stepwise, account_id, "paris-vip") == ["ann@x.com"]
    assert members(stepwise, account_id, "no-news") == []
    edit(stepwise, account_id, "ann@x.com", data={"base": {"city": "Lyon"}})
    assert members(stepwise, account_id, "paris-vip") == []
    assert members(stepwise, account_id, "active") == ["ann@x.com"]
    edit(stepwise, account_id, "ann@x.com", status="unsubscribed")
    assert members(stepwise, account_id, "active") == []
    edit(stepwise, account_id, "bob@x.com")
    assert members(stepwise, account_id, "active") == ["bob@x.com"]
    subs.delete(stepwise.db, stepwise.catalog, account_id, "bob@x.com", stepwise.clock())
    assert members(stepwise, account_id, "active") == []
    for key in ("paris-vip", "active", "no-news"):
        assert stored_count_is_true(stepwise, account_id, key)


def test_S22_created_at_relative_to_now(stepwise: Stepwise, account_id: int) -> None:
    edit(stepwise, account_id, "old@x.com")
    stepwise.clock.advance(days=40)  # type: ignore[attr-defined]
    edit(stepwise, account_id, "new@x.com")
    recent = {"field": "subscriber.created_at", "op": "gte", "value": {"now": "-30d"}}
    view, _ = segments.put(stepwise.db, account_id, "recent", "Recent", recent, stepwise.clock())
    assert view.count == 1 and members(stepwise, account_id, "recent") == ["new@x.com"]


@pytest.mark.parametrize(
    ("where", "path"),
    [
        ({"field": "subscriber.age", "op": "eq", "value": 3}, "$.where"),
        ({"field": "subscriber.lists", "op": "eq", "value": "vip"}, "$.where"),
        ({"field": "event.total", "op": "gt", "value": 3}, "$.where"),
        ({"all": [{"field": "base.city", "op": "gt"}]}, "$.where.all[0]"),
        ({"bogus": 1}, "$.where"),
    ],
)
def test_S22_invalid_segments_are_refused_with_paths_and_change_nothing(
    stepwise: Stepwise, account_id: int, where: dict[str, Any], path: str
) -> None:
    with pytest.raises(Unprocessable) as caught:
        segments.put(stepwise.db, account_id, "bad", "Bad", where, stepwise.clock())
    details = caught.value.details
    assert isinstance(details, list) and details and all(d["path"].startswith(path) for d in details), details
    with pytest.raises(NotFound):
        segments.get(stepwise.db, account_id, "bad")


def test_S22_delete_and_listing(stepwise: Stepwise, account_id: int) -> None:
    edit(stepwise, account_id, "ann@x.com", data={"base": {"city": "Paris"}}, lists_add=["vip"])
    segments.put(stepwise.db, account_id, "paris-vip", "Paris VIPs", VIP_IN_PARIS, stepwise.clock())
    assert [(s.key, s.count) for s in segments.all_segments(stepwise.db, account_id)] == [("paris-vip", 1)]
    segments.delete(stepwise.db, account_id, "paris-vip")
    assert segments.all_segments(stepwise.db, account_id) == []
    with pytest.raises(NotFound):
        segments.delete(stepwise.db, account_id, "paris-vip")


def test_S22_time_alone_changes_membership_through_per_member_deadlines(stepwise: Stepwise, account_id: int) -> None:
    """A `now` predicate is re-tested when each member's answer can flip, not by rescanning everyone."""
    recent = {"field": "subscriber.created_at", "op": "gte", "value": {"now": "-30d"}}
    segments.put(stepwise.db, account_id, "recent", "Recent", recent, stepwise.clock())
    edit(stepwise, account_id, "ann@x.com")
    stepwise.clock.advance(days=10)  # type: ignore[attr-defined]
    edit(stepwise, account_id, "bob@x.com")
    assert members(stepwise, account_id, "recent") == ["ann@x.com", "bob@x.com"]
    assert segments.retest_due(stepwise.db, stepwise.clock()) == 0  # nobody is due yet
    stepwise.clock.advance(days=20, seconds=30)  # type: ignore[attr-defined]
    assert segments.retest_due(stepwise.db, stepwise.clock()) == 1  # only Ann's moment has come
    assert members(stepwise, account_id, "recent") == ["bob@x.com"]
    stepwise.clock.advance(days=10)  # type: ignore[attr-defined]
    assert segments.retest_due(stepwise.db, stepwise.clock()) == 1
    assert members(stepwise, account_id, "recent") == []
    assert segments.retest_due(stepwise.db, stepwise.clock()) == 0  # nothing left: time changes nothing more
    assert stored_count_is_true(stepwise, account_id, "recent")


def test_S22_the_worker_retests_due_members_within_a_minute(stepwise: Stepwise, account_id: int) -> None:
    old = {"field": "custom.renews", "op": "lt", "value": {"now": "-1h"}}
    segments.put(stepwise.db, account_id, "lapsed", "Lapsed", old, stepwise.clock())
    soon = (stepwise.clock() - timedelta(hours=1) + timedelta(seconds=45)).isoformat()
    edit(stepwise, account_id, "ann@x.com", data={"custom": {"renews": soon}})
    assert members(stepwise, account_id, "lapsed") == []
    advancer = stepwise.worker().advancer
    stepwise.clock.advance(seconds=50)  # type: ignore[attr-defined]
    advancer.run_once()
    assert members(stepwise, account_id, "lapsed") == ["ann@x.com"]


def test_S22_editing_a_segment_away_from_now_drops_its_retests(stepwise: Stepwise, account_id: int) -> None:
    recent = {"field": "subscriber.created_at", "op": "gte", "value": {"now": "-30d"}}
    segments.put(stepwise.db, account_id, "recent", "Recent", recent, stepwise.clock())
    edit(stepwise, account_id, "ann@x.com")
    active = {"field": "subscriber.status", "op": "eq", "value": "active"}
    segments.put(stepwise.db, account_id, "recent", "Active", active, stepwise.clock())
    stepwise.clock.advance(days=31)  # type: ignore[attr-defined]
    assert segments.retest_due(stepwise.db, stepwise.clock()) == 1  # the stale moment is dropped ...
    assert segments.retest_due(stepwise.db, stepwise.clock()) == 0  # ... once
    assert members(stepwise, account_id, "recent") == ["ann@x.com"]


def segment_events(stepwise: Stepwise, account_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    return [(e, k, p) for e, k, p, source in queued_events(stepwise, account_id) if source == "segment"]


def test_S22_later_changes_emit_segment_joined_and_left_but_backfills_do_not(
    stepwise: Stepwise, account_id: int
) -> None:
    edit(stepwise, account_id, "ann@x.com", data={"base": {"city": "Paris"}}, lists_add=["vip"])
    segments.put(stepwise.db, account_id, "paris-vip", "Paris VIPs", VIP_IN_PARIS, stepwise.clock())
    assert segment_events(stepwise, account_id) == []  # the backfill made Ann a member silently
    edit(stepwise, account_id, "bob@x.com", data={"base": {"city": "Paris"}}, lists_add=["vip"])
    edit(stepwise, account_id, "ann@x.com", lists_remove=["vip"])
    edit(stepwise, account_id, "ann@x.com", data={"base": {"city": "Paris", "zip": "75001"}})  # no change of answer
    assert segment_events(stepwise, account_id) == [
        ("bob@x.com", "segment_joined", {"segment": "paris-vip"}),
        ("ann@x.com", "segment_left", {"segment": "paris-vip"}),
    ]


def test_S22_time_alone_emits_segment_left(stepwise: Stepwise, account_id: int) -> None:
    recent = {"field": "subscriber.created_at", "op": "gte", "value": {"now": "-30d"}}
    segments.put(stepwise.db, account_id, "recent", "Recent", recent, stepwise.clock())
    edit(stepwise, account_id, "ann@x.com")
    stepwise.clock.advance(days=31)  # type: ignore[attr-defined]
    segments.retest_due(stepwise.db, stepwise.clock())
    assert segment_events(stepwise, account_id) == [
        ("ann@x.com", "segment_joined", {"segment": "recent"}),
        ("ann@x.com", "segment_left", {"segment": "recent"}),
    ]


def test_S22_a_stale_membership_read_moves_the_count_only_by_the_rows_written(
    stepwise: Stepwise, account_id: int
) -> None:
    """Two writers decided from the same read (PostgreSQL, read committed): the second changes nothing."""
    for email in ("ann@x.com", "bob@x.com"):
        edit(stepwise, account_id, email, data={"base": {"city": "Rome"}})
    in_paris = {"field": "base.city", "op": "eq", "value": "Paris"}
    segments.put(stepwise.db, account_id, "paris", "Paris", in_paris, stepwise.clock())
    with stepwise.db.read() as conn:
        ids = {k: s.id for k, s in subscriber_store.find_many(conn, account_id, ["ann@x.com", "bob@x.com"]).items()}
        seg = segment_store.get(conn, account_id, "paris")
    assert seg is not None and seg.member_count == 0
    ann, bob = ids["ann@x.com"], ids["bob@x.com"]
    with stepwise.db.write() as conn:  # the first writer: Ann joins
        assert segment_store.change_members(conn, account_id, seg.id, [ann], [], 1) == ([ann], [])
    with stepwise.db.write() as conn:  # the second, from the read before: Ann joins again
        assert segment_store.change_members(conn, account_id, seg.id, [ann], [], 2) == ([], [])
    with stepwise.db.write() as conn:  # and Bob, never in, "leaves"
        assert segment_store.change_members(conn, account_id, seg.id, [], [bob], 3) == ([], [])
    assert stored_count_is_true(stepwise, account_id, "paris")
    with stepwise.db.read() as conn:
        assert segment_store.counted(conn, seg.id) == 1
