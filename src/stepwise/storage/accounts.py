"""Accounts, API keys and instance settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from stepwise.storage import schema as t


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    name: str
    timezone: str


def create(conn: Connection, name: str, timezone: str, now_us: int) -> int:
    """Insert an account and return its id."""
    result = conn.execute(insert(t.accounts).values(name=name, timezone=timezone, created_at=now_us))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def by_name(conn: Connection, name: str) -> AccountRow | None:
    row = conn.execute(
        select(t.accounts.c.id, t.accounts.c.name, t.accounts.c.timezone).where(t.accounts.c.name == name)
    ).first()
    return AccountRow(*row) if row else None


def by_id(conn: Connection, account_id: int) -> AccountRow | None:
    row = conn.execute(
        select(t.accounts.c.id, t.accounts.c.name, t.accounts.c.timezone).where(t.accounts.c.id == account_id)
    ).first()
    return AccountRow(*row) if row else None


def count(conn: Connection) -> int:
    return len(conn.execute(select(t.accounts.c.id).limit(2)).all())


def add_key(conn: Connection, account_id: int, key_hash: str, prefix: str, now_us: int) -> None:
    conn.execute(insert(t.api_keys).values(account_id=account_id, key_hash=key_hash, prefix=prefix, created_at=now_us))


def by_key_hash(conn: Connection, key_hash: str) -> AccountRow | None:
    """Return the account owning an unrevoked key with this hash."""
    row = conn.execute(
        select(t.accounts.c.id, t.accounts.c.name, t.accounts.c.timezone)
        .join(t.api_keys, t.api_keys.c.account_id == t.accounts.c.id)
        .where(t.api_keys.c.key_hash == key_hash, t.api_keys.c.revoked_at.is_(None))
    ).first()
    return AccountRow(*row) if row else None


def get_setting(conn: Connection, name: str) -> str | None:
    row = conn.execute(select(t.settings.c.value).where(t.settings.c.name == name)).first()
    return None if row is None else str(row[0])


def set_setting_once(conn: Connection, name: str, value: str) -> str:
    """Store a setting unless one exists; return the stored value (first writer wins)."""
    from stepwise.storage.dialects import insert_ignore

    insert_ignore(conn, t.settings, [{"name": name, "value": value}])
    stored = get_setting(conn, name)
    assert stored is not None
    return stored
