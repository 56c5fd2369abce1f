"""The API application: routes under /api/v1, health and metrics, the API documentation (serving adds the rest)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match
from starlette.types import Scope

from stepwise import __version__
from stepwise.api import (
    audit,
    bounces,
    deliverability,
    drafts,
    events,
    forms,
    issues,
    keys,
    lists,
    segments,
    sequences,
    settings,
    subscribers,
    webhooks,
)
from stepwise.api import forecast as forecast_api
from stepwise.api import imports as imports_api
from stepwise.api import versions as versions_api
from stepwise.api.actor import ActorScope
from stepwise.api.declared import declare
from stepwise.api.docs import install_docs
from stepwise.api.errors import ERROR_RESPONSES, error_response, install
from stepwise.metrics import render_metrics
from stepwise.services.context import Context

API_PREFIX = "/api/v1"
# The methods the API's catch-all route answers (with 405 or 404).
EVERY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def methods_of(app: FastAPI, scope: Scope, catch_all: Callable[..., Any]) -> list[str]:
    """The methods that a route before `catch_all`'s would serve on the request's path, in a stable order.

    Each route is asked, through Starlette's own matching, whether it takes the path with each
    method; the probe is a fresh scope, so nothing is written into the request's.
    """
    found: list[str] = []
    for route in app.router.routes:
        if getattr(route, "endpoint", None) is catch_all:
            break
        for method in EVERY_METHOD:
            if method in found:
                continue
            probe: Scope = {
                "type": "http",
                "path": scope["path"],
                "root_path": scope.get("root_path", ""),
                "method": method,
            }
            match, _ = route.matches(probe)
            if match == Match.FULL:
                found.append(method)
    return sorted(found, key=EVERY_METHOD.index)


def create_api(stepwise: Context) -> FastAPI:
    """Build the API application for one Stepwise instance; `serving.create_app` adds the pages."""
    app = FastAPI(
        title="Stepwise API",
        version=__version__,
        description="Event-triggered email sequences. Authenticate with `Authorization: Bearer <API key>`.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.stepwise = stepwise
    install(app)
    api = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)
    modules = (
        subscribers,
        lists,
        drafts,
        forms,
        sequences,
        events,
        issues,
        bounces,
        deliverability,
        settings,
        keys,
        audit,
        webhooks,
        segments,
    )
    for module in modules:
        api.include_router(module.router)
    api.include_router(imports_api.router)
    api.include_router(versions_api.router)
    api.include_router(forecast_api.router)
    app.include_router(api)
    app.include_router(bounces.hooks)  # provider receivers: /hooks/..., authenticated by the token in the URL
    app.add_middleware(ActorScope)  # who acts, for the audit log (SPEC S35)
    return app


def install_operations(app: FastAPI, stepwise: Context) -> None:
    """/healthz, /metrics, the API documentation and its OpenAPI document."""

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

    install_docs(app, API_PREFIX)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_catch_all(app: FastAPI) -> None:
    """Last of the API routes: whatever reaches it matched no route with its method.

    A path that other routes serve gets 405 with every method of the path in `Allow`; any other path gets 404.
    """

    @app.api_route(f"{API_PREFIX}/{{rest:path}}", methods=list(EVERY_METHOD), include_in_schema=False)
    async def unknown_api(rest: str, request: Request) -> Any:
        allowed = methods_of(app, request.scope, unknown_api)
        if allowed:
            return error_response(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {API_PREFIX}/{rest}; allowed: {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        return error_response(404, "not_found", f"no such endpoint: {API_PREFIX}/{rest}")
