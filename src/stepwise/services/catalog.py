"""A per-process cache of each account's sequences, refreshed by a cheap version check.

A stored definition that cannot be read (not JSON, or not a valid definition: e.g. a `null` where a
number belongs) does not stop the account: the sequence is listed in `broken` with the reason and left
out of `infos`, so the engine treats it like a paused sequence that nobody can enter or move (poison
isolation). It is parsed once per version, not on every batch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

from pydantic import ValidationError
from sqlalchemy import Connection

from stepwise.domain.definition import SequenceDefinition
from stepwise.domain.problems import from_validation_error
from stepwise.engine.model import SequenceInfo
from stepwise.storage import accounts as account_store
from stepwise.storage import sequences as sequence_store
from stepwise.storage import versions as version_store
from stepwise.storage.sequences import SequenceRow


@dataclass(frozen=True, slots=True)
class Broken:
    """A sequence whose stored definition cannot be read, and why."""

    key: str
    error: str


@dataclass
class AccountSequences:
    """The sequences of one account, by key and by id."""

    timezone: str
    infos: dict[str, SequenceInfo] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    keys: dict[int, str] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)
    broken: dict[int, Broken] = field(default_factory=dict)
    live_versions: dict[int, int] = field(default_factory=dict)  # {sequence id: live version} (S16)


def read_definition(row: SequenceRow) -> tuple[SequenceDefinition | None, str | None]:
    """Return the row's definition, or None and why it cannot be read."""
    if row.unreadable is not None:
        return None, row.unreadable
    try:
        return SequenceDefinition.model_validate(row.definition), None
    except ValidationError as exc:
        problems = from_validation_error(exc, row.definition)
        text = "; ".join(f"{p.path}: {p.message}" for p in problems) or str(exc)
        return None, f"the stored definition is invalid: {text}"
    except Exception as exc:  # whatever else a bad definition provokes must not stop the others
        return None, f"the stored definition cannot be read: {type(exc).__name__}: {exc}"


class SequenceCatalog:
    """Parsed sequence definitions, reloaded only when a sequence's version changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accounts: dict[int, AccountSequences] = {}

    def for_account(self, conn: Connection, account_id: int) -> AccountSequences:
        """Return the account's current sequences (one small query when nothing changed)."""
        versions = sequence_store.versions(conn, account_id)
        with self._lock:
            cached = self._accounts.get(account_id)
        if cached is not None and cached.versions == versions:
            return cached
        account = account_store.by_id(conn, account_id)
        tz = account.timezone if account else "UTC"
        if cached is not None and cached.timezone != tz:
            cached = None  # every definition that has no timezone of its own follows the account's
        stale = [sid for sid, v in versions.items() if cached is None or cached.versions.get(sid) != v]
        loaded = {row.id: row for row in sequence_store.by_ids(conn, stale)}
        fresh = AccountSequences(timezone=tz)
        for sid in versions:
            row = loaded.get(sid)
            if row is None and cached is not None and sid in cached.versions:
                _reuse(fresh, cached, sid)
                continue
            if row is None:  # changed again between the two queries; take it now
                found = sequence_store.by_ids(conn, [sid])
                if not found:
                    continue  # deleted meanwhile
                row = found[0]
            _load(fresh, row, tz, version_store.pinned(conn, row.id, row.live_version))
        with self._lock:
            self._accounts[account_id] = fresh
        return fresh

    def forget(self, account_id: int) -> None:
        with self._lock:
            self._accounts.pop(account_id, None)


def _reuse(fresh: AccountSequences, cached: AccountSequences, sid: int) -> None:
    fresh.versions[sid] = cached.versions[sid]
    fresh.live_versions[sid] = cached.live_versions.get(sid, 1)
    if sid in cached.broken:
        fresh.broken[sid] = cached.broken[sid]
        return
    key = cached.keys[sid]
    fresh.infos[key] = cached.infos[key]
    fresh.ids[key] = sid
    fresh.keys[sid] = key


def _pinned(
    rows: dict[int, version_store.VersionRow], row: SequenceRow, status: Literal["active", "paused"], tz: str
) -> dict[int, SequenceInfo]:
    """SequenceInfos of the older versions pinned runs follow (S17); one that cannot be read is left out."""
    found = {}
    for number, version in rows.items():
        try:
            definition = SequenceDefinition.model_validate(version.definition)
        except ValidationError:
            continue  # its runs follow the live version instead
        timezone = definition.timezone or tz
        found[number] = SequenceInfo(row.key, status, definition, timezone, number, account_id=row.account_id)
    return found


def _load(fresh: AccountSequences, row: SequenceRow, tz: str, pinned: dict[int, version_store.VersionRow]) -> None:
    fresh.versions[row.id] = row.version
    fresh.live_versions[row.id] = row.live_version
    definition, error = read_definition(row)
    if definition is None:
        fresh.broken[row.id] = Broken(row.key, error or "unreadable")
        return
    status: Literal["active", "paused"] = "active" if row.status == "active" else "paused"
    fresh.infos[row.key] = SequenceInfo(
        key=row.key,
        status=status,
        definition=definition,
        timezone=definition.timezone or tz,
        version=row.live_version,
        pinned=_pinned(pinned, row, status, tz),
        account_id=row.account_id,
    )
    fresh.ids[row.key] = row.id
    fresh.keys[row.id] = row.key


def info_of(conn: Connection, account_id: int, key: str, definition: SequenceDefinition, status: str) -> SequenceInfo:
    """A definition as the engine reads it, in the sequence's zone or else the account's."""
    account = account_store.by_id(conn, account_id)
    tz = definition.timezone or (account.timezone if account else "UTC")
    return SequenceInfo(
        key=key,
        status="active" if status == "active" else "paused",
        definition=definition,
        timezone=tz,
        account_id=account_id,
    )
