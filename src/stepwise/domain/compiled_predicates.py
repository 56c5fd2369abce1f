"""Predicates compiled once into closures, for testing many subscribers against the same rule.

`compile_predicate(p)(data, now)` answers exactly what `predicates.evaluate(p, data, now)` answers
(a property test checks it on generated predicates and profiles). What depends only on the rule is
done once: the path is split, the expected value's number, instant and case fold are worked out,
and the common comparisons (equality with a plain string or a number, ordering against a number or a
plain string, `contains`, `exists`) skip the general dispatch. Anything else goes through the
general comparison with the path already split. Event fields (`event.…`) are not compiled: segment
and condition tests have no event.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from stepwise.domain.instants import parse_instant, parse_offset
from stepwise.domain.paths import MISSING, split_path
from stepwise.domain.predicates import (
    AllOf,
    AnyOf,
    Comparison,
    NotOf,
    NowValue,
    Predicate,
    _compare,
    _empty,
    _equal,
    _fold,
    _number,
    _ordered,
)

Check = Callable[[Mapping[str, Any], datetime], bool]
Getter = Callable[[Mapping[str, Any]], Any]
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def compile_predicate(predicate: Predicate) -> Check:
    """A closure that evaluates the predicate on profile data at `now`."""
    match predicate:
        case AllOf(all=items):
            every = tuple(compile_predicate(item) for item in items)
            return lambda data, now: all(check(data, now) for check in every)
        case AnyOf(any=items):
            some = tuple(compile_predicate(item) for item in items)
            return lambda data, now: any(check(data, now) for check in some)
        case NotOf(not_=inner):
            negated = compile_predicate(inner)
            return lambda data, now: not negated(data, now)
        case Comparison():
            return _comparison(predicate)
    raise TypeError(f"not a predicate: {predicate!r}")


def _getter(field: str) -> Getter:
    parts = split_path(field)

    def get(data: Mapping[str, Any]) -> Any:
        node: Any = data
        for part in parts:
            if (type(node) is not dict and not isinstance(node, Mapping)) or part not in node:
                return MISSING
            node = node[part]
        return node

    return get


def _plain_string(value: Any) -> bool:
    """A string that is neither a number nor an instant: equality and order are plain text."""
    return isinstance(value, str) and _number(value) is None and parse_instant(value) is None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equality(expected: Any, ignore_case: bool) -> Callable[[Any], bool]:
    """`_equal(actual, expected, ignore_case)` with the expected side worked out once."""
    if _plain_string(expected):
        folded = _fold(expected, ignore_case)
        if ignore_case:
            return lambda actual: type(actual) is str and actual.casefold() == folded
        return lambda actual: type(actual) is str and actual == folded
    if _is_number(expected):
        number = float(expected)

        def numeric(actual: Any) -> bool:
            found = _number(actual)
            return found is not None and found == number

        return numeric
    return lambda actual: _equal(actual, expected, ignore_case)


def _comparison(c: Comparison) -> Check:
    get = _getter(c.field)
    if c.fn is None and isinstance(c.value, NowValue):
        return _relative(c.op, get, parse_offset(c.value.now))
    fast = None if c.fn is not None else _fast(c, get)
    if fast is not None:
        return fast
    return lambda data, now: _compare(c, get(data), now)


def _relative(op: str, get: Getter, offset: timedelta) -> Check:
    """A comparison with `{"now": offset}`: the field's instant against now plus the offset (parsed once)."""

    def check(data: Mapping[str, Any], now: datetime) -> bool:
        actual = get(data)
        if actual is MISSING or actual is None:
            return False
        instant = parse_instant(actual)
        return instant is not None and _ordered(op, instant, now + offset)

    return check


def _fast(c: Comparison, get: Getter) -> Check | None:
    """The comparisons that need no general dispatch, or None."""
    op, expected = c.op, c.value
    if op == "exists":
        return lambda data, now: not _empty(get(data))
    if op == "not_exists":
        return lambda data, now: _empty(get(data))
    if op in ("eq", "ne", "contains") and not isinstance(expected, list):
        return _equality_check(op, get, _equality(expected, c.ignore_case), expected, c.ignore_case)
    if op in _ORDER and (_is_number(expected) or _plain_string(expected)):
        return _order_check(_ORDER[op], get, expected, c.ignore_case)
    return None


def _equality_check(op: str, get: Getter, same: Callable[[Any], bool], expected: Any, ignore_case: bool) -> Check:
    if op == "eq":

        def equals(data: Mapping[str, Any], now: datetime) -> bool:
            actual = get(data)
            return actual is not MISSING and actual is not None and same(actual)

        return equals
    if op == "ne":

        def differs(data: Mapping[str, Any], now: datetime) -> bool:
            actual = get(data)
            return actual is not MISSING and actual is not None and not same(actual)

        return differs
    text = _fold(expected, ignore_case) if isinstance(expected, str) else None

    def contains(data: Mapping[str, Any], now: datetime) -> bool:
        actual = get(data)
        if type(actual) is list:
            return any(same(item) for item in actual)
        if text is not None and isinstance(actual, str):
            return text in _fold(actual, ignore_case)
        return False

    return contains


def _order_check(order: Callable[[Any, Any], bool], get: Getter, expected: Any, ignore_case: bool) -> Check:
    if _is_number(expected):
        number = float(expected)

        def numeric(data: Mapping[str, Any], now: datetime) -> bool:
            found = _number(get(data))
            return found is not None and order(found, number)

        return numeric
    folded = _fold(expected, ignore_case)  # a plain string: neither a number nor an instant is compared

    def textual(data: Mapping[str, Any], now: datetime) -> bool:
        actual = get(data)
        return type(actual) is str and order(_fold(actual, ignore_case), folded)

    return textual
