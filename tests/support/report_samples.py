"""Bounce and complaint messages as MTAs and mailbox providers send them, built with the stdlib `email` package.

`dsn` is a Postfix-style delivery status notification (RFC 3464), `arf` an abuse report in the
Abuse Reporting Format (RFC 5965), `mbox` an mboxrd mailbox of several messages. `dsn_from_blocks`
takes the per-recipient field blocks as given, for the variations of other MTAs (Exim, Gmail).
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

Fields = Sequence[tuple[str, str]]

SENDER = "news@stepwise.test"
BOUNCES = "bounces@stepwise.test"
DATE = "Fri, 04 Dec 2026 05:00:00 +0000"
ARRIVAL = "Fri, 04 Dec 2026 04:59:58 +0000"
MBOX_SEPARATOR = b"From MAILER-DAEMON Fri Dec  4 05:00:00 2026\n"
USER_UNKNOWN = "smtp; 550 5.1.1 <x>: Recipient address rejected: User unknown"


def original(recipient: str, message_id: str | None = "<abc@stepwise.test>") -> EmailMessage:
    """The message Stepwise sent, as the report encloses it."""
    message = EmailMessage()
    message["From"] = f"Acme <{SENDER}>"
    message["To"] = recipient
    message["Subject"] = "Welcome to Acme"
    message["Date"] = DATE
    if message_id is not None:
        message["Message-ID"] = message_id
    message["List-Unsubscribe"] = "<http://stepwise.test/t/u/x>"
    message.set_content("Hi,\n\nwelcome aboard.\n\nFrom the Acme team\n")
    return message


def dsn(
    recipient: str,
    status: str = "5.1.1",
    action: str = "failed",
    original_message_id: str | None = "<abc@stepwise.test>",
    diagnostic: str = USER_UNKNOWN,
    reporting_mta: str = "mx.example.net",
    with_headers_only: bool = False,
    dsn_message_id: str | None = None,
) -> bytes:
    """A Postfix bounce for one recipient (no Message-ID header of its own when `dsn_message_id` is None)."""
    block = [
        ("Final-Recipient", f"rfc822; {recipient}"),
        ("Original-Recipient", f"rfc822;{recipient}"),
        ("Action", action),
        ("Status", status),
        ("Remote-MTA", "dns; mail.example.com"),
        ("Diagnostic-Code", diagnostic),
    ]
    return dsn_from_blocks(
        [block],
        recipient=recipient,
        original_message_id=original_message_id,
        reporting_mta=reporting_mta,
        with_headers_only=with_headers_only,
        dsn_message_id=dsn_message_id,
    )


def multi_recipient_dsn(
    failed: str = "gone@example.com",
    delayed: str = "slow@example.org",
    original_message_id: str | None = "<abc@stepwise.test>",
    dsn_message_id: str | None = None,
) -> bytes:
    """A Postfix report about two recipients: one failed (5.1.1), one delayed (4.4.1)."""
    blocks = [
        [
            ("Final-Recipient", f"rfc822; {failed}"),
            ("Original-Recipient", f"rfc822;{failed}"),
            ("Action", "failed"),
            ("Status", "5.1.1"),
            ("Remote-MTA", "dns; mail.example.com"),
            ("Diagnostic-Code", f"smtp; 550 5.1.1 <{failed}>: Recipient address rejected: User unknown"),
        ],
        [
            ("Final-Recipient", f"rfc822; {delayed}"),
            ("Original-Recipient", f"rfc822;{delayed}"),
            ("Action", "delayed"),
            ("Status", "4.4.1"),
            ("Diagnostic-Code", "X-Postfix; connect to mx.example.org[192.0.2.7]:25: Connection timed out"),
            ("Will-Retry-Until", "Fri, 09 Dec 2026 04:59:58 +0000"),
        ],
    ]
    return dsn_from_blocks(
        blocks, recipient=f"{failed}, {delayed}", original_message_id=original_message_id, dsn_message_id=dsn_message_id
    )


def dsn_from_blocks(
    blocks: Sequence[Fields],
    *,
    recipient: str = "someone@example.com",
    original_message_id: str | None = "<abc@stepwise.test>",
    reporting_mta: str = "mx.example.net",
    with_headers_only: bool = False,
    dsn_message_id: str | None = None,
    per_message: Fields | None = None,
    crlf: bool = False,
) -> bytes:
    """A delivery status notification whose per-recipient blocks hold exactly the given fields."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["Return-Path"] = "<>"
    report["Date"] = DATE
    report["From"] = f"MAILER-DAEMON@{reporting_mta} (Mail Delivery System)"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["To"] = BOUNCES
    report["Auto-Submitted"] = "auto-replied"
    if dsn_message_id is not None:
        report["Message-Id"] = dsn_message_id
    report.attach(_part(MIMEText(_human_text(reporting_mta), "plain"), "Notification"))
    status = _part(MIMEBase("message", "delivery-status"), "Delivery report")
    first = per_message or [
        ("Reporting-MTA", f"dns; {reporting_mta}"),
        ("X-Postfix-Queue-ID", "4QpL0x2Zq1z9tJ"),
        ("X-Postfix-Sender", f"rfc822; {BOUNCES}"),
        ("Arrival-Date", ARRIVAL),
    ]
    status.set_payload([_block(first), *(_block(fields) for fields in blocks)])
    report.attach(status)
    report.attach(_enclosed(original(recipient, original_message_id), with_headers_only))
    data = report.as_bytes()
    return data.replace(b"\n", b"\r\n") if crlf else data


