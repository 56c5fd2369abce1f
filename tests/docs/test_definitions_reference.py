"""docs/definitions.md cannot drift from the models of the definition file.

The kinds of events, waits and actions, the predicate shapes and operators, the sequence settings
and the fields of drafts and forms are read from the pydantic models. Each must have its place in
the reference (a heading, or a row naming its fields) and appear in at least one of the page's
examples, which tests/docs/test_docs_examples.py runs through `stepwise validate`. A heading for a
kind the models no longer have fails too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from stepwise.domain import definition as d
from stepwise.domain import predicates as p
from stepwise.domain.forms import FormField, FormSpec
from stepwise.services.drafts import DraftBody
from tests.docs.markdown import DOCS, examples, sections

PAGE = DOCS / "definitions.md"
SECTIONS = sections(PAGE)
EXAMPLES = examples(PAGE)


def _members(annotated: Any) -> list[type[BaseModel]]:
    """The models of a discriminated union (Annotated[A | B | …, Field(discriminator=…)])."""
    union = get_args(annotated)[0]
    return [member for member in get_args(union) if isinstance(member, type) and issubclass(member, BaseModel)]


def _literals(annotation: Any) -> tuple[str, ...]:
    """The values of a Literal, also inside `Literal[…] | None`."""
    if get_origin(annotation) is Literal:
        return tuple(get_args(annotation))
    return tuple(value for arg in get_args(annotation) for value in _literals(arg))


def _tag(model: type[BaseModel], discriminator: str) -> str:
    (value,) = _literals(model.model_fields[discriminator].annotation)
    return str(value)


EVENT_MODELS = {_tag(model, "event"): model for model in _members(d.EventSpec)}
ACTION_MODELS = {_tag(model, "action"): model for model in _members(d.Action)}
OPERATORS = _literals(p.Op)


def _fields(model: type[BaseModel], *skip: str) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items() if name not in skip]


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    """Every mapping inside a parsed YAML value."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _nodes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _nodes(item)


def _parsed() -> list[dict[str, Any]]:
    return [example.parsed() for example in EXAMPLES]


def _used(key: str) -> set[str]:
    """The values a key takes anywhere in the page's examples (`event`, `action`, `op`, `every`)."""
    return {str(node[key]) for example in _parsed() for node in _nodes(example) if key in node}


def _section(title: str) -> str:
    assert title in SECTIONS, f"docs/definitions.md needs a heading '{title}'"
    return SECTIONS[title]


def _mentions(text: str, name: str) -> bool:
    return f"`{name}`" in text or re.search(rf"`\{{?{re.escape(name)}:", text) is not None


def test_every_event_and_wait_has_its_heading_with_every_field() -> None:
    events, waits = _section("Events"), _section("Waits")
    for kind, model in EVENT_MODELS.items():
        text = _section(f"`{kind}`")
        assert f"### `{kind}`" in (waits if kind in d.WAIT_EVENTS else events), f"{kind} is in the wrong part"
        # `same` (S25) is common to every edge event: the Events section describes it once.
        missing = [name for name in _fields(model, "event") if name != "same" and not _mentions(text, name)]
        assert not missing, f"the section of `{kind}` does not describe {missing}"
    assert _mentions(events, "same")


def test_every_action_has_its_heading_with_every_field() -> None:
    actions = _section("Actions")
    for name, model in ACTION_MODELS.items():
        assert f"### `{name}`" in actions, f"the action {name} has no heading under Actions"
        text = _section(f"`{name}`")
        missing = [field for field in _fields(model, "action") if not _mentions(text, field)]
        assert not missing, f"the section of `{name}` does not describe {missing}"


def test_no_heading_names_a_kind_the_models_do_not_have() -> None:
    known = {
        "Events": set(EVENT_MODELS) - d.WAIT_EVENTS,
        "Waits": set(d.WAIT_EVENTS),
        "Actions": set(ACTION_MODELS),
        "Predicates": {"all", "any", "not"},
    }
    for part, kinds in known.items():
        headed = set(re.findall(r"^### `([a-z_]+)`", _section(part), flags=re.MULTILINE))
        assert headed == kinds, f"{part}: headings {sorted(headed)} but the models have {sorted(kinds)}"


def test_every_kind_and_action_is_used_by_an_example() -> None:
    assert set(EVENT_MODELS) <= _used("event"), set(EVENT_MODELS) - _used("event")
    assert set(ACTION_MODELS) <= _used("action"), set(ACTION_MODELS) - _used("action")


def test_predicates_are_described_and_every_operator_is_used() -> None:
    for shape in ("all", "any", "not"):
        assert _section(f"`{shape}`").strip(), shape
        assert shape in {key for example in _parsed() for node in _nodes(example) for key in node}, shape
    comparison = _section("Comparison")
    missing = [name for name in _fields(p.Comparison) if not _mentions(comparison, name)]
    assert not missing, f"Comparison does not describe {missing}"
    table = set(re.findall(r"^\| `([a-z_]+)` \|", comparison, flags=re.MULTILINE)) - {"op"}  # minus the header
    assert table == set(OPERATORS), f"the operator table has {sorted(table)}, the model {sorted(OPERATORS)}"
    assert set(OPERATORS) <= _used("op"), set(OPERATORS) - _used("op")
    assert any("now" in node for example in _parsed() for node in _nodes(example)), "no {now: …} example"
    assert any(node.get("fn") == "size" for example in _parsed() for node in _nodes(example)), "no fn: size example"


def test_every_schedule_form_is_described_and_used() -> None:
    every = _literals(d.Schedule.model_fields["every"].annotation)
    text = _section("`schedule`")
    assert all(f"`{value}`" in text for value in every), every
    assert set(every) <= _used("every")
    schedules = [node for example in _parsed() for node in _nodes(example) if node.get("event") == "schedule"]
    assert any("cron" in node for node in schedules) and any("timezone" in node for node in schedules)


def test_every_sequence_setting_is_described_and_used() -> None:
    settings = _section("Settings")
    fields = _fields(d.SequenceDefinition)
    assert [name for name in fields if f"| `{name}` |" not in settings] == []
    bodies = [body for example in _parsed() for body in (example.get("sequences") or {}).values()]
    unused = [name for name in fields if not any(name in body for body in bodies)]
    assert not unused, f"no example sets {unused}"


def test_draft_and_form_fields_are_described_and_used() -> None:
    for title, model, kind in (("Drafts", DraftBody, "drafts"), ("Forms", FormSpec, "forms")):
        text = _section(title)
        assert [name for name in _fields(model) if f"| `{name}` |" not in text] == [], title
        bodies = [body for example in _parsed() for body in (example.get(kind) or {}).values()]
        assert [name for name in _fields(model) if not any(name in body for body in bodies)] == [], title
    labelled = [item for example in _parsed() for item in _nodes(example) if "path" in item and "label" in item]
    assert labelled and set(_fields(FormField)) <= set(labelled[0]), "a form field with path, label and required"


def test_limits_quoted_on_the_page_match_the_models() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert f"1 to {d.MAX_STEPS} steps" in text
    variants = d.Step.model_fields["variants"].metadata
    assert f"1 to {next(m.max_length for m in variants if hasattr(m, 'max_length'))} variants" in text
    assert f"up to\n{p.MAX_NODES} parts" in text or f"up to {p.MAX_NODES} parts" in text
