"""The suppression list (SPEC S31): addresses and `@domain`s that get no email."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, select, update

from stepwise.storage import schema_deliverability as td
from stepwise.storage.dialects import IN_CHUNK, insert_new


@dataclass(frozen=True, slots=True)
class SuppressionRow:
    account_id: int
    address: str  # lower-cased `name@domain`, or `@domain`
    reason: str
    note: str | None
    created_at: int


_COLUMNS = tuple(td.suppressions.c[f] for f in SuppressionRow.__dataclass_fields__)


def put(conn: Connection, row: SuppressionRow, *, replace: bool) -> bool:
    """Add an entry; an existing one keeps its reason unless `replace`. True when it was new."""
    values = {f: getattr(row, f) for f in SuppressionRow.__dataclass_fields__}
    if insert_new(conn, td.suppressions, values):
        return True
    if replace:
        c = td.suppressions.c
        conn.execute(
            update(td.suppressions)
            .where(c.account_id == row.account_id, c.address == row.address)
            .values(reason=row.reason, note=row.note)
        )
    return False


def get(conn: Connection, account_id: int, address: str) -> SuppressionRow | None:
    c = td.suppressions.c
    found = conn.execute(select(*_COLUMNS).where(c.account_id == account_id, c.address == address)).first()
    return None if found is None else SuppressionRow(*found)


def remove(conn: Connection, account_id: int, address: str) -> bool:
    c = td.suppressions.c
    return conn.execute(delete(td.suppressions).where(c.account_id == account_id, c.address == address)).rowcount == 1


def page(
    conn: Connection, account_id: int, *, after: str | None, limit: int, prefix: str | None = None
) -> list[SuppressionRow]:
    """Entries in address order after a cursor; optionally only those starting with `prefix`."""
    c = td.suppressions.c
    stmt = select(*_COLUMNS).where(c.account_id == account_id)
    if after is not None:
        stmt = stmt.where(c.address > after)
    if prefix:
        stmt = stmt.where(c.address >= prefix, c.address < prefix + "\uffff")
    return [SuppressionRow(*r) for r in conn.execute(stmt.order_by(c.address).limit(limit))]


def count(conn: Connection, account_id: int) -> int:
    return int(conn.execute(select(func.count()).where(td.suppressions.c.account_id == account_id)).scalar_one())


def stream(conn: Connection, account_id: int, chunk: int = 1000) -> Iterator[SuppressionRow]:
    """Every entry in address order, read a chunk at a time (the CSV export)."""
    after: str | None = None
    while True:
        rows = page(conn, account_id, after=after, limit=chunk)
        yield from rows
        if len(rows) < chunk:
            return
        after = rows[-1].address


def matching(conn: Connection, pairs: Iterable[tuple[int, str]]) -> set[tuple[int, str]]:
    """Of (account, address or @domain) pairs, those on the list: one query per account and chunk."""
    by_account: dict[int, set[str]] = {}
    for account_id, address in pairs:
        by_account.setdefault(account_id, set()).add(address)
    found: set[tuple[int, str]] = set()
    c = td.suppressions.c
    for account_id, addresses in by_account.items():
        ordered: Sequence[str] = sorted(addresses)
        for start in range(0, len(ordered), IN_CHUNK):
            chunk = ordered[start : start + IN_CHUNK]
            rows = conn.execute(select(c.address).where(c.account_id == account_id, c.address.in_(chunk)))
            found.update((account_id, address) for (address,) in rows)
    return found


def any_for_accounts(conn: Connection, account_ids: Sequence[int]) -> set[int]:
    """The accounts among these that have any entry (delivery skips the lookup for the others)."""
    c = td.suppressions.c
    rows = conn.execute(select(c.account_id).where(c.account_id.in_(list(account_ids))).distinct())
    return {int(a) for (a,) in rows}
