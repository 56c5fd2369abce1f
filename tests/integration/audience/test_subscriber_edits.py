"""Subscriber edits emit exactly the events of SPEC §5, and nothing for a write that changes no value."""

from __future__ import annotations

from typing import Any

import pytest

from stepwise.bootstrap import Stepwise
from stepwise.services import lists
from stepwise.services.subscribers import Edit, edit_one
from tests.integration.audience.support import clear_inbox, queued_events


@pytest.fixture
def account_id(stepwise: Stepwise, account: tuple[int, str]) -> int:
    for key in ("news", "vip"):
        lists.put(stepwise.db, account[0], key, key, stepwise.clock())
    return account[0]


def edit(stepwise: Stepwise, account_id: int, create: bool = False, **changes: Any) -> None:
    edit_one(stepwise.db, account_id, "ann@x.com", Edit(**changes), source="api", now=stepwise.clock(), create=create)


def events(stepwise: Stepwise, account_id: int) -> list[tuple[str, dict[str, Any]]]:
    found = [(kind, payload) for _, kind, payload, source in queued_events(stepwise, account_id) if source == "api"]
    clear_inbox(stepwise, account_id)
    return found


def test_first_creation_emits_subscriber_added_and_a_join_per_list_but_no_data_change(
    stepwise: Stepwise, account_id: int
) -> None:
    edit(stepwise, account_id, create=True, data={"base": {"name": "Ann"}}, lists_add=["vip", "news"])
    assert events(stepwise, account_id) == [
        ("subscriber_added", {"confirmed": True}),
        ("list_joined", {"list": "news"}),
        ("list_joined", {"list": "vip"}),
    ]


def test_creation_as_unconfirmed_says_so(stepwise: Stepwise, account_id: int) -> None:
    edit(stepwise, account_id, create=True, status="unconfirmed")
    assert events(stepwise, account_id) == [("subscriber_added", {"confirmed": False})]


def test_a_later_change_names_each_changed_path(stepwise: Stepwise, account_id: int) -> None:
    edit(stepwise, account_id, create=True, data={"base": {"name": "Ann", "city": "Oslo", "age": 30}})
    events(stepwise, account_id)
    edit(stepwise, account_id, data={"base": {"name": "Anna", "city": None, "age": 30}, "custom": {"plan": "pro"}})
    after = {"base": {"name": "Anna", "age": 30}, "custom": {"plan": "pro"}}
    assert events(stepwise, account_id) == [
        ("data_changed", {"fields": ["base.city", "base.name", "custom.plan"], "data": after})
    ]
    edit(stepwise, account_id, unset=["custom.plan", "base.missing"])
    assert events(stepwise, account_id) == [
        ("data_changed", {"fields": ["custom.plan"], "data": {"base": {"name": "Anna", "age": 30}}})
    ]


def test_a_type_change_is_a_change_but_an_equal_write_is_not(stepwise: Stepwise, account_id: int) -> None:
    edit(stepwise, account_id, create=True, data={"n": 1, "flag": True, "tags": ["a"]})
    events(stepwise, account_id)
    edit(stepwise, account_id, data={"n": 1, "flag": True, "tags": ["a"]}, lists_add=[], unset=["absent.path"])
    edit_one(stepwise.db, account_id, "ANN@x.com", Edit(data={"n": 1}), source="api", now=stepwise.clock(), create=True)
    assert events(stepwise, account_id) == []
    edit(stepwise, account_id, data={"n": "1", "flag": 1})
    assert [payload["fields"] for _, payload in events(stepwise, account_id)] == [["flag", "n"]]


def test_list_joins_and_leaves_are_emitted_once(stepwise: Stepwise, account_id: int) -> None:
    edit(stepwise, account_id, create=True, lists_add=["news"])
    events(stepwise, account_id)
    now = stepwise.clock()
    lists.set_member(stepwise.db, account_id, "vip", "ann@x.com", True, source="api", now=now)
    lists.set_member(stepwise.db, account_id, "vip", "ann@x.com", True, source="api", now=now)
    lists.set_member(stepwise.db, account_id, "news", "ann@x.com", False, source="api", now=now)
    lists.set_member(stepwise.db, account_id, "news", "ann@x.com", False, source="api", now=now)
    edit(stepwise, account_id, lists_add=["vip"])
    assert events(stepwise, account_id) == [("list_joined", {"list": "vip"}), ("list_left", {"list": "news"})]


def test_unsubscribing_emits_unsubscribed_once(stepwise: Stepwise, account_id: int) -> None:
    edit(stepwise, account_id, create=True)
    events(stepwise, account_id)
    edit(stepwise, account_id, status="unsubscribed")
    edit(stepwise, account_id, status="unsubscribed")
    assert events(stepwise, account_id) == [("unsubscribed", {})]


def test_manual_confirmation_emits_subscription_confirmed_with_method_manual(
    stepwise: Stepwise, account_id: int
) -> None:
    edit(stepwise, account_id, create=True, status="unconfirmed")
    events(stepwise, account_id)
    edit(stepwise, account_id, status="active")
    edit(stepwise, account_id, status="active")
    assert events(stepwise, account_id) == [("subscription_confirmed", {"method": "manual"})]
    edit(stepwise, account_id, status="bounced")
    edit(stepwise, account_id, status="active")
    assert events(stepwise, account_id) == []
