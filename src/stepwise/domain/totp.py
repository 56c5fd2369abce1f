"""Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): SHA-1, 6 digits, 30-second steps."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP = 30
DIGITS = 6


def new_secret() -> str:
    """Return a fresh 160-bit secret in unpadded base32 (what authenticator apps take)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    cleaned = secret.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(secret: str, counter: int) -> str:
    """RFC 4226: the code of one counter value."""
    digest = hmac.new(_key(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**DIGITS).zfill(DIGITS)


def totp(secret: str, unix_seconds: float) -> str:
    """RFC 6238: the code at a moment."""
    return hotp(secret, int(unix_seconds) // STEP)


def verify(secret: str, code: str, unix_seconds: float, *, window: int = 1) -> bool:
    """Accept the code of the current step or of `window` steps either side (clock drift)."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return False
    step = int(unix_seconds) // STEP
    return any(hmac.compare_digest(hotp(secret, step + d), code) for d in range(-window, window + 1))


def provisioning_uri(secret: str, account: str, issuer: str = "Stepwise") -> str:
    """The otpauth:// URI an authenticator app reads (usually as a QR code)."""
    label = quote(f"{issuer}:{account}")
    return f"otpauth://totp/{label}?" + urlencode(
        {"secret": secret, "issuer": issuer, "digits": DIGITS, "period": STEP}
    )
