"""Accounts, API keys and instance settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

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
    found = key_by_hash(conn, key_hash)
    return found[0] if found else None


def key_by_hash(conn: Connection, key_hash: str) -> tuple[AccountRow, int] | None:
    """Return the account and the key id of an unrevoked key with this hash."""
    row = conn.execute(
        select(t.accounts.c.id, t.accounts.c.name, t.accounts.c.timezone, t.api_keys.c.id)
        .join(t.api_keys, t.api_keys.c.account_id == t.accounts.c.id)
        .where(t.api_keys.c.key_hash == key_hash, t.api_keys.c.revoked_at.is_(None))
    ).first()
    return (AccountRow(row[0], row[1], row[2]), int(row[3])) if row else None


def revoke_keys(conn: Connection, account_id: int, now_us: int) -> int:
    """Revoke every live key of an account; return how many there were."""
    k = t.api_keys
    result = conn.execute(
        update(k).where(k.c.account_id == account_id, k.c.revoked_at.is_(None)).values(revoked_at=now_us)
    )
    return int(result.rowcount)


def get_setting(conn: Connection, name: str) -> str | None:
    row = conn.execute(select(t.settings.c.value).where(t.settings.c.name == name)).first()
    return None if row is None else str(row[0])


def delete_setting(conn: Connection, name: str) -> None:
    conn.execute(delete(t.settings).where(t.settings.c.name == name))
