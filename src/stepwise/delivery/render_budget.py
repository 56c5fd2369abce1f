"""The rendering budget: what one render may spend in time, loop iterations and memory.

Every hook of the sandbox (calls, filters, operators, attribute lookups, loops, printed output)
reports here. Sizes are checked *before* a value is built, from the sizes of its operands, so a
template can neither hold the CPU for long in one C call nor grow memory by more than a bounded
amount: any one string is at most `MAX_CHARS` characters, any list `MAX_ITEMS` items, any integer
`MAX_INT_BITS` bits, and everything built or printed in one render together at most `MAX_TOTAL`.
The state is per thread: renders in parallel threads have budgets of their own.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from jinja2.runtime import Undefined
from jinja2.utils import Namespace
from markupsafe import Markup

MAX_OUTPUT = 1_000_000  # characters per rendered part (subject, HTML, text)
MAX_CHARS = 1_000_000  # characters of any one string (or bytes) a template builds or prints
MAX_ITEMS = 100_000  # items of any one list, tuple or dict a template builds
MAX_INT_BITS = 4096  # bits of any integer a template computes (about 1,200 digits)
MAX_TOTAL = 8_000_000  # characters and items built or printed in one render, all together
MAX_ITERATIONS = 200_000  # loop iterations per render
MAX_SECONDS = 0.5  # CPU time per render (subject, HTML and text together)
MAX_WALL_SECONDS = 2.0  # wall time per render, however busy the machine (waiting for the GIL included)
_CHECK_EVERY = 64  # operations between two looks at the clock in the cheapest hooks
YIELD_EVERY = 0.001  # seconds of rendering between two offers of the GIL to other threads
YIELD_FOR = 0.0001  # seconds each offer lasts (a render of 0.5 s sleeps 50 ms of it)
# After a render that built more than this, its reference cycles (Jinja's contexts and macros, the
# frames of a failed render) are collected at once: a server raises the collector's thresholds, and
# they would otherwise keep what the render built for many requests.
COLLECT_AFTER = 1_000_000


class RenderError(Exception):
    """A draft could not be rendered (syntax, sandbox violation or a bound)."""


class BudgetExceeded(RenderError):
    """The template asked for more time or memory than one render may have."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"template exceeds the rendering budget: {reason}")
        self.reason = reason


class Budget(threading.local):
    """What the current thread's render has spent so far."""

    active: bool = False
    started: float = 0.0  # time.monotonic() at the start
    # time.thread_time() when the render first looked at the clock (a few operations in; -1 before):
    # reading a thread's CPU time is a system call that costs more than most renders, so it is only
    # made for renders that run long enough to look at the clock.
    cpu_started: float = -1.0
    deadline: float = 0.0  # when to look at the CPU time next (time.monotonic())
    yielded: float = 0.0  # when the render last offered the GIL to other threads
    ops: int = 0
    iterations: int = 0
    total: int = 0

    def start(self) -> None:
        self.active = True
        self.started = self.yielded = time.monotonic()
        self.cpu_started = -1.0
        self.deadline = self.started + MAX_SECONDS
        self.ops = self.iterations = self.total = 0

    def check_time(self) -> None:
        if self.cpu_started < 0:
            self.cpu_started = time.thread_time()
        now = time.monotonic()
        if now > self.deadline:
            self._overtime(now)
        if now - self.yielded > YIELD_EVERY:
            # Let other threads (the server's event loop) have the GIL now and then, sooner than
            # the interpreter's switch interval (5 ms) would: a short sleep hands it over for sure.
            self.yielded = now
            time.sleep(YIELD_FOR)

    def _overtime(self, now: float) -> None:
        """The wall clock says the time is up: it is if the CPU time or the wall-time cap says so too
        (a busy machine slows a render down without it spending more)."""
        spent = time.thread_time() - self.cpu_started
        if spent >= MAX_SECONDS:
            raise BudgetExceeded(f"rendering took more than {MAX_SECONDS} s of CPU time")
        if now - self.started >= MAX_WALL_SECONDS:
            raise BudgetExceeded(f"rendering took more than {MAX_WALL_SECONDS} s")
        self.deadline = min(now + MAX_SECONDS - spent, self.started + MAX_WALL_SECONDS)

    def tick(self) -> None:
        """One cheap operation (an attribute lookup, a subscript): look at the clock now and then."""
        self.ops += 1
        if self.ops % _CHECK_EVERY == 0:
            self.check_time()

    def spend(self, count: int = 1) -> None:
        """Loop iterations."""
        self.iterations += count
        if self.iterations > MAX_ITERATIONS:
            raise BudgetExceeded(f"more than {MAX_ITERATIONS:,} loop iterations")
        self.tick()

    def add(self, size: int, what: str) -> None:
        """Count characters or items built or printed; refuse when the render's total is spent."""
        self.total += size
        if self.total > MAX_TOTAL:
            raise BudgetExceeded(f"more than {MAX_TOTAL:,} characters and items built or printed in all ({what})")


