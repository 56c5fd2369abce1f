"""The request context of UI pages: the signed-in account, rendering, redirects, flash messages, errors."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context as TemplateContext
from starlette.datastructures import FormData, UploadFile

from stepwise.domain.access import role_allows
from stepwise.domain.instants import parse_instant
from stepwise.errors import AppError
from stepwise.services import audit, sessions
from stepwise.services.accounts import AccountRow
from stepwise.services.context import Context, Database
from stepwise.services.edge import parameter_problems
from stepwise.services.sessions import SessionRow
from stepwise.services.users import Forbidden
from stepwise.web import describe
from stepwise.web.security import FLASH_COOKIE, SESSION_COOKIE, CookieSigner, same_token

R = TypeVar("R", bound=Response)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https: http:; "
    "frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)


@dataclass
class Ui:
    """What every page needs: the Stepwise instance, the template environment and the cookie signer."""

    stepwise: Context
    env: Environment
    signer: CookieSigner
    state: dict[str, Any] = field(default_factory=dict)


class LoginRequired(Exception):
    """The browser has no valid session."""


class CsrfFailed(AppError):
    """A form post without the session's CSRF token (or from another origin)."""

    status = 403
    code = "csrf"


def ui_of(request: Request) -> Ui:
    """Return the UI state installed on the application."""
    ui: Ui = request.app.state.ui
    return ui


def is_htmx(request: Request) -> bool:
    """Tell whether htmx sent the request (so a fragment or an HX-Redirect is the right answer)."""
    return request.headers.get("HX-Request") == "true"


