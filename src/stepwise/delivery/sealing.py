"""Authenticated encryption of small secrets at rest.

Stepwise keeps no secrets in its database in the clear: DKIM private keys and provider signing
keys are stored sealed with the server's secret key. Each use of a sealed value has its own
purpose string, from which (with the secret) HKDF-SHA256 derives a separate AES-256-GCM key, so a
value sealed for one purpose cannot be unsealed for another. The sealed form is
"v1." + URL-safe base64 of (12-byte random nonce + ciphertext + 16-byte tag), plain ASCII.
"""

from __future__ import annotations

import base64
import binascii
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1."
_NONCE_BYTES = 12
_TAG_BYTES = 16
_SALT = b"stepwise/sealing/v1"
_ASSOCIATED = b"stepwise sealed v1"  # binds the ciphertext to the format version
_BASE64 = re.compile(r"[A-Za-z0-9_-]*={0,2}\Z")


class Unsealable(ValueError):
    """The sealed value is malformed, was altered, or was sealed with another secret or purpose."""


def _key(secret: str, purpose: str) -> bytes:
    """Derive the 256-bit AES key for (secret, purpose) with HKDF-SHA256."""
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=purpose.encode("utf-8", "surrogatepass"))
    return kdf.derive(secret.encode("utf-8", "surrogatepass"))


def seal(secret: str, purpose: str, data: bytes) -> str:
    """Encrypt and authenticate `data` under a key derived from (`secret`, `purpose`).

    Raises ValueError if the secret or the purpose is empty. Sealing the same data twice gives
    different results (the nonce is random).
    """
    if not secret:
        raise ValueError("cannot seal with an empty secret")
    if not purpose:
        raise ValueError("cannot seal without a purpose")
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = AESGCM(_key(secret, purpose)).encrypt(nonce, data, _ASSOCIATED)
    return _PREFIX + base64.urlsafe_b64encode(nonce + ciphertext).decode("ascii")


def unseal(secret: str, purpose: str, sealed: str) -> bytes:
    """Return the data `seal(secret, purpose, data)` sealed.

    Raises Unsealable, and no other exception, if `sealed` is malformed or altered, or was sealed
    with another secret or purpose.
    """
    if not (isinstance(secret, str) and isinstance(purpose, str) and secret and purpose):
        raise Unsealable("a secret and a purpose are needed to unseal")
    raw = _decode(sealed)
    try:
        return AESGCM(_key(secret, purpose)).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _ASSOCIATED)
    except InvalidTag:
        raise Unsealable("sealed value was altered or sealed with another secret or purpose") from None


def _decode(sealed: str) -> bytes:
    """Return the nonce and ciphertext of a sealed value, accepting only the canonical encoding."""
    if not isinstance(sealed, str) or not sealed.startswith(_PREFIX) or not sealed.isascii():
        raise Unsealable("not a sealed value (expected 'v1.' and URL-safe base64)")
    text = sealed[len(_PREFIX) :]
    if not _BASE64.match(text):
        raise Unsealable("sealed value is not URL-safe base64")
    try:
        raw = base64.urlsafe_b64decode(text)
    except (binascii.Error, ValueError):
        raise Unsealable("sealed value is not valid base64") from None
    # Only the canonical encoding counts, so that every change to the text is detected.
    if base64.urlsafe_b64encode(raw).decode("ascii") != text:
        raise Unsealable("sealed value is not canonical base64")
    if len(raw) < _NONCE_BYTES + _TAG_BYTES:
        raise Unsealable("sealed value is too short")
    return raw
