"""Outbound webhooks (SPEC §18): event types, the message body and its Standard Webhooks signature. Pure."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any, Final

EVENT_TYPES: Final = (
    "run.entered",
    "run.step",
    "run.completed",
    "run.stopped",
    "run.converted",
    "email.queued",
    "email.sent",
    "email.failed",
    "email.skipped",
    "email.deferred",
    "email.opened",
    "email.clicked",
    "subscriber.created",
    "subscriber.unsubscribed",
    "subscriber.bounced",
    "subscriber.complained",
    "segment.joined",
    "segment.left",
)
# Accepted as subscriptions, but nothing emits them yet (goals and segments come later).
NOT_EMITTED_YET: Final = frozenset({"run.converted", "segment.joined", "segment.left"})
PING: Final = "webhook.ping"

# Edge events (inbox kinds) that are facts a webhook reports. `email_bounced` is not among them: it is
# queued for soft bounces too; `subscriber.bounced` is emitted where the subscriber becomes bounced.
EDGE_TYPES: Final = {
    "subscriber_added": "subscriber.created",
    "unsubscribed": "subscriber.unsubscribed",
    "email_opened": "email.opened",
    "link_clicked": "email.clicked",
    "complained": "subscriber.complained",
}
SECRET_PREFIX: Final = "whsec_"


def new_secret(random_bytes: bytes) -> str:
    """A signing secret in the Standard Webhooks form: `whsec_` + base64 of the key bytes."""
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret (the decoded bytes after `whsec_`)."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: `v1,` + base64 HMAC-SHA256 of "{id}.{timestamp}.{body}"."""
    signed = b"%s.%d.%s" % (message_id.encode("ascii"), timestamp, body)
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, message_id, timestamp, body),
    }


def body(message_id: str, type_: str, occurred_at: str, account: str, data: dict[str, Any]) -> str:
    """The JSON body of a message (its bytes are signed as stored)."""
    return json.dumps(
        {"id": message_id, "type": type_, "occurred_at": occurred_at, "account": account, "data": data},
        separators=(",", ":"),
        default=str,
    )


def transition_type(kind: str, detail: dict[str, Any]) -> str | None:
    """The webhook type of an engine timeline entry (None: not a webhook fact)."""
    if kind == "entered":
        return "run.entered"
    if kind == "stopped":
        return "run.stopped"
    if kind == "transition":
        return "run.completed" if detail.get("result") == "completed" else "run.step"
    return None


def issue_type(status: str | None) -> str | None:
    """The webhook type of an issue's new status (delivery outcomes)."""
    return {
        "queued": "email.queued",
        "sent": "email.sent",
        "failed": "email.failed",
        "skipped": "email.skipped",
        "deferred": "email.deferred",
    }.get(status or "")
