"""A per-process cache of each account's sequences, refreshed by a cheap version check."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import Connection

from stepwise.domain.definition import SequenceDefinition
from stepwise.engine.model import SequenceInfo
from stepwise.storage import accounts as account_store
from stepwise.storage import sequences as sequence_store


@dataclass
class AccountSequences:
    """The sequences of one account, by key and by id."""

    timezone: str
    infos: dict[str, SequenceInfo] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    keys: dict[int, str] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)


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
        fresh = AccountSequences(timezone=tz)
        reuse = cached.infos if cached is not None and cached.timezone == tz else {}
        stale = [sid for sid, v in versions.items() if cached is None or cached.versions.get(sid) != v]
        loaded = {row.id: row for row in sequence_store.by_ids(conn, stale)}
        for sid, listed_version in versions.items():
            row = loaded.get(sid)
            version = listed_version
            if row is None and cached is not None and sid in cached.keys and cached.keys[sid] in reuse:
                info = reuse[cached.keys[sid]]
            else:
                if row is None:  # changed again between the two queries; take it now
                    row = sequence_store.by_ids(conn, [sid])[0]
                definition = SequenceDefinition.model_validate(row.definition)
                info = SequenceInfo(
                    key=row.key,
                    status="active" if row.status == "active" else "paused",
                    definition=definition,
                    timezone=definition.timezone or tz,
                )
                version = row.version
            fresh.infos[info.key] = info
            fresh.ids[info.key] = sid
            fresh.keys[sid] = info.key
            fresh.versions[sid] = version
        with self._lock:
            self._accounts[account_id] = fresh
        return fresh

    def forget(self, account_id: int) -> None:
        with self._lock:
            self._accounts.pop(account_id, None)
