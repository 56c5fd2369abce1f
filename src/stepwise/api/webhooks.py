"""/webhooks: outbound webhook endpoints, their delivery log, retries and pings (SPEC §18, S29)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from stepwise.api import schemas
from stepwise.api.auth import Account, App
from stepwise.api.checked import CheckedRoute
from stepwise.api.common import Cursor, Limit
from stepwise.services import webhooks
from stepwise.services.webhooks import Webhook, WebhookDelivery, WebhookDeliveryPage, WebhookList

router = APIRouter(tags=["webhooks"], route_class=CheckedRoute)

KeyPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
MessagePath = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^msg_[0-9a-f]+$")]


@router.get("/webhooks", response_model=WebhookList)
def list_webhooks(account: Account, app: App) -> WebhookList:
    """Every endpoint of the account (secrets are never shown again)."""
    return webhooks.list_all(app.db, account.id)


@router.put("/webhooks/{key}", response_model=Webhook, responses={201: {"model": Webhook}})
def put_webhook(key: KeyPath, body: schemas.WebhookPut, account: Account, app: App, response: Response) -> Webhook:
    """Create (201, with the signing `secret`, shown once) or change an endpoint; `active: true` resumes one."""
    view, created = webhooks.put(app.db, app.secret, account.id, key, body.url, body.events, body.active, app.clock())
    if created:
        response.status_code = 201
    return view


@router.get("/webhooks/{key}", response_model=Webhook)
def get_webhook(key: KeyPath, account: Account, app: App) -> Webhook:
    """One endpoint, with why and when it was set inactive."""
    return webhooks.get(app.db, account.id, key)


@router.delete("/webhooks/{key}", status_code=204, response_class=Response)
def delete_webhook(key: KeyPath, account: Account, app: App) -> Response:
    """Delete an endpoint, its delivery log and its queued messages."""
    webhooks.delete(app.db, account.id, key)
    return Response(status_code=204)


@router.get("/webhooks/{key}/deliveries", response_model=WebhookDeliveryPage)
def list_deliveries(
    key: KeyPath, account: Account, app: App, limit: Limit = 50, cursor: Cursor = None
) -> WebhookDeliveryPage:
    """The delivery log, newest first: status, attempts, last reply code and error, body."""
    return webhooks.deliveries(app.db, account.id, key, cursor, limit)


@router.post("/webhooks/{key}/deliveries/{message_id}/retry", response_model=WebhookDelivery)
def retry_delivery(key: KeyPath, message_id: MessagePath, account: Account, app: App) -> WebhookDelivery:
    """Queue a delivered or failed message again, with the same id."""
    return webhooks.retry(app.db, account.id, key, message_id, app.clock())


@router.post("/webhooks/{key}/ping", response_model=WebhookDelivery, status_code=202)
def ping_webhook(key: KeyPath, account: Account, app: App) -> WebhookDelivery:
    """Queue a `webhook.ping` message at once."""
    return webhooks.ping(app.db, account.id, account.name, key, app.clock())
