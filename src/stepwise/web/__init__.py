"""The web UI: server-rendered pages with htmx, mounted at `/` by `install_ui` (SPEC §9)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from stepwise.services.context import Context
from stepwise.web.pages import Ui, make_environment
from stepwise.web.security import CookieSigner

STATIC = Path(__file__).parent / "static"


def page_routers() -> list[APIRouter]:
    """The routers of the UI's pages, in the order they are included (tests enumerate their routes)."""
    from stepwise.web import (
        archive,
        auth,
        bulk,
        deliverability,
        drafts,
        forecast,
        forms,
        imports,
        links,
        lists,
        publish,
        segments,
        sequences,
        settings,
        subscribers,
        suppressions,
        team,
        versions,
        webhooks,
    )
    from stepwise.web.setaside import router as set_aside_router

    # bulk before subscribers: /subscribers/bulk-update must not be taken for a subscriber's address
    pages = [auth, links, team, sequences, bulk, subscribers, lists, drafts, forms, imports, archive, deliverability]
    pages.append(segments)
    pages += [suppressions, webhooks, settings, forecast]
    pages += [versions, publish]
    return [set_aside_router, *(module.router for module in pages)]


def install_ui(app: FastAPI, stepwise: Context) -> None:
    """Mount the UI's pages and static files on the application."""
    from stepwise.web.notices import install as install_notices

    app.state.ui = Ui(stepwise=stepwise, env=make_environment(), signer=CookieSigner(stepwise.secret))
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    install_notices(app.state.ui.env)  # the layout's notice of what the worker set aside
    for router in page_routers():
        app.include_router(router)
