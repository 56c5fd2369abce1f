"""/suppressions (S31), /sending-domains (S32) and /bounce-receivers (S30)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from stepwise.api import schemas
from stepwise.api.auth import Account, App
from stepwise.api.checked import CheckedRoute
from stepwise.api.common import Cursor, Limit
from stepwise.api.errors import ErrorBody
from stepwise.errors import UnsupportedMediaType
from stepwise.services import bounce_receivers, sending_domains, suppressions
from stepwise.services.bounce_receivers import Receiver, ReceiverBody, Receivers
from stepwise.services.sending_domains import SendingDomain, SendingDomains
from stepwise.services.suppressions import Suppression, SuppressionImport, SuppressionPage

router = APIRouter(tags=["deliverability"], route_class=CheckedRoute)

AddressPath = Annotated[
    str, Path(min_length=3, max_length=320, description="an address (name@example.com) or a domain (@example.com)")
]
DomainPath = Annotated[str, Path(min_length=3, max_length=253, description="a domain, e.g. example.com")]
ProviderPath = Annotated[str, Path(pattern="^(sendgrid|mailgun|postmark|ses)$")]
_CSV = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": "address,reason,note\nann@example.com,manual,\n"}
        },
    }
}


@router.get("/suppressions", response_model=SuppressionPage)
def list_suppressions(
    account: Account,
    app: App,
    limit: Limit = 100,
    cursor: Cursor = None,
    search: str | None = Query(default=None, max_length=320, description="entries starting with this"),
) -> SuppressionPage:
    """The suppression list in address order."""
    return suppressions.page(app.db, account.id, cursor=cursor, limit=limit, search=search)


@router.get(
    "/suppressions/export.csv", response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}}}}
)
def export_suppressions(account: Account, app: App) -> StreamingResponse:
    """The whole list as CSV (address, reason, note, created_at), streamed."""
    headers = {"Content-Disposition": 'attachment; filename="suppressions.csv"'}
    return StreamingResponse(suppressions.export_csv(app.db, account.id), media_type="text/csv", headers=headers)


@router.post(
    "/suppressions/import",
    response_model=SuppressionImport,
    openapi_extra=_CSV,
    responses={415: {"model": ErrorBody, "description": "Not sent as CSV"}},
)
async def import_suppressions(request: Request, account: Account, app: App) -> SuppressionImport:
    """Add the rows of a CSV file (address, reason?, note?); one bad row: 422 listing them, nothing added."""
    content_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if content_type not in ("text/csv", "text/plain", "application/octet-stream"):
        raise UnsupportedMediaType("send the file as text/csv")
    data = await request.body()
    return await run_in_threadpool(suppressions.import_csv, app.db, account.id, data, app.clock())


@router.put("/suppressions/{address}", response_model=Suppression, responses={201: {"model": Suppression}})
def put_suppression(
    address: AddressPath, body: schemas.SuppressionPut, account: Account, app: App, response: Response
) -> Suppression:
    """Suppress an address or a whole domain (@example.com): no email goes to it, whatever its status."""
    view, created = suppressions.put(app.db, account.id, address, body.reason, body.note, app.clock())
    response.status_code = 201 if created else 200
    return view


@router.get("/suppressions/{address}", response_model=Suppression)
def get_suppression(address: AddressPath, account: Account, app: App) -> Suppression:
    return suppressions.get(app.db, account.id, address)


@router.delete("/suppressions/{address}", status_code=204)
def delete_suppression(address: AddressPath, account: Account, app: App) -> Response:
    """Take an entry off the list (emails go to it again)."""
    suppressions.remove(app.db, account.id, address)
    return Response(status_code=204)


@router.get("/sending-domains", response_model=SendingDomains)
def list_domains(account: Account, app: App) -> SendingDomains:
    return sending_domains.all_domains(app.db, account.id)


@router.put("/sending-domains/{domain}", response_model=SendingDomain, responses={201: {"model": SendingDomain}})
def put_domain(
    domain: DomainPath, account: Account, app: App, response: Response, body: schemas.SendingDomainPut | None = None
) -> SendingDomain:
    """Create the domain's DKIM key (RSA-2048) and return the TXT record to publish; the private key stays here."""
    selector = body.selector if body else None
    view, created = sending_domains.put(app.db, app.secret, account.id, domain, selector, app.clock())
    response.status_code = 201 if created else 200
    return view


@router.get("/sending-domains/{domain}", response_model=SendingDomain)
def get_domain(domain: DomainPath, account: Account, app: App) -> SendingDomain:
    return sending_domains.get(app.db, account.id, domain)


@router.delete("/sending-domains/{domain}", status_code=204)
def delete_domain(domain: DomainPath, account: Account, app: App) -> Response:
    """Delete the key: emails from the domain go out unsigned."""
    sending_domains.remove(app.db, account.id, domain)
    return Response(status_code=204)


@router.get("/bounce-receivers", response_model=Receivers)
def list_receivers(account: Account, app: App) -> Receivers:
    """The provider receivers and the URL to give each provider."""
    return bounce_receivers.all_receivers(app, account.id)


@router.put("/bounce-receivers/{provider}", response_model=Receiver, responses={201: {"model": Receiver}})
def put_receiver(
    provider: ProviderPath, body: ReceiverBody, account: Account, app: App, response: Response
) -> Receiver:
    """Create or change a provider's receiver (SendGrid and Mailgun need the key that verifies their signature)."""
    view, created = bounce_receivers.put(app, account.id, provider, body, app.clock())
    response.status_code = 201 if created else 200
    return view


@router.delete("/bounce-receivers/{provider}", status_code=204)
def delete_receiver(provider: ProviderPath, account: Account, app: App) -> Response:
    bounce_receivers.remove(app, account.id, provider)
    return Response(status_code=204)
