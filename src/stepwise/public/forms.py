"""Hosted subscription forms and the double opt-in link (SPEC §5): /f/{account}/{form} and /t/confirm/{token}.

There is no API key: anyone may load and post a form, from this page or from a copy embedded on
another site. Every client address is rate-limited per page kind, a honeypot field catches simple
bots (they are answered as if they had succeeded), and no answer depends on whether an address is
already known. The confirmation link's signed token is its own credential.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException

from stepwise.domain.forms import HONEYPOT
from stepwise.errors import AppError
from stepwise.public.tracking import app_of
from stepwise.services import forms as service
from stepwise.services.forms import MAX_VALUE, PublicForm, SubmissionInvalid

router = APIRouter(include_in_schema=False)

_pages = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    auto_reload=False,
)
_NO_STORE = {
    "Cache-Control": "no-store, private",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the confirmation token must not leak to a success page's site
}
_AUTOCOMPLETE = {
    "firstname": "given-name",
    "first_name": "given-name",
    "givenname": "given-name",
    "lastname": "family-name",
    "last_name": "family-name",
    "surname": "family-name",
    "familyname": "family-name",
    "name": "name",
    "fullname": "name",
    "phone": "tel",
    "tel": "tel",
    "city": "address-level2",
    "country": "country-name",
    "company": "organization",
    "organization": "organization",
}

# --- Rate limits -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """A token bucket: `burst` requests at once, refilled at `per_minute`."""

    burst: float
    per_minute: float


LIMITS = {
    "view": Limit(burst=60, per_minute=60),
    "submit": Limit(burst=10, per_minute=2),
    "confirm": Limit(burst=20, per_minute=10),
}
MAX_CLIENTS = 50_000  # remembered buckets; beyond this the fullest are forgotten first


class RateLimiter:
    """Token buckets per (page kind, client address), in this process's memory."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # -> (tokens, at)
        self._lock = threading.Lock()

    def check(self, kind: str, client: str, now: float) -> float | None:
        """Take a token; return None when allowed, else the seconds until the next token."""
        limit = LIMITS[kind]
        rate = limit.per_minute / 60.0
        with self._lock:
            tokens, at = self._buckets.get((kind, client), (limit.burst, now))
            tokens = min(limit.burst, tokens + max(0.0, now - at) * rate)
            if tokens < 1.0:
                self._buckets[(kind, client)] = (tokens, now)
                return (1.0 - tokens) / rate
            self._buckets[(kind, client)] = (tokens - 1.0, now)
            if len(self._buckets) > MAX_CLIENTS:
                self._forget(now)
        return None

    def _forget(self, now: float) -> None:
        # A bucket that has refilled says nothing a fresh one would not: drop those first, then any.
        full = [key for key, (tokens, at) in self._buckets.items() if now - at > 3600 or tokens >= 1.0]
        for key in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]


def _limited(request: Request, kind: str) -> Response | None:
    limiter = getattr(request.app.state, "form_limiter", None)
    if limiter is None:
        limiter = request.app.state.form_limiter = RateLimiter()
    client = request.client.host if request.client else "unknown"
    wait = limiter.check(kind, client, app_of(request).clock().timestamp())
    if wait is None:
        return None
    retry = {"Retry-After": str(int(wait) + 1)}
    return _message("Too many attempts", ["Please wait a minute and try again."], status=429, headers=retry)


# --- Pages -------------------------------------------------------------------------------------------


@dataclass
class _Field:
    id: str
    name: str
    label: str
    type: str
    required: bool
    value: str
    error: str | None
    autocomplete: str | None
    maxlength: int


def _label(path: str) -> str:
    """Turn `base.firstName` into "First name"."""
    last = path.rsplit(".", 1)[-1].replace("_", " ").replace("-", " ")
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", last).lower().strip()
    return words[:1].upper() + words[1:]


def _fields(form: PublicForm, values: dict[str, str], problems: dict[str, str]) -> list[_Field]:
    email = _Field(
        "f-email", "email", "Email address", "email", True, values.get("email", ""), problems.get("email"), "email", 254
    )
    fields = [email]
    for index, item in enumerate(form.spec.field_list()):
        last = item.path.rsplit(".", 1)[-1].lower()
        kind = "tel" if last in ("phone", "tel", "mobile") else "text"
        fields.append(
            _Field(
                f"f-{index}",
                item.path,
                item.label or _label(item.path),
                kind,
                item.required,
                values.get(item.path, ""),
                problems.get(item.path),
                _AUTOCOMPLETE.get(last),
                MAX_VALUE,
            )
        )
    return fields


