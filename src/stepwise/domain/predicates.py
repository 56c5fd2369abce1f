"""Predicates over profile data and event payloads (SPEC §2.3)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from stepwise.domain.durations import InvalidDuration
from stepwise.domain.instants import parse_instant, parse_offset
from stepwise.domain.jsonvalues import first_problem_text, value_problems
from stepwise.domain.paths import MISSING, InvalidPath, get_path, split_path

Op = Literal[
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "contains",
    "starts_with",
    "ends_with",
    "in",
    "not_in",
    "exists",
    "not_exists",
]
_ORDER_OPS = {"gt", "gte", "lt", "lte"}
_STRING_OPS = {"starts_with", "ends_with"}
_NUMBER = re.compile(r"^\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*$")
MAX_NODES = 200
EVENT_PREFIX = "event."


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


class NowValue(_Frozen):
    """A moment relative to evaluation time: {"now": "-7d"}."""

    now: str

    @field_validator("now")
    @classmethod
    def _valid_offset(cls, value: str) -> str:
        try:
            parse_offset(value)
        except InvalidDuration as exc:
            raise ValueError(f"'now' offset {exc}") from exc
        return value


Scalar = str | int | float | bool


class Comparison(_Frozen):
    """Compare one field with a value."""

    field: str
    op: Op
    value: NowValue | Scalar | list[Scalar] | None = None
    fn: Literal["size"] | None = None
    ignore_case: bool = False

    @field_validator("field")
    @classmethod
    def _valid_field(cls, value: str) -> str:
        try:
            split_path(value)
        except InvalidPath as exc:
            raise ValueError(f"field {exc}") from exc
        return value

    @field_validator("value", mode="before")
    @classmethod
    def _value_shape(cls, value: Any) -> Any:
        # One clear problem at `value` instead of one per member of the union it failed to match.
        if isinstance(value, Mapping):
            now = value.get("now")
            if set(value) != {"now"} or not isinstance(now, str):
                raise ValueError('an object value must be a relative time such as {"now": "-7d"}')
            try:
                parse_offset(now)
            except InvalidDuration as exc:
                raise ValueError(f"'now' offset {exc}") from exc
            return NowValue(now=now)
        if isinstance(value, list):
            if not all(_is_scalar(item) for item in value):
                raise ValueError("a list value may hold only strings, numbers and true/false")
        elif value is not None and not _is_scalar(value):
            raise ValueError('value must be a string, number, true/false, a list of them, or {"now": "-7d"}')
        unstorable = value_problems(value, "value")
        if unstorable:
            raise ValueError(first_problem_text(unstorable))
        return value

    @model_validator(mode="after")
    def _value_fits_op(self) -> Comparison:
        value, op = self.value, self.op
        if op in ("exists", "not_exists"):
            if value is not None:
                raise ValueError(f"'{op}' takes no value")
            return self
        if value is None:
            raise ValueError(f"'{op}' needs a value")
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                raise ValueError(f"'{op}' needs a non-empty list of values")
            return self
        if isinstance(value, list):
            raise ValueError(f"'{op}' takes a single value, not a list")
        if self.fn == "size" and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError("with fn 'size' the value must be a number")
        if op in _STRING_OPS and not isinstance(value, str):
            raise ValueError(f"'{op}' needs a string value")
        if op in _ORDER_OPS and isinstance(value, bool):
            raise ValueError(f"'{op}' cannot compare with true/false")
        if isinstance(value, NowValue) and op not in {"eq", "ne", *_ORDER_OPS}:
            raise ValueError(f"'{op}' cannot take a 'now' value")
        return self


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and not (isinstance(value, float) and math.isnan(value))


class AllOf(_Frozen):
    all: list[Predicate] = Field(min_length=1)


class AnyOf(_Frozen):
    any: list[Predicate] = Field(min_length=1)


class NotOf(_Frozen):
    not_: Predicate = Field(alias="not")


def _kind(value: Any) -> str | None:
    # Tags start with '#' so that error locations can tell them from field names.
    if isinstance(value, Mapping):
        for key in ("all", "any", "not"):
            if key in value:
                return "#" + key
        return "#compare"
    for model, tag in ((AllOf, "#all"), (AnyOf, "#any"), (NotOf, "#not"), (Comparison, "#compare")):
        if isinstance(value, model):
            return tag
    return None


Predicate = Annotated[
    Annotated[AllOf, Tag("#all")]
    | Annotated[AnyOf, Tag("#any")]
    | Annotated[NotOf, Tag("#not")]
    | Annotated[Comparison, Tag("#compare")],
    Discriminator(
        _kind,
        custom_error_type="predicate",
        custom_error_message='a predicate is an object: {"all": [...]}, {"any": [...]}, {"not": ...} '
        'or {"field": ..., "op": ..., "value": ...}',
    ),
]

AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


def walk(predicate: Predicate) -> list[Comparison]:
    """Return every comparison in the predicate."""
    match predicate:
        case AllOf(all=items) | AnyOf(any=items):
            return [c for item in items for c in walk(item)]
        case NotOf(not_=inner):
            return walk(inner)
        case Comparison():
            return [predicate]
    return []


def size(predicate: Predicate) -> int:
    """Count the nodes of a predicate."""
    match predicate:
        case AllOf(all=items) | AnyOf(any=items):
            return 1 + sum(size(item) for item in items)
        case NotOf(not_=inner):
            return 1 + size(inner)
    return 1


def problems(predicate: Predicate, *, allow_event: bool) -> list[str]:
    """Describe what is wrong with a parsed predicate beyond its shape."""
    found: list[str] = []
    if size(predicate) > MAX_NODES:
        found.append(f"has more than {MAX_NODES} nodes")
    if not allow_event:
        for comparison in walk(predicate):
            if comparison.field.startswith(EVENT_PREFIX):
                found.append(f"field {comparison.field!r}: event fields are only allowed in custom filters")
    return found


def evaluate(
    predicate: Predicate,
    data: Mapping[str, Any],
    now: datetime,
    event: Mapping[str, Any] | None = None,
) -> bool:
    """Evaluate the predicate on profile data (and an event payload for `event.` fields)."""
    match predicate:
        case AllOf(all=items):
            return all(evaluate(item, data, now, event) for item in items)
        case AnyOf(any=items):
            return any(evaluate(item, data, now, event) for item in items)
        case NotOf(not_=inner):
            return not evaluate(inner, data, now, event)
        case Comparison():
            return _compare(predicate, _resolve(predicate.field, data, event), now)
    raise TypeError(f"not a predicate: {predicate!r}")


def _resolve(field: str, data: Mapping[str, Any], event: Mapping[str, Any] | None) -> Any:
    if event is not None and field.startswith(EVENT_PREFIX):
        return get_path(event, field[len(EVENT_PREFIX) :])
    return get_path(data, field)


def _empty(value: Any) -> bool:
    return value is MISSING or value is None or value == "" or (isinstance(value, list | dict) and not value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.match(value):
        return float(value)
    return None


def _compare(c: Comparison, actual: Any, now: datetime) -> bool:
    if c.op == "not_exists":
        return _empty(actual)
    if c.op == "exists":
        return not _empty(actual)
    if actual is MISSING or actual is None:
        return False
    if c.fn == "size":
        if not isinstance(actual, str | list | dict):
            return False
        actual = len(actual)
    expected = c.value
    if c.op in ("in", "not_in"):
        assert isinstance(expected, list)
        candidates = actual if isinstance(actual, list) else [actual]
        hit = any(_equal(a, e, c.ignore_case) for a in candidates for e in expected)
        return hit if c.op == "in" else not hit
    if isinstance(expected, NowValue):
        moment = now + parse_offset(expected.now)
        instant = parse_instant(actual)
        if instant is None:
            return False
        return _ordered(c.op, instant, moment)
    if c.op == "eq":
        return _equal(actual, expected, c.ignore_case)
    if c.op == "ne":
        return not _equal(actual, expected, c.ignore_case)
    if c.op == "contains":
        if isinstance(actual, list):
            return any(_equal(item, expected, c.ignore_case) for item in actual)
        if isinstance(actual, str) and isinstance(expected, str):
            return _fold(expected, c.ignore_case) in _fold(actual, c.ignore_case)
        return False
    if c.op in _STRING_OPS:
        if not isinstance(actual, str) or not isinstance(expected, str):
            return False
        a, e = _fold(actual, c.ignore_case), _fold(expected, c.ignore_case)
        return a.startswith(e) if c.op == "starts_with" else a.endswith(e)
    # Ordering: numbers as numbers, instants as instants, then strings.
    a_num, e_num = _number(actual), _number(expected)
    if a_num is not None and e_num is not None:
        return _ordered(c.op, a_num, e_num)
    a_at, e_at = parse_instant(actual), parse_instant(expected)
    if a_at is not None and e_at is not None:
        return _ordered(c.op, a_at, e_at)
    if isinstance(actual, str) and isinstance(expected, str):
        return _ordered(c.op, _fold(actual, c.ignore_case), _fold(expected, c.ignore_case))
    return False


def _fold(text: str, ignore_case: bool) -> str:
    return text.casefold() if ignore_case else text


def _equal(actual: Any, expected: Any, ignore_case: bool) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    a_num, e_num = _number(actual), _number(expected)
    if (
        a_num is not None
        and e_num is not None
        and (isinstance(actual, int | float) or isinstance(expected, int | float))
    ):
        return a_num == e_num
    if isinstance(actual, str) and isinstance(expected, str):
        a_at, e_at = parse_instant(actual), parse_instant(expected)
        if a_at is not None and e_at is not None:
            return a_at == e_at
        return _fold(actual, ignore_case) == _fold(expected, ignore_case)
    return bool(actual == expected)


def _ordered(op: str, a: Any, b: Any) -> bool:
    if op in ("gt",):
        return bool(a > b)
    if op == "gte":
        return bool(a >= b)
    if op == "lt":
        return bool(a < b)
    if op == "lte":
        return bool(a <= b)
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    return False
