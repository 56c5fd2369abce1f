"""Provider bounce receivers (SPEC S30): /hooks/{account}/{provider}/{token} for SendGrid, Mailgun,
Postmark and Amazon SES (through SNS).

Each receiver has a random token in its URL (sealed in the database with the instance secret, so the
URL can be shown again) and, for SendGrid and Mailgun, the key that verifies the provider's signature:
SendGrid's public key (ECDSA) and Mailgun's HTTP signing key (HMAC), the latter sealed too. A request
with an unknown account, provider or token is a 404; a signature that does not verify is a 401; either
changes nothing.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from stepwise.delivery import provider_reports as providers
from stepwise.delivery.provider_reports import Provider, SnsConfirmation, Unverified
from stepwise.delivery.reports import Report, ReportError
from stepwise.delivery.sealing import Unsealable, seal, unseal
from stepwise.delivery.transports import DeliveryError
from stepwise.delivery.webhooks import UrlCaller, UrlRequest
from stepwise.domain.instants import iso
from stepwise.errors import NotFound, Unauthorized, Unprocessable, Upstream
from stepwise.services import audit, bounces
from stepwise.services.context import Context
from stepwise.storage import accounts as account_store
from stepwise.storage import sending_domains as store
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.sending_domains import ReceiverRow

TOKEN_PURPOSE = "bounce-receiver-token"
KEY_PURPOSE = "bounce-receiver-key"
NEEDS_KEY: frozenset[str] = frozenset({"sendgrid", "mailgun"})


# Settings of one provider's receiver: the key that verifies its signature (SendGrid: the
# verification public key, base64 or PEM; Mailgun: the HTTP webhook signing key), and whether to
# make a new URL token (the old URL stops working).
class ReceiverBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(default=None, min_length=1, max_length=4096)
    new_token: bool = False


# A provider receiver: the URL to give the provider.
class Receiver(BaseModel):
    model_config = ConfigDict(frozen=True)

    provider: Provider
    url: str
    has_key: bool
    updated_at: str


# The account's provider receivers.
class Receivers(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[Receiver]


def _url(app: Context, account: str, provider: str, token: str) -> str:
    return f"{app.settings.base_url.rstrip('/')}/hooks/{account}/{provider}/{token}"


def _view(app: Context, account: str, row: ReceiverRow) -> Receiver:
    token = unseal(app.secret, TOKEN_PURPOSE, row.sealed_token).decode()
    return Receiver(
        provider=row.provider,  # stored values are providers; the model checks
        url=_url(app, account, row.provider, token),
        has_key=row.sealed_key is not None,
        updated_at=iso(from_us(row.updated_at)),
    )


def _provider(raw: str) -> Provider:
    if raw not in providers.PROVIDERS:
        raise NotFound(f"no provider {raw[:40]!r}; known: {', '.join(providers.PROVIDERS)}")
    return raw  # narrowed by the check above


def put(app: Context, account_id: int, raw: str, body: ReceiverBody, now: datetime) -> tuple[Receiver, bool]:
    """Create or change a receiver; True when created. SendGrid and Mailgun need their key."""
    provider = _provider(raw)
    if body.key is not None and provider == "sendgrid":
        try:
            providers.check_sendgrid_key(body.key)
        except ValueError as exc:
            raise Unprocessable.one("$.key", str(exc)) from exc
    with app.db.write() as conn:
        account = account_store.by_id(conn, account_id)
        existing = store.receiver(conn, account_id, provider)
        sealed_key = seal(app.secret, KEY_PURPOSE, body.key.encode()) if body.key else None
        if sealed_key is None and existing is not None:
            sealed_key = existing.sealed_key
        if sealed_key is None and provider in NEEDS_KEY:
            raise Unprocessable.one("$.key", f"{provider} signs its webhooks: give the key that verifies them")
        token = existing.sealed_token if existing and not body.new_token else None
        row = ReceiverRow(
            account_id,
            provider,
            token or seal(app.secret, TOKEN_PURPOSE, secrets.token_urlsafe(24).encode()),
            sealed_key,
            to_us(now),
        )
        store.put_receiver(conn, row)
        after = {"key_set": sealed_key is not None, "new_token": bool(body.new_token)}  # never the secrets
        audit.record(
            conn, account_id, "bounce_receiver", provider, "create" if existing is None else "update", None, after
        )
    return _view(app, account.name if account else "", row), existing is None


def all_receivers(app: Context, account_id: int) -> Receivers:
    with app.db.read() as conn:
        account = account_store.by_id(conn, account_id)
        rows = store.receivers(conn, account_id)
    return Receivers(items=[_view(app, account.name if account else "", r) for r in rows])


def remove(app: Context, account_id: int, raw: str) -> None:
    provider = _provider(raw)
    with app.db.write() as conn:
        if store.receiver(conn, account_id, provider) is None:
            raise NotFound(f"no {provider} receiver")
        store.remove_receiver(conn, account_id, provider)
        audit.record(conn, account_id, "bounce_receiver", provider, "delete")


def receive(
    app: Context, account_name: str, raw: str, token: str, body: bytes, headers: Mapping[str, str], now: datetime
) -> bounces.Intake | None:
    """Take in a provider's webhook; None when it was an SNS subscription confirmation (answered here)."""
    provider = _provider(raw)
    with app.db.read() as conn:
        account = account_store.by_name(conn, account_name)
        row = store.receiver(conn, account.id, provider) if account else None
    if account is None or row is None or not _token_matches(app, row, token):
        raise NotFound("no such receiver")
    key = _key(app, row)
    try:
        found = _parse(provider, body, headers, key)
    except Unverified as exc:
        raise Unauthorized(f"the {provider} signature does not verify: {exc}", code="bad_signature") from exc
    except ReportError as exc:
        raise Unprocessable(str(exc), code="unreadable_report") from exc
    if isinstance(found, SnsConfirmation):
        _confirm(app, found)
        return None
    return bounces.take_in(app.db, account.id, found, source=provider, now=now)


