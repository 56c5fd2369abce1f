"""Rules for a subscriber's profile data."""

from __future__ import annotations

import math
from typing import Any

import orjson

from stepwise.domain.paths import MAX_DEPTH, SEGMENT
from stepwise.domain.problems import Problem

MAX_DATA_BYTES = 64 * 1024


def data_problems(data: Any, root: str = "$.data") -> list[Problem]:
    """Check that data is a JSON object whose keys can be addressed by paths, and not too big."""
    if not isinstance(data, dict):
        return [Problem(root, "must be a JSON object")]
    found: list[Problem] = []

    def walk(node: dict[str, Any], path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            found.append(Problem(path, f"is nested deeper than {MAX_DEPTH} levels"))
            return
        for key, value in node.items():
            here = f"{path}.{key}" if str(key).isidentifier() else f"{path}[{key!r}]"
            if not isinstance(key, str) or not SEGMENT.match(key):
                found.append(Problem(here, "field names use letters, digits, '_' and '-' (at most 64)"))
            elif isinstance(value, dict):
                walk(value, here, depth + 1)
            elif not _finite(value):
                found.append(Problem(here, "numbers must be finite (NaN and Infinity are not JSON)"))

    walk(data, root, 1)
    if not found and len(orjson.dumps(data)) > MAX_DATA_BYTES:
        found.append(Problem(root, f"is larger than {MAX_DATA_BYTES} bytes"))
    return found


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(item) for item in value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    return True
