"""Text a marketer types, read as JSON values, and JSON values shown back as text.

The rule everywhere in the UI: a value is read as JSON when it parses (42, true, "42", [1, 2]),
otherwise as plain text. Shown values round-trip: a string that would parse as something else is
shown quoted.
"""

from __future__ import annotations

import json
import re
from typing import Any

from stepwise.domain.paths import InvalidPath, split_path

_ASSIGNMENT = re.compile(r"^\s*([^=\s]+)\s*=\s?(.*)$")


class BadText(ValueError):
    """The text cannot be read as what the field expects."""


def parse_value(text: str) -> Any:
    """Read a typed value: JSON when it parses, else the text itself (trimmed)."""
    raw = text.strip()
    if not raw:
        return ""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to be a value anyone means
        return raw


def show_value(value: Any) -> str:
    """Show a value so that parse_value gives it back."""
    if isinstance(value, str):
        if value.strip() != value or not value:
            return json.dumps(value, ensure_ascii=False)
        try:
            json.loads(value)
        except (ValueError, RecursionError):
            return value
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


def parse_paths(text: str) -> list[str]:
    """Read comma- or line-separated data paths (validation reports bad ones)."""
    return [p.strip() for p in re.split(r"[,\n]", text) if p.strip()]


def show_paths(paths: Any) -> str:
    """Show data paths comma-separated."""
    return ", ".join(str(p) for p in paths or [])


def parse_assignments(text: str, *, numbers: bool = False) -> dict[str, Any]:
    """Read lines of `path = value` into a mapping; raise BadText naming the line."""
    result: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _ASSIGNMENT.match(line)
        if not match:
            raise BadText(f"line {number}: write one 'path = value' per line")
        path, raw = match.group(1), match.group(2)
        try:
            split_path(path)
        except InvalidPath as exc:
            raise BadText(f"line {number}: {exc}") from exc
        value = parse_value(raw)
        if numbers and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise BadText(f"line {number}: {path} needs a number")
        result[path] = value
    return result


def show_assignments(mapping: Any) -> str:
    """Show a mapping as lines of `path = value`."""
    if not isinstance(mapping, dict):
        return ""
    return "\n".join(f"{path} = {show_value(value)}" for path, value in mapping.items())


def parse_headers(text: str) -> dict[str, str]:
    """Read lines of `Name: value`; raise BadText naming the line."""
    result: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise BadText(f"line {number}: write one 'Name: value' per line")
        result[name.strip()] = value.strip()
    return result


def show_headers(mapping: Any) -> str:
    """Show headers as lines of `Name: value`."""
    if not isinstance(mapping, dict):
        return ""
    return "\n".join(f"{name}: {value}" for name, value in mapping.items())


def parse_json(text: str) -> Any:
    """Read a JSON document; raise BadText with the parser's complaint."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadText(f"not valid JSON: {exc}") from exc


def show_json(value: Any) -> str:
    """Show a JSON value indented (nothing for None)."""
    return "" if value is None else json.dumps(value, indent=2, ensure_ascii=False)


def parse_list_values(text: str) -> list[Any]:
    """Read the values of an `is one of` comparison: a JSON list, or comma-separated values."""
    raw = text.strip()
    if raw.startswith("["):
        value = parse_json(raw)
        if isinstance(value, list):
            return value
    return [parse_value(part) for part in raw.split(",") if part.strip()]


def show_list_values(values: Any) -> str:
    """Show the values of an `is one of` comparison."""
    if not isinstance(values, list):
        return show_value(values)
    shown = [show_value(v) for v in values]
    if any("," in s for s in shown):
        return json.dumps(values, ensure_ascii=False)
    return ", ".join(shown)
