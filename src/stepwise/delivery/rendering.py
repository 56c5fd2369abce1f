"""Sandboxed Jinja2 rendering of drafts with bounded time and memory (SPEC §6.1).

The sandbox blocks access to internals. On top of it every render has a budget
(`render_budget`): loops, calls, filters, operators, attribute lookups and printed output report to
it (`render_env`), and the size of anything that could grow (strings, lists, integers, formatted text, printed
output, also inside macros and blocks) is checked before it is built (`render_ops`,
`render_filters`). A template that exceeds the budget fails with `BudgetExceeded`, whose message
says what it tried ("template exceeds the rendering budget: string of 5,000,000 characters from
str.replace"). Compiling is bounded too: a template has at most `MAX_TOKENS` tokens.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jinja2 import Template, TemplateError
from jinja2.exceptions import SecurityError

from stepwise.delivery.html_scan import label_cost, parsable
from stepwise.delivery.render_budget import MAX_OUTPUT, BudgetExceeded, RenderError, budgeted
from stepwise.delivery.render_env import SandboxEnvironment, html_env, text_env
from stepwise.delivery.text import html_to_text

__all__ = ["BudgetExceeded", "RenderError", "Rendered", "check_template", "render_draft", "render_string"]

MAX_TOKENS = 25_000  # tokens of one template (compiling takes about 15 µs a token)
MAX_LABEL_COST = 2_000_000  # characters of link labels the text part may read (see html_scan.label_cost)
CACHE_WEIGHT = 64_000_000  # about the bytes that compiled templates may keep in the cache
_ALIAS = re.compile(r"\[%\s*anketa\.([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*)\s*%\]")


@dataclass(frozen=True, slots=True)
class Rendered:
    """A draft rendered for one subscriber."""

    subject: str
    html: str
    text: str


def translate_aliases(source: str) -> str:
    """Turn Sendsay's `[% anketa.base.firstName %]` into `{{ data['base']['firstName'] }}`."""

    def replace(match: re.Match[str]) -> str:
        path = match.group(1)
        if path == "member.email":
            return "{{ email }}"
        return "{{ data" + "".join(f"[{part!r}]" for part in path.split(".")) + " }}"

    return _ALIAS.sub(replace, source)


class _TemplateCache:
    """Compiled templates, least recently used first out, bounded by their approximate size."""

    def __init__(self, weight: int) -> None:
        self._limit = weight
        self._weight = 0
        self._items: OrderedDict[tuple[str, bool], tuple[Template, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, bool]) -> Template | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: tuple[str, bool], template: Template, weight: int) -> None:
        with self._lock:
            if key in self._items or weight > self._limit:
                return
            self._items[key] = (template, weight)
            self._weight += weight
            while self._weight > self._limit:
                _, (_, dropped) = self._items.popitem(last=False)
                self._weight -= dropped


_cache = _TemplateCache(CACHE_WEIGHT)


def _compile(source: str, html: bool) -> Template:
    key = (source, html)
    template = _cache.get(key)
    if template is not None:
        return template
    env = html_env if html else text_env
    translated = translate_aliases(source)
    try:
        tokens = _count_tokens(env, translated)
        template = env.from_string(translated)
    except TemplateError as exc:
        raise RenderError(f"template syntax error: {exc}") from exc
    except (RecursionError, SyntaxError, MemoryError) as exc:
        raise RenderError(f"template nests too deeply: {type(exc).__name__}") from exc
    _cache.put(key, template, len(source) + 64 * tokens)
    return template


def _count_tokens(env: SandboxEnvironment, source: str) -> int:
    count = 0
    for _ in env.lex(source):
        count += 1
        if count > MAX_TOKENS:
            raise RenderError(
                f"template is too complex: more than {MAX_TOKENS:,} tokens (names, operators, text between tags)"
            )
    return count


def _trial_context() -> dict[str, Any]:
    return {
        "email": "preview@example.com",
        "data": {},
        "sequence": None,
        "event": {},
        "entry": {},
        "now": datetime.now(UTC),
    }


def check_template(source: str, *, html: bool = True) -> str | None:
    """Why a template cannot be used, or None: its syntax, its size, or a budget it exceeds even without data."""
    try:
        template = _compile(source, html)
    except RenderError as exc:
        return str(exc)
    try:
        with budgeted():
            _render(template, _trial_context())
    except BudgetExceeded as exc:
        return str(exc)
    except RenderError:
        pass  # other failures may depend on the subscriber's data
    return None


def render_string(source: str, context: dict[str, Any], *, html: bool) -> str:
    """Render one template with the budget; raise RenderError."""
    template = _compile(source, html)
    with budgeted():
        return _render(template, context)


def render_draft(subject: str, html: str, text: str | None, context: dict[str, Any]) -> Rendered:
    """Render a draft's subject, HTML and text (the text derived from the HTML when absent), in one budget."""
    subject_template, html_template = _compile(subject, False), _compile(html, True)
    text_template = _compile(text, False) if text else None
    with budgeted():
        rendered_subject = " ".join(_render(subject_template, context).split())
        rendered_html = _render(html_template, context)
        rendered_text = _render(text_template, context) if text_template else derive_text(rendered_html)
    return Rendered(subject=rendered_subject[:998], html=rendered_html, text=rendered_text)


def derive_text(html: str) -> str:
    """The text part of an HTML email, in time linear in the HTML's length (see `html_scan`)."""
    cost = label_cost(html)
    if cost > MAX_LABEL_COST:
        raise BudgetExceeded(f"links nest so that the text part would read {cost:,} characters of link labels")
    return html_to_text(parsable(html))


def _render(template: Template, context: dict[str, Any]) -> str:
    try:
        return _generate(template, context)
    except Exception as exc:
        failure = _failure(exc)
        if failure is None:
            raise
        # The traceback holds the template's frames and whatever they built (up to the budget), in
        # reference cycles that a server collects rarely: drop it, and raise a fresh error outside
        # (without keeping it in this frame, which its own traceback holds).
        exc.__traceback__ = None
    try:
        raise failure
    finally:
        del failure


def _generate(template: Template, context: dict[str, Any]) -> str:
    # Like Template.generate, without its rewriting of tracebacks (which keeps the template's frames,
    # and all they built, in reference cycles until the collector runs).
    variables = template.new_context(context)
    parts: list[str] = []
    size = 0
    try:
        for chunk in template.root_render_func(variables):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise BudgetExceeded(f"output of more than {MAX_OUTPUT:,} characters")
            parts.append(chunk)
    finally:
        variables.vars.clear()  # macros refer to their context: a cycle that would keep the variables
    return "".join(parts)


_FAILURES = (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, AttributeError, MemoryError)


def _failure(exc: Exception) -> RenderError | None:
    """The error to report for an exception of a render, without its traceback; None to let it through."""
    if isinstance(exc, BudgetExceeded):
        return BudgetExceeded(exc.reason)
    if isinstance(exc, RenderError):
        return RenderError(str(exc))
    if isinstance(exc, RecursionError):
        return BudgetExceeded("macros or blocks call each other too deeply")
    if isinstance(exc, SecurityError):
        return RenderError(f"template tried something unsafe: {exc}")
    if isinstance(exc, _FAILURES):
        return RenderError(f"template failed: {type(exc).__name__}: {exc}")
    return None
