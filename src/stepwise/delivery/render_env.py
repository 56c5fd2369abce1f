"""The sandbox a draft renders in: Jinja's immutable sandbox with every hook reporting to the budget.

Before a template is compiled, `_Instrument` routes its loops through `guard_iter`, its printed
expressions and repeatable literal text through internal filters that count what is printed, and
`~` through a filter that checks the size of the result first. Operators, calls (methods of
strings, bytes and integers are checked by `render_ops`), attribute lookups and `str.format` report
to the budget at run time; filters and globals are the bounded ones of `render_filters`.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Iterator
from functools import update_wrapper
from typing import Any

from jinja2 import ChainableUndefined, nodes, pass_context
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from stepwise.delivery.render_budget import BudgetExceeded, account, budget, check_chars, check_items, text_size
from stepwise.delivery.render_filters import bounded_filters, bounded_lipsum
from stepwise.delivery.render_ops import BoundedEscapeFormatter, BoundedFormatter, check_binop, check_method

_PRINT, _TEXT, _CONCAT = "stepwise:print", "stepwise:text", "stepwise:concat"  # no template can name these
_BUILTIN = (str, bytes, int, float, list, tuple, dict)


@pass_context
def _print(context: Context, value: Any) -> Any:
    """Every printed expression: checked for size, counted, and nothing for functions and classes."""
    if type(value) is str or type(value) is Markup:
        budget.add(check_chars(len(value), "printing a value"), "printed output")
        return value
    budget.add(check_chars(text_size(value), "printing a value"), "printed output")
    return "" if _shows_internals(value) else value


@pass_context
def _text(context: Context, data: str) -> Markup:
    """Every piece of literal template text (a loop or a macro may print it many times)."""
    budget.tick()
    budget.add(len(data), "printed output")
    return Markup(data)


@pass_context
def _concat(context: Context, *values: Any) -> str:
    """The `~` operator."""
    budget.check_time()
    size = check_chars(sum(text_size(value) for value in values), "the ~ operator")
    budget.add(size, "the ~ operator")
    escaping = context.eval_ctx.autoescape or context.eval_ctx.volatile
    return markup_join(values) if escaping else str_join(values)


def _bounded_range(*args: int) -> range:
    budget.check_time()
    values = range(*args)
    try:
        check_items(len(values), "range")
    except OverflowError:
        raise BudgetExceeded("range of more than 2**63 items") from None
    return values


class _Instrument(NodeTransformer):
    """Route loops, printed output and `~` through the budget (before the template is compiled).

    Literal text counts as printed only where it may be printed many times (in loops, macros, call
    blocks and blocks); elsewhere it is printed once, and the template's size bounds it.
    """

    def __init__(self) -> None:
        self.repeated = 0

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self._visit_repeated(node)
        node.iter = nodes.Call(
            nodes.EnvironmentAttribute("guard_iter"), [node.iter], [], None, None, lineno=node.lineno
        )
        return node

    def visit_Macro(self, node: nodes.Macro) -> nodes.Node:
        return self._visit_repeated(node)

    def visit_CallBlock(self, node: nodes.CallBlock) -> nodes.Node:
        return self._visit_repeated(node)

    def visit_Block(self, node: nodes.Block) -> nodes.Node:
        return self._visit_repeated(node)

    def _visit_repeated(self, node: nodes.Node) -> nodes.Node:
        self.repeated += 1
        try:
            self.generic_visit(node)
        finally:
            self.repeated -= 1
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [
            child if isinstance(child, nodes.TemplateData) and not self.repeated else _filtered(child)
            for child in node.nodes
        ]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        first, *rest = node.nodes
        return nodes.Filter(first, _CONCAT, rest, [], None, None, lineno=node.lineno)


def _filtered(child: nodes.Expr) -> nodes.Expr:
    if isinstance(child, nodes.TemplateData):
        return nodes.Filter(nodes.Const(child.data), _TEXT, [], [], None, None, lineno=child.lineno)
    return nodes.Filter(child, _PRINT, [], [], None, None, lineno=child.lineno)


class SandboxEnvironment(ImmutableSandboxedEnvironment):
    """The environment of drafts (one with autoescaping for HTML, one without for text)."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            autoescape=autoescape,
            undefined=ChainableUndefined,
            finalize=_finalize,
            auto_reload=False,
            cache_size=0,
            optimized=False,  # no filter or operator may run at compile time, outside the budget
        )
        self.filters = bounded_filters(self.filters)
        self.filters.update({_PRINT: _print, _TEXT: _text, _CONCAT: _concat})
        self.globals.update(lipsum=bounded_lipsum, range=_bounded_range)

    def guard_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            budget.spend()
            yield item

    def getattr(self, obj: Any, attribute: str) -> Any:
        budget.tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        budget.tick()
        return super().getitem(obj, argument)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget.check_time()
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", None)
        if not isinstance(owner, _BUILTIN) or not isinstance(name, str):
            return super().call(__context, __obj, *args, **kwargs)
        args, kwargs = check_method(owner, name, args, kwargs)
        return account(super().call(__context, __obj, *args, **kwargs), f"{type(owner).__name__}.{name}")

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget.check_time()
        check_binop(operator, left, right)
        return account(super().call_binop(context, operator, left, right), f"the {operator} operator")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`str.format` and `format_map` through the sandbox's formatter, with the budget."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or value.__name__ not in (
            "format",
            "format_map",
        ):
            return None
        owner = value.__self__
        if not isinstance(owner, str):
            return None
        is_map = value.__name__ == "format_map"

        def wrapper(*args: Any, **kwargs: Any) -> str:
            budget.check_time()
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one positional argument")
                kwargs = args[0]
                args = ()
            formatter = (
                BoundedEscapeFormatter(self, escape=owner.escape)
                if isinstance(owner, Markup)
                else BoundedFormatter(self)
            )
            result = type(owner)(formatter.vformat(owner, args, kwargs))  # Markup stays Markup
            account(result, "str.format")
            return result

        return update_wrapper(wrapper, value)

    def _generate(self, source: Any, name: Any, filename: Any, defer_init: bool = False) -> str:
        if isinstance(source, nodes.Template):
            source = _Instrument().visit(source)
        return super()._generate(source, name, filename, defer_init)


def _finalize(value: Any) -> Any:
    return "" if value is None else value


def _shows_internals(value: Any, depth: int = 0) -> bool:
    """Tell whether printing a value would show a repr of code (names, memory addresses)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return False
    if callable(value) or isinstance(value, type | types.ModuleType | Iterator):
        return True
    if depth < 4 and isinstance(value, list | tuple | set | frozenset | dict):
        items = list(value.items()) if isinstance(value, dict) else list(value)
        # Only small containers are inspected item by item; a large one prints as nothing at all.
        if len(items) > 1000:
            return True
        return any(_shows_internals(item, depth + 1) for item in items)
    return False


html_env = SandboxEnvironment(autoescape=True)
text_env = SandboxEnvironment(autoescape=False)
