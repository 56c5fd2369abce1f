"""Identifiers made by the application: time-ordered, unguessable hex ids."""

from __future__ import annotations

import secrets
import time


def new_id() -> str:
    """Return a 32-hex-digit id that sorts by creation time (48-bit ms clock + 80 random bits)."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(10)}"
