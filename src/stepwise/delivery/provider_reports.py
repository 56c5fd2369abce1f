"""Bounces and spam complaints from email providers' event webhooks: SendGrid, Mailgun, Postmark, SES.

Each function reads one webhook body as the provider sends it and returns the hard bounces, soft
bounces and complaints in it as `Report`s; every other event (processed, delivered, deferred,
dropped, opened...) is left out. Signed bodies (SendGrid, Mailgun) are verified before anything is
read and raise `Unverified`; an unreadable body raises `ReportError` and never another exception.
Addresses that are not plausible (not exactly one "@", a CR/LF/NUL) are skipped, not reported.
Pure: no I/O and no clock (replayed bodies are absorbed by the idempotent `report_id`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from stepwise.delivery.reports import Report, ReportError, ReportType

Provider = Literal["sendgrid", "mailgun", "postmark", "ses"]
PROVIDERS: tuple[Provider, ...] = ("sendgrid", "mailgun", "postmark", "ses")

MAX_BODY = 10 * 1024 * 1024  # bytes of one webhook body
MAX_EVENTS = 10_000  # events (SES: recipients) in one body
MAX_REASON = 500  # characters of a report's reason
_MAX_ID = 256  # characters of a provider's event id
_MAX_ADDRESS = 320
_MAX_MESSAGE_ID = 998
_MAX_URL = 4096
_SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
_TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
_CONTROLS = dict.fromkeys([*range(32), 127], " ")  # str.translate table: control characters to spaces
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")

_MAILGUN_SEVERITY: dict[str, ReportType] = {"permanent": "hard", "temporary": "soft"}
# Postmark bounce `Type`s kept; the others (AutoResponder, Subscribe, Unsubscribe, OpenRelayTest, ChallengeVerification,
# VirusNotification, Unconfirmed, SMTPApiError, InboundError, TemplateRenderingFailed) say nothing about the address.
_POSTMARK_KINDS: tuple[tuple[ReportType, tuple[str, ...]], ...] = (
    ("hard", ("HardBounce", "BadEmailAddress", "ManuallyDeactivated", "AddressChange", "DMARCPolicy")),
    ("soft", ("SoftBounce", "Transient", "DnsError", "Unknown", "Blocked")),
    ("complaint", ("SpamComplaint", "SpamNotification")),
)
_POSTMARK_TYPES: dict[str, ReportType] = {name: kind for kind, names in _POSTMARK_KINDS for name in names}


class Unverified(ValueError):
    """The signature is missing or does not verify (the caller answers 401 and changes nothing)."""


@dataclass(frozen=True, slots=True)
class SnsConfirmation:
    """An SNS subscription to confirm: the caller fetches (GET) `subscribe_url`."""

    subscribe_url: str
    topic_arn: str


def _check_size(body: bytes | str, what: str) -> None:
    if len(body) > MAX_BODY:
        raise ReportError(f"the {what} is larger than {MAX_BODY} bytes")


def _load(body: bytes | str, what: str) -> Any:
    _check_size(body, what)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ReportError(f"the {what} is not valid JSON ({exc})") from None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ReportError(f"{what} must be a JSON object")
    return value


def _sub(container: Mapping[str, Any], key: str, what: str) -> dict[str, Any]:
    """The object under `key`; an absent or null one reads as empty."""
    value = container.get(key)
    return {} if value is None else _object(value, f"{what}: {key!r}")


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ReportError(f"{what} must be a JSON array")
    if len(value) > MAX_EVENTS:
        raise ReportError(f"{what} has more than {MAX_EVENTS} items")
    return value


def _text(container: Mapping[str, Any], key: str, what: str) -> str | None:
    value = container.get(key)
    if value is not None and not isinstance(value, str):
        raise ReportError(f"{what}: {key!r} must be a string")
    return value


def _required(container: Mapping[str, Any], key: str, what: str) -> str:
    value = _text(container, key, what)
    if not value:
        raise ReportError(f"{what} lacks {key!r}")
    return value


def _address(value: str | None) -> str | None:
    if value is None:
        return None
    address = value.strip()
    if len(address) > _MAX_ADDRESS or address.count("@") != 1 or any(c in address for c in "\r\n\0"):
        return None
    local, _, domain = address.partition("@")
    return address if local and domain else None


def _message_id(value: str | None) -> str | None:
    """Our Message-ID in "<local@host>" form, or None when it is not one."""
    if value is None:
        return None
    core = value.strip().removeprefix("<").removesuffix(">")
    if not core or len(core) > _MAX_MESSAGE_ID or _UNPRINTABLE.search(core) or any(c in "<> " for c in core):
        return None
    return f"<{core}>"


def _reason(*parts: str | int | None) -> str | None:
    texts: list[str] = []
    for part in parts:
        if part is None or isinstance(part, bool):
            continue
        text = str(part)[:MAX_REASON].translate(_CONTROLS).strip()
        if text and text not in texts:
            texts.append(text)
    return " ".join(texts)[:MAX_REASON].strip() or None


def _report(email: str, kind: ReportType, message_id: str | None, reason: str | None, report_id: str | None) -> Report:
    return Report(email=email, type=kind, message_id=message_id, reason=reason, report_id=report_id)


def _ident(provider: Provider, value: Any, what: str) -> str | None:
    """The report's idempotence key "<provider>:<event id>", or None when the event has no id."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ReportError(f"{what}: the event id must be a string or an integer")
    value = value.strip()
    if len(value) > _MAX_ID or _UNPRINTABLE.search(value):
        raise ReportError(f"{what}: the event id is not a short printable text")
    return f"{provider}:{value}"


