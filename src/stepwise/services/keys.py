"""Named, scoped API keys of an account (SPEC S34): list, create (the secret shown once), revoke."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from stepwise.domain.access import SCOPES
from stepwise.errors import Conflict, NotFound, Unprocessable
from stepwise.services import audit
from stepwise.services.accounts import KEY_PREFIX, PREFIX_LENGTH, hash_key
from stepwise.storage import accounts as account_store
from stepwise.storage import sessions as session_store
from stepwise.storage.accounts import KeyRow
from stepwise.storage.codec import opt_from_us, to_us
from stepwise.storage.database import Database

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")


# An API key as listed: never its secret.
class KeyOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    scope: str
    prefix: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


# A new key: the secret is in `key`, shown this once.
class NewKeyOut(KeyOut):
    key: str


# The keys of the account, oldest first (revoked ones too).
class KeyList(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[KeyOut]


def _view(row: KeyRow) -> KeyOut:
    created = opt_from_us(row.created_at)
    last, revoked = opt_from_us(row.last_used_at), opt_from_us(row.revoked_at)
    return KeyOut(
        id=row.id,
        name=row.name,
        scope=row.scope,
        prefix=row.prefix,
        created_at=created.isoformat() if created else "",
        last_used_at=last.isoformat() if last else None,
        revoked_at=revoked.isoformat() if revoked else None,
    )


def list_keys(db: Database, account_id: int) -> KeyList:
    """Every key of the account."""
    with db.read() as conn:
        return KeyList(items=[_view(row) for row in account_store.keys_of(conn, account_id)])


def create_key(db: Database, account_id: int, name: str, scope: str, now: datetime) -> NewKeyOut:
    """Make a key; 422 for a bad name or scope."""
    if not _NAME.match(name):
        raise Unprocessable.one("$.name", "a key's name has 1 to 64 letters, digits, spaces, '.', '_' or '-'")
    if scope not in SCOPES:
        raise Unprocessable.one("$.scope", f"the scope is one of {', '.join(SCOPES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with db.write() as conn:
        key_id = account_store.add_key(
            conn, account_id, hash_key(key), key[:PREFIX_LENGTH], to_us(now), name=name, scope=scope
        )
        audit.record(conn, account_id, "key", name, "create", None, {"id": key_id, "name": name, "scope": scope})
        row = account_store.key_of(conn, account_id, key_id)
    assert row is not None
    return NewKeyOut(**_view(row).model_dump(), key=key)


def revoke(db: Database, account_id: int, key_id: int, now: datetime, *, calling: int | None = None) -> KeyOut:
    """Revoke a live key of the account (404 otherwise); a key cannot revoke itself (409 `key_in_use`)."""
    if calling == key_id:
        raise Conflict(
            "a key cannot revoke itself; use another key, the UI or `stepwise accounts rotate-key`", code="key_in_use"
        )
    with db.write() as conn:
        row = account_store.key_of(conn, account_id, key_id)
        if row is None or not account_store.revoke_key(conn, account_id, key_id, to_us(now)):
            raise NotFound(f"no live API key {key_id}", code="key_not_found")
        session_store.remove_for_key(conn, key_id)
        before = {"id": row.id, "name": row.name, "scope": row.scope}
        audit.record(conn, account_id, "key", row.name, "revoke", before, None)
        revoked = account_store.key_of(conn, account_id, key_id)
    assert revoked is not None
    return _view(revoked)
