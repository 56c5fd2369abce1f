"""Form definitions (SPEC §5): their shape rules and the references they make."""

from __future__ import annotations

from typing import Any

import pytest

from stepwise.domain.forms import FormField, FormSpec, form_problems, form_reference_problems


def test_a_minimal_form_asks_only_for_the_address_with_double_opt_in() -> None:
    spec = FormSpec.model_validate({})
    assert (spec.fields, spec.lists, spec.double_opt_in, spec.field_list()) == ([], [], True, [])


def test_fields_may_be_paths_or_labelled_fields_and_come_back_in_order() -> None:
    spec = FormSpec.model_validate(
        {"fields": ["name", {"path": "address.city", "label": "City", "required": True}], "lists": ["news"]}
    )
    assert spec.field_list() == [FormField(path="name"), FormField(path="address.city", label="City", required=True)]


@pytest.mark.parametrize(
    ("body", "where", "says"),
    [
        ({"fields": ["email"]}, "$", "reserved"),
        ({"fields": ["website"]}, "$", "reserved"),
        ({"fields": ["name", "name"]}, "$", "overlaps"),
        ({"fields": ["address", {"path": "address.city"}]}, "$", "overlaps"),
        ({"fields": ["address.city", "address"]}, "$", "overlaps"),
        ({"success_url": "ftp://example.com"}, "$.success_url", "http:// or https://"),
        ({"title": "Hello\nBcc: x@example.com"}, "$.title", "line breaks"),
        ({"colour": "red"}, "$.colour", ""),
    ],
)
def test_a_malformed_form_has_a_problem_at_its_place(body: dict[str, Any], where: str, says: str) -> None:
    problems = form_problems(body)
    assert problems, body
    assert any(p.path == where and says in p.message for p in problems), problems


def test_a_valid_form_has_no_problems_and_keeps_a_web_success_url() -> None:
    assert form_problems({"success_url": "HTTPS://example.com/thanks", "title": "News"}) == []


def test_unknown_lists_and_drafts_are_named() -> None:
    spec = FormSpec.model_validate({"lists": ["news", "gone"], "confirmation_draft": "missing"})
    problems = form_reference_problems(spec, frozenset({"news"}), frozenset({"welcome"}))
    assert [(p.path, p.message) for p in problems] == [
        ("$.lists[1]", "unknown list 'gone'"),
        ("$.confirmation_draft", "unknown draft 'missing'"),
    ]
    known = FormSpec.model_validate({"lists": ["news"], "confirmation_draft": "welcome"})
    assert form_reference_problems(known, frozenset({"news"}), frozenset({"welcome"})) == []