def check_sendgrid_key(public_key: str) -> None:
    """Raise ValueError with a clear message unless `public_key` is an EC P-256 public key.

    Accepted forms: base64 of the DER SubjectPublicKeyInfo (as SendGrid shows it) or PEM.
    """
    _sendgrid_key(public_key)


@lru_cache(maxsize=16)
def _sendgrid_key(public_key: str) -> ec.EllipticCurvePublicKey:
    if not isinstance(public_key, str) or not public_key.strip():
        raise ValueError("the SendGrid verification key is empty")
    text = public_key.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError("the SendGrid verification key is not a base64 DER or PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("the SendGrid verification key is not an elliptic-curve P-256 (prime256v1) public key")
    return key


def _verify_sendgrid(body: bytes, headers: Mapping[str, str], public_key: str) -> None:
    signature, timestamp = headers.get(_SIGNATURE_HEADER), headers.get(_TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise Unverified("the SendGrid signature or timestamp header is missing")
    try:
        key = _sendgrid_key(public_key)
    except ValueError as exc:
        raise Unverified(f"the SendGrid signature cannot be checked: {exc}") from None
    try:
        der = base64.b64decode(signature.strip(), validate=True)
        key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, TypeError):
        raise Unverified("the SendGrid signature does not verify") from None


def sendgrid_reports(body: bytes, headers: Mapping[str, str], public_key: str) -> list[Report]:
    """The bounces and spam reports in a signed SendGrid Event Webhook body (a JSON array of events).

    "bounce" is hard ("blocked" bounces are soft), "spamreport" a complaint; "dropped" (never sent),
    "deferred" and the engagement events are left out. Raises Unverified before reading anything.
    """
    _check_size(body, "SendGrid event body")
    _verify_sendgrid(body, headers, public_key)
    events = _list(_load(body, "SendGrid event body"), "the SendGrid event body")
    reports: list[Report] = []
    for index, raw in enumerate(events):
        what = f"SendGrid event {index}"
        report = _sendgrid_event(_object(raw, what), what)
        if report is not None:
            reports.append(report)
    return reports


def _sendgrid_event(event: dict[str, Any], what: str) -> Report | None:
    name = _text(event, "event", what)
    kind: ReportType
    if name == "bounce":
        kind = "hard" if _text(event, "type", what) in {None, "bounce"} else "soft"
    elif name == "spamreport":
        kind = "complaint"
    else:
        return None
    email = _address(_text(event, "email", what))
    if email is None:
        return None
    reason = _reason(_text(event, "status", what), _text(event, "reason", what))
    message_id = _message_id(_text(event, "smtp-id", what))
    return _report(email, kind, message_id, reason, _ident("sendgrid", event.get("sg_event_id"), what))


def _verify_mailgun(signature: Any, signing_key: str) -> None:
    if not isinstance(signature, dict):
        raise Unverified("the Mailgun webhook body has no 'signature' object")
    timestamp, token, given = (signature.get(key) for key in ("timestamp", "token", "signature"))
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        timestamp = str(timestamp)
    if not all(isinstance(part, str) and part for part in (timestamp, token, given)):
        raise Unverified("the Mailgun signature lacks its timestamp, token or signature")
    if not isinstance(signing_key, str) or not signing_key:
        raise Unverified("the Mailgun signature cannot be checked: no signing key is configured")
    try:
        expected = hmac.new(signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(expected.encode(), str(given).strip().lower().encode())
    except UnicodeEncodeError:
        valid = False
    if not valid:
        raise Unverified("the Mailgun signature does not verify")


def mailgun_reports(body: bytes, signing_key: str) -> list[Report]:
    """The bounce or complaint in a Mailgun webhook body (JSON with "signature" and "event-data").

    "failed" is hard when permanent and soft when temporary, "complained" a complaint; other events are
    left out. The signature covers only timestamp and token, so it is checked before "event-data" is read.
    """
    payload = _object(_load(body, "Mailgun webhook body"), "the Mailgun webhook body")
    _verify_mailgun(payload.get("signature"), signing_key)
    what = "the Mailgun 'event-data'"
    event = _object(payload.get("event-data"), what)
    name = _text(event, "event", what)
    kind: ReportType | None = None
    if name == "failed":
        kind = _MAILGUN_SEVERITY.get(_text(event, "severity", what) or "")
    elif name == "complained":
        kind = "complaint"
    email = _address(_text(event, "recipient", what))
    if kind is None or email is None:
        return []
    headers = _sub(_sub(event, "message", what), "headers", f"{what}: 'message'")
    status = _sub(event, "delivery-status", what)
    code = status.get("code")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int | str)):
        raise ReportError(f"{what}: the delivery-status 'code' must be a number or a string")
    details = [_text(status, key, f"{what}: 'delivery-status'") for key in ("message", "description")]
    reason = _reason(code or None, *details, _text(event, "reason", what))
    message_id = _message_id(_text(headers, "message-id", f"{what}: 'message.headers'"))
    return [_report(email, kind, message_id, reason, _ident("mailgun", event.get("id"), what))]


