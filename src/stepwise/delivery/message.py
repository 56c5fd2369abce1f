"""Build the MIME message of an issue, with the headers SPEC §6.2 requires."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.charset import QP, Charset
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from urllib.parse import urlsplit

_UTF8 = Charset("utf-8")
_UTF8.header_encoding = QP
_UTF8.body_encoding = QP


class UnsafeHeader(ValueError):
    """A header value or address contains CR, LF or NUL."""


def clean(value: str, what: str) -> str:
    """Refuse header injection: no CR, LF or NUL anywhere in a header value or address."""
    if any(ch in value for ch in "\r\n\0"):
        raise UnsafeHeader(f"{what} contains a line break or NUL")
    return value


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message ready for a transport."""

    issue_id: str
    sender: str  # envelope and From address
    recipient: str
    subject: str
    from_header: str
    headers: dict[str, str]
    html: str
    text: str
    raw: bytes = field(repr=False, default=b"")


def message_id(issue_id: str, base_url: str) -> str:
    """A deterministic Message-ID: the same issue always gets the same id."""
    host = urlsplit(base_url).hostname or "stepwise.invalid"
    return f"<{issue_id}@{host}>"


def build(
    *,
    issue_id: str,
    sender_email: str,
    sender_name: str | None,
    reply_to: str | None,
    recipient: str,
    subject: str,
    html: str,
    text: str,
    unsubscribe_url: str,
    list_id: str,
    base_url: str,
    date: datetime,
    with_raw: bool = True,
) -> Outgoing:
    """Return the message with text and HTML parts and the list headers (RFC 2369, RFC 8058)."""
    for value, what in (
        (sender_email, "sender"),
        (recipient, "recipient"),
        (subject, "subject"),
        (sender_name or "", "sender name"),
        (reply_to or "", "reply-to"),
        (unsubscribe_url, "unsubscribe URL"),
        (list_id, "list id"),
    ):
        clean(value, what)
    from_header = formataddr((sender_name, sender_email), charset="utf-8") if sender_name else sender_email
    headers = {
        "From": from_header,
        "To": recipient,
        "Subject": subject,
        "Date": format_datetime(date),
        "Message-ID": message_id(issue_id, base_url),
        "MIME-Version": "1.0",
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": list_id,
    }
    if reply_to:
        headers["Reply-To"] = reply_to
    if not with_raw:
        return Outgoing(
            issue_id=issue_id,
            sender=sender_email,
            recipient=recipient,
            subject=subject,
            from_header=from_header,
            headers=headers,
            html=html,
            text=text,
        )
    root = MIMEMultipart("alternative")
    for name, value in headers.items():
        if name == "Subject":
            root[name] = _UTF8.header_encode(value) if not value.isascii() else value
        elif name != "MIME-Version":
            root[name] = value
    root.attach(MIMEText(text, "plain", _UTF8))  # type: ignore[arg-type]  # a Charset is accepted at run time
    root.attach(MIMEText(html, "html", _UTF8))  # type: ignore[arg-type]
    return Outgoing(
        issue_id=issue_id,
        sender=sender_email,
        recipient=recipient,
        subject=subject,
        from_header=from_header,
        headers=headers,
        html=html,
        text=text,
        raw=root.as_bytes(),
    )
