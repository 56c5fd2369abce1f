"""Size checks of the operations a template performs, made before the result is built.

Operators (`+ - * ** %`), `%` and `str.format` formatting, and the methods of strings and bytes
that can grow a value far beyond their inputs (padding, `replace`, `join`, `translate`, `split`
…) estimate the size of their result from their operands and raise `BudgetExceeded` when it is
over the budget. Everything else is checked after it ran, by `render_budget.account`: its result
is at most a small multiple of inputs that were checked already.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from itertools import islice
from string import Formatter
from typing import Any

from jinja2.sandbox import SandboxedEscapeFormatter, SandboxedFormatter

from stepwise.delivery.render_budget import (
    MAX_ITEMS,
    budget,
    check_bits,
    check_chars,
    check_count,
    check_items,
    is_int,
    text_size,
)

_PRINTF = re.compile(r"%(?:\(([^)]*)\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.)", re.DOTALL)
_DIGITS = re.compile(r"\d+")
_NUMERIC = frozenset("diouxXeEfFgGc")
_PADDING = frozenset({"center", "ljust", "rjust", "zfill"})
_ASCII_COMPATIBLE = frozenset({"utf8", "ascii", "usascii", "latin1", "iso88591", "cp1252"})
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
Args = tuple[tuple[Any, ...], dict[str, Any]]


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an operator whose result would be over the budget."""
    if isinstance(left, int) and isinstance(right, int):
        _check_int_op(operator, left, right)
    elif operator == "*":
        for value, times in ((left, right), (right, left)):
            if isinstance(times, int) and _is_sequence(value):
                _check_length(value, len(value) * max(times, 0), "the * operator")
    elif operator == "+" and _is_sequence(left) and _is_sequence(right):
        _check_length(left, len(left) + len(right), "the + operator")
    elif operator == "%" and isinstance(left, str):
        printf_size(left, right, "% formatting")


def _check_int_op(operator: str, left: int, right: int) -> None:
    bits = max(left.bit_length(), right.bit_length())
    if operator in "+-":
        check_bits(bits + 1, f"the {operator} operator")
    elif operator == "*":
        check_bits(left.bit_length() + right.bit_length(), "the * operator")
    elif operator == "**" and right > 0 and abs(left) > 1:
        check_bits(int(math.log2(abs(left)) * min(right, 1 << 62)) + 1, "the ** operator")


def _is_sequence(value: Any) -> bool:
    return isinstance(value, str | bytes | list | tuple)


def _check_length(like: Any, size: int, what: str) -> None:
    if isinstance(like, str | bytes):
        check_chars(size, what)
    else:
        check_items(size, what)


def printf_size(template: str, values: Any, what: str) -> int:
    """Estimate the length of `template % values` (widths, precisions and the values' text)."""
    positional = values if isinstance(values, tuple) else (values,)
    mapping = values if isinstance(values, Mapping) else None
    taken = 0
    total = len(template)

    def take() -> Any:
        nonlocal taken
        taken += 1
        return positional[taken - 1] if taken <= len(positional) else None

    for match in _PRINTF.finditer(template):
        key, width_text, precision_text, kind = match.groups()
        if kind == "%":
            continue
        width = take() if width_text == "*" else int(width_text or 0)
        precision = take() if precision_text == "*" else int(precision_text or 0)
        value = mapping.get(key) if key is not None and mapping is not None else take()
        width = check_chars(width if is_int(width) else 0, f"a width in {what}")
        precision = check_chars(precision if is_int(precision) else 0, f"a precision in {what}")
        shown = 330 if kind in _NUMERIC and not is_int(value) else text_size(value)
        total += max(width, precision + shown)
        check_chars(total, what)
    return total


def replace_size(text: Any, old: Any, new: Any, count: Any) -> int:
    """Estimate len(text.replace(old, new, count))."""
    if not isinstance(old, str | bytes) or not isinstance(new, str | bytes) or type(old) is not type(new):
        return len(text)
    found = text.count(old) if old else len(text) + 1
    if is_int(count) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


def bounded_list(values: Any, what: str) -> list[Any]:
    """Materialise an iterable of at most MAX_ITEMS items (counting them as loop iterations)."""
    if isinstance(values, Collection):
        check_items(len(values), what)
        return list(values)
    items = list(islice(values, MAX_ITEMS + 1))  # a generator: its items came through the hooks
    check_items(len(items), what)
    budget.spend(len(items))
    return items


