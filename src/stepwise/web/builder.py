"""The sequence builder's state: a definition as typed in the form, edits to it, and errors placed at inputs.

The builder round-trips through the server: every button posts the whole form, the server reads it
into a BuilderState, applies the operation (add, remove, move, switch a kind) and renders it again.
Saving turns the state into a definition document and hands it to the same service the API uses;
the JSON paths of the 422 details are mapped back to the inputs that produced them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from stepwise.domain.problems import Problem
from stepwise.web import predicate_editor as pe
from stepwise.web.builder_fields import ACTION_KINDS, EVENT_KINDS, FieldSpec, action_fields, event_fields
from stepwise.web.builder_goal import goal_document, goal_fields
from stepwise.web.settings import WindowForm
from stepwise.web.values import (
    BadText,
    parse_assignments,
    parse_headers,
    parse_json,
    parse_paths,
    show_assignments,
    show_headers,
    show_json,
    show_paths,
)

Side = Literal["when", "do"]
SIDES: tuple[tuple[Side, str], ...] = (("when", "w"), ("do", "d"))
SETTINGS = (
    *("key", "name", "description", "timezone", "only_once", "accepting", "exit_on_unsubscribe"),
    *("send_window", "respect_caps", "cap_action", "goal"),
)
SETTING_LABELS = {
    "key": "Key",
    "name": "Name",
    "description": "Description",
    "timezone": "Time zone",
    "only_once": "Only once",
    "accepting": "Accepting",
    "exit_on_unsubscribe": "Exit on unsubscribe",
    "send_window": "Send window",
    "respect_caps": "Frequency caps",
    "cap_action": "When a cap is reached",
    "goal": "Goal",
}
CAP_ACTIONS = (("skip", "skip the email"), ("defer", "hold it until the cap allows it"))


@dataclass
class Item:
    """One event (side "when") or action (side "do") as typed: its kind and the raw text of its inputs."""

    kind: str
    values: dict[str, str | list[str]] = field(default_factory=dict)
    predicates: dict[str, pe.PredicateState] = field(default_factory=dict)

    def text(self, name: str) -> str:
        """Return the raw text of an input."""
        value = self.values.get(name, "")
        return value if isinstance(value, str) else ""

    def chosen(self, name: str) -> list[str]:
        """Return the checked values of a multi-choice input."""
        value = self.values.get(name, [])
        return value if isinstance(value, list) else [value]


@dataclass
class VariantState:
    when: list[Item] = field(default_factory=list)
    do: list[Item] = field(default_factory=list)


@dataclass
class StepState:
    variants: list[VariantState] = field(default_factory=list)


@dataclass
class BuilderState:
    """A whole definition being edited."""

    key: str = ""
    name: str = ""
    description: str = ""
    timezone: str = ""
    only_once: bool = False
    accepting: bool = True
    exit_on_unsubscribe: bool = False
    window: WindowForm = field(default_factory=WindowForm)  # the sequence's own send window (S27)
    respect_caps: bool = True  # S28
    cap_action: str = "skip"
    goal_when: str = ""  # S24: the goal's events as JSON (web/builder_goal.py); empty: no goal
    goal_exit: bool = False
    version: str = ""
    steps: list[StepState] = field(default_factory=list)


@dataclass(frozen=True)
class Choices:
    """What the pickers offer: the account's drafts, lists, forms and sequences as (key, label)."""

    drafts: Sequence[tuple[str, str]] = ()
    lists: Sequence[tuple[str, str]] = ()
    forms: Sequence[tuple[str, str]] = ()
    sequences: Sequence[tuple[str, str]] = ()
    segments: Sequence[tuple[str, str]] = ()

    def options(self, spec: FieldSpec, current: str) -> list[tuple[str, str]]:
        """Return the options of a select: blank (when optional), static choices, the source, the current value."""
        found: list[tuple[str, str]] = []
        if spec.blank is not None:
            found.append(("", spec.blank))
        found += list(spec.choices)
        if spec.source is not None:
            found += [(key, key if label == key else f"{key} — {label}") for key, label in getattr(self, spec.source)]
        if current and current not in {value for value, _ in found}:
            found.append((current, f"{current} (not found)"))
        return found


def fields_of(side: Side, item: Item) -> tuple[FieldSpec, ...]:
    """Return the inputs an item shows."""
    return event_fields(item.kind, item.values) if side == "when" else action_fields(item.kind)


# ---------------------------------------------------------------- from a stored definition


def _show(spec: FieldSpec, value: Any) -> str | list[str]:
    if value is None:
        return [] if spec.widget == "weekdays" else ""
    match spec.widget:
        case "weekdays":
            return [str(v) for v in value] if isinstance(value, list) else []
        case "paths":
            return show_paths(value)
        case "assignments" | "increments":
            return show_assignments(value)
        case "headers":
            return show_headers(value)
        case "json":
            return show_json(value)
        case "select" if spec.typ == "bool":
            return "true" if value else "false"
    return str(value)


