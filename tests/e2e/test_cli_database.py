"""Commands name the database they open, and only `serve`, `migrate` or `--create` make a new SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.process import env_for, run_cli


@pytest.mark.parametrize(
    "command",
    [
        ["accounts", "create", "shop"],
        ["accounts", "rotate-key", "shop"],
        ["stats", "welcome"],
        ["import", "people.csv"],
        ["apply", "flows.yaml"],
    ],
)
def test_a_missing_sqlite_database_is_not_created(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "people.csv").write_text("email\na@example.com\n")
    (tmp_path / "flows.yaml").write_text("lists:\n  news: News\n")
    database = tmp_path / "stepwise.db"
    result = run_cli(*command, env=env_for(f"sqlite:///{database}"), cwd=tmp_path)
    assert result.returncode != 0
    assert f"no database at {database}" in result.stderr and "--create" in result.stderr, result.stderr
    assert not database.exists()


def test_create_makes_it_and_every_command_names_it(tmp_path: Path) -> None:
    database = tmp_path / "stepwise.db"
    env = env_for(f"sqlite:///{database}")
    created = run_cli("accounts", "create", "shop", "--create", env=env)
    assert created.returncode == 0, created.stderr
    assert f"using database sqlite:///{database}" in created.stderr
    again = run_cli("accounts", "rotate-key", "shop", env=env)
    assert again.returncode == 0 and f"using database sqlite:///{database}" in again.stderr


def test_migrate_creates_it(tmp_path: Path) -> None:
    database = tmp_path / "new.db"
    result = run_cli("migrate", env=env_for(f"sqlite:///{database}"))
    assert result.returncode == 0, result.stderr
    assert database.exists() and f"using database sqlite:///{database}" in result.stderr


def test_a_postgresql_password_is_masked(tmp_path: Path) -> None:
    result = run_cli("stats", "x", env=env_for("postgresql://user:hunter2@127.0.0.1:1/nowhere"), timeout=60)
    assert result.returncode != 0
    assert "using database postgresql://user:***@127.0.0.1:1/nowhere" in result.stderr, result.stderr
    assert "hunter2" not in result.stderr + result.stdout