def check_method(owner: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Args:
    """Check a call of a method of a built-in value; return the arguments to call it with."""
    what = f"{type(owner).__name__}.{name}"
    if not isinstance(owner, str | bytes | int):
        return args, kwargs
    for value in (*args, *kwargs.values()):
        check_count(value, what)
    if not isinstance(owner, str | bytes):
        return args, kwargs
    check = _METHOD_CHECKS.get(name)
    if name in _PADDING:
        check_chars(max(len(owner), _int_arg(args, kwargs, 0, "width")), what)
    elif check is not None:
        return check(owner, args, kwargs, what)
    return args, kwargs


def _int_arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: int = 0) -> int:
    value = args[index] if len(args) > index else kwargs.get(name, default)
    return value if is_int(value) else default


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any = None) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _replace(owner: str | bytes, args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> Args:
    size = replace_size(
        owner, _arg(args, kwargs, 0, "old"), _arg(args, kwargs, 1, "new"), _arg(args, kwargs, 2, "count")
    )
    check_chars(size, what)
    return args, kwargs


def _expandtabs(owner: str | bytes, args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> Args:
    tab = "\t" if isinstance(owner, str) else b"\t"
    check_chars(len(owner) + owner.count(tab) * max(_int_arg(args, kwargs, 0, "tabsize", 8), 0), what)  # type: ignore[arg-type]
    return args, kwargs


def _translate(owner: str | bytes, args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> Args:
    table = _arg(args, kwargs, 0, "table")
    longest = 1
    if isinstance(table, Mapping):
        longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
    check_chars(len(owner) * longest, what)
    return args, kwargs


def _encode(owner: str | bytes, args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> Args:
    encoding = str(_arg(args, kwargs, 0, "encoding", "utf-8")).lower().replace("-", "").replace("_", "")
    one_byte = owner.isascii() and encoding in _ASCII_COMPATIBLE
    check_chars(len(owner) * (1 if one_byte else 4), what)  # at most four bytes a character
    return args, kwargs


def _join(owner: str | bytes, args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> Args:
    items = bounded_list(_arg(args, kwargs, 0, "iterable", ()), what)
    size = sum(len(item) for item in items if isinstance(item, str | bytes)) + len(owner) * max(len(items) - 1, 0)
    check_chars(size, what)
    return (items,), {}


def _split(owner: str | bytes, args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> Args:
    limit = _int_arg(args, kwargs, 1, "maxsplit", -1)
    if 0 <= limit < MAX_ITEMS:
        return args, kwargs
    # Split at most MAX_ITEMS times: a longer result has MAX_ITEMS + 1 items and is refused after the call.
    return (), {"sep": _arg(args, kwargs, 0, "sep"), "maxsplit": MAX_ITEMS}


def _splitlines(owner: str | bytes, args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> Args:
    if len(owner) > MAX_ITEMS:
        text = owner if isinstance(owner, str) else owner.decode("latin-1")
        breaks = _LINE_BREAKS if isinstance(owner, str) else "\n\r"
        check_items(1 + sum(text.count(ch) for ch in breaks), what)
    return args, kwargs


_METHOD_CHECKS: dict[str, Callable[[Any, tuple[Any, ...], dict[str, Any], str], Args]] = {
    "replace": _replace,
    "expandtabs": _expandtabs,
    "translate": _translate,
    "encode": _encode,
    "join": _join,
    "split": _split,
    "rsplit": _split,
    "splitlines": _splitlines,
}


class _BoundedFields(Formatter):
    """`str.format` whose fields are checked before they are formatted."""

    produced = 0

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion:
            check_chars(text_size(value), "str.format")
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        budget.tick()
        widths = [int(digits) for digits in _DIGITS.findall(format_spec)]
        size = check_chars(max(widths, default=0) + text_size(value) + 4 * len(format_spec), "str.format")
        self.produced += size
        check_chars(self.produced, "str.format")
        return super().format_field(value, format_spec)


class BoundedFormatter(_BoundedFields, SandboxedFormatter):
    """The sandbox's formatter for `str.format`, with the budget."""


class BoundedEscapeFormatter(_BoundedFields, SandboxedEscapeFormatter):
    """The sandbox's formatter for `Markup.format`, with the budget."""