def _form_page(form: PublicForm, values: dict[str, str], problems: dict[str, str], status: int = 200) -> HTMLResponse:
    body = _pages.get_template("form.html").render(
        heading=form.spec.title or "Subscribe",
        description=form.spec.description,
        action=f"/f/{form.account}/{form.key}",
        fields=_fields(form, values, problems),
        problems=problems,
        honeypot=HONEYPOT,
        double_opt_in=form.spec.double_opt_in,
    )
    return HTMLResponse(body, status_code=status, headers={**_NO_STORE, "Content-Security-Policy": _csp(form)})


def _message(
    heading: str, paragraphs: list[str], status: int = 200, headers: dict[str, str] | None = None
) -> HTMLResponse:
    body = _pages.get_template("form_message.html").render(heading=heading, paragraphs=paragraphs)
    csp = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
    return HTMLResponse(
        body, status_code=status, headers={**_NO_STORE, "Content-Security-Policy": csp, **(headers or {})}
    )


def _csp(form: PublicForm) -> str:
    # A form's page may only post to us; browsers also apply form-action to the redirect after a
    # post, so the success page's origin is allowed too.
    targets = ["'self'"]
    if form.spec.success_url:
        parts = urlsplit(form.spec.success_url)
        targets.append(f"{parts.scheme}://{parts.netloc}")
    return f"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action {' '.join(targets)}"


def _not_found() -> HTMLResponse:
    return _message("Form not found", ["There is no form at this address. Check the link you followed."], 404)


def _done(form: PublicForm) -> Response:
    """The answer to a successful post: the same whether or not the address was known before."""
    if form.spec.double_opt_in:
        return _message(
            "Check your inbox",
            [
                "We sent a confirmation link to the address you entered.",
                "Open it to finish subscribing. If nothing arrives in a few minutes, look in your spam folder.",
            ],
        )
    if form.spec.success_url:
        return RedirectResponse(form.spec.success_url, status_code=303, headers=_NO_STORE)
    return _message("Thank you", ["You are subscribed."])


# --- Routes ------------------------------------------------------------------------------------------


@router.get("/f/{account}/{form}")
async def show_form(account: str, form: str, request: Request) -> Response:
    """Render a hosted form."""
    refused = _limited(request, "view")
    if refused is not None:
        return refused
    found = await run_in_threadpool(service.public_form, app_of(request).db, account, form)
    if found is None:
        return _not_found()
    return _form_page(found, {}, {})


@router.post("/f/{account}/{form}")
async def submit_form(account: str, form: str, request: Request) -> Response:
    """Validate a submission, create or update the subscriber and confirm by email or at once."""
    refused = _limited(request, "submit")
    if refused is not None:
        return refused
    app = app_of(request)
    found = await run_in_threadpool(service.public_form, app.db, account, form)
    if found is None:
        return _not_found()
    try:
        posted: FormData = await request.form(max_files=0, max_fields=100, max_part_size=16 * 1024)
    except (MultiPartException, ValueError, KeyError):
        return _message("The form could not be read", ["Please go back and send it again."], 400)
    values = {name: value for name, value in posted.items() if isinstance(value, str)}
    if values.get(HONEYPOT, "").strip():
        return _done(found)  # a bot filled in the hidden field: answer as usual, change nothing
    try:
        email, data = service.validate_submission(found, values)
    except SubmissionInvalid as exc:
        shown = {name: value[:MAX_VALUE] for name, value in values.items()}
        return _form_page(found, shown, exc.problems, status=422)
    try:
        await run_in_threadpool(
            service.submit, app.db, app.signer, app.settings.base_url, found, email, data, app.clock()
        )
    except AppError as exc:  # the form no longer fits its account (definitions are validated on save)
        return _message("This form cannot be used right now", [exc.message], status=exc.status)
    return _done(found)


@router.get("/t/confirm/{token}")
async def confirm(token: str, request: Request) -> Response:
    """Confirm a subscription from the emailed link; show a page or redirect to the form's success URL."""
    refused = _limited(request, "confirm")
    if refused is not None:
        return refused
    app = app_of(request)
    result = await run_in_threadpool(service.confirm, app.db, app.signer, token, app.clock())
    if result is None:
        return _message(
            "Link not valid", ["This confirmation link is not valid. It may have been copied incompletely."], 404
        )
    if not result.active:
        return _message(
            "Subscription not confirmed",
            ["This address no longer receives our emails, so the link cannot confirm it. Fill in the form again."],
        )
    if result.success_url:
        return RedirectResponse(result.success_url, status_code=303, headers=_NO_STORE)
    title = result.form.spec.title if result.form else None
    return _message(
        "Subscription confirmed",
        [f"Thank you: you are subscribed to {title}." if title else "Thank you: your subscription is confirmed."],
    )
