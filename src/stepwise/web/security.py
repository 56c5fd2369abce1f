"""Cookies and CSRF tokens of the web UI.

The session cookie holds a random session id; the session itself lives on the server (see
services/sessions.py). `CookieSigner` signs the small payloads the browser may carry between two
requests (flash messages) with a key derived from the instance secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from typing import Any

from stepwise.services.sessions import ABSOLUTE

SESSION_COOKIE = "stepwise_session"
LOGIN_CSRF_COOKIE = "stepwise_login_csrf"
FLASH_COOKIE = "stepwise_flash"
SESSION_SECONDS = int(ABSOLUTE.total_seconds())  # the cookie's Max-Age; the server ends sessions earlier when idle
_TAG_BYTES = 32
_MAX_COOKIE = 4000


class CookieSigner:
    """Sign and verify small JSON payloads, one derived key per purpose."""

    def __init__(self, secret: str) -> None:
        self._root = secret.encode()

    def _key(self, purpose: str) -> bytes:
        return hmac.new(self._root, f"stepwise-ui:{purpose}".encode(), hashlib.sha256).digest()

    def sign(self, purpose: str, payload: Any) -> str:
        """Return `body.tag`, both URL-safe base64."""
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        tag = hmac.new(self._key(purpose), body, hashlib.sha256).digest()[:_TAG_BYTES]
        return f"{_b64(body)}.{_b64(tag)}"

    def verify(self, purpose: str, token: str | None) -> Any:
        """Return the payload, or None when the token is missing, malformed or forged."""
        if not token or len(token) > _MAX_COOKIE or token.count(".") != 1:
            return None
        body_text, tag_text = token.split(".")
        try:
            body, tag = _unb64(body_text), _unb64(tag_text)
        except (binascii.Error, ValueError):
            return None
        expected = hmac.new(self._key(purpose), body, hashlib.sha256).digest()[:_TAG_BYTES]
        if not hmac.compare_digest(tag, expected):
            return None
        try:
            return json.loads(body)
        except ValueError:
            return None


def new_token() -> str:
    """Return a fresh random token for CSRF checks."""
    return secrets.token_urlsafe(32)


def same_token(given: str | None, expected: str | None) -> bool:
    """Compare two tokens in constant time; missing tokens never match."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:
        raise ValueError("not canonical base64")
    return raw
