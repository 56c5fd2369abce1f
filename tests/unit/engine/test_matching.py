"""Which edge events match which event specs (SPEC §2.1), and what templates see of them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from stepwise.domain import definition as d
from stepwise.engine.matching import edge_matches, state_holds, template_event, url_matches
from tests.unit.builders import T0, event

SPEC: TypeAdapter[d.EventSpec] = TypeAdapter(d.EventSpec)
DATA = {"base": {"city": "Kazan"}, "custom": {"plan": "pro"}}


def matches(
    spec: dict[str, Any], kind: str, payload: dict[str, Any], *, step: int = 2, pass_no: int | None = 1
) -> bool:
    return edge_matches(
        SPEC.validate_python(spec),
        event(kind, T0, **payload),
        step=step,
        sequence="s",
        pass_no=pass_no,
        data=DATA,
    )


CLICK: dict[str, Any] = {
    "draft": "welcome",
    "url": "https://shop.example/sale?x=1",
    "sequence": "s",
    "pass": 1,
    "issue": 9,
}


@pytest.mark.parametrize(
    ("spec", "kind", "payload", "expected"),
    [
        ({"event": "subscriber_added"}, "subscriber_added", {"confirmed": False}, True),
        ({"event": "subscriber_added", "confirmed": True}, "subscriber_added", {"confirmed": True}, True),
        ({"event": "subscriber_added", "confirmed": False}, "subscriber_added", {"confirmed": True}, False),
        ({"event": "subscription_confirmed"}, "subscription_confirmed", {"method": "link"}, True),
        ({"event": "subscription_confirmed"}, "subscription_confirmed", {"method": "manual"}, False),
        ({"event": "subscription_confirmed", "method": "any"}, "subscription_confirmed", {"method": "manual"}, True),
        ({"event": "unsubscribed"}, "unsubscribed", {}, True),
        ({"event": "unsubscribed"}, "subscriber_added", {}, False),
        ({"event": "form_submitted"}, "form_submitted", {"form": "news"}, True),
        ({"event": "form_submitted", "form": "news"}, "form_submitted", {"form": "news"}, True),
        ({"event": "form_submitted", "form": "news"}, "form_confirmed", {"form": "news"}, False),
        ({"event": "form_confirmed", "form": "news"}, "form_confirmed", {"form": "other"}, False),
        ({"event": "list_joined"}, "list_joined", {"list": "vip"}, True),
        ({"event": "list_joined", "list": "vip"}, "list_joined", {"list": "vip"}, True),
        ({"event": "list_left", "list": "vip"}, "list_left", {"list": "trial"}, False),
        ({"event": "segment_joined"}, "segment_joined", {"segment": "pro"}, True),
        ({"event": "segment_joined", "segment": "pro"}, "segment_joined", {"segment": "pro"}, True),
        ({"event": "segment_left", "segment": "pro"}, "segment_left", {"segment": "free"}, False),
        ({"event": "segment_left", "segment": "pro"}, "segment_joined", {"segment": "pro"}, False),
        ({"event": "custom", "name": "order"}, "custom", {"name": "order", "data": {}}, True),
        ({"event": "custom", "name": "order"}, "custom", {"name": "Order", "data": {}}, False),
        ({"event": "never"}, "never", {}, False),
    ],
)
def test_edge_events_match_by_kind_and_filters(
    spec: dict[str, Any], kind: str, payload: dict[str, Any], expected: bool
) -> None:
    assert matches(spec, kind, payload) is expected


@pytest.mark.parametrize(
    ("spec", "payload", "step", "expected"),
    [
        ({"event": "link_clicked"}, CLICK, 2, True),
        ({"event": "link_clicked", "draft": "welcome"}, CLICK, 2, True),
        ({"event": "link_clicked", "draft": "promo"}, CLICK, 2, False),
        ({"event": "link_clicked", "url": "https://shop.example/sale?x=1"}, CLICK, 2, True),
        ({"event": "link_clicked", "url": "https://shop.example/sale"}, CLICK, 2, False),  # exact
        ({"event": "link_clicked", "url": "https://shop.example/*"}, CLICK, 2, True),  # prefix
        ({"event": "link_clicked", "url": "https://blog.example/*"}, CLICK, 2, False),
        # step >= 2 defaults to scope "sequence": only emails of this same run count
        ({"event": "link_clicked"}, {**CLICK, "sequence": "other"}, 2, False),
        ({"event": "link_clicked"}, {**CLICK, "pass": 2}, 2, False),
        ({"event": "link_clicked", "scope": "any"}, {**CLICK, "sequence": "other"}, 2, True),
        # step 1 defaults to scope "any"
        ({"event": "link_clicked"}, {**CLICK, "sequence": "other"}, 1, True),
        ({"event": "link_clicked", "scope": "sequence"}, {**CLICK, "sequence": "other"}, 1, False),
        ({"event": "link_clicked", "scope": "sequence"}, CLICK, 1, True),
        ({"event": "email_opened", "draft": "welcome"}, CLICK, 2, True),
        ({"event": "email_opened"}, {**CLICK, "sequence": "other"}, 2, False),
        ({"event": "email_opened", "scope": "any"}, {**CLICK, "sequence": "other"}, 2, True),
    ],
)
def test_clicks_and_opens_match_by_draft_url_and_scope(
    spec: dict[str, Any], payload: dict[str, Any], step: int, expected: bool
) -> None:
    kind = spec["event"]
    pass_no = None if step == 1 else 1

    assert matches(spec, kind, payload, step=step, pass_no=pass_no) is expected


@pytest.mark.parametrize(
    ("spec", "payload", "expected"),
    [
        ({"event": "data_changed"}, {"fields": ["base.city"], "data": DATA}, True),
        ({"event": "data_changed", "fields": ["base.city"]}, {"fields": ["base.city"], "data": DATA}, True),
        ({"event": "data_changed", "fields": ["base"]}, {"fields": ["base.city"], "data": DATA}, True),
        ({"event": "data_changed", "fields": ["custom.plan"]}, {"fields": ["base.city"], "data": DATA}, False),
        (
            {"event": "data_changed", "where": {"field": "custom.plan", "op": "eq", "value": "pro"}},
            {"fields": ["custom.plan"], "data": {"custom": {"plan": "pro"}}},
            True,
        ),
        (  # `where` is tested on the data after the change, carried by the event
            {"event": "data_changed", "where": {"field": "custom.plan", "op": "eq", "value": "pro"}},
            {"fields": ["custom.plan"], "data": {"custom": {"plan": "free"}}},
            False,
        ),
    ],
)
def test_data_changed_matches_by_fields_and_the_data_after_the_change(
    spec: dict[str, Any], payload: dict[str, Any], expected: bool
) -> None:
    assert matches(spec, "data_changed", payload) is expected


@pytest.mark.parametrize(
    ("where", "body", "expected"),
    [
        ({"field": "event.total", "op": "gt", "value": 100}, {"total": 250}, True),
        ({"field": "event.total", "op": "gt", "value": 100}, {"total": "99.5"}, False),
        ({"field": "event.total", "op": "gt", "value": 100}, {}, False),
        ({"field": "base.city", "op": "eq", "value": "Kazan"}, {}, True),  # profile fields too
        (
            {
                "all": [
                    {"field": "event.sku", "op": "starts_with", "value": "A-"},
                    {"field": "custom.plan", "op": "eq", "value": "pro"},
                ]
            },
            {"sku": "A-1"},
            True,
        ),
    ],
)
def test_custom_event_filters_read_event_fields_and_the_profile(
    where: dict[str, Any], body: dict[str, Any], expected: bool
) -> None:
    spec = {"event": "custom", "name": "order", "where": where}

    assert matches(spec, "custom", {"name": "order", "data": body}) is expected


@pytest.mark.parametrize(
    ("pattern", "url", "expected"),
    [
        ("https://a.example/x", "https://a.example/x", True),
        ("https://a.example/x", "https://a.example/x?y", False),
        ("https://a.example/*", "https://a.example/", True),
        ("https://a.example/*", "https://a.example/deep/path", True),
        ("https://a.example/*", "http://a.example/", False),
        ("*", "https://anything.example/", True),
        ("https://a.example/*", None, False),
    ],
)
def test_url_filters_are_exact_or_a_prefix_ending_in_a_star(pattern: str, url: object, expected: bool) -> None:
    assert url_matches(pattern, url) is expected


def test_state_waits_hold_on_data_and_list_membership() -> None:
    pro = SPEC.validate_python({"event": "data_matches", "where": {"field": "custom.plan", "op": "eq", "value": "pro"}})
    member = SPEC.validate_python({"event": "list_matches", "list": "vip"})
    not_member = SPEC.validate_python({"event": "list_matches", "list": "vip", "member": False})
    assert isinstance(pro, d.DataMatches)
    assert isinstance(member, d.ListMatches)
    assert isinstance(not_member, d.ListMatches)

    assert state_holds(pro, DATA, set(), T0)
    assert not state_holds(pro, {}, set(), T0)
    assert state_holds(member, {}, {"vip"}, T0)
    assert not state_holds(member, {}, {"trial"}, T0)
    assert state_holds(not_member, {}, {"trial"}, T0)


def test_templates_see_a_custom_events_data_and_other_events_payload() -> None:
    assert template_event(event("custom", T0, name="order", data={"total": 5})) == {"total": 5}
    assert template_event(event("data_changed", T0, fields=["a"], data={"a": 1})) == {"fields": ["a"]}
    assert template_event(event("link_clicked", T0, **CLICK)) == CLICK
    assert template_event(None) == {}
