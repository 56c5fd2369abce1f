"""Help without Typer's type tags: flags show no value, values a readable name (FILE, URL, NAME, N)."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperOption

from stepwise.cli.common import (
    app,
)


class _HelpOption(TyperOption):
    """An option whose help shows no type tag: nothing for flags, else its metavar (URL, NAME, N)."""

    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        return self.metavar or (self.name or "value").upper()


class _HelpArgument(TyperArgument):
    """An argument whose help shows its name (FILE..., NAME) and no type tag such as <list[Path]>."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _tidy(command: Any) -> None:
    """Give every parameter (and --help) of the command tree help without Typer's type tags."""
    help_option = command.get_help_option(command.context_class(command))
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if type(param) is TyperOption:
            param.__class__ = _HelpOption
        elif type(param) is TyperArgument:
            param.__class__ = _HelpArgument
    for sub in getattr(command, "commands", {}).values():
        _tidy(sub)


def command() -> Any:
    """The click command of `stepwise`, with clean help."""
    built = typer.main.get_command(app)
    _tidy(built)
    return built
