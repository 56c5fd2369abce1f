"""Reading bounces and complaints: RFC 3464 delivery status notifications and RFC 5965 ARF feedback reports.

Pure: bytes in, `Report` values out, `ReportError` for anything that is not a report we can read, and
never another exception. The standard library's parser reads the MIME structure (compat32, which
splits a message/delivery-status part into one header block per field group); a budget of parts,
header fields, multipart containers and CPU time stops hostile input early, because that parser
slows down by orders of magnitude on millions of tiny parts or deeply nested multiparts.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.feedparser import BytesFeedParser
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import Compat32, Policy
from email.utils import collapse_rfc2231_value, getaddresses
from itertools import chain
from typing import Literal

ReportType = Literal["hard", "soft", "complaint"]

MAX_BYTES = 10 * 1024 * 1024  # largest message parse_raw reads
MAX_RECIPIENT_BLOCKS = 1000  # field blocks of a delivery-status part looked at
MAX_REASON = 500  # characters of Report.reason
MAX_PARTS = 5000  # MIME parts and delivery-status blocks the parser may build
MAX_FIELDS = 50_000  # header fields, all parts together
MAX_MULTIPARTS = 50  # multipart containers (each one slows the reading of every later line)
MAX_PARSE_SECONDS = 5.0  # CPU time for the reading of one message
_CHUNK = 16 * 1024  # bytes fed to the parser between two looks at the clock
_MAX_ADDRESS = 320
_MAX_ID = 998
_MAX_TO = 64 * 1024  # characters of an enclosed To header worth parsing for addresses

_STATUS_CODE = re.compile(r"([245])\.\d{1,3}\.\d{1,3}")
_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
_ORIGINAL_TYPES = ("message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers")
_FEEDBACK_TYPE = "message/feedback-report"
_NOT_COMPLAINTS = frozenset({"not-spam", "auth-failure"})  # feedback types that are no complaint about us


@dataclass(frozen=True, slots=True)
class Report:
    """One bounced or complaining recipient, as a report tells it."""

    email: str  # the recipient address as reported, without "rfc822;" and angle brackets, stripped
    type: ReportType
    message_id: str | None  # the Message-ID of our original message, as "<local@host>", or None
    reason: str | None  # status code and diagnostic, at most MAX_REASON characters, no CR/LF/NUL
    report_id: str | None  # "<the report's own Message-ID> recipient" (None without one), for idempotence


class ReportError(ValueError):
    """The input is not a report we can read; str(error) says why in one sentence for an API user."""


@dataclass(slots=True)
class _Budget:
    """What the reading of one message has spent; ReportError when over a bound."""

    parts: int = 0
    fields: int = 0
    multiparts: int = 0
    deadline: float = field(default_factory=lambda: time.thread_time() + MAX_PARSE_SECONDS)

    def spend(self, *, parts: int = 0, fields: int = 0, multiparts: int = 0) -> None:
        self.parts += parts
        self.fields += fields
        self.multiparts += multiparts
        if self.parts > MAX_PARTS or self.fields > MAX_FIELDS or self.multiparts > MAX_MULTIPARTS:
            raise ReportError("the message has too many parts or header fields to be a report")
        self.check_time()

    def check_time(self) -> None:
        if time.thread_time() > self.deadline:
            raise ReportError("the message takes too long to read to be a report")


class _Policy(Compat32):
    """compat32 with a budget, whose header values come back as raw text (never `Header` objects)."""

    budget: _Budget

    def __init__(self, budget: _Budget) -> None:
        super().__init__()
        object.__setattr__(self, "budget", budget)  # policies are read-only once made

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        name, value = super().header_source_parse(sourcelines)
        multipart = name.lower() == "content-type" and value.strip().lower().startswith("multipart/")
        self.budget.spend(fields=1, multiparts=int(multipart))
        return name, value

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


def _new_message(policy: Policy[Message] | None = None) -> Message:
    if isinstance(policy, _Policy):
        policy.budget.spend(parts=1)
    return Message(policy=policy if policy is not None else Compat32())


def parse_raw(data: bytes) -> list[Report]:
    """One message (bytes, as received): an RFC 3464 delivery status notification or an RFC 5965 ARF feedback report.

    A DSN gives one report per recipient whose Action is `failed` ("hard" for a 5.x.x or unreadable
    Status, "soft" for 4.x.x), an ARF report one "complaint" per reported recipient. Raises
    ReportError, and no other exception, for input that is not such a report.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ReportError("the report must be given as bytes")
    if len(data) > MAX_BYTES:
        raise ReportError(f"the message is larger than the limit of {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        return _read(bytes(data))
    except ReportError:
        raise
    except Exception as error:  # the stdlib parser on hostile input: only ever a ReportError
        raise ReportError(
            "the message could not be read as a delivery status notification or a feedback report"
        ) from error


def split_messages(data: bytes) -> list[bytes]:
    """A single message, or an mbox (data starts with a "From " line): the messages in it.

    Lines of an mbox entry that begin with ">From " (">>From ", ...) lose one ">" (mboxrd).
    """
    data = bytes(data)
    if not data.startswith(b"From "):
        return [data] if data.strip() else []
    entries: list[list[bytes]] = []
    for line in _lines(data):  # the first line is a separator: data starts with "From "
        if line.startswith(b"From "):
            entries.append([])
        else:
            escaped = line.startswith(b">") and line.lstrip(b">").startswith(b"From ")
            entries[-1].append(line[1:] if escaped else line)
    return [message for message in map(_mbox_message, entries) if message.strip()]


def _lines(data: bytes) -> Iterator[bytes]:
    """The lines of data, each with its newline (LF; a CR before it stays part of the line)."""
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        yield data[start:end]
        start = end


def _mbox_message(lines: list[bytes]) -> bytes:
    """The message of an mbox entry: without the empty line the writer puts before the next separator."""
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return b"".join(lines)


def _read(data: bytes) -> list[Report]:
    budget = _Budget()
    parser = BytesFeedParser(_new_message, policy=_Policy(budget))
    for start in range(0, len(data), _CHUNK):
        parser.feed(data[start : start + _CHUNK])
        budget.check_time()
    message = parser.close()
    content_type = message.get_content_type()
    if content_type != "multipart/report":
        raise ReportError(f"the message is not a report: its type is {_shown(content_type)}, not multipart/report")
    parts = _subparts(message)
    if not parts:
        raise ReportError("the multipart/report message has no parts")
    own_id = _message_id(_field(message, "Message-ID"))
    if _report_type(message, parts) == "delivery-status":
        return _from_dsn(parts, own_id)
    return _from_arf(parts, own_id)


def _report_type(message: Message, parts: list[Message]) -> str:
    """delivery-status or feedback-report, from the report-type parameter or, without one, from the parts."""
    raw = message.get_param("report-type")
    value = collapse_rfc2231_value(raw).strip().lower() if raw is not None else ""
    if value in ("delivery-status", "global-delivery-status"):
        return "delivery-status"
    if value == "feedback-report":
        return value
    if value:
        raise ReportError(f"the report type {_shown(value)} is not supported, only delivery-status and feedback-report")
    types = {part.get_content_type() for part in parts}
    if types & set(_STATUS_TYPES):
        return "delivery-status"
    if _FEEDBACK_TYPE in types:
        return "feedback-report"
    raise ReportError("the report has no report-type and neither a delivery-status nor a feedback-report part")


def _from_dsn(parts: list[Message], own_id: str | None) -> list[Report]:
    status_part = _first(parts, _STATUS_TYPES)
    if status_part is None:
        raise ReportError("the delivery status notification has no message/delivery-status part")
    original_id = _message_id(_field(_original(parts), "Message-ID"))
    reports: list[Report] = []
    seen: set[str] = set()
    named = False
    for block in _status_blocks(status_part):
        email = _address(_field(block, "Final-Recipient")) or _address(_field(block, "Original-Recipient"))
        if email is None:
            continue
        named = True
        report = _dsn_report(block, email, original_id, own_id)
        if report is not None and email not in seen:
            seen.add(email)
            reports.append(report)
    if not named:
        raise ReportError("the delivery status notification names no recipient")
    return reports


def _dsn_report(block: Message, email: str, original_id: str | None, own_id: str | None) -> Report | None:
    """The report of one per-recipient block, or None unless its Action is `failed`."""
    action = (_field(block, "Action") or "").lower().split()
    if not action or action[0].strip("();,") != "failed":
        return None
    status = _field(block, "Status") or ""
    code = _status_code(status)
    kind: ReportType = "soft" if code is not None and code.startswith("4") else "hard"
    reason = _reason(code or status, _field(block, "Diagnostic-Code"))
    return Report(email, kind, original_id, reason, f"{own_id} {email}" if own_id else None)


def _status_code(status: str) -> str | None:
    """The "x.y.z" code of a Status field ("5.1.1", "5.0.0 (permanent failure)"), or None."""
    for token in status.split()[:3]:
        if _STATUS_CODE.fullmatch(token.strip("();,")):
            return token.strip("();,")
    return None


def _status_blocks(part: Message) -> list[Message]:
    """The field blocks of a delivery-status part, at most MAX_RECIPIENT_BLOCKS after the per-message one.

    The stdlib splits message/delivery-status into blocks itself; message/global-delivery-status
    comes as one message whose headers are the first block and whose body holds the others.
    """
    if not part.is_multipart():
        return _blocks_from_text(_body(part), part.policy)
    blocks: list[Message] = []
    for item in _subparts(part):
        if len(blocks) > MAX_RECIPIENT_BLOCKS:
            break
        blocks.append(item)
        rest = _body(item)
        if rest.strip():
            blocks.extend(_blocks_from_text(rest, part.policy))
    return blocks[: MAX_RECIPIENT_BLOCKS + 1]


def _blocks_from_text(text: str, policy: Policy[Message]) -> list[Message]:
    """Header blocks separated by empty lines, each read by the stdlib's header parser."""
    blocks: list[Message] = []
    lines: list[str] = []
    for line in chain(io.StringIO(text), ["\n"]):
        if line.strip():
            lines.append(line)
            continue
        if lines:
            blocks.append(HeaderParser(_new_message, policy=policy).parsestr("".join(lines)))
            lines = []
            if len(blocks) > MAX_RECIPIENT_BLOCKS:
                break
    return blocks


def _from_arf(parts: list[Message], own_id: str | None) -> list[Report]:
    feedback_part = _first(parts, (_FEEDBACK_TYPE,))
    feedback = _headers_of(feedback_part) if feedback_part is not None else None
    if feedback is None:
        raise ReportError("the feedback report has no message/feedback-report part")
    original = _original(parts)
    emails = _unique(_address(value) for value in _fields(feedback, "Original-Rcpt-To"))
    if not emails and original is not None:
        to = " ".join(_fields(original, "To"))
        emails = _unique(_address(address) for _, address in getaddresses([to[:_MAX_TO]]))
    if not emails:
        raise ReportError("the feedback report names no recipient (no Original-Rcpt-To, no To in the original)")
    feedback_type = ((_field(feedback, "Feedback-Type") or "").lower().split() or ["abuse"])[0]
    if feedback_type in _NOT_COMPLAINTS:
        return []
    original_id = _message_id(_field(original, "Message-ID"))
    agent = _field(feedback, "User-Agent")
    reason = _reason(f"{feedback_type} complaint", f"from {agent}" if agent else None)
    return [
        Report(email, "complaint", original_id, reason, f"{own_id} {email}" if own_id else None) for email in emails
    ]


def _first(parts: list[Message], types: tuple[str, ...]) -> Message | None:
    return next((part for part in parts if part.get_content_type() in types), None)


def _original(parts: list[Message]) -> Message | None:
    """The headers of the enclosed original message (message/rfc822 or text/rfc822-headers), if any."""
    part = _first(parts, _ORIGINAL_TYPES)
    return _headers_of(part) if part is not None else None


def _headers_of(part: Message) -> Message | None:
    """The message a message/* part encloses, or the header block a text part holds."""
    if part.is_multipart():
        return next(iter(_subparts(part)), None)
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return None
    headers: Message = BytesHeaderParser(_new_message, policy=part.policy).parsebytes(raw)
    return headers


def _subparts(message: Message) -> list[Message]:
    """The parts of a multipart, or the message a message/* part encloses (as a list of one)."""
    payload = message.get_payload() if message.is_multipart() else None
    return [item for item in payload if isinstance(item, Message)] if isinstance(payload, list) else []


def _body(part: Message) -> str:
    """The body of a non-multipart part, transfer encoding undone, as UTF-8 text."""
    raw = None if part.is_multipart() else part.get_payload(decode=True)
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""


def _fields(message: Message, name: str) -> list[str]:
    """Every value of a header field, unfolded, non-ASCII bytes read as UTF-8."""
    return [_text(value) for value in (message.get_all(name) or [])[:MAX_RECIPIENT_BLOCKS]]


def _field(message: Message | None, name: str) -> str | None:
    value = message.get(name) if message is not None else None
    return _text(value) if value is not None else None


def _text(value: object) -> str:
    if not isinstance(value, str):
        return ""
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")  # the parser's undecoded bytes
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _address(value: str | None) -> str | None:
    """The address of a recipient field ("rfc822; <a@b>", "<a@b>", "a@b"), or None if it is not one."""
    if value is None:
        return None
    kind, separator, rest = value.partition(";")
    text = rest if separator and "@" not in kind else value
    text = text.strip().strip("<>").strip()
    if not text or len(text) > _MAX_ADDRESS or text.count("@") != 1:
        return None
    if any(ch.isspace() or ord(ch) < 32 or ch == "\x7f" or ch in "<>" for ch in text):
        return None
    local, _, domain = text.partition("@")
    return text if local and domain else None


def _message_id(value: str | None) -> str | None:
    """A Message-ID as "<local@host>", angle brackets added if missing, or None."""
    if not value:
        return None
    start = value.find("<")
    if start >= 0:
        end = value.find(">", start + 1)
        inner = value[start + 1 : end if end >= 0 else len(value)].strip()
    else:
        inner = (value.split() or [""])[0]
    if not inner or len(inner) > _MAX_ID:
        return None
    if any(ch.isspace() or ord(ch) < 32 or ch == "\x7f" or ch in "<>" for ch in inner):
        return None
    return f"<{inner}>"


def _reason(*parts: str | None) -> str | None:
    """Short human text: the parts joined, control characters out, at most MAX_REASON characters."""
    text = " ".join(part for part in parts if part)
    text = "".join(" " if ord(ch) < 32 or ch == "\x7f" else ch for ch in text)
    text = " ".join(text.split())[:MAX_REASON].rstrip()
    return text or None


def _unique(values: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(value for value in values if value is not None))[:MAX_RECIPIENT_BLOCKS]


def _shown(value: str) -> str:
    """A value from the input, safe and short enough for an error message."""
    text = "".join(ch if ch.isprintable() else "?" for ch in value[:60])
    return repr(text + ("…" if len(value) > 60 else ""))
