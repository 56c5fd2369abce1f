"""The predicate editor: field/op/value rows joined by all/any for the common case, JSON for the rest."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stepwise.web.values import BadText, parse_json, parse_list_values, parse_value, show_list_values, show_value

OP_CHOICES: tuple[tuple[str, str], ...] = (
    ("eq", "is"),
    ("ne", "is not"),
    ("gt", "greater than"),
    ("gte", "at least"),
    ("lt", "less than"),
    ("lte", "at most"),
    ("contains", "contains"),
    ("starts_with", "starts with"),
    ("ends_with", "ends with"),
    ("in", "is one of"),
    ("not_in", "is none of"),
    ("exists", "is filled in"),
    ("not_exists", "is empty"),
)
NO_VALUE = frozenset({"exists", "not_exists"})
LIST_VALUE = frozenset({"in", "not_in"})


@dataclass
class Row:
    """One comparison as typed."""

    field: str = ""
    op: str = "eq"
    value: str = ""
    ignore_case: bool = False

    def blank(self) -> bool:
        """Tell whether nothing was typed in the row."""
        return not self.field.strip() and not self.value.strip()


@dataclass
class PredicateState:
    """A predicate being edited: rows (mode "rows") or a JSON text (mode "json")."""

    mode: str = "rows"
    join: str = "all"
    rows: list[Row] = field(default_factory=list)
    json: str = ""


def _row_of(node: Any) -> Row | None:
    if not isinstance(node, dict) or "field" not in node or node.get("fn") is not None:
        return None
    if set(node) - {"field", "op", "value", "ignore_case"}:
        return None
    op = str(node.get("op", "eq"))
    value = node.get("value")
    if op in NO_VALUE:
        shown = ""
    elif op in LIST_VALUE:
        shown = show_list_values(value)
    else:
        shown = show_value(value)
    return Row(field=str(node["field"]), op=op, value=shown, ignore_case=bool(node.get("ignore_case")))


def from_json(value: Any) -> PredicateState:
    """Show a stored predicate: as rows when it is a flat all/any of comparisons, else as JSON."""
    if value is None:
        return PredicateState(rows=[Row()])
    single = _row_of(value)
    if single is not None:
        return PredicateState(rows=[single])
    for join in ("all", "any"):
        if isinstance(value, dict) and set(value) == {join} and isinstance(value[join], list):
            rows = [_row_of(item) for item in value[join]]
            if rows and all(r is not None for r in rows):
                return PredicateState(join=join, rows=[r for r in rows if r is not None])
    return PredicateState(mode="json", json=json.dumps(value, indent=2, ensure_ascii=False))


def from_form(get: Callable[[str], str], has: Callable[[str], bool], prefix: str) -> PredicateState:
    """Read a predicate editor from form fields named `{prefix}.mode`, `.join`, `.r{n}.field`…"""
    mode = "json" if get(f"{prefix}.mode") == "json" else "rows"
    state = PredicateState(mode=mode, join="any" if get(f"{prefix}.join") == "any" else "all")
    state.json = get(f"{prefix}.json")
    index = 0
    while has(f"{prefix}.r{index}.field"):
        base = f"{prefix}.r{index}"
        op = get(f"{base}.op") or "eq"
        state.rows.append(
            Row(field=get(f"{base}.field"), op=op, value=get(f"{base}.value"), ignore_case=get(f"{base}.ci") == "on")
        )
        index += 1
    return state


def _comparison(row: Row) -> dict[str, Any]:
    node: dict[str, Any] = {"field": row.field.strip(), "op": row.op}
    if row.op in LIST_VALUE:
        node["value"] = parse_list_values(row.value)
    elif row.op not in NO_VALUE:
        node["value"] = parse_value(row.value)
    if row.ignore_case:
        node["ignore_case"] = True
    return node


def to_json(state: PredicateState) -> Any:
    """Return the predicate JSON (None when empty); raise BadText for unreadable JSON."""
    if state.mode == "json":
        if not state.json.strip():
            return None
        return parse_json(state.json)
    rows = [r for r in state.rows if not r.blank()]
    if not rows:
        return None
    if len(rows) == 1:
        return _comparison(rows[0])
    return {state.join: [_comparison(r) for r in rows]}


def to_json_mode(state: PredicateState) -> None:
    """Switch the editor to JSON, keeping what the rows say."""
    try:
        value = to_json(state)
    except BadText:
        value = None
    state.mode = "json"
    state.json = "" if value is None else json.dumps(value, indent=2, ensure_ascii=False)


def to_rows_mode(state: PredicateState) -> str | None:
    """Switch the editor to rows when the JSON is simple enough; return why not otherwise."""
    try:
        value = to_json(state)
    except BadText as exc:
        return str(exc)
    fresh = from_json(value)
    if fresh.mode == "json":
        return "this condition is nested; it can only be edited as JSON"
    state.mode, state.join, state.rows = "rows", fresh.join, fresh.rows
    return None
