"""Edits in the builder: add, remove and move steps, variants, events and actions; predicate rows and modes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from stepwise.web import predicate_editor as pe
from stepwise.web.builder import BuilderState, Choices, Side, StepState, VariantState, dom_id, new_item

_ITEM_KEY = re.compile(r"^s(\d+)\.v(\d+)\.([wd])(\d+)$")


class BadOperation(ValueError):
    """The posted operation does not name something in the form."""


def _ints(arg: str, count: int) -> list[int]:
    parts = arg.split(".")
    if len(parts) != count or not all(p.isdigit() for p in parts):
        raise BadOperation(arg)
    return [int(p) for p in parts]


def _swap(items: list[Any], index: int, delta: int) -> int:
    target = index + delta
    if 0 <= index < len(items) and 0 <= target < len(items):
        items[index], items[target] = items[target], items[index]
        return target
    return index


def _mover(op: str, index: int, count: int) -> str:
    """Return which move button keeps the focus: the one pressed, unless it is now disabled at an end."""
    direction = op.split("_", maxsplit=1)[0]
    if direction == "up" and index == 0 and count > 1:
        return "down"
    if direction == "down" and index == count - 1 and count > 1:
        return "up"
    return direction


def _get(items: Sequence[Any], index: int) -> Any:
    if not 0 <= index < len(items):
        raise BadOperation(str(index))
    return items[index]


def apply(state: BuilderState, op: str, choices: Choices) -> tuple[str, str | None]:
    """Apply one builder operation; return the id of the input to focus next and a message, if any."""
    name, _, arg = op.partition(":")
    match name:
        case "add_step" | "del_step" | "up_step" | "down_step":
            return _step_op(state, name, arg, choices)
        case "add_variant" | "del_variant" | "up_variant" | "down_variant":
            return _variant_op(state, name, arg, choices)
        case "add_when" | "add_do" | "del_when" | "del_do" | "up_when" | "down_when" | "up_do" | "down_do":
            return _item_op(state, name, arg, choices)
        case "add_row" | "to_json" | "to_rows" | "del_row":
            return _row_op(state, name, arg)
        case "refresh":
            return (dom_id(arg) if arg else ""), None
    raise BadOperation(op)


def _step_op(state: BuilderState, name: str, arg: str, choices: Choices) -> tuple[str, str | None]:
    """Add, delete or move a step."""
    match name:
        case "add_step":
            index = len(state.steps)
            when, do = new_item("when", index, choices), new_item("do", index, choices)
            state.steps.append(StepState([VariantState(when=[when], do=[do])]))
            return f"f-s{index}-v0-w0-kind", None
        case "del_step":
            (s,) = _ints(arg, 1)
            _get(state.steps, s)
            del state.steps[s]
            return "add-step", None
        case "up_step" | "down_step":
            (s,) = _ints(arg, 1)
            moved = _swap(state.steps, s, -1 if name == "up_step" else 1)
            return f"{_mover(name, moved, len(state.steps))}-s{moved}", None
    raise BadOperation(name)


def _variant_op(state: BuilderState, name: str, arg: str, choices: Choices) -> tuple[str, str | None]:
    """Add, delete or move a step's variant."""
    match name:
        case "add_variant":
            (s,) = _ints(arg, 1)
            step = _get(state.steps, s)
            step.variants.append(VariantState(when=[new_item("when", s, choices)], do=[new_item("do", s, choices)]))
            return f"f-s{s}-v{len(step.variants) - 1}-w0-kind", None
        case "del_variant":
            s, v = _ints(arg, 2)
            step = _get(state.steps, s)
            _get(step.variants, v)
            del step.variants[v]
            return f"add-variant-s{s}", None
        case "up_variant" | "down_variant":
            s, v = _ints(arg, 2)
            variants = _get(state.steps, s).variants
            moved = _swap(variants, v, -1 if name == "up_variant" else 1)
            return f"{_mover(name, moved, len(variants))}-s{s}-v{moved}", None
    raise BadOperation(name)


def _item_op(state: BuilderState, name: str, arg: str, choices: Choices) -> tuple[str, str | None]:
    """Add, delete or move a variant's condition or action."""
    match name:
        case "add_when" | "add_do":
            s, v = _ints(arg, 2)
            variant = _get(_get(state.steps, s).variants, v)
            side: Side = "when" if name == "add_when" else "do"
            items = variant.when if side == "when" else variant.do
            items.append(new_item(side, s, choices))
            return f"f-s{s}-v{v}-{side[0]}{len(items) - 1}-kind", None
        case "del_when" | "del_do" | "up_when" | "down_when" | "up_do" | "down_do":
            s, v, k = _ints(arg, 3)
            variant = _get(_get(state.steps, s).variants, v)
            side = "when" if name.endswith("when") else "do"
            items = variant.when if side == "when" else variant.do
            _get(items, k)
            if name.startswith("del"):
                del items[k]
                return f"add-{side}-s{s}-v{v}", None
            moved = _swap(items, k, -1 if name.startswith("up") else 1)
            return f"{_mover(name, moved, len(items))}-s{s}-v{v}-{side[0]}{moved}", None
    raise BadOperation(name)


def _row_op(state: BuilderState, name: str, arg: str) -> tuple[str, str | None]:
    """Add or delete a predicate's row, or switch it between rows and JSON."""
    match name:
        case "add_row" | "to_json" | "to_rows":
            predicate, prefix = _predicate(state, arg)
            if name == "add_row":
                predicate.rows.append(pe.Row())
                return dom_id(f"{prefix}.r{len(predicate.rows) - 1}.field"), None
            if name == "to_json":
                pe.to_json_mode(predicate)
                return dom_id(f"{prefix}.json"), None
            return dom_id(f"{prefix}.mode"), pe.to_rows_mode(predicate)
        case "del_row":
            where, _, row = arg.rpartition(".r")
            predicate, prefix = _predicate(state, where)
            if not row.isdigit() or not 0 <= int(row) < len(predicate.rows):
                raise BadOperation(arg)
            del predicate.rows[int(row)]
            if not predicate.rows:
                predicate.rows.append(pe.Row())
            return dom_id(f"{prefix}.add"), None
    raise BadOperation(name)


def _predicate(state: BuilderState, arg: str) -> tuple[pe.PredicateState, str]:
    item_key, _, field_name = arg.rpartition(".")
    match = _ITEM_KEY.match(item_key)
    if not match:
        raise BadOperation(arg)
    s, v, letter, k = int(match.group(1)), int(match.group(2)), match.group(3), int(match.group(4))
    variant = _get(_get(state.steps, s).variants, v)
    item = _get(variant.when if letter == "w" else variant.do, k)
    predicate = item.predicates.get(field_name)
    if predicate is None:
        raise BadOperation(arg)
    return predicate, arg
