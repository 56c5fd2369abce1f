"""Identifiers made by the application: unique, time-ordered hex ids."""

from __future__ import annotations

import itertools
import os
import secrets
import time

_prefix = secrets.token_hex(5)
_counter = itertools.count()


def _after_fork() -> None:
    """A forked child must not share its parent's sequence: it draws its own random part."""
    global _prefix, _counter
    _prefix, _counter = secrets.token_hex(5), itertools.count()


os.register_at_fork(after_in_child=_after_fork)


def new_id() -> str:
    """Return a 32-hex-digit id: 48-bit ms clock, 40 random bits per process, 40-bit counter.

    Unique across processes and machines (the random part) and within a process (the counter, whose
    next() is atomic under the interpreter lock, so threads need no lock of their own), and cheap
    enough for the hot path (no system call per id). Ids are not secrets: links that name an issue
    are signed tokens.
    """
    count = next(_counter)
    return f"{int(time.time() * 1000):012x}{_prefix}{count & 0xFFFFFFFFFF:010x}"
