"""Opaque keyset-pagination cursors."""

from __future__ import annotations

import base64
import binascii

from stepwise.errors import AppError

MAX_LIMIT = 1000


class BadCursor(AppError):
    status = 400
    code = "bad_cursor"


def encode(value: int | str) -> str:
    return base64.urlsafe_b64encode(f"{type(value).__name__[0]}:{value}".encode()).rstrip(b"=").decode()


def decode_int(cursor: str | None) -> int:
    if not cursor:
        return 0
    kind, value = _decode(cursor)
    if kind != "i" or not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise BadCursor("the cursor is not valid here")
    return int(value)


def decode_str(cursor: str | None) -> str | None:
    if not cursor:
        return None
    kind, value = _decode(cursor)
    if kind != "s":
        raise BadCursor("the cursor is not valid here")
    return value


def _decode(cursor: str) -> tuple[str, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor("the cursor is malformed") from exc
    kind, sep, value = text.partition(":")
    if not sep or "\0" in value:
        raise BadCursor("the cursor is malformed")
    return kind, value
