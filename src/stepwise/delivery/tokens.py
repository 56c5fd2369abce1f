"""Signed, opaque tokens for tracking, unsubscribe and confirmation links (SPEC §6.3).

A token packs (purpose, account, subject id, number) and an HMAC-SHA256 tag over them with a key
derived per purpose. Verification is constant-time; a token of one purpose, account or issue is
useless for another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from typing import Literal

Purpose = Literal["click", "open", "unsubscribe", "confirm"]
_PURPOSES: dict[str, int] = {"click": 1, "open": 2, "unsubscribe": 3, "confirm": 4}
_VERSION = 1
_HEADER = struct.Struct(">BBQI")  # version, purpose, account id, number (link index, form id...)
_TAG_BYTES = 16


@dataclass(frozen=True, slots=True)
class TokenData:
    purpose: str
    account_id: int
    subject: str  # an issue id (32 hex digits) or another identifier
    number: int


class TokenSigner:
    """Signs and verifies tokens with the instance secret."""

    def __init__(self, secret: str | bytes) -> None:
        raw = secret.encode() if isinstance(secret, str) else secret
        self._keys = {p: hmac.new(raw, f"stepwise-token:{p}".encode(), hashlib.sha256).digest() for p in _PURPOSES}

    def sign(self, purpose: Purpose, account_id: int, subject: str, number: int = 0) -> str:
        """Return a URL-safe token."""
        body = _HEADER.pack(_VERSION, _PURPOSES[purpose], account_id, number) + subject.encode()
        tag = hmac.new(self._keys[purpose], body, hashlib.sha256).digest()[:_TAG_BYTES]
        return base64.urlsafe_b64encode(body + tag).rstrip(b"=").decode()

    def verify(self, purpose: Purpose, token: str) -> TokenData | None:
        """Return the token's contents, or None when it is malformed, forged or of another purpose."""
        if not token or len(token) > 400:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) < _HEADER.size + _TAG_BYTES or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
            return None
        body, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
        expected = hmac.new(self._keys[purpose], body, hashlib.sha256).digest()[:_TAG_BYTES]
        if not hmac.compare_digest(tag, expected):
            return None
        version, code, account_id, number = _HEADER.unpack(body[: _HEADER.size])
        if version != _VERSION or code != _PURPOSES[purpose]:
            return None
        try:
            subject = body[_HEADER.size :].decode()
        except UnicodeDecodeError:
            return None
        return TokenData(purpose=purpose, account_id=account_id, subject=subject, number=number)