budget = Budget()


@contextmanager
def budgeted() -> Iterator[None]:
    """Run a render under a fresh budget (a render inside a render shares the outer one)."""
    if budget.active:
        yield
        return
    budget.start()
    try:
        yield
    finally:
        budget.active = False
        if budget.total > COLLECT_AFTER:
            gc.collect(1)


def check_chars(size: int, what: str) -> int:
    if size > MAX_CHARS:
        raise BudgetExceeded(f"string of {size:,} characters from {what}")
    return size


def check_items(size: int, what: str) -> int:
    if size > MAX_ITEMS:
        raise BudgetExceeded(f"list of {size:,} items from {what}")
    return size


def check_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise BudgetExceeded(f"number of {bits:,} bits from {what}")


def check_count(value: Any, what: str) -> None:
    """Refuse an integer argument that would be a width, a length or a count beyond any budget."""
    if is_int(value) and abs(value) > MAX_CHARS:
        raise BudgetExceeded(f"argument {value:,} to {what}")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def account(value: Any, what: str) -> Any:
    """Check and count a value just built; return it."""
    if isinstance(value, str | bytes | bytearray):
        budget.add(check_chars(len(value), what), what)
    elif isinstance(value, list | tuple | dict | set | frozenset):
        budget.add(check_items(len(value), what), what)
    elif is_int(value):
        check_bits(value.bit_length(), what)
    return value


def text_size(value: Any, limit: int = MAX_CHARS) -> int:
    """Estimate len(str(value)) without building it; stop counting once past `limit`.

    Containers are walked (shared items count each time they appear, as they would print), so a
    list of a thousand references to one long string is as long as its text would be.
    """
    total = 0
    stack = [value]
    nested = False
    while stack and total <= limit:
        item = stack.pop()
        total += _scalar_size(item, nested)
        nested = True
        if isinstance(item, Mapping | Namespace):
            pairs = item.items() if isinstance(item, Mapping) else _namespace_items(item)
            for key, entry in pairs:
                total += 4
                stack.append(key)
                stack.append(entry)
                if total > limit or len(stack) > limit:
                    break
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 * len(item)
            if total <= limit:
                stack.extend(item)
    return total


def _scalar_size(item: Any, nested: bool) -> int:
    if isinstance(item, str):
        return len(item) + (2 if nested and not isinstance(item, Markup) else 0)
    if isinstance(item, bytes | bytearray):
        return 4 * len(item) + 3
    if is_int(item):
        return int(item.bit_length() * 0.302) + 2
    if isinstance(item, Undefined):
        return 0
    if isinstance(item, Mapping | Namespace | list | tuple | set | frozenset):
        return 16
    return 64  # numbers, dates, loop helpers: a short repr


def _namespace_items(namespace: Namespace) -> list[tuple[Any, Any]]:
    attrs: dict[str, Any] = namespace._Namespace__attrs
    return list(attrs.items())
