"""Build the MIME message of an issue, with the headers SPEC §6.2 requires."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr
from urllib.parse import urlsplit

_UNFOLDED = compat32.clone(max_line_length=998)  # RFC 5322's hard limit; only the subject is folded
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


def ascii_address(address: str) -> str:
    """Return the address with its domain in IDNA form (headers and the SMTP envelope need ASCII domains)."""
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError as exc:
        raise UnsafeHeader(f"address {address!r} has a domain that cannot be encoded") from exc


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
    sender_email = ascii_address(sender_email)
    recipient = ascii_address(recipient)
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
        headers["Reply-To"] = ascii_address(reply_to)
    for name, value in headers.items():
        clean(value, name)  # every value, including the ones composed here
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
            # Fold the subject here (non-ASCII into RFC 2047 encoded words of at most 75 characters);
            # the generator below does not fold, so URLs in List-Unsubscribe stay on one line.
            charset = "us-ascii" if value.isascii() else "utf-8"
            root[name] = Header(value, charset, header_name=name).encode(maxlinelen=76)
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
        raw=root.as_bytes(policy=_UNFOLDED),
    )
