"""The product's vocabulary of states, in one place: every layer uses these names and types.

Storage keeps them as short strings; the engine, services and API use these Literal types, so a
misspelt status is a type error and the API's schema lists exactly these values.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

SubscriberStatus = Literal["active", "unconfirmed", "unsubscribed", "bounced"]
SUBSCRIBER_STATUSES: Final[tuple[SubscriberStatus, ...]] = get_args(SubscriberStatus)
# What an API or UI edit may set directly (unsubscribed and bounced come from recipients and servers).
SettableStatus = Literal["active", "unconfirmed"]

SequenceStatus = Literal["active", "paused"]
SEQUENCE_STATUSES: Final[tuple[SequenceStatus, ...]] = get_args(SequenceStatus)

RunStatus = Literal["active", "paused", "completed", "stopped"]
RUN_STATUSES: Final[tuple[RunStatus, ...]] = get_args(RunStatus)
OPEN_RUN_STATUSES: Final[tuple[RunStatus, ...]] = ("active", "paused")  # at most one per subscriber (S1)

EndReason = Literal["stop_action", "go_to", "go_to_rejected", "manual", "unsubscribed", "deleted", "edited", "goal"]
END_REASONS: Final[tuple[EndReason, ...]] = get_args(EndReason)

IssueStatus = Literal["queued", "deferred", "sent", "failed", "skipped"]
ISSUE_STATUSES: Final[tuple[IssueStatus, ...]] = get_args(IssueStatus)

# Why an email was not sent although its action ran.
SkipReason = Literal[
    "subscriber_unsubscribed",
    "subscriber_bounced",
    "subscriber_unconfirmed",
    "subscriber_deleted",
    "issue_missing",
    "suppressed",  # the address or its domain is on the suppression list (S31)
    "frequency_cap",  # the account's caps allow no more emails to the subscriber now (S28)
]

# Subscribers who get no email (S12, checked when the action runs and again at delivery).
UNAVAILABLE: Final[dict[str, SkipReason]] = {
    "unsubscribed": "subscriber_unsubscribed",
    "bounced": "subscriber_bounced",
    "unconfirmed": "subscriber_unconfirmed",
}

ImportStatus = Literal["running", "done", "failed"]

QuarantineKind = Literal["event", "sequence", "outbox", "subscriber"]
