"""The instance secret lives outside the database (0600 file or STEPWISE_SECRET_KEY); SQLite files are 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from stepwise.bootstrap import Stepwise, build
from stepwise.config import Settings
from stepwise.delivery.tokens import TokenSigner
from stepwise.services.secret import SecretFileError, publish_secret, secret_path
from stepwise.storage import migrate
from stepwise.storage import schema as t
from stepwise.storage.database import Database

LEGACY = "legacy-secret-that-an-older-version-stored-in-the-database"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def opened(database_url: str, **settings: str | None) -> Iterator[Stepwise]:
    app = build(Settings(database_url=database_url, **settings))  # type: ignore[arg-type]
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """Files would be world-readable by default (umask 022)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def stored_settings(app: Stepwise) -> list[str]:
    with app.db.read() as conn:
        return [str(row[0]) for row in conn.execute(select(t.settings.c.name)).all()]


def test_a_sqlite_database_gets_a_0600_secret_file_beside_it(tmp_path: Path, loose_umask: None) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'stepwise.db'}"
    with opened(url) as app:
        file = tmp_path / "data" / "stepwise.db.secret"
        assert secret_path(app.db) == file
        assert file.read_text().strip() == app.secret and len(app.secret) >= 32
        assert mode(file) == 0o600
        assert stored_settings(app) == []
        token = app.signer.sign("click", 1, "0" * 32, 2)
    with opened(url) as again:  # the next start reads the same secret
        assert again.secret == file.read_text().strip()
        assert again.signer.verify("click", token) is not None


def test_postgresql_keeps_the_secret_in_the_working_directory_or_the_configured_file(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loose_umask: None
) -> None:
    from tests.conftest import truncate_all_if_migrated

    truncate_all_if_migrated(postgres_url)
    monkeypatch.chdir(tmp_path)
    with opened(postgres_url) as app:
        assert (tmp_path / "stepwise.secret").read_text().strip() == app.secret
        assert mode(tmp_path / "stepwise.secret") == 0o600
    chosen = tmp_path / "etc" / "stepwise" / "secret"
    with opened(postgres_url, secret_file=str(chosen)) as app:
        assert chosen.read_text().strip() == app.secret
        assert mode(chosen) == 0o600


def test_the_environment_wins_and_no_file_is_made(database_url: str, tmp_path: Path) -> None:
    file = tmp_path / "unused.secret"
    with opened(database_url, secret_key="from-the-environment", secret_file=str(file)) as app:
        assert app.secret == "from-the-environment"
        assert app.signer.verify("open", TokenSigner("from-the-environment").sign("open", 3, "f" * 32)) is not None
    assert not file.exists()


def test_a_secret_stored_by_an_older_version_moves_to_the_file_and_old_tokens_still_verify(
    database_url: str, tmp_path: Path, loose_umask: None
) -> None:
    file = tmp_path / "moved.secret"
    with opened(database_url, secret_key="only-to-migrate-the-schema") as app, app.db.write() as conn:
        conn.execute(insert(t.settings).values(name="secret_key", value=LEGACY))
    sent = TokenSigner(LEGACY).sign("unsubscribe", 7, "a" * 32)

    with opened(database_url, secret_file=str(file)) as app:
        assert app.secret == LEGACY
        assert file.read_text().strip() == LEGACY and mode(file) == 0o600
        assert stored_settings(app) == []  # gone from the database
        found = app.signer.verify("unsubscribe", sent)
        assert found is not None and found.account_id == 7
    with opened(database_url, secret_file=str(file)) as app:
        assert app.secret == LEGACY


def test_a_secret_file_others_can_read_is_narrowed_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stepwise.db'}"
    file = tmp_path / "stepwise.db.secret"
    file.write_text("a-secret-of-enough-length\n")
    file.chmod(0o644)
    with opened(url) as app:
        assert app.secret == "a-secret-of-enough-length"
    assert mode(file) == 0o600
    file.write_text("short\n")
    with pytest.raises(SecretFileError, match="no usable secret"), opened(url):
        pass


def test_processes_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    file = tmp_path / "stepwise.secret"
    assert publish_secret(file, "the-first-secret-written") == "the-first-secret-written"
    assert publish_secret(file, "a-second-secret-too-late") == "the-first-secret-written"
    assert [p.name for p in tmp_path.iterdir()] == ["stepwise.secret"]


def test_sqlite_files_are_readable_by_their_owner_only(tmp_path: Path, loose_umask: None) -> None:
    path = tmp_path / "stepwise.db"
    db = Database(f"sqlite:///{path}")
    try:
        migrate.upgrade(db)
        with db.write() as conn:
            conn.execute(t.settings.insert().values(name="probe", value="x"))
        with db.read() as conn:  # the -wal and -shm files exist while a connection is open
            conn.execute(select(t.settings)).all()
            files = sorted(p.name for p in tmp_path.iterdir())
            assert files == ["stepwise.db", "stepwise.db-shm", "stepwise.db-wal"]
            assert {name: mode(tmp_path / name) for name in files} == dict.fromkeys(files, 0o600)
    finally:
        db.dispose()


def test_an_existing_world_readable_sqlite_file_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.touch()
    path.chmod(0o644)
    Path(str(path) + "-wal").touch()
    Path(str(path) + "-wal").chmod(0o644)
    Database(f"sqlite:///{path}").dispose()
    assert mode(path) == 0o600 and mode(Path(str(path) + "-wal")) == 0o600
