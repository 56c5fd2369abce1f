"""Waiting for the worker threads of a live server (bounded, never a fixed sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(probe: Callable[[], T], *, timeout: float = 5.0, interval: float = 0.02) -> T:
    """Call probe until it returns a truthy value; fail after timeout with the last value."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout}s (last value: {value!r})")
        time.sleep(interval)
        value = probe()
    return value
