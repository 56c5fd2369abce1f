"""The notice every page of a signed-in account shows while the worker has set items aside."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from stepwise.services import quarantine
from stepwise.services.accounts import AccountRow

NOUNS = {"event": "event", "sequence": "sequence", "outbox": "email or URL call", "subscriber": "subscriber"}
PLURALS = {"event": "events", "sequence": "sequences", "outbox": "emails or URL calls", "subscriber": "subscribers"}


def set_aside_notice(request: Request, account: AccountRow | None) -> str | None:
    """Return e.g. "3 items were set aside by the worker: 2 events, 1 sequence.", or None when there are none."""
    if account is None or request.headers.get("HX-Request") == "true":  # htmx refreshes keep the page's notice
        return None
    counts = quarantine.summary(request.app.state.ui.stepwise.db, account.id)
    return describe(counts)


def describe(counts: dict[str, int]) -> str | None:
    """Word the counts of set-aside items by kind."""
    total = sum(counts.values())
    if not total:
        return None
    parts = [
        f"{n} {NOUNS.get(kind, kind) if n == 1 else PLURALS.get(kind, kind)}" for kind, n in sorted(counts.items())
    ]
    verb = "item was" if total == 1 else "items were"
    return f"{total} {verb} set aside by the worker: {', '.join(parts)}."


def install(env: Any) -> None:
    """Make the notice available to the layout."""
    env.globals["set_aside_notice"] = set_aside_notice
