"""Conversions between Python values and their stored forms (microseconds, JSON text)."""

from __future__ import annotations

from typing import Any

import orjson

from stepwise.domain.instants import EPOCH, from_us, opt_from_us, opt_to_us, to_us

__all__ = ["EPOCH", "decoded_object", "dumps", "from_us", "loads", "opt_from_us", "opt_to_us", "to_us"]


def dumps(value: Any) -> str:
    """Serialise JSON compactly."""
    return orjson.dumps(value).decode()


def loads(text: str | bytes) -> Any:
    """Parse JSON text."""
    return orjson.loads(text)


def decoded_object(text: str | bytes) -> tuple[dict[str, Any], str | None]:
    """Parse a stored JSON object; on failure return ({}, why) so the caller can set the row aside."""
    try:
        value = loads(text)
    except ValueError as exc:
        return {}, f"the stored payload is not JSON: {exc}"
    if not isinstance(value, dict):
        return {}, f"the stored payload is not a JSON object but {type(value).__name__}"
    return value, None
