"""The builder's goal fields (S24): the goal's events as JSON and its exit checkbox, to and from a definition."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from stepwise.domain.problems import Problem


def goal_fields(definition: Mapping[str, Any]) -> tuple[str, bool]:
    """The goal of a stored definition as the builder shows it: its `when` list as JSON, and `exit`."""
    goal = definition.get("goal")
    if not isinstance(goal, Mapping):
        return "", False
    when = goal.get("when")
    return ("" if when is None else json.dumps(when, indent=2, ensure_ascii=False)), goal.get("exit") is True


def goal_document(when_json: str, exit_: bool, problems: list[Problem]) -> dict[str, Any] | None:
    """The definition's goal from the builder's fields; None when the events box is empty (no goal)."""
    if not when_json.strip():
        return None
    try:
        when = json.loads(when_json)
    except ValueError as exc:
        problems.append(Problem("$.goal.when", f"not valid JSON: {exc}"))
        return None
    return {"when": when, "exit": exit_}
