"""Sign-in with an API key (throttled after repeated failures), sign-out (ends the server-side session)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from stepwise.services import sessions
from stepwise.services.accounts import check_key
from stepwise.services.edge import client_address
from stepwise.services.throttle import TooManyFailures
from stepwise.web.pages import (
    FormDep,
    PageDep,
    PageRoute,
    Ui,
    is_https,
    redirect,
    render_template,
    safe_next,
    secure,
    session_of,
    ui_of,
)
from stepwise.web.security import LOGIN_CSRF_COOKIE, SESSION_COOKIE, SESSION_SECONDS, new_token, same_token

router = APIRouter(route_class=PageRoute, include_in_schema=False)
UiDep = Annotated[Ui, Depends(ui_of)]


def _login_page(request: Request, ui: Ui, *, next_url: str, error: str = "", status: int = 200) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_token()
    html = render_template(
        ui,
        "login.html",
        request=request,
        account=None,
        csrf="",
        nav="",
        flashes=[],
        login_csrf=token,
        next=next_url,
        error=error,
    )
    response = HTMLResponse(html, status_code=status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="lax",
        secure=is_https(request, ui),
    )
    return secure(response)


@router.get("/login")
def login_form(request: Request, ui: UiDep, next: str = "/") -> Response:
    """Show the sign-in form (or go on when already signed in)."""
    if session_of(ui, request) is not None:
        return RedirectResponse(safe_next(next, "/sequences"), status_code=303)
    return _login_page(request, ui, next_url=safe_next(next, "/sequences"))


@router.post("/login")
async def login(request: Request, ui: UiDep) -> Response:
    """Check the API key and start a session."""
    form = await request.form(max_files=0, max_fields=10)
    given = form.get("csrf")
    next_url = safe_next(str(form.get("next") or ""), "/sequences")
    if not isinstance(given, str) or not same_token(given, request.cookies.get(LOGIN_CSRF_COOKIE)):
        return _login_page(request, ui, next_url=next_url, error="The form expired; please try again.", status=403)
    key = form.get("api_key")
    key = key.strip() if isinstance(key, str) else ""
    stepwise = ui.stepwise
    try:
        found = await run_in_threadpool(check_key, stepwise.db, stepwise.throttle, client_address(request), key)
    except TooManyFailures as exc:
        error = f"Too many wrong keys from your address. Try again in {_minutes(exc.retry_after)}."
        refused = _login_page(request, ui, next_url=next_url, error=error, status=429)
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    if found is None:
        return _login_page(request, ui, next_url=next_url, error="That API key is not valid.", status=401)
    old = request.cookies.get(SESSION_COOKIE)
    token = await run_in_threadpool(
        sessions.start, stepwise.db, found.account.id, found.key_id, stepwise.clock(), replacing=old
    )
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request, ui),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return secure(response)


@router.post("/logout")
def logout(page: PageDep, form: FormDep) -> Response:
    """End the session on the server, then drop the cookie."""
    sessions.end(page.stepwise.db, page.request.cookies.get(SESSION_COOKIE))
    response = redirect(page.request, "/login")
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(page.request, page.ui)
    )
    return response


def _minutes(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} seconds" if seconds != 1 else "1 second"
    minutes = -(-seconds // 60)
    return f"{minutes} minutes" if minutes != 1 else "1 minute"


@router.get("/")
def home(page: PageDep) -> Response:
    """Start at the sequences."""
    return RedirectResponse("/sequences", status_code=303)
