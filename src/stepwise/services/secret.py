"""The instance secret: it signs tracking, unsubscribe and confirmation tokens and the UI's flash cookies.

Where it comes from, first match wins:

1. `STEPWISE_SECRET_KEY` (give every process of an installation the same value);
2. the file `STEPWISE_SECRET_FILE`, else `<database file>.secret` beside a SQLite database
   (`stepwise.db.secret`), else `stepwise.secret` in the working directory (PostgreSQL). A missing
   file is created with a fresh random secret, readable by its owner only (0600); a file that others
   may read is narrowed to 0600.

The database never holds it, so a copy of the database signs nothing. Older versions stored a
generated secret in the `settings` table: it is moved into the file (when the file does not exist
yet, so links already sent keep working) and deleted from the database.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from stepwise.storage import accounts as account_store
from stepwise.storage.database import Database

log = logging.getLogger("stepwise.secret")
STORED_SETTING = "secret_key"
MIN_LENGTH = 16
POSTGRES_SECRET_FILE = "stepwise.secret"


class SecretFileError(RuntimeError):
    """The secret file cannot be read or holds no usable secret."""


def secret_path(db: Database, secret_file: str | None = None) -> Path | None:
    """Return the secret file of this installation (None for an in-memory SQLite database)."""
    if secret_file:
        return Path(secret_file).expanduser().absolute()
    if db.is_sqlite:
        path = db.sqlite_path
        return None if path is None else path.with_name(path.name + ".secret")
    return Path(POSTGRES_SECRET_FILE).absolute()


def instance_secret(db: Database, configured: str | None, secret_file: str | None = None) -> str:
    """Return the token-signing secret (see the module text for where it comes from)."""
    path = secret_path(db, secret_file)
    move_stored_secret(db, path)
    if configured:
        return configured
    if path is None:
        return secrets.token_urlsafe(48)  # an in-memory database: nothing signed outlives the process
    try:
        return read_secret(path)
    except FileNotFoundError:
        return publish_secret(path, secrets.token_urlsafe(48))


def move_stored_secret(db: Database, path: Path | None) -> None:
    """Move a secret that an older version stored in the database into the file, then delete it there."""
    with db.read() as conn:
        stored = account_store.get_setting(conn, STORED_SETTING)
    if stored is None:
        return
    if path is not None:
        kept = publish_secret(path, stored)
        if kept != stored:
            log.warning("%s already holds another secret; the one the database held is dropped", path)
        else:
            log.warning("moved the token secret out of the database into %s", path)
    with db.write() as conn:
        account_store.delete_setting(conn, STORED_SETTING)


def read_secret(path: Path) -> str:
    """Read a secret file, narrowing its mode to 0600 when others may read it."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        try:
            path.chmod(0o600)
            log.warning("%s was readable by others (mode %o); narrowed to 0600", path, mode)
        except OSError as exc:
            log.warning("%s is readable by others (mode %o) and cannot be narrowed: %s", path, mode, exc)
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretFileError(f"cannot read the secret file {path}: {exc}") from exc
    if len(value) < MIN_LENGTH:
        raise SecretFileError(f"the secret file {path} holds no usable secret (at least {MIN_LENGTH} characters)")
    return value


def publish_secret(path: Path, value: str) -> str:
    """Create the file with value (mode 0600) unless it exists; return what the file holds.

    The file appears complete or not at all (written beside it, then linked into place), so processes
    starting together agree on one secret.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(scratch, path)
        except FileExistsError:
            return read_secret(path)
    finally:
        scratch.unlink(missing_ok=True)
    return value
