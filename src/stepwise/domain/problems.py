"""Validation problems with JSON paths, shared by the API (422 details) and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, located by a JSON path such as `$.steps[1].variants[0]`."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class Invalid(Exception):
    """An input failed validation; carries every problem found."""

    def __init__(self, problems: Sequence[Problem], message: str = "the input is invalid") -> None:
        super().__init__(message)
        self.problems = list(problems)
        self.message = message


def json_path(loc: Sequence[str | int], document: Any = None, root: str = "$") -> str:
    """Render a pydantic error location as a JSON path, skipping union tags it holds."""
    path = root
    node = document
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            continue
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif (
            part.startswith("#")
            or (node is not None and not isinstance(node, dict))
            or (isinstance(node, dict) and part in (node.get("event"), node.get("action")))
        ):
            continue  # a discriminated-union tag, not a field
        else:
            node = None
        path += f".{part}" if part.isidentifier() else f"[{part!r}]"
    return path


def from_validation_error(error: ValidationError, document: Any = None, root: str = "$") -> list[Problem]:
    """Turn a pydantic ValidationError into problems with JSON paths."""
    problems = []
    for item in error.errors(include_url=False):
        message = str(item["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(Problem(json_path(item["loc"], document, root), message))
    return problems