def arf(
    recipient: str,
    original_message_id: str | None = "<abc@stepwise.test>",
    feedback_type: str = "abuse",
    report_message_id: str | None = None,
    with_rcpt_to: bool = True,
    with_headers_only: bool = False,
) -> bytes:
    """A mailbox provider's complaint (RFC 5965); without `with_rcpt_to` only the enclosed To names the recipient."""
    report = MIMEMultipart("report", report_type="feedback-report")
    report["From"] = "Feedback Loop <fbl@mail.example.com>"
    report["To"] = "abuse@stepwise.test"
    report["Subject"] = "FW: Welcome to Acme"
    report["Date"] = DATE
    if report_message_id is not None:
        report["Message-ID"] = report_message_id
    notice = "This is an email abuse report for an email message received from IP 192.0.2.25.\n"
    report.attach(_part(MIMEText(notice, "plain")))
    fields = [
        ("Feedback-Type", feedback_type),
        ("User-Agent", "ExampleFBL/2.1"),
        ("Version", "1"),
        ("Original-Mail-From", f"<{BOUNCES}>"),
        *([("Original-Rcpt-To", f"<{recipient}>")] if with_rcpt_to else []),
        ("Arrival-Date", ARRIVAL),
        ("Reported-Domain", "stepwise.test"),
        ("Source-IP", "192.0.2.25"),
    ]
    feedback = _part(MIMEBase("message", "feedback-report"))
    feedback.set_payload([_block(fields)])
    report.attach(feedback)
    report.attach(_enclosed(original(recipient, original_message_id), with_headers_only))
    return report.as_bytes()


def plain_message() -> bytes:
    """An ordinary email, no report at all."""
    message = EmailMessage()
    message["From"] = "Anna <anna@example.com>"
    message["To"] = SENDER
    message["Subject"] = "Re: Welcome to Acme"
    message["Date"] = DATE
    message["Message-ID"] = "<reply-1@example.com>"
    message.set_content("Thanks!\n\nFrom my phone\n")
    return message.as_bytes()


def mbox(*messages: bytes) -> bytes:
    """An mboxrd mailbox: a separator line before each message, ">" before body lines matching ^>*From ."""
    out = bytearray()
    for message in messages:
        out += MBOX_SEPARATOR
        for line in message.splitlines(keepends=True):
            out += b">" + line if line.lstrip(b">").startswith(b"From ") else line
        if not message.endswith(b"\n"):
            out += b"\n"
        out += b"\n"
    return bytes(out)


def _block(fields: Fields) -> Message:
    block = Message()
    for name, value in fields:
        block[name] = value
    return block


def _part(part: Message, description: str | None = None) -> Message:
    """A body part as MTAs write it: no MIME-Version of its own, perhaps a Content-Description."""
    del part["MIME-Version"]
    if description is not None:
        part["Content-Description"] = description
    return part


def _enclosed(message: EmailMessage, headers_only: bool) -> Message:
    if not headers_only:
        return _part(MIMEMessage(message), "Undelivered Message")
    head = "".join(f"{name}: {value}\n" for name, value in message.items())
    return _part(MIMEText(head, "rfc822-headers"), "Undelivered Message Headers")


def _human_text(reporting_mta: str) -> str:
    return (
        f"This is the mail system at host {reporting_mta}.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n\n"
        "For further assistance, please send mail to postmaster.\n\n"
        "                   The mail system\n"
    )