def _token_matches(app: Context, row: ReceiverRow, token: str) -> bool:
    try:
        expected = unseal(app.secret, TOKEN_PURPOSE, row.sealed_token)
    except Unsealable:
        return False
    return hmac.compare_digest(expected, token.encode("utf-8", "replace"))


def _key(app: Context, row: ReceiverRow) -> str:
    if row.sealed_key is None:
        return ""
    try:
        return unseal(app.secret, KEY_PURPOSE, row.sealed_key).decode()
    except (Unsealable, UnicodeDecodeError):
        return ""  # sealed with another secret: nothing verifies until the key is set again


def _parse(provider: Provider, body: bytes, headers: Mapping[str, str], key: str) -> list[Report] | SnsConfirmation:
    lowered = {k.lower(): v for k, v in headers.items()}
    match provider:
        case "sendgrid":
            return providers.sendgrid_reports(body, lowered, key)
        case "mailgun":
            return providers.mailgun_reports(body, key)
        case "postmark":
            return providers.postmark_reports(body)
        case "ses":
            return providers.ses_reports(body)


def _confirm(app: Context, confirmation: SnsConfirmation) -> None:
    """Answer an SNS subscription confirmation by fetching its SubscribeURL (Amazon's hosts only)."""
    host = (urlsplit(confirmation.subscribe_url).hostname or "").lower()
    if not app.settings.allow_private_urls and not (host.startswith("sns.") and host.endswith(".amazonaws.com")):
        raise Unprocessable(f"the SubscribeURL host {host!r} is not Amazon SNS", code="unreadable_report")
    caller = UrlCaller(allow_private=app.settings.allow_private_urls)
    try:
        asyncio.run(caller.call(UrlRequest("GET", confirmation.subscribe_url)))
    except DeliveryError as exc:
        raise Upstream(f"confirming the SNS subscription failed: {exc}", code="confirmation_failed") from exc
