"""Preparing claimed outbox rows: the S12 re-check at delivery, composing emails, building URL calls."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from stepwise.delivery.compose import Composer, sign_outgoing, template_context
from stepwise.delivery.message import UnsafeHeader
from stepwise.delivery.rendering import RenderError
from stepwise.delivery.webhooks import InvalidRequest, build_request
from stepwise.domain.instants import to_us
from stepwise.domain.jobs import ConfirmationJob, EmailJob, EmailTemplate, OutboxRow, UrlCallJob, WebhookJob
from stepwise.domain.policy import AccountPolicy, SequencePolicy, SlotRequest, next_opening, window_zone
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
        openings: dict[tuple[int, str], int | None] = {}  # a batch shares `now`: each window and zone once
        prepared = [self._prepare_row(inputs, row, now, openings) for row in rows]
        return self._take_slots(inputs, prepared, now)

    def _take_slots(self, inputs: Inputs, prepared: list[Prepared], now: datetime) -> list[Prepared]:
        """Take a cap slot for every composed email of an account with caps; hold or skip those refused (S28)."""
        wanted: dict[int, tuple[Prepared, SequencePolicy]] = {}
        requests = []
        for item in prepared:
            row, job = item.row, item.row.job
            account = inputs.policies.get(row.account_id)
            if (
                item.outgoing is None
                or item.handed_over
                or not isinstance(job, EmailJob)
                or job.test  # S28: test runs are exempt from caps
                or not account
                or not account.caps
            ):
                continue
            sequence = inputs.sequences.get((row.account_id, job.sequence or "")) or SequencePolicy(None)
            wanted[row.id] = (item, sequence)
            requests.append(
                SlotRequest(
                    row.id, row.issue_id or "", row.account_id, row.subscriber_id, account.caps, sequence.respect_caps
                )
            )
        if not requests:
            return prepared
        for row_id, free_at in self.store.take_slots(requests, to_us(now)).items():
            item, sequence = wanted[row_id]
            if free_at is None:
                item.slot = True
                continue
            item.outgoing = None
            if sequence.cap_action == "defer":
                item.defer = (free_at, "frequency_cap")
            else:
                item.skip = "frequency_cap"
        return prepared

    def _prepare_row(
        self, inputs: Inputs, row: OutboxRow, now: datetime, openings: dict[tuple[int, str], int | None]
    ) -> Prepared:
        job = row.job
        if row.error is not None or job is None:
            return Prepared.set_aside(row, row.error or "the stored payload was not decoded")
        if isinstance(job, UrlCallJob):
            return _prepare_url(row, job, now)
        if isinstance(job, WebhookJob):  # claimed by the webhook loop only (worker/webhooks.py)
            return Prepared.set_aside(row, "a webhook message reached the email loop")
        return self._prepare_email(inputs, row, job, now, openings)

    def _prepare_email(
        self,
        inputs: Inputs,
        row: OutboxRow,
        job: EmailJob | ConfirmationJob,
        now: datetime,
        openings: dict[tuple[int, str], int | None],
    ) -> Prepared:
        item = Prepared(row)
        if inputs.issues.get(row.issue_id or "") not in ("queued", "deferred"):
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
        if inputs.suppressed and _suppressed(inputs, row.account_id, recipient.email):
            item.skip = "suppressed"  # S31: whatever the subscriber's status
            return item
        if isinstance(job, EmailJob) and not job.test:  # S19: a test run's emails ignore send windows
            opening = _held_until(inputs, row.account_id, job, now, openings)
            if opening is not None:
                item.defer = (opening, "send_window")  # S27: the run does not wait for it
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
        draft = with_account_sender(draft, inputs.policies.get(row.account_id))
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
        if inputs.signers and composed.outgoing.raw:
            item.outgoing = sign_outgoing(composed.outgoing, inputs.signers, row.account_id, now)


def _held_until(
    inputs: Inputs, account_id: int, job: EmailJob, now: datetime, openings: dict[tuple[int, str], int | None]
) -> int | None:
    """When a send window holds this email, the next opening (microseconds); None when it may go now.

    `openings` remembers the answer per window and zone for this `now` (the window objects live as
    long as the batch's inputs, so their ids are stable keys)."""
    account = inputs.policies.get(account_id)
    sequence = inputs.sequences.get((account_id, job.sequence or ""))
    window = (sequence.window if sequence else None) or (account.window if account else None)
    if window is None:
        return None
    fallback = (sequence.timezone if sequence else None) or (account.timezone if account else "UTC")
    key = (id(window), window_zone(window, job.data, fallback))
    if key not in openings:
        opening = next_opening(window, key[1], now)
        openings[key] = None if opening is None else to_us(opening)
    return openings[key]


def with_account_sender(draft: EmailTemplate, account: AccountPolicy | None) -> EmailTemplate:
    """A draft without its own sender (or reply-to) takes the account's default (SPEC §17 settings)."""
    if account is None or (draft.from_email and draft.reply_to) or not (account.from_email or account.reply_to):
        return draft
    if draft.from_email:
        return replace(draft, reply_to=draft.reply_to or account.reply_to)
    return replace(
        draft,
        from_email=account.from_email,
        from_name=draft.from_name or account.from_name,
        reply_to=draft.reply_to or account.reply_to,
    )


def _suppressed(inputs: Inputs, account_id: int, email: str) -> bool:
    key = email.lower()
    return (account_id, key) in inputs.suppressed or (account_id, "@" + key.rpartition("@")[2]) in inputs.suppressed


def _prepare_url(row: OutboxRow, job: UrlCallJob, now: datetime) -> Prepared:
    item = Prepared(row)
    context = template_context(job.email, job, now)
    try:
        item.request = build_request(job.action, context, job.email)
    except (RenderError, InvalidRequest, KeyError) as exc:
        item.fail = f"cannot build the request: {exc}"
    return item
