"""What a delivery reads and comes to: recipients, templates, the issue change and the record written."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stepwise.domain.jobs import EmailTemplate, OutboxRow
from stepwise.domain.policy import AccountPolicy, SequencePolicy
from stepwise.domain.statuses import IssueStatus, SubscriberStatus


@dataclass(frozen=True, slots=True)
class Recipient:
    """A subscriber as delivery sees them."""

    email: str
    status: SubscriberStatus


@dataclass(frozen=True, slots=True)
class Inputs:
    """What preparing a batch of emails reads, fetched once per batch."""

    issues: Mapping[str, str] = field(default_factory=dict)  # status by issue id
    recipients: Mapping[int, Recipient] = field(default_factory=dict)
    templates: Mapping[tuple[int, str], EmailTemplate | None] = field(default_factory=dict)  # (account, draft key)
    accounts: Mapping[int, str | None] = field(default_factory=dict)  # name by account id
    # (account id, address key or "@domain") of the recipients that are on the suppression list (S31)
    suppressed: frozenset[tuple[int, str]] = frozenset()
    # DKIM signers by (account id, From domain) (S32); typed loosely, the domain layer knows no crypto
    signers: Mapping[tuple[int, str], Any] = field(default_factory=dict)
    policies: Mapping[int, AccountPolicy] = field(default_factory=dict)  # by account (S27, S28)
    sequences: Mapping[tuple[int, str], SequencePolicy] = field(default_factory=dict)  # by (account, key)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What the issue archive keeps of a message as sent."""

    message_id: str
    subject: str
    from_addr: str
    headers: Mapping[str, str]
    html: str
    text: str | None
    links: Sequence[str] | None


@dataclass(frozen=True, slots=True)
class IssueChange:
    """The issue's new values; `status` None changes only the reason (a retry)."""

    status: IssueStatus | None
    reason: str | None
    sent_at_us: int | None = None
    transport: str | None = None
    message: SentMessage | None = None
    deliver_after_us: int | None = None  # a deferred email is held until then (S27, S28)


@dataclass(frozen=True, slots=True)
class Record:
    """What one delivery came to, as written: the timeline entry, the issue, a retry, a bounce, a quarantine."""

    row: OutboxRow
    kind: str  # the timeline entry's kind (email_sent, url_retry, ...)
    detail: dict[str, Any]
    issue: IssueChange | None = None
    retry_at_us: int | None = None  # rescheduled to then (with `error` as the row's last error); else finished
    error: str | None = None
    bounced: bool = False
    poison: str | None = None  # kept in the quarantine with this error
    deferred: bool = False  # held by a send window or a cap: rescheduled without counting an attempt
    release_slot: bool = False  # the email took a cap slot but was not sent: give it back

    @property
    def sequence(self) -> str | None:
        """The timeline entry's sequence (a stored string, or nothing)."""
        value = self.row.job.sequence if self.row.job is not None else self.row.payload.get("sequence")
        return value[:64] if isinstance(value, str) else None
