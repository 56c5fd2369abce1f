"""Accounts and API keys; the instance secret."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from stepwise.errors import Conflict, Unprocessable
from stepwise.storage import accounts as account_store
from stepwise.storage.accounts import AccountRow
from stepwise.storage.codec import to_us
from stepwise.storage.database import Database

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KEY_PREFIX = "sw_"


def hash_key(key: str) -> str:
    """API keys are random 256-bit secrets, so one SHA-256 is the right hash (no stretching needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_account(db: Database, name: str, timezone: str, now: datetime) -> tuple[AccountRow, str]:
    """Create an account with one API key; return it and the key (shown once)."""
    if not _NAME.match(name):
        raise Unprocessable.one("$.name", "account names are slugs: lowercase letters, digits, '_' and '-'")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with db.write() as conn:
        if account_store.by_name(conn, name) is not None:
            raise Conflict(f"account {name!r} already exists", code="account_exists")
        account_id = account_store.create(conn, name, timezone, to_us(now))
        account_store.add_key(conn, account_id, hash_key(key), key[:10], to_us(now))
    return AccountRow(account_id, name, timezone), key


def new_key(db: Database, account_name: str, now: datetime) -> str:
    """Add another API key to an account."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with db.write() as conn:
        account = account_store.by_name(conn, account_name)
        if account is None:
            raise Unprocessable.one("$.account", f"no account {account_name!r}")
        account_store.add_key(conn, account.id, hash_key(key), key[:10], to_us(now))
    return key


def authenticate(db: Database, key: str) -> AccountRow | None:
    """Return the account of an API key, or None."""
    if not key or len(key) > 200:
        return None
    with db.read() as conn:
        return account_store.by_key_hash(conn, hash_key(key))


def account_of_key_hash(db: Database, key_hash: str) -> AccountRow | None:
    """Return the account whose live API key has this hash (UI sessions keep only the hash)."""
    with db.read() as conn:
        return account_store.by_key_hash(conn, key_hash)


def ensure_default_account(db: Database, timezone: str, now: datetime) -> str | None:
    """Create the `default` account on first start; return its key then, else None."""
    with db.read() as conn:
        if account_store.count(conn) > 0:
            return None
    try:
        _, key = create_account(db, "default", timezone, now)
    except Conflict:
        return None
    return key


def instance_secret(db: Database, configured: str | None) -> str:
    """Return the token-signing secret: the configured one, else one generated once and stored."""
    if configured:
        return configured
    with db.write() as conn:
        return account_store.set_setting_once(conn, "secret_key", secrets.token_urlsafe(48))
