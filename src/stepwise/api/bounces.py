"""/bounces: bounce and complaint reports (SPEC S30), JSON, raw messages and provider receivers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from stepwise.api import schemas
from stepwise.api.auth import Account, App
from stepwise.api.checked import CheckedRoute
from stepwise.api.common import Cursor, EmailFilter, Limit
from stepwise.api.errors import ERROR_RESPONSES, ErrorBody
from stepwise.delivery.reports import Report, ReportError, parse_raw
from stepwise.domain.emails import InvalidEmail, parse_email
from stepwise.errors import Unprocessable, UnsupportedMediaType
from stepwise.services import bounce_receivers, bounces
from stepwise.services.bounces import BouncePage, Health, Intake
from stepwise.services.context import Context

_UNSUPPORTED: dict[int | str, dict[str, Any]] = {415: {"model": ErrorBody, "description": "Not sent as a message"}}
router = APIRouter(prefix="/bounces", tags=["bounces"], route_class=CheckedRoute)
hooks = APIRouter(tags=["bounces"], route_class=CheckedRoute)

_RAW = {
    "requestBody": {
        "required": True,
        "content": {
            "message/rfc822": {
                "schema": {"type": "string", "format": "binary"},
                "example": "A delivery status notification (RFC 3464) or an ARF report (RFC 5965), as received",
            }
        },
    }
}
_HOOK = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {}}, "text/plain": {"schema": {"type": "string"}}},
    }
}


@router.post("", status_code=202, response_model=Intake)
def post_bounce(body: schemas.BouncePost, account: Account, app: App) -> Intake:
    """Report a bounce or a complaint for an address (and, with `message_id`, the email it is about)."""
    try:
        email = parse_email(body.email).value
    except InvalidEmail as exc:
        raise Unprocessable.one("$.email", f"the address {exc}") from exc
    report = Report(email, body.type, body.message_id, body.reason, None)
    return bounces.take_in(app.db, account.id, [report], source="api", now=app.clock())


@router.post("/raw", status_code=202, response_model=Intake, openapi_extra=_RAW, responses=_UNSUPPORTED)
async def post_raw(request: Request, account: Account, app: App) -> Intake:
    """Take in a delivery status notification or a feedback report as received (`message/rfc822`)."""
    content_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if content_type not in ("message/rfc822", "text/plain", "application/octet-stream"):
        raise UnsupportedMediaType("send the report as message/rfc822")
    data = await request.body()
    return await run_in_threadpool(take_raw, app, account.id, data, "raw")


def take_raw(app: Context, account_id: int, data: bytes, source: str) -> Intake:
    """Parse one report message and take it in (422 when it is not a report we can read)."""
    try:
        reports = parse_raw(data)
    except ReportError as exc:
        raise Unprocessable(str(exc), code="unreadable_report") from exc
    return bounces.take_in(app.db, account_id, reports, source=source, now=app.clock())


@router.get("", response_model=BouncePage)
def list_bounces(
    account: Account,
    app: App,
    email: EmailFilter = None,
    issue: str | None = Query(default=None, max_length=32, pattern="^[0-9a-f]{1,32}$"),
    limit: Limit = 100,
    cursor: Cursor = None,
) -> BouncePage:
    """Reports taken in, newest first; for one address or one issue when asked."""
    return bounces.page(app.db, account.id, email=email, issue=issue, cursor=cursor, limit=limit)


@router.get("/rates", response_model=Health)
def rates(account: Account, app: App) -> Health:
    """The account's bounce and complaint rates over the last 7 days, with warnings past 2 % and 0.3 %."""
    return bounces.health(app.db, account.id, app.clock())


@hooks.post(
    "/hooks/{account}/{provider}/{token}",
    status_code=200,
    openapi_extra=_HOOK,
    responses={**ERROR_RESPONSES, 502: {"model": ErrorBody, "description": "The SNS confirmation failed"}},
)
async def provider_hook(account: str, provider: str, token: str, request: Request) -> Response:
    """A provider's event webhook (sendgrid, mailgun, postmark, ses); the token in the URL authenticates."""
    app: Context = request.app.state.stepwise
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    intake = await run_in_threadpool(
        bounce_receivers.receive, app, account[:64], provider[:16], token[:200], body, headers, app.clock()
    )
    content = b'{"confirmed":true}' if intake is None else intake.model_dump_json().encode()
    return Response(content, media_type="application/json")
