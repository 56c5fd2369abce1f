"""Jinja's filters and globals with the rendering budget.

Every filter looks at the clock and has its result counted. Filters that turn their input into
text check the text's length first; filters that walk their input in Python (`wordwrap`,
`urlize`, `title` …) take at most `MAX_SLOW_CHARS`; filters that collect items take at most
`MAX_ITEMS`; and the filters whose result can be far larger than their input (`center`,
`indent`, `replace`, `format`, `join`, `wordwrap`, `sum`, `slice`, `batch`, `tojson`) estimate
it before they run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jinja2.filters import make_attrgetter
from jinja2.utils import generate_lorem_ipsum

from stepwise.delivery.render_budget import (
    MAX_TOTAL,
    BudgetExceeded,
    account,
    budget,
    check_chars,
    check_items,
    is_int,
    text_size,
)
from stepwise.delivery.render_ops import bounded_list, printf_size, replace_size

MAX_SLOW_CHARS = 100_000  # input of the filters that walk their text in Python
MAX_JSON_INDENT = 8
MAX_ROUND_DIGITS = 1300  # more than any float or budgeted integer has
Filter = Callable[..., Any]
Check = Callable[[list[Any], dict[str, Any], Any, str], None]

# Filters that turn their input into text (so a container's text must be short enough).
_TEXT = frozenset(
    [
        "capitalize",
        "center",
        "e",
        "escape",
        "forceescape",
        "format",
        "indent",
        "lower",
        "pprint",
        "replace",
        "safe",
        "string",
        "striptags",
        "title",
        "tojson",
        "trim",
        "truncate",
        "upper",
        "urlencode",
        "urlize",
        "wordcount",
        "wordwrap",
        "xmlattr",
        "int",
        "float",
        "filesizeformat",
    ]
)
_SLOW = frozenset(["pprint", "title", "urlencode", "urlize", "wordcount", "wordwrap"])
# Filters that collect their input's items (a generator is materialised, at most MAX_ITEMS of it).
_COLLECT = frozenset(
    ["batch", "dictsort", "groupby", "items", "join", "list", "max", "min", "reverse", "slice", "sort", "sum", "unique"]
)


def bounded_filters(filters: Mapping[str, Filter]) -> dict[str, Filter]:
    """Wrap every filter with the budget."""
    return {name: _bounded(name, fn) for name, fn in filters.items()}


def _bounded(name: str, fn: Filter) -> Filter:
    passes = getattr(fn, "jinja_pass_arg", None)
    skip = 1 if passes is not None else 0
    check = _CHECKS.get(name)
    what = f"the {name} filter"

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        budget.check_time()
        head, rest = args[:skip], list(args[skip:])
        if rest:
            _check_input(name, rest, what)
        if check is not None:
            check(rest, kwargs, head[0] if head else None, what)
        return account(fn(*head, *rest, **kwargs), what)

    if passes is not None:
        wrapper.jinja_pass_arg = passes  # type: ignore[attr-defined]
    return wrapper


def _check_input(name: str, rest: list[Any], what: str) -> None:
    value = rest[0]
    if name in _TEXT:
        size = check_chars(text_size(value), what)
        if name in _SLOW and size > MAX_SLOW_CHARS:
            raise BudgetExceeded(f"{what} takes at most {MAX_SLOW_CHARS:,} characters, not {size:,}")
    if name in _COLLECT and not (name == "reverse" and isinstance(value, str)):
        if isinstance(value, Mapping):
            check_items(len(value), what)
        else:
            rest[0] = bounded_list(value, what)


def _arg(rest: list[Any], kwargs: dict[str, Any], index: int, name: str, default: Any = None) -> Any:
    return rest[index] if len(rest) > index else kwargs.get(name, default)


def _center(rest: list[Any], kwargs: dict[str, Any], _: Any, what: str) -> None:
    width = _arg(rest, kwargs, 1, "width", 80)
    check_chars(max(text_size(rest[0]), width if is_int(width) else 0), what)


def _indent(rest: list[Any], kwargs: dict[str, Any], _: Any, what: str) -> None:
    width = _arg(rest, kwargs, 1, "width", 4)
    step = len(width) if isinstance(width, str) else width if is_int(width) else 0
    text = str(rest[0])
    check_chars(len(text) + (text.count("\n") + 1) * max(step, 0), what)


def _replace(rest: list[Any], kwargs: dict[str, Any], _: Any, what: str) -> None:
    old, new = _arg(rest, kwargs, 1, "old"), _arg(rest, kwargs, 2, "new")
    check_chars(replace_size(str(rest[0]), str(old), str(new), _arg(rest, kwargs, 3, "count")), what)


def _format(rest: list[Any], kwargs: dict[str, Any], _: Any, what: str) -> None:
    printf_size(str(rest[0]), kwargs or tuple(rest[1:]), what)


def _join(rest: list[Any], kwargs: dict[str, Any], eval_ctx: Any, what: str) -> None:
    attribute = _arg(rest, kwargs, 2, "attribute")
    items = rest[0]
    if attribute is not None:
        items = [make_attrgetter(eval_ctx.environment, attribute)(item) for item in items]
        del rest[2:]
        kwargs.pop("attribute", None)
        rest[0] = items
    separator = _arg(rest, kwargs, 1, "d", "")
    check_chars(sum(text_size(item) for item in items) + text_size(separator) * max(len(items) - 1, 0), what)


def _wordwrap(rest: list[Any], kwargs: dict[str, Any], _: Any, what: str) -> None:
    wrapstring = _arg(rest, kwargs, 3, "wrapstring") or "\n"
    size = len(str(rest[0]))
    check_chars(size + (size + 1) * text_size(wrapstring), what)


def _sum(rest: list[Any], kwargs: dict[str, Any], _: Any, what: str) -> None:
    start = _arg(rest, kwargs, 2, "start", 0)
    if isinstance(start, int | float) and _arg(rest, kwargs, 1, "attribute") is None:
        return
    # Adding up lists copies the running total for every item: refuse what would take too long.
    sizes = [len(item) for item in rest[0] if isinstance(item, list | tuple | str)]
    size = sum(sizes) + (len(start) if isinstance(start, list | tuple | str) else 0)
    check_items(size, what)
    if size * len(rest[0]) > MAX_TOTAL:
        raise BudgetExceeded(f"{what} would copy {size:,} items {len(rest[0]):,} times")


def _slice(rest: list[Any], kwargs: dict[str, Any], _: Any, what: str) -> None:
    check_items(_arg(rest, kwargs, 1, "slices", 0) or 0, what)


def _batch(rest: list[Any], kwargs: dict[str, Any], _: Any, what: str) -> None:
    if _arg(rest, kwargs, 2, "fill_with") is not None:
        check_items(_arg(rest, kwargs, 1, "linecount", 0) or 0, what)


def _tojson(rest: list[Any], kwargs: dict[str, Any], _: Any, what: str) -> None:
    indent = _arg(rest, kwargs, 1, "indent")
    step = len(indent) if isinstance(indent, str) else indent if is_int(indent) else 0
    if step > MAX_JSON_INDENT:
        raise BudgetExceeded(f"{what} indents by at most {MAX_JSON_INDENT}, not {step:,}")


def _round(rest: list[Any], kwargs: dict[str, Any], _: Any, what: str) -> None:
    precision = _arg(rest, kwargs, 1, "precision", 0)
    if is_int(precision) and abs(precision) > MAX_ROUND_DIGITS:
        raise BudgetExceeded(f"{what} rounds to at most {MAX_ROUND_DIGITS:,} digits, not {precision:,}")


_CHECKS: dict[str, Check] = {
    "round": _round,
    "center": _center,
    "indent": _indent,
    "replace": _replace,
    "format": _format,
    "join": _join,
    "wordwrap": _wordwrap,
    "sum": _sum,
    "slice": _slice,
    "batch": _batch,
    "tojson": _tojson,
}


def bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """`lipsum()` of at most about MAX_CHARS characters."""
    budget.check_time()
    paragraphs = n if is_int(n) else 0
    words = max if is_int(max) else 0
    check_chars(paragraphs * (words if words > 1 else 1) * 12, "lipsum")
    return str(account(generate_lorem_ipsum(n, html, min, max), "lipsum"))