def item_from_json(side: Side, spec: Mapping[str, Any]) -> Item:
    """Show one stored event or action."""
    tag = "event" if side == "when" else "action"
    item = Item(kind=str(spec.get(tag, "")))
    if item.kind == "schedule":
        item.values["every"] = "cron" if spec.get("cron") else str(spec.get("every") or "day")
    for f in fields_of(side, item):
        if f.widget == "predicate":
            item.predicates[f.name] = pe.from_json(spec.get(f.name))
        elif not (item.kind == "schedule" and f.name == "every"):
            item.values[f.name] = _show(f, spec.get(f.name))
    return item


def from_definition(key: str, definition: Mapping[str, Any], version: int | str = "") -> BuilderState:
    """Show a stored definition in the builder."""
    state = BuilderState(
        key=key,
        name=str(definition.get("name", "")),
        description=str(definition.get("description") or ""),
        timezone=str(definition.get("timezone") or ""),
        only_once=bool(definition.get("only_once", False)),
        accepting=bool(definition.get("accepting", True)),
        exit_on_unsubscribe=bool(definition.get("exit_on_unsubscribe", False)),
        window=WindowForm.of(window if isinstance(window := definition.get("send_window"), dict) else None),
        respect_caps=definition.get("respect_caps") is not False,
        cap_action=str(definition.get("cap_action") or "skip"),
        version=str(version),
    )
    state.goal_when, state.goal_exit = goal_fields(definition)
    for step in definition.get("steps") or []:
        variants = []
        for variant in step.get("variants") or []:
            variants.append(
                VariantState(
                    when=[item_from_json("when", e) for e in variant.get("when") or []],
                    do=[item_from_json("do", a) for a in variant.get("do") or []],
                )
            )
        state.steps.append(StepState(variants))
    return state


def new_item(side: Side, step_index: int, choices: Choices) -> Item:
    """Return a sensible new event or action for a step."""
    if side == "when":
        kind = "subscriber_added" if step_index == 0 else "time_passed"
    else:
        kind = "send_email" if choices.drafts else "nothing"
    item = Item(kind=kind)
    fill_defaults(side, item, choices)
    return item


def fill_defaults(side: Side, item: Item, choices: Choices) -> None:
    """Give every input the item lacks its default (a required picker takes the first choice)."""
    if item.kind == "schedule" and "every" not in item.values:
        item.values["every"] = "day"
    for f in fields_of(side, item):
        if f.widget == "predicate":
            item.predicates.setdefault(f.name, pe.from_json(None))
        elif f.name not in item.values:
            default: str | list[str] = [] if f.widget == "weekdays" else f.default
            if not default and f.widget == "select" and f.blank is None and not f.choices and f.source:
                options = getattr(choices, f.source)
                default = options[0][0] if options else ""
            elif not default and f.widget == "select" and f.blank is None and f.choices:
                default = f.choices[0][0]
            item.values[f.name] = default


def new_state(choices: Choices) -> BuilderState:
    """Return the builder of a new sequence: one step, entered when a subscriber is added."""
    return BuilderState(
        steps=[StepState([VariantState(when=[new_item("when", 0, choices)], do=[new_item("do", 0, choices)])])]
    )


# ---------------------------------------------------------------- from a posted form

Getter = Callable[[str], str]
ListGetter = Callable[[str], list[str]]
Checker = Callable[[str], bool]


def from_form(get: Getter, getlist: ListGetter, has: Checker, choices: Choices) -> BuilderState:
    """Read the builder's state from its form fields."""
    state = BuilderState(
        key=get("key").strip(),
        name=get("name"),
        description=get("description"),
        timezone=get("timezone").strip(),
        only_once=get("only_once") == "on",
        accepting=get("accepting") == "on",
        exit_on_unsubscribe=get("exit_on_unsubscribe") == "on",
        window=WindowForm.read(get, getlist),
        respect_caps=get("respect_caps") == "on" or not has("policy_shown"),  # a form without the fields: default
        cap_action=get("cap_action") or "skip",
        goal_when=get("goal_when"),
        goal_exit=get("goal_exit") == "on",
        version=get("version"),
    )
    s = 0
    while has(f"s{s}"):
        step = StepState()
        v = 0
        while has(f"s{s}.v{v}"):
            variant = VariantState()
            for side, letter in SIDES:
                k = 0
                while has(f"s{s}.v{v}.{letter}{k}.kind"):
                    prefix = f"s{s}.v{v}.{letter}{k}"
                    items = variant.when if side == "when" else variant.do
                    items.append(_item_from_form(side, prefix, get, getlist, has, choices))
                    k += 1
            step.variants.append(variant)
            v += 1
        state.steps.append(step)
        s += 1
    return state


