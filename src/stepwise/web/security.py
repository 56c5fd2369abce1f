"""Signed session cookies and CSRF tokens for the web UI.

A session is a small JSON payload (account id, API-key hash, CSRF token, expiry) with an HMAC-SHA256
tag made with a key derived from the instance secret. It is not encrypted and holds no secret that
would open the API: the key hash cannot be turned back into the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

SESSION_COOKIE = "stepwise_session"
LOGIN_CSRF_COOKIE = "stepwise_login_csrf"
FLASH_COOKIE = "stepwise_flash"
SESSION_SECONDS = 12 * 3600
_TAG_BYTES = 32
_MAX_COOKIE = 4000


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: whose account, which key it signed in with, its CSRF token, until when."""

    account_id: int
    key_hash: str
    csrf: str
    expires: int


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

    def session_cookie(self, session: Session) -> str:
        """Encode a session as a cookie value."""
        return self.sign(
            "session", {"a": session.account_id, "h": session.key_hash, "c": session.csrf, "e": session.expires}
        )

    def read_session(self, cookie: str | None, now: int) -> Session | None:
        """Return the session of a cookie if it is genuine and not expired."""
        data = self.verify("session", cookie)
        if not isinstance(data, dict):
            return None
        account_id, key_hash, csrf, expires = data.get("a"), data.get("h"), data.get("c"), data.get("e")
        if not (isinstance(account_id, int) and isinstance(key_hash, str) and isinstance(csrf, str)):
            return None
        if not isinstance(expires, int) or expires <= now:
            return None
        return Session(account_id, key_hash, csrf, expires)


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
