"""Database URLs as the command line sees them, and reading an account's references for `validate`."""

from __future__ import annotations

from collections.abc import Set
from pathlib import Path

from sqlalchemy.engine import make_url

from stepwise.domain.validation import References
from stepwise.services.references import gather
from stepwise.storage import accounts as account_store
from stepwise.storage import drafts as draft_store
from stepwise.storage.database import Database, normalize_url

DraftSenders = dict[str, tuple[str, str | None]]  # draft key -> (subject, from address)


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite database URL (None for PostgreSQL and in-memory databases)."""
    normalized, dialect = normalize_url(url)
    path = make_url(normalized).database
    if dialect != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path).absolute()


def stored_references(url: str, account: str, draft_keys: Set[str]) -> tuple[References, DraftSenders] | str:
    """What the account holds, read without creating anything: (references, draft senders), or why not."""
    db = None
    try:
        db = Database(url, pool_size=1)
        with db.read() as conn:
            row = account_store.by_name(conn, account)
            if row is None:
                return f"no account named {account!r} in the database"
            known = gather(conn, int(row.id))
            drafts = draft_store.many(conn, int(row.id), set(draft_keys))
    except Exception as exc:
        return f"cannot read the database: {exc}"
    finally:
        if db is not None:
            db.dispose()
    return known, {key: (draft.subject, draft.from_email) for key, draft in drafts.items()}
