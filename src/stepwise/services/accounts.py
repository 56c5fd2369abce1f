"""Accounts and API keys: creating, checking (with the failure throttle), rotating."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from stepwise.errors import Conflict, NotFound, Unprocessable
from stepwise.services.throttle import Bucket, Throttle, TooManyFailures
from stepwise.storage import accounts as account_store
from stepwise.storage import sessions as session_store
from stepwise.storage.accounts import AccountRow as AccountRow  # noqa: PLC0414 - re-exported to the HTTP layers
from stepwise.storage.codec import to_us
from stepwise.storage.database import Database

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KEY_PREFIX = "sw_"
PREFIX_LENGTH = 10  # characters of a key kept in clear (api_keys.prefix) to tell keys apart
USE_EVERY_US = 60_000_000  # a key's last use is written at most this often (microseconds)


@dataclass(frozen=True, slots=True)
class KeyMatch:
    """The account of a valid API key, and which key it was."""

    account: AccountRow
    key_id: int
    name: str = "default"
    scope: str = "write"
    last_used_at: int | None = None  # microseconds, as read with the key

    def use_due(self, now: datetime) -> bool:
        """Whether this use should be written as the key's last (at most once a minute per key)."""
        return self.last_used_at is None or to_us(now) - self.last_used_at >= USE_EVERY_US


@dataclass(frozen=True, slots=True)
class RotatedKey:
    """A new key (shown once), how many old keys were revoked and how many UI sessions were ended."""

    account: AccountRow
    key: str
    revoked: int
    sessions_ended: int


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
        account_store.add_key(conn, account_id, hash_key(key), key[:PREFIX_LENGTH], to_us(now))
    return AccountRow(account_id, name, timezone), key


def new_key(db: Database, account_name: str, now: datetime) -> str:
    """Add another API key to an account."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with db.write() as conn:
        account = account_store.by_name(conn, account_name)
        if account is None:
            raise Unprocessable.one("$.account", f"no account {account_name!r}")
        account_store.add_key(conn, account.id, hash_key(key), key[:PREFIX_LENGTH], to_us(now))
    return key


def rotate_key(db: Database, account_name: str, now: datetime) -> RotatedKey:
    """Replace an account's API keys with a new one and end its UI sessions, in one transaction."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with db.write() as conn:
        account = account_store.by_name(conn, account_name)
        if account is None:
            raise NotFound(f"no account {account_name!r}", code="account_not_found")
        revoked = account_store.revoke_keys(conn, account.id, to_us(now))
        account_store.add_key(conn, account.id, hash_key(key), key[:PREFIX_LENGTH], to_us(now))
        ended = session_store.remove_for_account(conn, account.id)
    return RotatedKey(account, key, revoked, ended)


def authenticate(db: Database, key: str) -> AccountRow | None:
    """Return the account of an API key, or None."""
    found = match_key(db, key)
    return found.account if found else None


def match_key(db: Database, key: str) -> KeyMatch | None:
    """Return the account and key id of a live API key, or None."""
    if not key or len(key) > 200:
        return None
    with db.read() as conn:
        found = account_store.key_by_hash(conn, hash_key(key))
        if found is None:
            return None
        name, scope, last_used = account_store.key_details(conn, found[1])
    return KeyMatch(found[0], found[1], name, scope, last_used)


def note_use(db: Database, key_id: int, now: datetime) -> None:
    """Write a key's `last_used_at` (callers write it only when `KeyMatch.use_due`)."""
    with db.write() as conn:
        account_store.touch_key(conn, key_id, to_us(now))


def key_buckets(client: str, key: str) -> list[Bucket]:
    """The throttle buckets an attempt counts against: the client and the key's prefix (its account)."""
    buckets: list[Bucket] = [("client", client)]
    if key.startswith(KEY_PREFIX) and len(key) > PREFIX_LENGTH:
        buckets.append(("key", key[:PREFIX_LENGTH]))
    return buckets


def check_key(db: Database, throttle: Throttle, client: str, key: str) -> KeyMatch | None:
    """Check an API key unless its client or prefix failed too often (raises TooManyFailures then)."""
    buckets = key_buckets(client, key)
    wait = throttle.retry_after(buckets)
    if wait:
        raise TooManyFailures(wait)
    found = match_key(db, key)
    if found is None:
        throttle.failed(buckets)
    else:
        throttle.succeeded(buckets)
    return found


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


def account_named(db: Database, name: str) -> AccountRow | None:
    """Return the account with this name, if there is one."""
    with db.read() as conn:
        return account_store.by_name(conn, name)
