"""`stepwise import FILE.csv` as a user runs it (SPEC §5, §10): options, the report, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.process import env_for, run_cli


def test_import_prints_the_report_and_applies_the_options(database_url: str, tmp_path: Path) -> None:
    env = env_for(database_url)
    assert run_cli("accounts", "create", "default", "--create", env=env).returncode == 0
    people = tmp_path / "people.csv"
    people.write_bytes(b"\xef\xbb\xbfemail,base.firstName\r\nann@x.com,Ann\r\nbroken,Bob\r\n")

    unknown_list = run_cli("import", str(people), "--list", "news", env=env)
    assert unknown_list.returncode == 1
    assert "unknown list 'news'" in unknown_list.stderr

    shown = run_cli("import", str(people), env=env)
    assert shown.returncode == 0, shown.stderr
    assert "rows 2: created 1, updated 0, unchanged 0, failed 1" in shown.stdout
    assert "line 3: invalid email address 'broken'" in shown.stdout

    people.write_bytes(b"email,base.firstName\nann@x.com,Anna\ncid@x.com,Cid\n")
    as_json = run_cli("import", str(people), "--no-update", "--trigger-events", "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert (report["created"], report["unchanged"], report["errors"]) == (1, 1, [])


def test_import_fails_clearly_when_the_file_cannot_be_read_or_used(database_url: str, tmp_path: Path) -> None:
    env = env_for(database_url)
    assert run_cli("accounts", "create", "default", "--create", env=env).returncode == 0
    missing = run_cli("import", str(tmp_path / "missing.csv"), env=env)
    assert missing.returncode == 1
    assert "cannot read" in missing.stderr and "No such file" in missing.stderr
    directory = run_cli("import", str(tmp_path), env=env)
    assert directory.returncode == 1
    assert "cannot read" in directory.stderr
    headless = tmp_path / "names.csv"
    headless.write_text("name\nann\n")
    rejected = run_cli("import", str(headless), env=env)
    assert rejected.returncode == 1
    assert "line 1: the header has no `email` column" in rejected.stderr
    assert "nothing imported" in rejected.stderr
    other = run_cli("import", str(headless), "--account", "nobody", env=env)
    assert other.returncode == 1 and "no account named 'nobody'" in other.stderr
    for result in (missing, directory, rejected, other):
        assert "Traceback" not in result.stderr