def postmark_reports(body: bytes) -> list[Report]:
    """The bounces and spam complaints in a Postmark webhook body (one record, or tolerated, an array).

    See `_POSTMARK_TYPES` for the bounce types kept. Postmark's `MessageID` is its own id, so the
    Message-ID is taken only from a "Message-ID" in `Metadata` or `Headers`. No signature: the caller
    authenticates the request by the token in its URL.
    """
    payload = _load(body, "Postmark webhook body")
    records = _list(payload, "the Postmark webhook body") if isinstance(payload, list) else [payload]
    reports: list[Report] = []
    for index, raw in enumerate(records):
        what = f"Postmark record {index}" if isinstance(payload, list) else "the Postmark record"
        report = _postmark_record(_object(raw, what), what)
        if report is not None:
            reports.append(report)
    return reports


def _postmark_record(record: dict[str, Any], what: str) -> Report | None:
    record_type = _text(record, "RecordType", what)
    kind: ReportType | None = None
    if record_type == "SpamComplaint":
        kind = "complaint"
    elif record_type == "Bounce" or (record_type is None and "Type" in record):  # older bounce hooks: no RecordType
        kind = _POSTMARK_TYPES.get(_text(record, "Type", what) or "")
    email = _address(_text(record, "Email", what))
    if kind is None or email is None:
        return None
    reason = _reason(_text(record, "Description", what), _text(record, "Details", what))
    message_id = _postmark_message_id(record, what)
    return _report(email, kind, message_id, reason, _ident("postmark", record.get("ID"), what))


