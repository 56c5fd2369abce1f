"""Preparing claimed outbox rows: the S12 re-check at delivery, composing emails, building URL calls."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from stepwise.delivery.compose import Composer, template_context
from stepwise.delivery.message import UnsafeHeader
from stepwise.delivery.rendering import RenderError
from stepwise.delivery.webhooks import InvalidRequest, build_request
from stepwise.domain.jobs import ConfirmationJob, EmailJob, OutboxRow, UrlCallJob
from stepwise.domain.statuses import UNAVAILABLE
from stepwise.services.quarantine import describe_error
from stepwise.services.transient import is_transient
from stepwise.worker.ports import DeliveryStore, Inputs
from stepwise.worker.recording import Prepared

log = logging.getLogger("stepwise.delivery")


@dataclass
class Preparer:
    """Turns claimed rows into messages and requests ready to go, or the reason they will not go."""

    store: DeliveryStore
    composer: Composer

    def prepare(self, rows: Sequence[OutboxRow], now: datetime) -> list[Prepared]:
        """Prepare the rows together; if that fails (not for the database), one by one, setting aside what fails."""
        try:
            return self._prepare_group(rows, now)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.warning("preparing %d outbox rows failed; preparing them one by one", len(rows), exc_info=True)
        prepared: list[Prepared] = []
        for row in rows:
            try:
                prepared += self._prepare_group([row], now)
            except Exception as exc:
                if is_transient(exc):
                    raise
                prepared.append(Prepared.set_aside(row, describe_error(exc)))
        return prepared

    def _prepare_group(self, rows: Sequence[OutboxRow], now: datetime) -> list[Prepared]:
        inputs = self.store.inputs([row for row in rows if row.kind != "url" and row.error is None])
        return [self._prepare_row(inputs, row, now) for row in rows]

    def _prepare_row(self, inputs: Inputs, row: OutboxRow, now: datetime) -> Prepared:
        job = row.job
        if row.error is not None or job is None:
            return Prepared.set_aside(row, row.error or "the stored payload was not decoded")
        if isinstance(job, UrlCallJob):
            return _prepare_url(row, job, now)
        return self._prepare_email(inputs, row, job, now)

    def _prepare_email(
        self, inputs: Inputs, row: OutboxRow, job: EmailJob | ConfirmationJob, now: datetime
    ) -> Prepared:
        item = Prepared(row)
        if inputs.issues.get(row.issue_id or "") != "queued":
            item.skip = "issue_missing"
            return item
        recipient = inputs.recipients.get(row.subscriber_id)
        if item.handed_over:  # already out: composed again only for the archive, whatever happened since
            if recipient is not None:
                self._compose(inputs, item, job, recipient.email, now)
                item.fail = None
            return item
        if recipient is None:
            item.skip = "subscriber_deleted"
            return item
        confirmation = isinstance(job, ConfirmationJob)
        if recipient.status in UNAVAILABLE and not (confirmation and recipient.status == "unconfirmed"):
            item.skip = UNAVAILABLE[recipient.status]  # S12, checked again at delivery time
            return item
        self._compose(inputs, item, job, recipient.email, now)
        return item

    def _compose(
        self, inputs: Inputs, item: Prepared, job: EmailJob | ConfirmationJob, email: str, now: datetime
    ) -> None:
        """Render the row's message into `item`, or set `item.fail` with the reason."""
        row = item.row
        # The built-in confirmation email carries its own template; else the draft is read.
        inline = job.template if isinstance(job, ConfirmationJob) else None
        draft = inline or inputs.templates.get((row.account_id, job.draft))
        if draft is None:
            item.fail = f"draft {job.draft!r} no longer exists"
            return
        if not draft.from_email:
            item.fail = "draft has no sender (from_email)"
            return
        account_name = inputs.accounts.get(row.account_id)
        try:
            composed = self.composer.compose(
                account_id=row.account_id,
                account_name=account_name if account_name is not None else "account",
                issue_id=row.issue_id or "",
                draft=draft,
                email=email,
                job=job,
                now=now,
            )
        except (RenderError, UnsafeHeader) as exc:
            item.fail = str(exc)
            return
        item.outgoing, item.archive_html, item.links = composed.outgoing, composed.archive_html, composed.links


def _prepare_url(row: OutboxRow, job: UrlCallJob, now: datetime) -> Prepared:
    item = Prepared(row)
    context = template_context(job.email, job, now)
    try:
        item.request = build_request(job.action, context, job.email)
    except (RenderError, InvalidRequest, KeyError) as exc:
        item.fail = f"cannot build the request: {exc}"
    return item
