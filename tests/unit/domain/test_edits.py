"""plan_edit: which edit produces which events (SPEC §5), without a database."""

from __future__ import annotations

from stepwise.domain.edits import Edit, SubscriberState, plan_edit
from stepwise.domain.events import Happened
from stepwise.domain.statuses import SubscriberStatus


def state(
    status: SubscriberStatus = "active", data: dict[str, object] | None = None, lists: set[str] | None = None
) -> SubscriberState:
    return SubscriberState(status, dict(data or {}), frozenset(lists or ()))


def kinds(events: tuple[Happened, ...]) -> list[str]:
    return [e.kind for e in events]


def test_a_new_subscriber_is_added_active_by_default_and_joins_its_lists_in_key_order() -> None:
    plan = plan_edit(None, Edit(data={"a": 1}, lists_add=["l2", "l1", "l2"]))

    assert plan.created and plan.state == state("active", {"a": 1}, {"l1", "l2"})
    assert plan.events == (
        Happened("subscriber_added", {"confirmed": True}),
        Happened("list_joined", {"list": "l1"}),
        Happened("list_joined", {"list": "l2"}),
    )
    assert plan.changed == () and plan.joined == ["l1", "l2"] and not plan.status_changed


def test_a_new_unconfirmed_subscriber_is_added_unconfirmed_without_data_events() -> None:
    plan = plan_edit(None, Edit(data={"a": {"b": None}}, unset=["c"], status="unconfirmed"))

    assert plan.state == state("unconfirmed")
    assert plan.events == (Happened("subscriber_added", {"confirmed": False}),)


def test_a_data_change_lists_the_changed_leaf_paths_and_the_data_after() -> None:
    before = state(data={"base": {"firstName": "Ann", "city": "Kazan"}, "plan": "free"})

    plan = plan_edit(before, Edit(data={"base": {"city": "Omsk"}, "plan": None}))

    after = {"base": {"firstName": "Ann", "city": "Omsk"}}
    assert plan.events == (Happened("data_changed", {"fields": ["base.city", "plan"], "data": after}),)
    assert plan.state.data == after and plan.changed == ["base.city", "plan"]
    assert before.data == {"base": {"firstName": "Ann", "city": "Kazan"}, "plan": "free"}  # unchanged


def test_an_edit_that_changes_nothing_plans_no_event() -> None:
    before = state(data={"a": 1}, lists={"l1"})

    plan = plan_edit(before, Edit(data={"a": 1}, lists_add=["l1"], lists_remove=["l2"], status="active"))

    assert plan.events == () and not plan.touched and plan.state == before


def test_unset_removes_a_path_and_replace_data_replaces_the_profile() -> None:
    before = state(data={"a": {"b": 1}, "c": 2})

    assert plan_edit(before, Edit(unset=["a.b"])).events == (
        Happened("data_changed", {"fields": ["a.b"], "data": {"c": 2}}),
    )
    replaced = plan_edit(before, Edit(data={"c": 2}, replace_data=True))
    assert replaced.changed == ["a.b"] and replaced.state.data == {"c": 2}


def test_list_events_follow_the_data_event_and_adding_wins_over_removing() -> None:
    before = state(data={"a": 1}, lists={"l1", "l3"})

    plan = plan_edit(before, Edit(data={"a": 2}, lists_add=["l2", "l3"], lists_remove=["l1", "l2"]))

    assert kinds(plan.events) == ["data_changed", "list_joined", "list_left"]
    assert plan.joined == ["l2"] and plan.left == ["l1"] and plan.state.lists == {"l2", "l3"}


def test_confirming_by_hand_emits_subscription_confirmed_manual_after_list_events() -> None:
    plan = plan_edit(state("unconfirmed"), Edit(status="active", lists_add=["l1"]))

    assert plan.events == (
        Happened("list_joined", {"list": "l1"}),
        Happened("subscription_confirmed", {"method": "manual"}),
    )
    assert plan.state.status == "active" and plan.status_changed


def test_unsubscribing_emits_unsubscribed() -> None:
    assert plan_edit(state("active"), Edit(status="unsubscribed")).events == (Happened("unsubscribed", {}),)
    assert plan_edit(state("unconfirmed"), Edit(status="unsubscribed")).events == (Happened("unsubscribed", {}),)


def test_other_status_changes_emit_nothing_but_are_stored() -> None:
    for old, new in [
        ("active", "unconfirmed"),
        ("active", "bounced"),
        ("unsubscribed", "active"),
        ("bounced", "active"),
    ]:
        plan = plan_edit(state(old), Edit(status=new))
        assert plan.events == () and plan.status_changed and plan.touched and plan.state.status == new


def test_fresh_data_is_taken_as_it_is_for_a_new_subscriber() -> None:
    data = {"a": "1"}

    assert plan_edit(None, Edit(data=data), fresh_data=True).state.data is data
    assert plan_edit(None, Edit(data=data)).state.data is not data
