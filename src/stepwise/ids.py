"""Identifiers made by the application: unique, time-ordered hex ids."""

from __future__ import annotations

import itertools
import os
import secrets
import threading
import time

_lock = threading.Lock()
_state = {"pid": -1, "prefix": "", "counter": itertools.count()}


def new_id() -> str:
    """Return a 32-hex-digit id: 48-bit ms clock, 40 random bits per process, 40-bit counter.

    Unique across processes and machines (the random part) and within a process (the counter), and
    cheap enough for the hot path (no system call per id). Ids are not secrets: links that name an
    issue are signed tokens.
    """
    with _lock:
        if _state["pid"] != os.getpid():  # a forked child must not share its parent's sequence
            _state.update(pid=os.getpid(), prefix=secrets.token_hex(5), counter=itertools.count())
        count = next(_state["counter"])  # type: ignore[call-overload]
        prefix = _state["prefix"]
    return f"{int(time.time() * 1000):012x}{prefix}{count & 0xFFFFFFFFFF:010x}"