def secure(response: R) -> R:
    """Add the headers every UI response carries."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def safe_next(target: str | None, default: str = "/") -> str:
    """Return target when it is a local path, else default (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


@dataclass
class Page:
    """One request of a signed-in user."""

    request: Request
    ui: Ui
    account: AccountRow
    session: SessionRow
    flashes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def role(self) -> str:
        """The signed-in user's role: owner, admin, editor or viewer."""
        return self.session.role

    @property
    def stepwise(self) -> Context:
        """Return the Stepwise instance."""
        return self.ui.stepwise

    def now(self) -> datetime:
        """Return the instance clock's current time."""
        return self.ui.stepwise.clock()

    def flash(self, text: str, kind: str = "ok") -> None:
        """Queue a message for the next page this browser sees."""
        self.flashes.append((kind, text))

    def render(self, template: str, *, status: int = 200, nav: str = "", **context: Any) -> HTMLResponse:
        """Render a template with the layout's context."""
        incoming = [] if is_htmx(self.request) else read_flashes(self.ui, self.request)
        html = render_template(
            self.ui,
            template,
            request=self.request,
            account=self.account,
            csrf=self.session.csrf,
            nav=nav,
            me=self.session,
            flashes=incoming + self.flashes,
            **context,
        )
        if is_htmx(self.request) and 400 <= status < 500:
            # htmx swaps it in; a 4xx would also be logged as a failed load in the browser console.
            response = HTMLResponse(html, status_code=200, headers={"X-Stepwise-Status": str(status)})
        else:
            response = HTMLResponse(html, status_code=status)
        if incoming:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return secure(response)

    def delete(self, noun: str, key: str, remove: Callable[[Database, int, str], None], section: str) -> Response:
        """Delete an object through its service; on refusal (in use) go back to it with the reason."""
        try:
            remove(self.stepwise.db, self.account.id, key)
        except AppError as exc:
            self.flash(exc.message, "error")
            return self.redirect(f"/{section}/{key}")
        self.flash(f"{noun} {key} deleted.")
        return self.redirect(f"/{section}")

    def redirect(self, url: str) -> Response:
        """Send the browser to url (303 for forms, HX-Redirect for htmx), carrying flash messages."""
        response = redirect(self.request, url)
        if self.flashes:
            response.set_cookie(
                FLASH_COOKIE,
                self.ui.signer.sign("flash", self.flashes),
                max_age=120,
                path="/",
                httponly=True,
                samesite="lax",
                secure=is_https(self.request, self.ui),
            )
        return response


def redirect(request: Request, url: str) -> Response:
    """Redirect a form post or an htmx request."""
    if is_htmx(request):
        return secure(Response(status_code=200, headers={"HX-Redirect": url}))
    return secure(RedirectResponse(url, status_code=303))


def read_flashes(ui: Ui, request: Request) -> list[tuple[str, str]]:
    """Return the flash messages the previous response left, if genuine."""
    data = ui.signer.verify("flash", request.cookies.get(FLASH_COOKIE))
    if not isinstance(data, list):
        return []
    return [(str(item[0]), str(item[1])) for item in data if isinstance(item, list) and len(item) == 2][:10]


def session_of(ui: Ui, request: Request) -> SessionRow | None:
    """Return the live server-side session named by the request's cookie (a database read)."""
    return sessions.resume(ui.stepwise.db, request.cookies.get(SESSION_COOKIE), ui.stepwise.clock())


def current_page(request: Request) -> Page:
    """Resolve the signed-in user: the session must exist, be unexpired and belong to a user.

    The user's role is checked here, for every page and action at once, by method and path
    (domain/access.py): a refused request gets a 403 page and changes nothing.
    """
    ui = ui_of(request)
    session = session_of(ui, request)
    if session is None or session.user_id is None:
        raise LoginRequired()
    request.state.session = session  # for error pages, which must not read the database again
    audit.set_actor(f"user:{session.email}")
    if not role_allows(session.role, request.method, request.url.path):
        raise Forbidden(f"your role ({session.role}) does not allow this; ask an owner or admin")
    return Page(request, ui, session.account, session)


def _origin_ok(request: Request, ui: Ui) -> bool:
    """Accept a post whose Origin (when the browser sends one) is this host or the configured public address."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    allowed = {request.headers.get("host", ""), urlsplit(ui.stepwise.settings.base_url).netloc}
    return urlsplit(origin).netloc in allowed


def is_https(request: Request, ui: Ui) -> bool:
    """Tell whether cookies must be Secure: the request came over TLS or the public address is https."""
    return request.url.scheme == "https" or ui.stepwise.settings.base_url.startswith("https://")


async def checked_form(request: Request, page: Annotated[Page, Depends(current_page)]) -> FormData:
    """Read a posted form and check its CSRF token (form field `csrf` or header X-CSRF-Token)."""
    form = await request.form(max_files=1, max_fields=5000)
    given = request.headers.get("X-CSRF-Token") or _text(form.get("csrf"))
    if not _origin_ok(request, page.ui) or not same_token(given, page.session.csrf):
        raise CsrfFailed("the form has expired or did not come from this site; reload the page and try again")
    return form


def _text(value: str | UploadFile | None) -> str:
    return value if isinstance(value, str) else ""


PageDep = Annotated[Page, Depends(current_page)]
FormDep = Annotated[FormData, Depends(checked_form)]


def text_of(form: FormData, name: str, default: str = "") -> str:
    """Return a text field of a posted form."""
    value = form.get(name)
    return value if isinstance(value, str) else default


def texts_of(form: FormData, name: str) -> list[str]:
    """Return every text value of a repeated form field."""
    return [v for v in form.getlist(name) if isinstance(v, str)]


class PageRoute(APIRoute):
    """Routes of the UI: service errors and missing sessions become pages, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler so that errors become pages."""
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            unfit = parameter_problems(request)  # PostgreSQL cannot compare text holding NUL
            if unfit:
                return error_page(request, 422, f"{unfit[0].path}: {unfit[0].message}")
            try:
                return await original(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                if request.method != "GET":
                    target = request.headers.get("HX-Current-URL") or "/"
                    target = urlsplit(target).path or "/"
                return redirect(request, "/login?" + urlencode({"next": safe_next(target)}))
            except AppError as exc:
                return error_page(request, exc.status, exc.message)

        return handler


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """Render an error as a page (with navigation when the browser is signed in)."""
    ui = ui_of(request)
    session: SessionRow | None = getattr(request.state, "session", None)
    titles = {
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        400: "Bad request",
        422: "Invalid input",
        413: "Too large",
    }
    html = render_template(
        ui,
        "error.html",
        request=request,
        account=None,
        csrf=session.csrf if session else "",
        nav="",
        flashes=[],
        me=session,
        status=status,
        title=titles.get(status, "Error"),
        message=message,
    )
    return secure(HTMLResponse(html, status_code=status))


def render_template(ui: Ui, name: str, **context: Any) -> str:
    """Render one template of the UI."""
    account = context.get("account")
    context.setdefault("tz", account.timezone if account is not None else "UTC")
    context.setdefault("this_year", ui.stepwise.clock().year)
    context.setdefault("me", None)
    return ui.env.get_template(name).render(**context)


# ---------------------------------------------------------------- the template environment


@pass_context
def _when(ctx: TemplateContext, value: Any) -> str:
    moment = parse_instant(value) if value else None
    if moment is None:
        return ""
    try:
        zone = ZoneInfo(str(ctx.get("tz") or "UTC"))
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    local = moment.astimezone(zone)
    if local.year == ctx.get("this_year"):
        return local.strftime("%d %b %H:%M")
    return local.strftime("%d %b %Y %H:%M")


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def _seg(value: Any) -> str:
    return quote(str(value), safe="@+")


def _query(base: str, **params: Any) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return base + ("?" + urlencode(clean) if clean else "")


def _number(value: Any) -> str:
    return f"{int(value or 0):,}".replace(",", "\u2009")


@functools.cache
def make_environment() -> Environment:
    """Return the template environment of the UI (autoescaped HTML, strict about undefined names), built once."""
    env = Environment(
        loader=PackageLoader("stepwise.web", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=_when, pretty=_pretty, seg=_seg, number=_number)
    env.globals.update(
        query=_query,
        describe_event=describe.event,
        describe_action=describe.action,
        describe_predicate=describe.predicate,
        describe_timeline=describe.timeline,
    )
    return env
