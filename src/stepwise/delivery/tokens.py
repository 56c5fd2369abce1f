"""Signed, opaque tokens for tracking, unsubscribe and confirmation links (SPEC §6.3).

A token packs (purpose, account, subject, number) and an HMAC-SHA256 tag over them with a key
derived per purpose. Verification is constant-time; a token of one purpose, account or issue is
useless for another.

Layout (then URL-safe base64 without padding):

    byte 0      high nibble: layout (2: the subject is 32 hex digits packed into 16 bytes,
                3: the subject is UTF-8 text); low nibble: purpose
    varint      account id
    varint      number (link index, form id, ...)
    rest        subject
    16 bytes    tag

A click token for an issue is 35-38 bytes, about 50 characters in a URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal

Purpose = Literal["click", "open", "unsubscribe", "confirm"]
_PURPOSES: dict[str, int] = {"click": 1, "open": 2, "unsubscribe": 3, "confirm": 4}
_HEX_SUBJECT = 2
_TEXT_SUBJECT = 3
_TAG_BYTES = 16
_MAX_TOKEN = 400  # characters; anything longer is not ours
_HEX32 = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class TokenData:
    """What a verified token says."""

    purpose: str
    account_id: int
    subject: str  # an issue id (32 hex digits) or another identifier
    number: int


def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("token numbers are unsigned")
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _read_varint(raw: bytes, at: int) -> tuple[int, int]:
    """Return (value, next offset); raise ValueError on a truncated or oversized varint."""
    value = shift = 0
    while True:
        if at >= len(raw) or shift > 63:
            raise ValueError("bad varint")
        byte = raw[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


class TokenSigner:
    """Signs and verifies tokens with the instance secret."""

    def __init__(self, secret: str | bytes) -> None:
        raw = secret.encode() if isinstance(secret, str) else secret
        keys = {p: hmac.new(raw, f"stepwise-token:{p}".encode(), hashlib.sha256).digest() for p in _PURPOSES}
        # Keyed once; each token copies the keyed state (an email signs several tokens).
        self._macs = {p: hmac.new(key, digestmod=hashlib.sha256) for p, key in keys.items()}

    def _tag(self, purpose: str, body: bytes) -> bytes:
        mac = self._macs[purpose].copy()
        mac.update(body)
        return mac.digest()[:_TAG_BYTES]

    def sign(self, purpose: Purpose, account_id: int, subject: str, number: int = 0) -> str:
        """Return a URL-safe token."""
        if _HEX32.fullmatch(subject):
            layout, packed = _HEX_SUBJECT, bytes.fromhex(subject)
        else:
            layout, packed = _TEXT_SUBJECT, subject.encode()
        body = bytes([layout << 4 | _PURPOSES[purpose]]) + _varint(account_id) + _varint(number) + packed
        return base64.urlsafe_b64encode(body + self._tag(purpose, body)).rstrip(b"=").decode()

    def verify(self, purpose: Purpose, token: str) -> TokenData | None:
        """Return the token's contents, or None when it is malformed, forged or of another purpose."""
        if not token or len(token) > _MAX_TOKEN or not token.isascii():
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        # Only the canonical spelling is accepted, so one token has exactly one text form.
        if len(raw) < 3 + _TAG_BYTES or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
            return None
        body, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
        if not hmac.compare_digest(tag, self._tag(purpose, body)):
            return None
        layout, code = body[0] >> 4, body[0] & 0x0F
        if code != _PURPOSES[purpose]:
            return None
        try:
            account_id, at = _read_varint(body, 1)
            number, at = _read_varint(body, at)
        except ValueError:
            return None
        packed = body[at:]
        if layout == _HEX_SUBJECT and len(packed) == 16:
            subject = packed.hex()
        elif layout == _TEXT_SUBJECT:
            try:
                subject = packed.decode()
            except UnicodeDecodeError:
                return None
        else:
            return None
        return TokenData(purpose=purpose, account_id=account_id, subject=subject, number=number)
