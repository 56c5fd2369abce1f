"""Dotted paths into a subscriber's profile data ("base.firstName")."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator

SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,63}$")
MAX_DEPTH = 8
MISSING: Any = object()

JsonObject = dict[str, Any]


class InvalidPath(ValueError):
    """The text is not a data path."""


def split_path(path: str) -> tuple[str, ...]:
    """Split and validate a dotted path."""
    if not isinstance(path, str) or not path:
        raise InvalidPath("must be a non-empty dotted path such as 'base.firstName'")
    parts = tuple(path.split("."))
    if len(parts) > MAX_DEPTH:
        raise InvalidPath(f"is deeper than {MAX_DEPTH} levels")
    for part in parts:
        if not SEGMENT.match(part):
            raise InvalidPath(f"{path!r} is not a dotted path of letters, digits, '_' and '-'")
    return parts


def _check_path(path: str) -> str:
    split_path(path)
    return path


DataPath = Annotated[str, AfterValidator(_check_path)]


def get_path(data: Mapping[str, Any], path: str | tuple[str, ...]) -> Any:
    """Return the value at path, or MISSING."""
    parts = split_path(path) if isinstance(path, str) else path
    node: Any = data
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def set_path(data: JsonObject, path: str, value: Any) -> None:
    """Set value at path in place, creating (or replacing non-object) parents."""
    parts = split_path(path)
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def unset_path(data: JsonObject, path: str) -> None:
    """Remove the value at path in place, dropping parents left empty."""
    parts = split_path(path)
    trail: list[tuple[JsonObject, str]] = []
    node: Any = data
    for part in parts[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            return
        trail.append((node, part))
        node = node[part]
    if isinstance(node, dict):
        node.pop(parts[-1], None)
    for parent, key in reversed(trail):
        if parent[key] == {}:
            del parent[key]
        else:
            break


def merge(data: JsonObject, patch: Mapping[str, Any]) -> JsonObject:
    """Return data deep-merged with patch (objects merge, other values replace; None removes)."""
    result = copy.deepcopy(data)

    def walk(target: JsonObject, source: Mapping[str, Any]) -> None:
        for key, value in source.items():
            if value is None:
                target.pop(key, None)
            elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
                walk(target[key], value)
                if value and not target[key]:
                    del target[key]  # like unset_path: an object emptied by the patch goes too
            elif isinstance(value, Mapping):
                target[key] = {}
                walk(target[key], value)
                if not target[key]:
                    del target[key]
            else:
                target[key] = copy.deepcopy(value)

    walk(result, patch)
    return result


def leaf_paths(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (path, value) for every non-object value."""
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping) and value:
            yield from leaf_paths(value, path)
        else:
            yield path, value


def changed_paths(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """List the leaf paths whose value differs between before and after (sorted)."""
    old = dict(leaf_paths(before))
    new = dict(leaf_paths(after))
    changed = {path for path in old.keys() | new.keys() if not _same(old.get(path, MISSING), new.get(path, MISSING))}
    return sorted(changed)


def _same(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    # JSON tells true from 1 and [1] from [true], which Python's == does not.
    if isinstance(a, list | dict) or isinstance(b, list | dict):
        return bool(orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b) and (isinstance(a, int | float) == isinstance(b, int | float))


def path_touches(changed: list[str], watched: str) -> bool:
    """Tell whether a change of any `changed` leaf path affects the watched path."""
    return any(path == watched or path.startswith(watched + ".") or watched.startswith(path + ".") for path in changed)
