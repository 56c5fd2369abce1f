"""Sandboxed Jinja2 rendering of drafts with bounded time and output (SPEC §6.1).

The sandbox blocks access to internals; on top of it every loop and call checks a per-render
budget (iterations and wall time), `*` and `**` cannot build huge values, filters that pad or
repeat are bounded, and output is streamed and cut at a maximum size.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

from jinja2 import ChainableUndefined, TemplateError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from stepwise.delivery.text import html_to_text

MAX_OUTPUT = 1_000_000  # characters per rendered part
MAX_ITERATIONS = 200_000  # loop iterations per render
MAX_SECONDS = 0.5  # wall time per render
MAX_VALUE = 100_000  # size of any string or sequence built by * or **, or a padding width
_ALIAS = re.compile(r"\[%\s*anketa\.([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*)\s*%\]")


class RenderError(Exception):
    """A draft could not be rendered (syntax, sandbox violation or a bound)."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A draft rendered for one subscriber."""

    subject: str
    html: str
    text: str


class _Budget(threading.local):
    deadline: float = 0.0
    iterations: int = 0

    def spend(self, count: int = 1) -> None:
        self.iterations += count
        if self.iterations > MAX_ITERATIONS:
            raise RenderError(f"template exceeded {MAX_ITERATIONS} loop iterations")
        if self.iterations % 256 == 0 and time.monotonic() > self.deadline:
            raise RenderError(f"template took longer than {MAX_SECONDS}s")

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderError(f"template took longer than {MAX_SECONDS}s")


_budget = _Budget()


def _bounded_filter(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for value in list(args[1:]) + list(kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_VALUE:
                raise RenderError("filter argument is too large")
        _budget.check_time()
        result = fn(*args, **kwargs)
        if isinstance(result, str | list | tuple) and len(result) > MAX_OUTPUT:
            raise RenderError("filter result is too large")
        return result

    for attr in ("jinja_pass_arg",):
        if hasattr(fn, attr):
            setattr(wrapper, attr, getattr(fn, attr))
    return wrapper


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            autoescape=autoescape, undefined=ChainableUndefined, finalize=_finalize, auto_reload=False, cache_size=0
        )
        self.filters = {name: _bounded_filter(fn) for name, fn in self.filters.items()}

    def guard_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            _budget.spend()
            yield item

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _budget.check_time()
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise RenderError("exponent is too large")
        if operator == "*":
            for a, b in ((left, right), (right, left)):
                if isinstance(a, str | list | tuple) and isinstance(b, int) and len(a) * b > MAX_VALUE:
                    raise RenderError("repeated value is too large")
        return super().call_binop(context, operator, left, right)

    def _generate(self, source: Any, name: Any, filename: Any, defer_init: bool = False) -> str:
        # Route every loop through guard_iter so that no loop escapes the budget.
        if isinstance(source, nodes.Template):
            for loop in source.find_all(nodes.For):
                loop.iter = nodes.Call(
                    nodes.EnvironmentAttribute("guard_iter"), [loop.iter], [], None, None, lineno=loop.lineno
                )
            # Route every printed expression through `printable` at run time: Jinja folds constant
            # expressions at compile time and escapes them before `finalize` sees them, so
            # `{{ ''.format_map }}` would otherwise print a repr with a memory address.
            for output in source.find_all(nodes.Output):
                output.nodes = [
                    child
                    if isinstance(child, nodes.TemplateData)
                    else nodes.Call(
                        nodes.EnvironmentAttribute("printable"), [child], [], None, None, lineno=child.lineno
                    )
                    for child in output.nodes
                ]
        return super()._generate(source, name, filename, defer_init)

    def printable(self, value: Any) -> Any:
        """Return a value fit to print: nothing for functions, classes, modules and containers of them."""
        return "" if _shows_internals(value) else value


def _finalize(value: Any) -> Any:
    return "" if value is None else value


def _shows_internals(value: Any, depth: int = 0) -> bool:
    """Tell whether printing a value would show a repr of code (names, memory addresses)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return False
    if callable(value) or isinstance(value, type | ModuleType):
        return True
    if depth < 4 and isinstance(value, list | tuple | set | frozenset | dict):
        items = list(value.items()) if isinstance(value, dict) else list(value)
        # Only small containers are inspected item by item; a large one prints as nothing at all.
        if len(items) > 1000:
            return True
        return any(_shows_internals(item, depth + 1) for item in items)
    return False


_html_env = _Environment(autoescape=True)
_text_env = _Environment(autoescape=False)


def translate_aliases(source: str) -> str:
    """Turn Sendsay's `[% anketa.base.firstName %]` into `{{ data['base']['firstName'] }}`."""

    def replace(match: re.Match[str]) -> str:
        path = match.group(1)
        if path == "member.email":
            return "{{ email }}"
        return "{{ data" + "".join(f"[{part!r}]" for part in path.split(".")) + " }}"

    return _ALIAS.sub(replace, source)


@lru_cache(maxsize=2048)
def _compile(source: str, html: bool) -> Any:
    env = _html_env if html else _text_env
    try:
        return env.from_string(translate_aliases(source))
    except TemplateError as exc:
        raise RenderError(f"template syntax error: {exc}") from exc


def check_template(source: str) -> str | None:
    """Return a syntax error message, or None when the template compiles."""
    try:
        _compile(source, True)
    except RenderError as exc:
        return str(exc)
    return None


def render_string(source: str, context: dict[str, Any], *, html: bool) -> str:
    """Render one template with the budget; raise RenderError."""
    template = _compile(source, html)
    _budget.deadline = time.monotonic() + MAX_SECONDS
    _budget.iterations = 0
    parts: list[str] = []
    size = 0
    try:
        for chunk in template.generate(**context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise RenderError(f"output is larger than {MAX_OUTPUT} characters")
            parts.append(chunk)
            if len(parts) % 256 == 0:
                _budget.check_time()
    except RenderError:
        raise
    except SecurityError as exc:
        raise RenderError(f"template tried something unsafe: {exc}") from exc
    except (
        TemplateError,
        ArithmeticError,
        TypeError,
        ValueError,
        KeyError,
        IndexError,
        AttributeError,
        RecursionError,
        MemoryError,
        OverflowError,
    ) as exc:
        raise RenderError(f"template failed: {type(exc).__name__}: {exc}") from exc
    return "".join(parts)


def render_draft(subject: str, html: str, text: str | None, context: dict[str, Any]) -> Rendered:
    """Render a draft's subject, HTML and text (the text derived from the HTML when absent)."""
    rendered_subject = " ".join(render_string(subject, context, html=False).split())
    rendered_html = render_string(html, context, html=True)
    rendered_text = render_string(text, context, html=False) if text else html_to_text(rendered_html)
    return Rendered(subject=rendered_subject[:998], html=rendered_html, text=rendered_text)
