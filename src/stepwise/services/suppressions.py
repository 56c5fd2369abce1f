"""The suppression list (SPEC S31): addresses and whole domains that get no email, with reasons."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from stepwise.domain.emails import InvalidEmail, parse_email
from stepwise.domain.instants import iso
from stepwise.domain.problems import Problem
from stepwise.errors import NotFound, Unprocessable
from stepwise.services import audit, cursors
from stepwise.services.csv_export import stream_csv
from stepwise.services.csvreader import CsvReader, FileProblem
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage import suppressions as store
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.suppressions import SuppressionRow

SuppressionReason = Literal["manual", "bounce", "complaint", "unsubscribe"]
REASONS: tuple[SuppressionReason, ...] = get_args(SuppressionReason)
MAX_IMPORT_ROWS = 100_000
MAX_NOTE = 500


# One entry of the suppression list: an address, or a whole domain written "@example.com".
class Suppression(BaseModel):
    model_config = ConfigDict(frozen=True)

    address: str
    reason: SuppressionReason
    note: str | None
    created_at: str


# A page of the suppression list, in address order, and the cursor of the next one.
class SuppressionPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[Suppression]
    total: int
    next_cursor: str | None = None


# What an import did.
class SuppressionImport(BaseModel):
    model_config = ConfigDict(frozen=True)

    added: int
    updated: int


def normalise(raw: str) -> str:
    """The stored form of an address (`name@domain`, lower-cased) or domain (`@domain`); ValueError if neither."""
    text = raw.strip()
    if text.startswith("'@"):
        text = text[1:]  # a domain as our CSV export wrote it (neutralised for spreadsheets)
    if text.startswith("@"):
        try:
            return "@" + parse_email("x" + text).key.partition("@")[2]
        except InvalidEmail as exc:
            raise ValueError(f"{raw[:80]!r} is not a domain such as @example.com") from exc
    try:
        return parse_email(text).key
    except InvalidEmail as exc:
        raise ValueError(
            f"{raw[:80]!r} is not an address (name@example.com) or a domain (@example.com): {exc}"
        ) from exc


def keys_of(email_key: str) -> tuple[str, str]:
    """The two entries that suppress an address: itself and its domain."""
    return email_key, "@" + email_key.rpartition("@")[2]


def view(row: SuppressionRow) -> Suppression:
    return Suppression(
        address=row.address,
        reason=row.reason,  # stored values are REASONS; the model checks
        note=row.note,
        created_at=iso(from_us(row.created_at)),
    )


def _address(raw: str, path: str = "$.address") -> str:
    try:
        return normalise(raw)
    except ValueError as exc:
        raise Unprocessable.one(path, str(exc)) from exc


def put(
    db: Database, account_id: int, raw: str, reason: SuppressionReason, note: str | None, now: datetime
) -> tuple[Suppression, bool]:
    """Add (or change the reason of) an entry; True when it was new."""
    address = _address(raw)
    row = SuppressionRow(account_id, address, reason, (note or None) and note[:MAX_NOTE], to_us(now))
    with db.write() as conn:
        old = store.get(conn, account_id, address)
        created = store.put(conn, row, replace=True)
        stored = store.get(conn, account_id, address)
        before = {"reason": old.reason, "note": old.note} if old else None
        audit.record(conn, account_id, "suppression", address, "add", before, {"reason": reason, "note": row.note})
    assert stored is not None
    return view(stored), created


def add_in(conn: Connection, account_id: int, email_key: str, reason: SuppressionReason, now_us: int) -> None:
    """Suppress an address as part of another change (a bounce, a complaint); an existing entry stays."""
    store.put(conn, SuppressionRow(account_id, email_key, reason, None, now_us), replace=False)


def get(db: Database, account_id: int, raw: str) -> Suppression:
    with db.read() as conn:
        row = store.get(conn, account_id, _address(raw))
    if row is None:
        raise NotFound(f"{raw[:80]!r} is not on the suppression list")
    return view(row)


def remove(db: Database, account_id: int, raw: str) -> None:
    address = _address(raw)
    with db.write() as conn:
        if not store.remove(conn, account_id, address):
            raise NotFound(f"{raw[:80]!r} is not on the suppression list")
        audit.record(conn, account_id, "suppression", address, "remove")


def page(
    db: Database, account_id: int, *, cursor: str | None, limit: int, search: str | None = None
) -> SuppressionPage:
    """A page in address order; `search` keeps the entries that start with it."""
    after = cursors.decode_str(cursor)
    with db.read() as conn:
        rows = store.page(conn, account_id, after=after, limit=limit + 1, prefix=(search or "").strip().lower())
        total = store.count(conn, account_id)
    more = len(rows) > limit
    rows = rows[:limit]
    return SuppressionPage(
        items=[view(r) for r in rows],
        total=total,
        next_cursor=cursors.encode(rows[-1].address) if more and rows else None,
    )


def suppressed_among(conn: Connection, recipients: Sequence[tuple[int, str]]) -> frozenset[tuple[int, str]]:
    """Of (account, address key) recipients, the entries on the list that name them or their domains.

    One indexed query tells which of the batch's accounts have a list at all; only those are looked up.
    """
    accounts = store.any_for_accounts(conn, sorted({account for account, _ in recipients}))
    if not accounts:
        return frozenset()
    pairs = [(account, key) for account, email_key in recipients if account in accounts for key in keys_of(email_key)]
    return frozenset(store.matching(conn, pairs))


def suppress_subscriber(conn: Connection, account_id: int, subscriber_id: int, now_us: int) -> None:
    """Suppress a subscriber's address after the SMTP server refused it (a bounce during the send)."""
    found = subscriber_store.by_ids(conn, [subscriber_id])
    if found and found[0].account_id == account_id:
        add_in(conn, account_id, found[0].email_key, "bounce", now_us)


