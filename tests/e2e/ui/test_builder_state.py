"""The builder's state round-trips every kind of event and action, and places 422 paths at its inputs."""

from __future__ import annotations

from typing import Any

from stepwise.domain.definition import SequenceDefinition
from stepwise.web import builder_edits
from stepwise.web.builder import Choices, from_definition, to_document
from stepwise.web.builder_errors import path_key, place

EVERYTHING: dict[str, Any] = {
    "name": "Everything",
    "description": "every kind of event and action",
    "timezone": "Europe/Moscow",
    "only_once": True,
    "accepting": False,
    "exit_on_unsubscribe": True,
    "steps": [
        {
            "variants": [
                {
                    "when": [
                        {"event": "subscriber_added", "confirmed": False},
                        {"event": "subscription_confirmed", "method": "any"},
                        {"event": "unsubscribed"},
                        {"event": "link_clicked", "draft": "welcome", "url": "https://example.com/*", "scope": "any"},
                        {"event": "email_opened", "draft": "welcome", "scope": "sequence"},
                        {"event": "form_submitted", "form": "newsletter"},
                        {"event": "form_confirmed"},
                        {"event": "list_joined", "list": "vip"},
                        {"event": "list_left"},
                        {
                            "event": "data_changed",
                            "fields": ["base.city", "custom.plan"],
                            "where": {"field": "base.city", "op": "in", "value": ["Kazan", "Moscow, Russia"]},
                        },
                        {
                            "event": "custom",
                            "name": "order_placed",
                            "where": {
                                "any": [
                                    {"field": "event.total", "op": "gte", "value": 100},
                                    {"not": {"field": "x", "op": "exists"}},
                                ]
                            },
                        },
                    ],
                    "do": [
                        {"action": "send_email", "draft": "welcome"},
                        {
                            "action": "call_url",
                            "url": "https://crm.example/hook?email={EMAIL}",
                            "method": "POST",
                            "body": {"email": "{{ email }}", "n": [1, 2]},
                            "headers": {"X-Token": "secret: yes"},
                        },
                        {
                            "action": "change_data",
                            "set": {
                                "custom.onboarded": True,
                                "custom.when": "$now",
                                "custom.code": "42",
                                "base.city": "Kazan",
                            },
                            "unset": ["custom.coupon"],
                            "increment": {"custom.points": 10, "custom.ratio": 0.5},
                        },
                        {"action": "add_to_list", "list": "vip"},
                        {"action": "remove_from_list", "list": "vip"},
                        {"action": "start_sequence", "sequence": "other"},
                        {"action": "stop_sequence", "sequence": "other"},
                        {"action": "nothing"},
                    ],
                }
            ]
        },
        {
            "variants": [
                {"when": [{"event": "time_passed", "after": "1d12h"}], "do": [{"action": "stop_sequence"}]},
                {
                    "when": [
                        {"event": "schedule", "every": "week", "weekdays": ["mon", "fri"], "at": "10:00"},
                        {"event": "schedule", "every": "year", "month": 2, "day": 29, "at": "09:30", "timezone": "UTC"},
                        {"event": "schedule", "cron": "0 10 * * mon-fri"},
                        {
                            "event": "data_matches",
                            "where": {"field": "custom.score", "op": "gt", "value": {"now": "-7d"}},
                        },
                        {"event": "list_matches", "list": "vip", "member": False},
                        {"event": "custom", "name": "purchase", "same": ["cart_id", "shop.id"]},  # S25
                        {
                            "event": "date_reached",
                            "field": "custom.renewal",
                            "offset": "-7d",
                            "at": "08:30",
                            "every_year": True,
                            "timezone": "Europe/Berlin",
                        },
                        {"event": "date_reached", "field": "birthday"},
                    ],
                    "do": [{"action": "go_to_sequence", "sequence": "other"}],
                },
            ]
        },
        {
            "variants": [
                {"when": [{"event": "split", "weight": 70}], "do": [{"action": "nothing"}]},
                {"when": [{"event": "split", "weight": 30}], "do": [{"action": "stop_sequence"}]},
            ]
        },
    ],
}


def normalized(document: dict[str, Any]) -> dict[str, Any]:
    return SequenceDefinition.model_validate(document).dump()


def test_every_kind_of_event_and_action_survives_a_trip_through_the_builder() -> None:
    state = from_definition("everything", normalized(EVERYTHING), 3)
    document, problems = to_document(state)
    assert problems == []
    assert normalized(document) == normalized(EVERYTHING)


def test_unreadable_inputs_are_problems_at_their_json_paths() -> None:
    state = from_definition("x", normalized(EVERYTHING), 1)
    action = state.steps[0].variants[0].do[2]
    action.values["increment"] = "custom.points = lots"
    action.values["set"] = "no equals sign"
    _, problems = to_document(state)
    assert [(p.path, p.message) for p in problems] == [
        ("$.steps[0].variants[0].do[2].set", "line 1: write one 'path = value' per line"),
        ("$.steps[0].variants[0].do[2].increment", "line 1: custom.points needs a number"),
    ]


def test_problems_are_placed_at_the_deepest_input_their_path_reaches() -> None:
    state = from_definition("x", normalized(EVERYTHING), 1)
    placed = place(
        state,
        [
            {"path": "$.steps[1].variants[0].when[0].after", "message": "bad duration"},
            {"path": "$.steps[0].variants[0].do[2].set['custom.code']", "message": "bad value"},
            {"path": "$.steps[0].variants[0].when[10].where.any[1].not.op", "message": "bad op"},
            {"path": "$.steps[1].variants[0].when[0].event", "message": "a wait"},
            {"path": "$.steps[1].variants[1].when[1]", "message": "schedule"},
            {"path": "$.steps[0].variants", "message": "S9"},
            {"path": "$.steps", "message": "draft has no sender"},
            {"path": "$.name", "message": "required"},
            {"path": "$", "message": "whole"},
        ],
    )
    assert placed.at("s1.v0.w0.after") == ["bad duration"]
    assert placed.at("s0.v0.d2.set") == ["bad value"]
    assert placed.at("s0.v0.w10.where") == ["bad op"]
    assert placed.at("s1.v0.w0.kind") == ["a wait"]
    assert placed.at("s1.v1.w1") == ["schedule"]
    assert placed.at("s0.variants") == ["S9"]
    assert placed.at("steps") == ["draft has no sender"]
    assert placed.at("name") == ["required"]
    assert placed.at("") == ["whole"]
    assert placed.summary[0] == ("f-s1-v0-w0-after", "Step 2 · Variant 1 · Event 1 · Wait for", "bad duration")
    assert path_key("$.steps[2].variants[0].do[1]['x']") == ["s2", "v0", "d1", "x"]


def test_moves_keep_the_focus_on_a_usable_button() -> None:
    state = from_definition("x", normalized(EVERYTHING), 1)
    choices = Choices(drafts=[("welcome", "Welcome")])
    focus, _ = builder_edits.apply(state, "up_step:1", choices)
    assert focus == "down-s0"
    assert state.steps[0].variants[0].when[0].kind == "time_passed"
    focus, _ = builder_edits.apply(state, "add_do:1.0", choices)
    assert focus == "f-s1-v0-d8-kind"
    assert state.steps[1].variants[0].do[-1].values == {"draft": ""}
