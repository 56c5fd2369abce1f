"""`--help` of every command shows readable value names (FILE, URL, N), not Typer's type tags."""

from __future__ import annotations

import re

import pytest

from tests.support.process import env_for, run_cli

COMMANDS = [
    [],
    ["serve"],
    ["worker"],
    ["migrate"],
    ["accounts"],
    ["accounts", "create"],
    ["accounts", "rotate-key"],
    ["apply"],
    ["validate"],
    ["import"],
    ["stats"],
    ["bench"],
]
TYPE_TAG = re.compile(r"<(bool|str|int|float|path|Path|list\[|int range|float range)")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "stepwise")
def test_help_has_no_type_tags(command: list[str]) -> None:
    result = run_cli(*command, "--help", env={**env_for("sqlite:///unused.db"), "COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    for tag in ("<bool>", "<str>", "<list["):
        assert tag not in result.stdout, (command, result.stdout)
    assert not TYPE_TAG.search(result.stdout), (command, result.stdout)


def test_values_have_readable_names() -> None:
    result = run_cli("apply", "--help", env={**env_for("sqlite:///unused.db"), "COLUMNS": "100"})
    assert all(name in result.stdout for name in ("FILE", "NAME", "URL")), result.stdout
