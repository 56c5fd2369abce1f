"""The notices every page of a signed-in account shows: items the worker set aside, and deliverability
warnings (a 7-day bounce or complaint rate past its threshold, SPEC §19)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request

from stepwise.services import bounces, quarantine
from stepwise.services.accounts import AccountRow
from stepwise.services.context import Database

NOUNS = {"event": "event", "sequence": "sequence", "outbox": "email or URL call", "subscriber": "subscriber"}
PLURALS = {"event": "events", "sequence": "sequences", "outbox": "emails or URL calls", "subscriber": "subscribers"}
HEALTH_MAX_AGE = timedelta(minutes=1)  # the deliverability warnings are computed at most this often per account


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


class HealthWarnings:
    """Each account's deliverability warnings, computed at most once a minute (the layout asks on every page).

    Ages are measured on the instance clock: a clock set back makes the next page compute them again.
    """

    def __init__(self, max_age: timedelta = HEALTH_MAX_AGE, max_accounts: int = 10_000) -> None:
        self.max_age, self.max_accounts = max_age, max_accounts
        self._lock = threading.Lock()
        self._known: dict[int, tuple[datetime, list[str]]] = {}

    def of(self, db: Database, account_id: int, now: datetime) -> list[str]:
        """The account's warnings as of at most `max_age` ago."""
        with self._lock:
            known = self._known.get(account_id)
        if known is not None and timedelta(0) <= now - known[0] < self.max_age:
            return known[1]
        found = list(bounces.health(db, account_id, now).warnings)
        with self._lock:
            if len(self._known) >= self.max_accounts:
                self._known.clear()
            self._known[account_id] = (now, found)
        return found


def deliverability_warnings(request: Request, account: AccountRow | None) -> list[str]:
    """Return the account's warnings about its bounce and complaint rates (empty when they are fine)."""
    if account is None or request.headers.get("HX-Request") == "true":  # htmx refreshes keep the page's notice
        return []
    ui = request.app.state.ui
    cache = ui.state.get("health_warnings")
    if not isinstance(cache, HealthWarnings):
        cache = ui.state.setdefault("health_warnings", HealthWarnings())
    assert isinstance(cache, HealthWarnings)
    return cache.of(ui.stepwise.db, account.id, ui.stepwise.clock())


def install(env: Any) -> None:
    """Make the notices available to the layout."""
    env.globals["set_aside_notice"] = set_aside_notice
    env.globals["deliverability_warnings"] = deliverability_warnings