def _item_from_form(side: Side, prefix: str, get: Getter, getlist: ListGetter, has: Checker, choices: Choices) -> Item:
    item = Item(kind=get(f"{prefix}.kind"))
    if item.kind == "schedule":
        item.values["every"] = get(f"{prefix}.every") or "day"
    for f in fields_of(side, item):
        name = f"{prefix}.{f.name}"
        if f.widget == "predicate":
            if has(f"{name}.mode"):
                item.predicates[f.name] = pe.from_form(get, has, name)
        elif f.widget == "weekdays":
            if has(name):
                item.values[f.name] = [d for d in getlist(name) if d]
        elif has(name):
            item.values[f.name] = get(name)
    fill_defaults(side, item, choices)
    return item


# ---------------------------------------------------------------- to a definition document


def _convert(spec: FieldSpec, item: Item) -> Any:
    """Return the JSON value of one input, or None to leave the field out; raise BadText."""
    if spec.widget == "predicate":
        state = item.predicates.get(spec.name)
        return None if state is None else pe.to_json(state)
    if spec.widget == "weekdays":
        return item.chosen(spec.name) or None
    raw = item.text(spec.name)
    if not raw.strip():
        return None
    match spec.widget:
        case "paths":
            return parse_paths(raw) or None
        case "assignments":
            return parse_assignments(raw) or None
        case "increments":
            return parse_assignments(raw, numbers=True) or None
        case "headers":
            return parse_headers(raw) or None
        case "json":
            return parse_json(raw)
        case "number":
            try:
                return int(raw.strip())
            except ValueError as exc:
                raise BadText("must be a whole number") from exc
    if spec.typ == "bool":
        return raw == "true"
    if spec.typ == "int":
        try:
            return int(raw)
        except ValueError as exc:
            raise BadText("must be a whole number") from exc
    return raw.strip() if spec.widget in ("text", "url", "duration", "time") else raw


def item_document(side: Side, item: Item, path: str, problems: list[Problem]) -> dict[str, Any]:
    """Return one event or action as JSON, adding problems for unreadable inputs."""
    out: dict[str, Any] = {"event" if side == "when" else "action": item.kind}
    for spec in fields_of(side, item):
        if item.kind == "schedule" and spec.name == "every" and item.text("every") == "cron":
            continue
        try:
            value = _convert(spec, item)
        except BadText as exc:
            problems.append(Problem(f"{path}.{spec.name}", str(exc)))
            continue
        if value is None and spec.widget == "weekdays":
            problems.append(Problem(f"{path}.{spec.name}", "choose at least one weekday"))
        if value is None and spec.required:
            problems.append(Problem(f"{path}.{spec.name}", spec.required))
        if value is not None:
            out[spec.name] = value
    return out


def to_document(state: BuilderState) -> tuple[dict[str, Any], list[Problem]]:
    """Return the definition the state describes and the problems found while reading it."""
    problems: list[Problem] = []
    doc: dict[str, Any] = {"name": state.name.strip()}
    if state.description.strip():
        doc["description"] = state.description.strip()
    if state.timezone:
        doc["timezone"] = state.timezone
    doc.update(only_once=state.only_once, accepting=state.accepting, exit_on_unsubscribe=state.exit_on_unsubscribe)
    if (window := state.window.document()) is not None:
        doc["send_window"] = window
    if not state.respect_caps:
        doc["respect_caps"] = False
    if state.cap_action != "skip":
        doc["cap_action"] = state.cap_action
    if (goal := goal_document(state.goal_when, state.goal_exit, problems)) is not None:
        doc["goal"] = goal
    steps = []
    for s, step in enumerate(state.steps):
        variants = []
        for v, variant in enumerate(step.variants):
            base = f"$.steps[{s}].variants[{v}]"
            variants.append(
                {
                    "when": [
                        item_document("when", e, f"{base}.when[{i}]", problems) for i, e in enumerate(variant.when)
                    ],
                    "do": [item_document("do", a, f"{base}.do[{i}]", problems) for i, a in enumerate(variant.do)],
                }
            )
        steps.append({"variants": variants})
    doc["steps"] = steps
    return doc, problems


def dom_id(key: str) -> str:
    """Return the HTML id of the input a form key names."""
    return "f-" + key.replace(".", "-")


def kind_label(side: Side, tag: str) -> str:
    """Return the label of an event or action kind."""
    for kind in EVENT_KINDS if side == "when" else ACTION_KINDS:
        if kind.tag == tag:
            return kind.label
    return tag
