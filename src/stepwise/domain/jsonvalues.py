"""JSON values as Stepwise stores them: finite numbers, 64-bit integers, no NUL, bounded depth.

Python's json module accepts NaN and Infinity, turns 1e400 into inf and reads integers of any size;
PostgreSQL refuses NUL in text, and orjson refuses integers beyond 64 bits and very deep nesting.
Every value that comes in (API bodies, definition files, values typed in the UI) is checked here,
so that it is refused at the edge with a JSON path instead of failing later.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator

from stepwise.domain.problems import Invalid, Problem

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
MAX_DEPTH = 32  # objects and arrays inside each other, counting the outermost
MAX_PROBLEMS = 20
NOT_FINITE = "numbers must be finite (NaN, Infinity and numbers beyond ±1.8e308 are not allowed)"
OUT_OF_RANGE = f"integers must lie between {INT_MIN} and {INT_MAX}"
HAS_NUL = "text must not contain the NUL character (\\u0000)"
KEY_HAS_NUL = "field names must not contain the NUL character (\\u0000)"
TOO_DEEP = f"is nested deeper than {MAX_DEPTH} levels of objects and arrays"
Model = TypeVar("Model")


class _Refused:
    """Stands for an integer too long for Python to read (over 4300 digits)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _parse_int(text: str) -> int | _Refused:
    return int(text) if len(text) <= 20 else _Refused(OUT_OF_RANGE)


def loads(data: bytes | str, root: str = "$") -> Any:
    """Parse JSON and check it; raise json.JSONDecodeError when malformed, Invalid with paths when refused.

    NaN and Infinity parse to floats and 1e400 to inf, which `value_problems` refuses with their path.
    """
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise
    except RecursionError as exc:
        raise Invalid([Problem(root, TOO_DEEP)]) from exc
    except ValueError:
        # An integer of over 4300 digits: read again, slowly, to say where it is.
        value = json.loads(data, parse_int=_parse_int)
    found = value_problems(value, root)
    if found:
        raise Invalid(found)
    return value


def value_problems(value: Any, root: str = "$", max_depth: int = MAX_DEPTH) -> list[Problem]:
    """Return what makes a parsed value unfit to store (at most MAX_PROBLEMS), each with its JSON path."""
    if _fine(value, 0, max_depth):
        return []  # the common case, checked without building a path for every value
    found: list[Problem] = []
    _walk(value, root, 0, max_depth, found)
    return found[:MAX_PROBLEMS]


def _fine(value: Any, depth: int, max_depth: int) -> bool:
    kind = type(value)
    if kind is str:
        return "\0" not in value
    if kind is dict:
        if depth >= max_depth:
            return False
        for key, item in value.items():
            if type(key) is not str or "\0" in key:
                return False
            if type(item) is str:
                if "\0" in item:
                    return False
            elif not _fine(item, depth + 1, max_depth):
                return False
        return True
    if kind is list:
        return depth < max_depth and all(_fine(item, depth + 1, max_depth) for item in value)
    if kind is int:
        return bool(INT_MIN <= value <= INT_MAX)
    if kind is float:
        return math.isfinite(value)
    return value is None or kind is bool


def _walk(value: Any, path: str, depth: int, max_depth: int, found: list[Problem]) -> None:
    if len(found) >= MAX_PROBLEMS:
        return
    if isinstance(value, str):
        if "\0" in value:
            found.append(Problem(path, HAS_NUL))
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            found.append(Problem(path, OUT_OF_RANGE))
    elif isinstance(value, float):
        if not math.isfinite(value):
            found.append(Problem(path, NOT_FINITE))
    elif isinstance(value, dict | list):
        if depth >= max_depth:
            found.append(Problem(path, TOO_DEEP))
            return
        if isinstance(value, list):
            for index, item in enumerate(value):
                _walk(item, f"{path}[{index}]", depth + 1, max_depth, found)
            return
        for key, item in value.items():
            here = member_path(path, key)
            if not isinstance(key, str):
                found.append(Problem(here, "field names must be text"))
            elif "\0" in key:
                found.append(Problem(here, KEY_HAS_NUL))
            else:
                _walk(item, here, depth + 1, max_depth, found)
    elif isinstance(value, _Refused):
        found.append(Problem(path, value.message))
    else:
        found.append(Problem(path, f"is not a JSON value (a {type(value).__name__})"))


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists and scalars), several times faster than copy.deepcopy."""
    kind = type(value)
    if kind is dict:
        return {key: copy_json(item) for key, item in value.items()}
    if kind is list:
        return [copy_json(item) for item in value]
    return value  # str, int, float, bool and None are immutable


def member_path(path: str, key: Any) -> str:
    """The path of a member of an object, written as json_path writes it."""
    text = str(key)
    return f"{path}.{text}" if text.isidentifier() else f"{path}[{text!r}]"


def first_problem_text(problems: list[Problem]) -> str:
    """One line that names the first problem and its path."""
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{first.path}: {first.message}{more}"


def _storable(value: Any) -> Any:
    found = value_problems(value, "$")
    if found:
        first = found[0]
        where = "" if first.path == "$" else f"at {first.path[1:].lstrip('.')}: "
        raise ValueError(f"{where}{first.message}")
    return value


StorableJson = Annotated[Any, AfterValidator(_storable)]
"""A JSON value of a model field that must be storable (same rules as `value_problems`)."""


def clean_text(value: str) -> str:
    """Refuse text holding NUL (for pydantic validators of plain string fields)."""
    if "\0" in value:
        raise ValueError(HAS_NUL)
    return value


StorableText = Annotated[str, AfterValidator(clean_text)]
"""A string field that may not hold NUL."""


def checked_document(data: Any, validate: Callable[[Any], Model]) -> Model:
    """The body of a wrap model validator: the fields' own checks, then `value_problems` of the whole.

    Definitions typed in the UI or read from files come through here (the API refuses such values
    before); a value that the database or orjson cannot take must never be saved. Too deep a
    document is refused before the fields are validated, which would recurse into it.
    """
    found = value_problems(data) if isinstance(data, dict) else []
    deep = [problem for problem in found if problem.message == TOO_DEEP]
    if deep:
        raise ValueError(first_problem_text(deep))
    model = validate(data)
    if found:
        raise ValueError(first_problem_text(found))
    return model