def _postmark_message_id(record: dict[str, Any], what: str) -> str | None:
    metadata = _sub(record, "Metadata", what)
    for key in metadata:
        if key.lower() == "message-id":
            return _message_id(_text(metadata, key, f"{what}: 'Metadata'"))
    headers = record.get("Headers")
    for index, raw in enumerate([] if headers is None else _list(headers, f"{what}: 'Headers'")):
        header_what = f"{what}: header {index}"
        header = _object(raw, header_what)
        if (_text(header, "Name", header_what) or "").lower() == "message-id":
            return _message_id(_text(header, "Value", header_what))
    return None


def ses_reports(body: bytes) -> list[Report] | SnsConfirmation:
    """The bounces and complaints in an SNS message carrying an SES notification.

    A SubscriptionConfirmation gives the `SnsConfirmation` to fetch; an UnsubscribeConfirmation and
    notifications other than Bounce and Complaint give []. No signature check: the caller authenticates
    the request by the token in its URL.
    """
    what = "the SNS message"
    envelope = _object(_load(body, "SNS message"), what)
    kind = _required(envelope, "Type", what)
    if kind == "SubscriptionConfirmation":
        return _sns_confirmation(envelope)
    if kind == "UnsubscribeConfirmation":
        return []
    if kind != "Notification":
        raise ReportError(f"the SNS message Type {kind[:40]!r} is not Notification or a (un)subscription confirmation")
    notification = _object(_load(_required(envelope, "Message", what), "SNS 'Message'"), "the SES notification")
    return _ses_notification(notification, _ident("ses", envelope.get("MessageId"), what))


def _sns_confirmation(envelope: dict[str, Any]) -> SnsConfirmation:
    url = _required(envelope, "SubscribeURL", "the SNS subscription confirmation").strip()
    topic = _required(envelope, "TopicArn", "the SNS subscription confirmation").strip()
    try:
        parts = urlsplit(url)
        usable = parts.scheme in {"http", "https"} and bool(parts.hostname)
    except ValueError:
        usable = False
    if not usable or len(url) > _MAX_URL or _UNPRINTABLE.search(url) or any(c.isspace() for c in url):
        raise ReportError("the SNS SubscribeURL is not an http(s) URL")
    if not topic or _UNPRINTABLE.search(topic):
        raise ReportError("the SNS TopicArn is not a printable text")
    return SnsConfirmation(subscribe_url=url, topic_arn=topic)


def _ses_notification(notification: dict[str, Any], sns_id: str | None) -> list[Report]:
    what = "the SES notification"
    kind = _text(notification, "notificationType", what) or _text(notification, "eventType", what)
    report_type: ReportType
    if kind == "Bounce":
        section, key = _sub(notification, "bounce", what), "bouncedRecipients"
        bounce_type = _text(section, "bounceType", "the SES 'bounce'")
        report_type = "hard" if bounce_type == "Permanent" else "soft"  # Transient, Undetermined
        general = _reason(bounce_type, _text(section, "bounceSubType", "the SES 'bounce'"))
    elif kind == "Complaint":
        section, key, report_type = _sub(notification, "complaint", what), "complainedRecipients", "complaint"
        general = _reason(_text(section, "complaintFeedbackType", "the SES 'complaint'"))
    else:
        return []
    common = _sub(_sub(notification, "mail", what), "commonHeaders", f"{what}: 'mail'")
    message_id = _message_id(_text(common, "messageId", "the SES 'mail.commonHeaders'"))
    reports: list[Report] = []
    for index, raw in enumerate(_list(section.get(key), f"the SES {key!r}")):
        entry_what = f"the SES {key!r} entry {index}"
        entry = _object(raw, entry_what)
        email = _address(_required(entry, "emailAddress", entry_what))
        if email is not None:
            reason = _reason(_text(entry, "status", entry_what), _text(entry, "diagnosticCode", entry_what))
            report_id = f"{sns_id}:{email}" if sns_id else None
            reports.append(_report(email, report_type, message_id, reason or general, report_id))
    return reports
