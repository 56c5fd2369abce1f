"""Sign-in with an email and a password (SPEC S33), then a TOTP code when the user turned it on.

Failures are throttled per client address and per address tried (429 with Retry-After); a wrong
code is throttled per user. The session id is new at every sign-in (the one the browser held is
ended) and sign-out ends it on the server. An API key is no sign-in any more.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from stepwise.services import sessions, users
from stepwise.services.edge import client_address
from stepwise.services.throttle import TooManyFailures
from stepwise.services.users import UserRow
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
CODE_COOKIE = "stepwise_2fa"  # signed {user, next, expiry} between the password and the code
CODE_SECONDS = 300


def login_page(
    request: Request, ui: Ui, template: str = "login.html", *, status: int = 200, **context: object
) -> Response:
    """Render a page of the sign-in flow with its double-submit CSRF token (cookie on /login)."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_token()
    context.setdefault("error", "")
    context.setdefault("next", "/sequences")
    html = render_template(
        ui, template, request=request, account=None, csrf="", nav="", flashes=[], login_csrf=token, **context
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


def _refused(request: Request, ui: Ui, template: str, exc: TooManyFailures, next_url: str) -> Response:
    error = f"Too many failed sign-ins. Try again in {_minutes(exc.retry_after)}."
    refused = login_page(request, ui, template, next=next_url, error=error, status=429)
    refused.headers["Retry-After"] = str(exc.retry_after)
    return refused


@router.get("/login")
def login_form(request: Request, ui: UiDep, next: str = "/") -> Response:
    """Show the sign-in form (or go on when already signed in)."""
    found = session_of(ui, request)
    if found is not None and found.user_id is not None:
        return RedirectResponse(safe_next(next, "/sequences"), status_code=303)
    return login_page(request, ui, next=safe_next(next, "/sequences"))


@router.post("/login")
async def login(request: Request, ui: UiDep) -> Response:
    """Check the email and password; start a session, or ask for the TOTP code first."""
    form = await request.form(max_files=0, max_fields=10)
    next_url = safe_next(str(form.get("next") or ""), "/sequences")
    given = form.get("csrf")
    if not isinstance(given, str) or not same_token(given, request.cookies.get(LOGIN_CSRF_COOKIE)):
        return login_page(request, ui, next=next_url, error="The form expired; please try again.", status=403)
    email, password = form.get("email"), form.get("password")
    email = email.strip() if isinstance(email, str) else ""
    password = password if isinstance(password, str) else ""
    stepwise = ui.stepwise
    try:
        found = await run_in_threadpool(
            users.check_password_sign_in, stepwise.db, stepwise.throttle, client_address(request), email, password
        )
    except TooManyFailures as exc:
        return _refused(request, ui, "login.html", exc, next_url)
    if found is None:
        error = "That email and password do not match."
        return login_page(request, ui, next=next_url, error=error, email=email, status=401)
    if found.needs_code:
        page = login_page(request, ui, "login_code.html", next=next_url)
        pending = {"u": found.user.id, "n": next_url, "e": int(time.time()) + CODE_SECONDS}
        page.set_cookie(
            CODE_COOKIE,
            ui.signer.sign("2fa", pending),
            max_age=CODE_SECONDS,
            path="/login",
            httponly=True,
            samesite="lax",
            secure=is_https(request, ui),
        )
        return page
    return await _start_session(request, ui, found.user, next_url)


@router.post("/login/code")
async def login_code(request: Request, ui: UiDep) -> Response:
    """Check the TOTP code of the user who gave the right password a moment ago."""
    form = await request.form(max_files=0, max_fields=10)
    given, code = form.get("csrf"), form.get("code")
    pending = ui.signer.verify("2fa", request.cookies.get(CODE_COOKIE))
    if (
        not isinstance(given, str)
        or not same_token(given, request.cookies.get(LOGIN_CSRF_COOKIE))
        or not isinstance(pending, dict)
        or int(pending.get("e", 0)) < time.time()
    ):
        return login_page(request, ui, error="The sign-in expired; please start again.", status=403)
    next_url = safe_next(str(pending.get("n") or ""), "/sequences")
    stepwise = ui.stepwise
    try:
        user = await run_in_threadpool(
            users.check_code,
            stepwise.db,
            stepwise.throttle,
            stepwise.secret,
            int(pending["u"]),
            code if isinstance(code, str) else "",
            stepwise.clock(),
        )
    except TooManyFailures as exc:
        return _refused(request, ui, "login_code.html", exc, next_url)
    if user is None:
        return login_page(request, ui, "login_code.html", error="That code is not right.", status=401)
    response = await _start_session(request, ui, user, next_url)
    response.delete_cookie(CODE_COOKIE, path="/login")
    return response


async def _start_session(request: Request, ui: Ui, user: UserRow, next_url: str) -> Response:
    """A new session id for the user (the one the browser held ends), then on to next_url."""
    stepwise = ui.stepwise
    old = request.cookies.get(SESSION_COOKIE)
    token = await run_in_threadpool(
        sessions.start, stepwise.db, user.account_id, None, stepwise.clock(), replacing=old, user_id=user.id
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
