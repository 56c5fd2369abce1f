"""Pages of the one-time links (SPEC S33): the first owner's setup, invitations, password resets, "forgot".

The token in a link's address is its own proof (256 random bits, only its hash stored), so these
forms need no session; a used or expired link gets a 404 page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from stepwise.errors import AppError
from stepwise.services import team_links
from stepwise.web.auth import login_page
from stepwise.web.pages import PageRoute, Ui, redirect, ui_of
from stepwise.web.security import LOGIN_CSRF_COOKIE, same_token

router = APIRouter(route_class=PageRoute, include_in_schema=False)
UiDep = Annotated[Ui, Depends(ui_of)]
Token = Annotated[str, Path(min_length=1, max_length=100)]
PURPOSES = {
    "setup": ("Set up the first owner", "Choose the email and password of the account's owner."),
    "invite": ("Accept your invitation", "Choose a password to join."),
    "reset": ("Choose a new password", "Your other sessions end when you save it."),
}


def _link_page(request: Request, ui: Ui, purpose: str, token: str, *, error: str = "", status: int = 200) -> Response:
    title, intro = PURPOSES[purpose]
    link = team_links.open_link(ui.stepwise.db, purpose, token, ui.stepwise.clock())
    return login_page(
        request,
        ui,
        "link.html",
        status=status,
        title=title,
        intro=intro,
        action=f"/{purpose}/{token}",
        ask_email=purpose == "setup",
        email=link.email or "",
        error=error,
    )


async def _accept(request: Request, ui: Ui, purpose: str, token: str) -> Response:
    form = await request.form(max_files=0, max_fields=10)
    email, password, again = (form.get(name) for name in ("email", "password", "again"))
    password = password if isinstance(password, str) else ""
    if password != again:
        return _link_page(request, ui, purpose, token, error="The two passwords differ.", status=422)
    stepwise = ui.stepwise
    try:
        if purpose == "setup":
            await run_in_threadpool(
                team_links.accept_setup, stepwise.db, token, str(email or ""), password, stepwise.clock()
            )
        elif purpose == "invite":
            await run_in_threadpool(team_links.accept_invite, stepwise.db, token, password, stepwise.clock())
        else:
            await run_in_threadpool(team_links.accept_reset, stepwise.db, token, password, stepwise.clock())
    except AppError as exc:
        if exc.status == 404:
            raise
        return _link_page(request, ui, purpose, token, error=exc.message, status=exc.status)
    return redirect(request, "/login")


@router.get("/setup/{token}")
def setup_form(request: Request, ui: UiDep, token: Token) -> Response:
    """The first owner's form."""
    return _link_page(request, ui, "setup", token)


@router.post("/setup/{token}")
async def setup(request: Request, ui: UiDep, token: Token) -> Response:
    """Create the first owner, then sign in."""
    return await _accept(request, ui, "setup", token)


@router.get("/invite/{token}")
def invite_form(request: Request, ui: UiDep, token: Token) -> Response:
    """The invited person's form."""
    return _link_page(request, ui, "invite", token)


@router.post("/invite/{token}")
async def accept_invite(request: Request, ui: UiDep, token: Token) -> Response:
    """Create the invited user, then sign in."""
    return await _accept(request, ui, "invite", token)


@router.get("/reset/{token}")
def reset_form(request: Request, ui: UiDep, token: Token) -> Response:
    """The new-password form."""
    return _link_page(request, ui, "reset", token)


@router.post("/reset/{token}")
async def reset(request: Request, ui: UiDep, token: Token) -> Response:
    """Set the new password, then sign in."""
    return await _accept(request, ui, "reset", token)


@router.get("/login/forgot")
def forgot_form(request: Request, ui: UiDep) -> Response:
    """Ask for a reset link."""
    return login_page(request, ui, "forgot.html")


@router.post("/login/forgot")
async def forgot(request: Request, ui: UiDep) -> Response:
    """Email a reset link when the address is a user's; the answer is the same either way."""
    form = await request.form(max_files=0, max_fields=10)
    given, email = form.get("csrf"), form.get("email")
    if not isinstance(given, str) or not same_token(given, request.cookies.get(LOGIN_CSRF_COOKIE)):
        return login_page(request, ui, "forgot.html", error="The form expired; please try again.", status=403)
    stepwise = ui.stepwise
    await run_in_threadpool(team_links.request_reset, stepwise, str(email or "")[:400], stepwise.clock())
    return login_page(request, ui, "forgot.html", sent=True)
