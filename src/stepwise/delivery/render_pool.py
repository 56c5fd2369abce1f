"""Previews render in processes of their own, so that a hostile draft cannot hold the server's GIL.

A preview renders whatever draft a user has stored, with the budget of `render_budget`. Inside the
budget a render may still run for half a second of CPU, and some of its operations (one large
integer or string operation) hold the interpreter lock for their whole length: in the serving
process that would delay every other request (health checks included) by up to that long. So
previews render in a small pool of child processes (spawned: they share nothing with the server but
what a render needs), and the thread that asked only waits for the answer, without the lock. A
child's address space is bounded (`MAX_CHILD_MEMORY`), and a child that dies or hangs is replaced;
the preview then fails with a `RenderError` that says so. A child keeps none of the server's output
pipes and exits when the server is gone, however it ended (a pool's workers would otherwise wait for
work forever and keep whoever reads the server's output waiting with them).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from stepwise.delivery.render_budget import MAX_WALL_SECONDS, RenderError
from stepwise.delivery.rendering import Rendered, render_draft

PROCESSES = 2  # children rendering previews at once (the machine's other cores serve everything else)
TASKS_PER_CHILD = 500  # a child is replaced after this many previews (memory a render left behind)
MAX_CHILD_MEMORY = 1 << 30  # bytes of address space of one child
PARENT_CHECK_SECONDS = 1.0  # how often a child looks whether the server is still there
WAIT_SECONDS = MAX_WALL_SECONDS + 8.0  # for an answer, start-up of a child included

_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def _prepare_child(parent: int) -> None:
    """In each child: no output pipes of the server, exit with the server, and bounded memory."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    # A render that builds too much fails with MemoryError instead of swapping.
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = MAX_CHILD_MEMORY if hard == resource.RLIM_INFINITY else min(MAX_CHILD_MEMORY, hard)
    if soft == resource.RLIM_INFINITY or soft > limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _render_in_child(subject: str, html: str, text: str | None, context: dict[str, Any]) -> Rendered | str:
    """Render in a child; a failure comes back as its message (exceptions with their own
    constructors do not always cross a process boundary intact)."""
    try:
        return render_draft(subject, html, text, context)
    except RenderError as exc:
        return str(exc)
    except MemoryError:
        return "template exceeds the rendering budget: it needs too much memory"


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                PROCESSES,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_prepare_child,
                initargs=(os.getpid(),),
                max_tasks_per_child=TASKS_PER_CHILD,
            )
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    """Forget a pool whose children died or hang; the next preview starts a new one."""
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def render_isolated(subject: str, html: str, text: str | None, context: dict[str, Any]) -> Rendered:
    """`render_draft` in a child process; raises `RenderError` as it would, and when the child fails."""
    pool = _executor()
    try:
        outcome = pool.submit(_render_in_child, subject, html, text, context).result(timeout=WAIT_SECONDS)
    except FutureTimeout:
        _discard(pool)
        raise RenderError("template exceeds the rendering budget: the render did not finish in time") from None
    except BrokenProcessPool:
        _discard(pool)
        raise RenderError("the rendering process stopped (the template needs too much memory?)") from None
    if isinstance(outcome, str):
        raise RenderError(outcome)
    return outcome
