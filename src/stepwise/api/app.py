"""The ASGI application: API under /api/v1, health and metrics, public pages and the UI."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from stepwise import __version__
from stepwise.api import drafts, events, forms, issues, lists, sequences, subscribers
from stepwise.api import imports as imports_api
from stepwise.api.errors import ERROR_RESPONSES, error_response, install
from stepwise.api.limits import BodyLimit
from stepwise.bootstrap import Stepwise
from stepwise.metrics import render_metrics
from stepwise.public import forms as public_forms
from stepwise.public import tracking
from stepwise.web import install_ui

API_PREFIX = "/api/v1"


def create_app(stepwise: Stepwise) -> FastAPI:
    """Build the application for one Stepwise instance."""
    app = FastAPI(
        title="Stepwise API",
        version=__version__,
        description="Event-triggered email sequences. Authenticate with `Authorization: Bearer <API key>`.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.stepwise = stepwise
    install(app)
    api = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)
    for module in (subscribers, lists, drafts, forms, sequences, events, issues):
        api.include_router(module.router)
    api.include_router(imports_api.router)
    app.include_router(api)
    app.include_router(tracking.router)
    app.include_router(public_forms.router)

    @app.get("/healthz", tags=["operations"], responses={503: {"description": "The database does not answer"}})
    async def healthz() -> JSONResponse:
        """200 when the database answers."""

        def ping() -> None:
            with stepwise.db.read() as conn:
                conn.execute(text("SELECT 1"))

        try:
            await run_in_threadpool(ping)
        except Exception:
            return error_response(503, "database_unavailable", "the database does not answer")
        return JSONResponse({"status": "ok", "database": stepwise.db.dialect})

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        """Prometheus text: events, transitions, outbox depth, oldest overdue deadline, deliveries."""
        body = await run_in_threadpool(render_metrics, stepwise)
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4")

    @app.api_route(
        f"{API_PREFIX}/{{rest:path}}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
    )
    async def unknown_api(rest: str) -> Any:
        return error_response(404, "not_found", f"no such endpoint: {API_PREFIX}/{rest}")

    install_ui(app, stepwise)
    settings = stepwise.settings
    app.add_middleware(
        BodyLimit,
        default=settings.max_body_bytes,
        uploads=settings.max_upload_bytes,
        upload_prefixes=(f"{API_PREFIX}/imports", "/ui/imports"),
    )
    return app
