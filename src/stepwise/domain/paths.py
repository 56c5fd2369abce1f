"""Dotted paths into a subscriber's profile data ("base.firstName")."""

from __future__ import annotations

import copy
import functools
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
    return _split(path)


@functools.lru_cache(maxsize=4096)  # segments and conditions test the same few paths for every subscriber
def _split(path: str) -> tuple[str, ...]:
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
    """Return data deep-merged with patch (objects merge, other values replace; None removes).

    Neither argument changes. Branches the patch does not touch are shared with `data`, so treat
    the result as read-only or copy it; nothing is shared with the patch.
    """
    out = dict(data)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, str | int | float):  # the common case, ahead of the costly Mapping check
            out[key] = value
        elif isinstance(value, Mapping):
            child = out.get(key)
            inner = merge(child if isinstance(child, dict) else {}, value)
            if inner or (isinstance(child, dict) and not value):
                out[key] = inner
            else:
                out.pop(key, None)  # an object the patch emptied goes, as unset_path drops empty parents
        else:
            out[key] = copy.deepcopy(value) if isinstance(value, list) else value
    return out


def without(data: JsonObject, path: str | tuple[str, ...]) -> JsonObject:
    """Return `data` with the value at path removed (parents left empty go too), without changing `data`."""
    result = _without(data, split_path(path) if isinstance(path, str) else path)
    return data if result is None else result


def _without(data: JsonObject, parts: tuple[str, ...]) -> JsonObject | None:
    # None: the path runs through a missing or non-object value, so nothing (not even cleanup) happens.
    head = parts[0]
    if len(parts) == 1:
        if head not in data:
            return data
        out = dict(data)
        del out[head]
        return out
    child = data.get(head)
    if not isinstance(child, dict):
        return None
    inner = _without(child, parts[1:])
    if inner is None:
        return None
    if inner:
        return data if inner is child else {**data, head: inner}
    out = dict(data)
    del out[head]
    return out


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


def changed_since(before: JsonObject, after: JsonObject) -> list[str]:
    """Return `changed_paths(before, after)` for an `after` built from `before` by merge and without.

    Branches the two share (one object) are skipped unread, which makes small edits of large profiles cheap.
    """
    found: list[str] = []
    _diff(before, after, "", found)
    return sorted(found)


def _diff(before: JsonObject, after: JsonObject, prefix: str, found: list[str]) -> None:
    for key in before.keys() | after.keys():
        old = before.get(key, MISSING)
        new = after.get(key, MISSING)
        if old is new:
            continue  # one object: the same leaves
        if type(old) is str and type(new) is str:
            if old != new:
                found.append(f"{prefix}{key}")
        elif isinstance(old, dict) and isinstance(new, dict) and old and new:
            _diff(old, new, f"{prefix}{key}.", found)
        else:  # leaves of other types, or a branch against a leaf: let the reference rule decide
            wrapped = changed_paths({} if old is MISSING else {key: old}, {} if new is MISSING else {key: new})
            found.extend(prefix + path for path in wrapped)


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
