"""Every error leaves the API as {"error": {"code", "message", "details"}} (SPEC §8)."""

from __future__ import annotations

import html
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from stepwise.domain.problems import json_path
from stepwise.errors import AppError, UnreadableRow

log = logging.getLogger("stepwise.api")


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Malformed request"},
    401: {"model": ErrorBody, "description": "Missing or bad API key"},
    403: {"model": ErrorBody, "description": "The API key's scope does not allow this call (code `forbidden`)"},
    404: {"model": ErrorBody, "description": "Not found (also another account's object)"},
    409: {"model": ErrorBody, "description": "Conflict"},
    413: {"model": ErrorBody, "description": "Request too large"},
    422: {"model": ErrorBody, "description": "Invalid input; details list each problem with its JSON path"},
}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": {"code": code, "message": message, "details": details}}, headers=headers
    )


def _problems(exc: RequestValidationError) -> tuple[bool, list[dict[str, str]]]:
    malformed = False
    problems = []
    body = getattr(exc, "body", None)
    for item in exc.errors():
        loc = list(item.get("loc", ()))
        kind = str(item.get("type", ""))
        if kind in ("json_invalid", "json_type") or (
            loc[:1] == ["body"] and kind == "model_attributes_type" and not isinstance(body, dict | list)
        ):
            malformed = True
        where = loc[0] if loc else "body"
        rest = ".".join(str(p) for p in loc[1:])
        path = json_path(loc[1:], body) if where == "body" else f"{where}.{rest}"
        message = str(item.get("msg", "invalid"))
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if kind == "extra_forbidden":
            message = "unknown field"
        problems.append({"path": path, "message": message})
    return malformed, problems


def install(app: FastAPI) -> None:
    """Register the handlers that give every failure the SPEC error shape."""

    @app.exception_handler(AppError)
    async def app_error(_: Request, exc: AppError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(UnreadableRow)
    async def unreadable(request: Request, exc: UnreadableRow) -> Response:
        message = f"{exc}; the worker sets it aside; deleting the subscriber clears it"
        if _wants_html(request):
            return _html_error(409, message)
        return error_response(409, "unreadable", message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        malformed, problems = _problems(exc)
        if malformed:
            return error_response(400, "malformed", "the request body is not valid JSON", problems)
        first = f": {problems[0]['path']}: {problems[0]['message']}" if problems else ""
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return error_response(422, "invalid", f"the input is invalid{first}{more}", problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {
            404: "not_found",
            405: "method_not_allowed",
            401: "unauthorized",
            400: "bad_request",
            413: "too_large",
            415: "unsupported_media_type",
            429: "rate_limited",
        }
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if _wants_html(request):
            return _html_error(exc.status_code, message)
        return error_response(
            exc.status_code,
            codes.get(exc.status_code, "error"),
            message,
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "internal", "an unexpected error occurred; it has been logged")


def _wants_html(request: Request) -> bool:
    """A browser asking for a page outside the API gets an HTML error page, not JSON."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def _html_error(status: int, message: str) -> HTMLResponse:
    title = {404: "Page not found", 405: "Method not allowed"}.get(status, "Request failed")
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title} · Stepwise</title>"
        '<link rel="stylesheet" href="/ui/static/app.css"></head>'
        f'<body><main class="container"><h1>{title}</h1><p>{html.escape(message)}</p>'
        '<p><a href="/">Back to Stepwise</a></p></main></body></html>'
    )
    return HTMLResponse(body, status_code=status)
