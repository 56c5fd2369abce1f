"""The web UI: server-rendered pages with htmx, mounted at `/` by `install_ui` (SPEC §9)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from stepwise.bootstrap import Stepwise
from stepwise.services.accounts import instance_secret
from stepwise.web.pages import Ui, make_environment
from stepwise.web.security import CookieSigner

STATIC = Path(__file__).parent / "static"


def install_ui(app: FastAPI, stepwise: Stepwise) -> None:
    """Mount the UI's pages and static files on the application."""
    from stepwise.web import archive, auth, bulk, drafts, forms, imports, lists, sequences, subscribers

    secret = instance_secret(stepwise.db, stepwise.settings.secret_key)
    app.state.ui = Ui(stepwise=stepwise, env=make_environment(), signer=CookieSigner(secret))
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    # bulk before subscribers: /subscribers/bulk-update must not be taken for a subscriber's address
    for module in (auth, sequences, bulk, subscribers, lists, drafts, forms, imports, archive):
        app.include_router(module.router)
