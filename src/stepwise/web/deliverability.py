"""Deliverability pages (SPEC §19): DKIM sending domains, provider bounce receivers, and bounce reports.

The suppression list has its own module (web/suppressions.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from stepwise.domain.problems import from_validation_error
from stepwise.errors import AppError, Unprocessable
from stepwise.services import bounce_receivers, bounces, sending_domains
from stepwise.services.bounce_receivers import Receiver, ReceiverBody
from stepwise.services.cursors import BadCursor
from stepwise.web.pages import FormDep, Page, PageDep, PageRoute, text_of
from stepwise.web.problems import FormErrors
from stepwise.web.suppressions import placed

router = APIRouter(route_class=PageRoute, include_in_schema=False)
BOUNCE_PAGE = 100
DOMAIN_FIELDS = ("domain", "selector")
UNSEALABLE = (
    "The receivers' URLs cannot be shown: they were sealed with another instance secret. "
    "Delete a receiver and create it again, or make a new URL."
)


@dataclass(frozen=True)
class ProviderInfo:
    """How the UI presents one provider's receiver."""

    name: str
    label: str
    key_label: str  # empty: the provider signs nothing, no key is asked for
    help: str


PROVIDERS = (
    ProviderInfo(
        "postmark",
        "Postmark",
        "",
        "In Postmark: Servers → your server → Webhooks → Add webhook; paste the URL and tick Bounce and "
        "Spam complaint.",
    ),
    ProviderInfo(
        "ses",
        "Amazon SES",
        "",
        "In Amazon SNS: create a topic, subscribe this URL to it over HTTPS (the subscription is confirmed "
        "automatically), then have SES send bounce and complaint notifications to the topic.",
    ),
    ProviderInfo(
        "sendgrid",
        "SendGrid",
        "Verification key (public key)",
        "In SendGrid: Settings → Mail Settings → Event Webhook; paste the URL, choose Bounced, Dropped and "
        "Spam Reports, turn on Signed Event Webhook and copy its verification key here.",
    ),
    ProviderInfo(
        "mailgun",
        "Mailgun",
        "HTTP webhook signing key",
        "In Mailgun: Sending → Webhooks; add the URL for Permanent failure, Temporary failure and Spam "
        "complaints, and copy the HTTP webhook signing key here.",
    ),
)


def _label(provider: str) -> str:
    return next((p.label for p in PROVIDERS if p.name == provider), provider)


# ---------------------------------------------------------------- sending domains and receivers


@router.get("/sending-domains")
def domain_list(page: PageDep) -> Response:
    """Show the DKIM sending domains with the DNS record of each, and the provider bounce receivers."""
    return _domains_page(page)


def _domains_page(
    page: Page,
    *,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
    receiver_errors: dict[str, FormErrors] | None = None,
    status: int = 200,
) -> Response:
    db, account_id = page.stepwise.db, page.account.id
    receivers: dict[str, Receiver] = {}
    receivers_error = ""
    try:
        receivers = {r.provider: r for r in bounce_receivers.all_receivers(page.stepwise, account_id).items}
    except ValueError:  # a token sealed with another instance secret
        receivers_error = UNSEALABLE
    return page.render(
        "deliverability/sending_domains.html",
        status=status,
        nav="sending-domains",
        domains=sending_domains.all_domains(db, account_id).items,
        errors=errors or FormErrors(),
        values=values or {"domain": "", "selector": ""},
        providers=PROVIDERS,
        receivers=receivers,
        receivers_error=receivers_error,
        receiver_errors=receiver_errors or {},
    )


@router.post("/sending-domains")
def add_domain(page: PageDep, form: FormDep) -> Response:
    """Make a DKIM key for a From domain (the private key stays on the server) and show its record."""
    values = {name: text_of(form, name).strip() for name in DOMAIN_FIELDS}
    errors = FormErrors()
    if not values["domain"]:
        errors.add("domain", "give the domain of your From addresses, e.g. example.com")
    else:
        try:
            found, created = sending_domains.put(
                page.stepwise.db,
                page.stepwise.secret,
                page.account.id,
                values["domain"],
                values["selector"] or None,
                page.now(),
            )
        except AppError as exc:
            errors = placed(exc, DOMAIN_FIELDS)
        else:
            page.flash(
                f"Sending domain {found.domain} added: publish its DNS record."
                if created
                else f"{found.domain} already has a key (selector {found.selector})."
            )
            return page.redirect(f"/sending-domains#domain-{found.domain}")
    return _domains_page(page, errors=errors, values=values, status=422)


@router.post("/sending-domains/{domain}/delete")
def delete_domain(page: PageDep, form: FormDep, domain: str) -> Response:
    """Delete a domain's key: its emails go out unsigned from now on."""
    try:
        sending_domains.remove(page.stepwise.db, page.account.id, domain)
    except AppError as exc:
        page.flash(exc.message, "error")
    else:
        page.flash(f"Sending domain {domain} deleted; its emails are no longer signed.")
    return page.redirect("/sending-domains")


@router.post("/bounce-receivers/{provider}")
def put_receiver(page: PageDep, form: FormDep, provider: str) -> Response:
    """Create a provider's receiver, set its key, or make it a new URL (the old one stops working)."""
    key = text_of(form, "key").strip() or None
    new_token = text_of(form, "new_token") == "on"
    try:
        try:
            body = ReceiverBody(key=key, new_token=new_token)
        except ValidationError as exc:
            raise Unprocessable.of(from_validation_error(exc, {"key": key})) from exc
        found, created = bounce_receivers.put(page.stepwise, page.account.id, provider, body, page.now())
    except AppError as exc:
        if exc.status == 404:
            raise
        return _domains_page(page, receiver_errors={provider: placed(exc, ("key",))}, status=exc.status)
    label = _label(found.provider)
    if created:
        page.flash(f"{label} receiver created: give its URL to {label}.")
    elif new_token:
        page.flash(f"{label} receiver has a new URL; the old one no longer works.")
    else:
        page.flash(f"{label} receiver saved.")
    return page.redirect(f"/sending-domains#receiver-{found.provider}")


@router.post("/bounce-receivers/{provider}/delete")
def delete_receiver(page: PageDep, form: FormDep, provider: str) -> Response:
    """Delete a provider's receiver: its URL stops working."""
    try:
        bounce_receivers.remove(page.stepwise, page.account.id, provider)
    except AppError as exc:
        page.flash(exc.message, "error")
    else:
        page.flash(f"The {_label(provider)} receiver was deleted; its URL no longer works.")
    return page.redirect("/sending-domains#receivers-title")


# ---------------------------------------------------------------- bounce and complaint reports


@router.get("/bounces")
def bounce_list(
    page: PageDep, email: str | None = None, issue: str | None = None, cursor: str | None = None
) -> Response:
    """Show the bounce and complaint reports, newest first, for one address (or one email) when asked."""
    db, account_id = page.stepwise.db, page.account.id
    chosen = (email or "").strip()[:320] or None
    chosen_issue = (issue or "").strip()[:64] or None
    try:
        found = bounces.page(db, account_id, email=chosen, issue=chosen_issue, cursor=cursor, limit=BOUNCE_PAGE)
    except BadCursor:  # a cursor this page did not make: start from the newest
        found = bounces.page(db, account_id, email=chosen, issue=chosen_issue, cursor=None, limit=BOUNCE_PAGE)
    return page.render(
        "deliverability/bounces.html",
        nav="bounces",
        items=found.items,
        next_cursor=found.next_cursor,
        email=chosen or "",
        issue=chosen_issue or "",
        health=bounces.health(db, account_id, page.now()),
    )
