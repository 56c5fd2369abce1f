"""Compose the email of an issue: render the draft, track its links, build the message (SPEC §6.1-6.3)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from stepwise.delivery import message as message_builder
from stepwise.delivery.dkim import Signer
from stepwise.delivery.html_scan import unterminated_anchors
from stepwise.delivery.links import LinkTable, add_pixel, rewrite_html, rewrite_text
from stepwise.delivery.render_budget import BudgetExceeded
from stepwise.delivery.rendering import render_draft
from stepwise.delivery.tokens import TokenSigner
from stepwise.domain.jobs import ConfirmationJob, EmailJob, EmailTemplate, MailJob, UrlCallJob

_LIST_ID_PART = re.compile(r"[^A-Za-z0-9-]+")
# Link tracking scans from an `<a` that does not end before the next `<` up to the end of the HTML.
MAX_UNTERMINATED_ANCHORS = 16


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def template_context(email: str, job: MailJob | UrlCallJob, now: datetime) -> dict[str, Any]:
    """The variables every template sees (SPEC §6.1), from an outbox job."""
    return {
        "email": email,
        "data": job.data,
        "sequence": job.sequence,
        "event": job.event,
        "entry": getattr(job, "entry", {}),  # S25: confirmation emails have none
        "now": _EPOCH + timedelta(microseconds=job.at_us) if job.at_us else now.astimezone(UTC),
    }


@dataclass(frozen=True, slots=True)
class Composed:
    """A message ready to send, with what the archive keeps of it."""

    outgoing: message_builder.Outgoing
    archive_html: str  # the HTML as sent, without the open pixel (viewing the archive is no open)
    links: list[str]  # original URLs of the tracked links, by link index


class Composer:
    """Turns (template, subscriber, outbox job) into a tracked message for one instance."""

    def __init__(self, signer: TokenSigner, base_url: str, *, with_raw: bool = True) -> None:
        self.signer = signer
        self.base_url = base_url.rstrip("/")
        self.with_raw = with_raw  # the capture transport needs no MIME bytes
        self._host = urlsplit(self.base_url).hostname or "localhost"

    def unsubscribe_url(self, account_id: int, issue_id: str) -> str:
        """The issue's unsubscribe page (List-Unsubscribe and `unsubscribe_url` in templates)."""
        return f"{self.base_url}/t/u/{self.signer.sign('unsubscribe', account_id, issue_id)}"

    def compose(
        self,
        *,
        account_id: int,
        account_name: str,
        issue_id: str,
        draft: EmailTemplate,
        email: str,
        job: EmailJob | ConfirmationJob,
        now: datetime,
    ) -> Composed:
        """Render and track one email; raise RenderError (with the budget's reason) or UnsafeHeader."""
        assert draft.from_email
        unsubscribe_url = self.unsubscribe_url(account_id, issue_id)
        context = template_context(email, job, now)
        context["unsubscribe_url"] = unsubscribe_url
        if isinstance(job, ConfirmationJob) and job.confirm_url:
            context["confirm_url"] = job.confirm_url
        rendered = render_draft(draft.subject, draft.html, draft.text, context)
        broken = unterminated_anchors(rendered.html)
        if broken > MAX_UNTERMINATED_ANCHORS:
            raise BudgetExceeded(f"{broken:,} <a tags do not end before the next '<' (too slow to track their links)")
        table = LinkTable(
            lambda index: f"{self.base_url}/t/c/{self.signer.sign('click', account_id, issue_id, index)}",
            own_prefix=f"{self.base_url}/t/",
        )
        html = rewrite_html(rendered.html, table)
        text = rewrite_text(rendered.text, table)  # after the HTML: data-notrack links stay alone here too
        pixel = f"{self.base_url}/t/o/{self.signer.sign('open', account_id, issue_id)}"
        outgoing = message_builder.build(
            issue_id=issue_id,
            sender_email=draft.from_email,
            sender_name=draft.from_name,
            reply_to=draft.reply_to,
            recipient=email,
            subject=rendered.subject,
            html=add_pixel(html, pixel),
            text=text,
            unsubscribe_url=unsubscribe_url,
            list_id=self.list_id(job.sequence, account_name),
            base_url=self.base_url,
            date=now,
            with_raw=self.with_raw,
        )
        return Composed(outgoing, html, table.links)

    def list_id(self, sequence: str | None, account: str) -> str:
        """RFC 2919 List-Id: one list per sequence and account, under the instance's host name."""
        parts = [_LIST_ID_PART.sub("-", part).strip("-") or "x" for part in (sequence or "transactional", account)]
        return f"<{parts[0]}.{parts[1]}.{self._host}>"


def sign_outgoing(
    outgoing: message_builder.Outgoing, signers: Mapping[tuple[int, str], Signer], account_id: int, now: datetime
) -> message_builder.Outgoing:
    """The message with a DKIM-Signature when its From domain has a key (S32); else unchanged."""
    signer = signers.get((account_id, outgoing.sender.rpartition("@")[2].lower()))
    if signer is None:
        return outgoing
    header = signer.sign(outgoing.raw, int(now.timestamp()))
    return replace(outgoing, raw=header + outgoing.raw)