def is_suppressed(conn: Connection, account_id: int, email_key: str) -> bool:
    """Whether an address, or its domain, is on the list."""
    pairs = [(account_id, key) for key in keys_of(email_key)]
    return bool(store.matching(conn, pairs))


def export_csv(db: Database, account_id: int) -> Iterator[bytes]:
    """The whole list as CSV (address, reason, note, created_at), read and written a chunk at a time."""

    def rows() -> Iterator[list[str]]:
        with db.read() as conn:
            for row in store.stream(conn, account_id):
                yield [row.address, row.reason, row.note or "", iso(from_us(row.created_at))]

    return stream_csv(["address", "reason", "note", "created_at"], rows())


def import_csv(db: Database, account_id: int, data: bytes, now: datetime) -> SuppressionImport:
    """Add the rows of a CSV file (columns address, reason?, note?); any bad row: 422, nothing changes."""
    entries, problems = _read_rows(data, to_us(now), account_id)
    if problems:
        raise Unprocessable.of(problems[:100], f"{len(problems)} row(s) of the file are invalid; nothing was imported")
    added = 0
    with db.write() as conn:
        for entry in entries:
            added += store.put(conn, entry, replace=True)
        audit.record(conn, account_id, "suppression", "import", "import", None, {"rows": len(entries)})
    return SuppressionImport(added=added, updated=len(entries) - added)


def _read_rows(data: bytes, now_us: int, account_id: int) -> tuple[list[SuppressionRow], list[Problem]]:
    problems: list[Problem] = []
    entries: dict[str, SuppressionRow] = {}
    header: list[str] | None = None
    try:
        for record in CsvReader(io.BytesIO(data)):
            if record.cells is None:
                problems.append(Problem(f"line {record.line}", record.problem or "unreadable"))
                continue
            if header is None:
                header = [c.strip().lower() for c in record.cells]
                if "address" not in header and "email" not in header:
                    return [], [Problem("line 1", "the first line must name the columns: address, reason, note")]
                continue
            entry = _entry(dict(zip(header, record.cells, strict=False)), record.line, now_us, account_id, problems)
            if entry is not None:
                entries[entry.address] = entry
            if len(entries) > MAX_IMPORT_ROWS:
                return [], [Problem(f"line {record.line}", f"at most {MAX_IMPORT_ROWS} rows per import")]
    except FileProblem as exc:
        return [], [Problem("file", str(exc))]
    return list(entries.values()), problems


def _entry(
    cells: dict[str, str], line: int, now_us: int, account_id: int, problems: list[Problem]
) -> SuppressionRow | None:
    raw = cells.get("address") or cells.get("email") or ""
    reason = (cells.get("reason") or "manual").strip().lower()
    try:
        address = normalise(raw)
    except ValueError as exc:
        problems.append(Problem(f"line {line}", str(exc)))
        return None
    if reason not in REASONS:
        problems.append(Problem(f"line {line}", f"reason must be one of {', '.join(REASONS)}"))
        return None
    note = (cells.get("note") or "").strip()[:MAX_NOTE] or None
    return SuppressionRow(account_id, address, reason, note, now_us)
