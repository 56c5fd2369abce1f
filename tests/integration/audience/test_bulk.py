"""Bulk edit (SPEC §5): keyset batches, data_changed only where data really changed."""

from __future__ import annotations

from typing import Any

import pytest

from stepwise.bootstrap import Stepwise
from stepwise.errors import Unprocessable
from stepwise.services import bulk
from stepwise.services import subscribers as subscriber_service
from stepwise.services.bulk import BulkUpdate, bulk_update
from stepwise.services.subscribers import Edit, edit_one
from tests.integration.audience.support import clear_inbox, queued_events


@pytest.fixture
def people(stepwise: Stepwise, account: tuple[int, str]) -> int:
    account_id = account[0]
    for name, city, plan in [
        ("ann", "Kazan", "pro"),
        ("bob", "Oslo", "free"),
        ("cid", "Kazan", "free"),
        ("dan", "Rome", "pro"),
    ]:
        edit_one(
            stepwise.db,
            account_id,
            f"{name}@x.com",
            Edit(data={"base": {"city": city}, "custom": {"plan": plan}}),
            source="api",
            now=stepwise.clock(),
            create=True,
        )
    clear_inbox(stepwise, account_id)
    return account_id


def update(stepwise: Stepwise, account_id: int, **body: Any) -> dict[str, int]:
    return bulk_update(stepwise.db, account_id, BulkUpdate.model_validate(body), stepwise.clock()).model_dump()


def data(stepwise: Stepwise, account_id: int, name: str) -> dict[str, Any]:
    return subscriber_service.get(stepwise.db, account_id, f"{name}@x.com").data


def test_a_predicate_edit_changes_matching_subscribers_across_batches(
    stepwise: Stepwise, people: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "BATCH", 2)
    where = {"field": "base.city", "op": "eq", "value": "Kazan"}
    reply = update(stepwise, people, where=where, set={"custom.plan": "pro", "custom.region": "volga"})
    assert reply == {"matched": 2, "changed": 2}
    assert data(stepwise, people, "ann") == {"base": {"city": "Kazan"}, "custom": {"plan": "pro", "region": "volga"}}
    assert data(stepwise, people, "bob") == {"base": {"city": "Oslo"}, "custom": {"plan": "free"}}
    assert queued_events(stepwise, people) == [
        ("ann@x.com", "data_changed", {"fields": ["custom.region"], "data": data(stepwise, people, "ann")}, "bulk"),
        (
            "cid@x.com",
            "data_changed",
            {"fields": ["custom.plan", "custom.region"], "data": data(stepwise, people, "cid")},
            "bulk",
        ),
    ]


def test_an_edit_that_changes_no_value_emits_nothing(stepwise: Stepwise, people: int) -> None:
    reply = update(
        stepwise, people, where={"field": "custom.plan", "op": "eq", "value": "pro"}, set={"custom.plan": "pro"}
    )
    assert reply == {"matched": 2, "changed": 0}
    assert queued_events(stepwise, people) == []


def test_an_email_list_edit_ignores_unknown_and_repeated_addresses(stepwise: Stepwise, people: int) -> None:
    reply = update(stepwise, people, emails=["ANN@x.com", "ann@x.com", "bob@x.com", "zed@x.com"], unset=["custom"])
    assert reply == {"matched": 2, "changed": 2}
    assert data(stepwise, people, "ann") == {"base": {"city": "Kazan"}}
    assert [(e, k, p["fields"]) for e, k, p, _ in queued_events(stepwise, people)] == [
        ("ann@x.com", "data_changed", ["custom.plan"]),
        ("bob@x.com", "data_changed", ["custom.plan"]),
    ]


def test_set_replaces_the_value_at_its_path_like_change_data(stepwise: Stepwise, people: int) -> None:
    update(stepwise, people, emails=["dan@x.com"], set={"base": {"country": "IT"}})
    assert data(stepwise, people, "dan") == {"base": {"country": "IT"}, "custom": {"plan": "pro"}}


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ({"emails": ["not an address"], "set": {"a": 1}}, ["$.emails[0]"]),
        ({"emails": ["ann@x.com"], "set": {"a.b": 1}, "unset": ["a"]}, ["$.unset[0]"]),
        ({"where": {"field": "event.total", "op": "gt", "value": 1}, "set": {"a": 1}}, ["$.where"]),
        ({"emails": ["ann@x.com"], "set": {"a": "x" * 70_000}}, ["$.set"]),
    ],
)
def test_bad_edits_are_refused_before_anything_changes(
    stepwise: Stepwise, people: int, body: dict[str, Any], paths: list[str]
) -> None:
    with pytest.raises(Unprocessable) as caught:
        update(stepwise, people, **body)
    assert [d["path"] for d in caught.value.details] == paths
    assert queued_events(stepwise, people) == []
