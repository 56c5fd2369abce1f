"""The settings and commands the documentation names are the ones the code has.

Every STEPWISE_* setting is in the table of docs/operations.md, and no page names a setting that
does not exist; every `stepwise` command (and subcommand) is in the README's command table.
"""

from __future__ import annotations

import re
from typing import Any

import typer

from stepwise.cli.main import app
from stepwise.config import Settings
from tests.docs.markdown import DOCS, README, pages, sections

SETTINGS = {f"STEPWISE_{name.upper()}" for name in Settings.model_fields}


def _commands(group: Any, prefix: str = "") -> set[str]:
    """The names of a (Typer) command group's commands, with subcommands as 'group sub'."""
    found: set[str] = set()
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found |= _commands(command, f"{prefix}{name} ")
        else:
            found.add(f"{prefix}{name}")
    return found


def test_every_setting_is_in_the_operations_table() -> None:
    table = sections(DOCS / "operations.md")["Configuration"]
    rows = set(re.findall(r"^\| `(STEPWISE_[A-Z_]+)` \|", table, flags=re.MULTILINE))
    assert SETTINGS - rows == set(), "settings missing from docs/operations.md"
    assert rows - SETTINGS == set(), "docs/operations.md lists settings that do not exist"


def test_no_page_names_a_setting_that_does_not_exist() -> None:
    for page in pages():
        named = set(re.findall(r"STEPWISE_[A-Z_]*[A-Z]", page.read_text(encoding="utf-8")))
        assert named - SETTINGS == set(), f"{page.name} names unknown settings"


def test_every_command_is_in_the_readme_table() -> None:
    commands = _commands(typer.main.get_command(app))
    assert {"serve", "worker", "validate", "apply", "accounts create"} <= commands
    table = README.read_text(encoding="utf-8").split("## Command line", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `stepwise ([a-z][a-z -]*?)(?: [A-Z\[-].*?)?` \|", table, flags=re.MULTILINE))
    assert commands - rows == set(), "commands missing from the README's command table"
    assert rows - commands == set(), "the README's command table names commands that do not exist"
