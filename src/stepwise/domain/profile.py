"""Rules for a subscriber's profile data."""

from __future__ import annotations

from typing import Any

import orjson

from stepwise.domain.jsonvalues import MAX_DEPTH as JSON_DEPTH
from stepwise.domain.jsonvalues import MAX_PROBLEMS, member_path, value_problems
from stepwise.domain.paths import MAX_DEPTH, SEGMENT
from stepwise.domain.problems import Problem

MAX_DATA_BYTES = 64 * 1024


def data_problems(data: Any, root: str = "$.data") -> list[Problem]:
    """Check that data is a JSON object whose keys can be addressed by paths, storable, and not too big."""
    if not isinstance(data, dict):
        return [Problem(root, "must be a JSON object")]
    found: list[Problem] = []

    def walk(node: dict[str, Any], path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            found.append(Problem(path, f"is nested deeper than {MAX_DEPTH} levels"))
            return
        for key, value in node.items():
            here = member_path(path, key)
            if not isinstance(key, str) or not SEGMENT.match(key):
                found.append(Problem(here, "field names use letters, digits, '_' and '-' (at most 64)"))
            elif isinstance(value, dict):
                walk(value, here, depth + 1)
            else:
                # Arrays count towards the depth limit of request bodies, where data sits one level down.
                found.extend(value_problems(value, here, max_depth=JSON_DEPTH - depth - 1))

    walk(data, root, 1)
    if not found and len(orjson.dumps(data)) > MAX_DATA_BYTES:
        found.append(Problem(root, f"is larger than {MAX_DATA_BYTES} bytes"))
    return found[:MAX_PROBLEMS]
