"""The web UI: server-rendered pages with htmx, mounted at `/` by `install_ui` (SPEC §9)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from stepwise.services.context import Context
from stepwise.web.pages import Ui, make_environment
from stepwise.web.security import CookieSigner

STATIC = Path(__file__).parent / "static"


def install_ui(app: FastAPI, stepwise: Context) -> None:
    """Mount the UI's pages and static files on the application."""
    from stepwise.web import archive, auth, bulk, drafts, forms, imports, lists, sequences, subscribers
    from stepwise.web.notices import install as install_notices
    from stepwise.web.setaside import router as set_aside_router

    app.state.ui = Ui(stepwise=stepwise, env=make_environment(), signer=CookieSigner(stepwise.secret))
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    install_notices(app.state.ui.env)  # the layout's notice of what the worker set aside
    app.include_router(set_aside_router)
    # bulk before subscribers: /subscribers/bulk-update must not be taken for a subscriber's address
    for module in (auth, sequences, bulk, subscribers, lists, drafts, forms, imports, archive):
        app.include_router(module.router)
