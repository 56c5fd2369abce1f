"""Service errors placed at the inputs of simple forms (drafts, lists, forms, subscribers)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from stepwise.errors import AppError

_FIRST = re.compile(r"^\$\.([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class FormErrors:
    """Messages by input name, and those that belong to no input."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def at(self, name: str) -> list[str]:
        """Return the messages of an input."""
        return self.fields.get(name, [])

    def add(self, name: str, message: str) -> None:
        """Place a message at an input."""
        self.fields.setdefault(name, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)


def from_error(error: AppError, known: Iterable[str]) -> FormErrors:
    """Place an error's 422 details at the inputs named by the first segment of their paths."""
    names = set(known)
    placed = FormErrors()
    details: Any = error.details
    if not isinstance(details, list) or not details:
        placed.general.append(error.message)
        return placed
    for detail in details:
        if not isinstance(detail, dict):
            continue
        path, message = str(detail.get("path", "")), str(detail.get("message", ""))
        match = _FIRST.match(path)
        name = match.group(1) if match else ""
        if name in names:
            rest = path[match.end() :] if match else ""
            placed.add(name, f"{rest.lstrip('.')}: {message}" if rest and rest.startswith(("[", ".")) else message)
        else:
            placed.general.append(f"{path}: {message}" if path and path != "$" else message)
    return placed
