"""DKIM signatures (RFC 6376): rsa-sha256 with relaxed/relaxed canonicalization.

The RSA operation uses `cryptography` (OpenSSL), which takes a fraction of a millisecond per
signature; canonicalization works on plain bytes, without the standard library's email parser,
so signing keeps up with SPEC §12's delivery rate. Keys are RSA-2048 (RFC 8301 requires at least
1,024 bits and recommends 2,048); the public half is published as a TXT record at
`record_name(selector, domain)` with the value `public_record(private_pem)`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

DEFAULT_SELECTOR = "stepwise1"
SIGNED_HEADERS: tuple[str, ...] = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)

KEY_BITS = 2048
# RFC 8301 §3.2: signers use at least 1,024 bits; verifiers need only handle up to 4,096.
_MIN_KEY_BITS, _MAX_KEY_BITS = 1024, 4096
_LINE = 76  # fold the DKIM-Signature header into lines of at most this many characters (RFC 5322: 78)

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_WSP_RUN = re.compile(rb"[ \t]+")
_WSP_BEFORE_CRLF = re.compile(rb" \r\n")
_BARE_LF = re.compile(rb"\r?\n")


def generate_private_key() -> bytes:
    """Return a new RSA-2048 private key (public exponent 65,537) as unencrypted PKCS#8 PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_record(private_pem: bytes) -> str:
    """Return the DKIM key record (the TXT value) that publishes the public half of `private_pem`.

    The value is longer than 255 bytes; the DNS zone stores it as several character-strings,
    which resolvers join back together.
    """
    der = (
        _load_key(private_pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"


def record_name(selector: str, domain: str) -> str:
    """Return the DNS name of the key record for `selector` at `domain` (RFC 6376 §3.6.2.1)."""
    return f"{selector}._domainkey.{domain}"


def check_selector(selector: str) -> None:
    """Raise ValueError unless `selector` is one or more dot-separated lower-case DNS labels.

    Each label has 1 to 63 characters from a-z, 0-9 and "-", not starting or ending with "-";
    the whole selector has at most 63 characters.
    """
    if not isinstance(selector, str) or not selector:
        raise ValueError("DKIM selector is empty")
    if len(selector) > 63:
        raise ValueError(f"DKIM selector {selector!r} is longer than 63 characters")
    for label in selector.split("."):
        if not _LABEL.match(label):
            raise ValueError(
                f"DKIM selector {selector!r} is not valid: use dot-separated labels of lower-case "
                "letters, digits and hyphens (not at the start or end of a label)"
            )


def check_domain(domain: str) -> str:
    """Return `domain` as a lower-case ASCII (IDNA) name, or raise ValueError saying what is wrong.

    A single trailing dot (the absolute DNS form) is accepted and dropped. The name needs at least
    two labels, each of 1 to 63 letters, digits and hyphens (not at a label's start or end), at
    most 253 characters in all, and a top-level label that is not all digits (not an IP address).
    """
    if not isinstance(domain, str) or not domain.strip():
        raise ValueError("domain is empty")
    name = domain[:-1] if domain.endswith(".") else domain
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"domain {domain!r} cannot be converted to an ASCII (IDNA) name") from exc
    name = name.lower()
    if len(name) > 253:
        raise ValueError(f"domain {domain!r} is longer than 253 characters")
    labels = name.split(".")
    if len(labels) < 2:
        raise ValueError(f"domain {domain!r} needs at least one dot, as in example.com")
    for label in labels:
        if not _LABEL.match(label):
            raise ValueError(
                f"domain {domain!r} has an invalid label {label!r}: labels have 1 to 63 letters, "
                "digits and hyphens, and do not start or end with a hyphen"
            )
    if labels[-1].isdigit():
        raise ValueError(f"domain {domain!r} looks like an IP address, not a domain name")
    return name


def _load_key(private_pem: bytes) -> RSAPrivateKey:
    """Load an unencrypted PEM private key, refusing anything but RSA of a usable size."""
    try:
        key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError("DKIM private key is not an unencrypted PEM private key") from exc
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("DKIM private key is not an RSA key")
    if not _MIN_KEY_BITS <= key.key_size <= _MAX_KEY_BITS:
        raise ValueError(f"DKIM RSA key has {key.key_size} bits; use {_MIN_KEY_BITS} to {_MAX_KEY_BITS}")
    return key


@dataclass(frozen=True, slots=True)
class Signer:
    """Signs messages for one domain and selector with a key loaded once."""

    domain: str
    selector: str
    key: RSAPrivateKey

    def __post_init__(self) -> None:
        """Refuse a selector or domain that is not valid, or a domain not in its normal form."""
        check_selector(self.selector)
        if check_domain(self.domain) != self.domain:
            raise ValueError(f"domain {self.domain!r} is not in normal form; use Signer.load or check_domain")

    @classmethod
    def load(cls, domain: str, selector: str, private_pem: bytes) -> Signer:
        """Return a signer after checking the domain and selector and loading the PEM key."""
        check_selector(selector)
        return cls(domain=check_domain(domain), selector=selector, key=_load_key(private_pem))

    def sign(self, message: bytes, now: int) -> bytes:
        """Return the complete "DKIM-Signature: ...\\r\\n" header line(s) to put before the message's first header.

        The header is folded with CRLF + space into lines under 78 characters where possible (only
        a very long domain makes a longer line). `now` is Unix seconds for t=. Raises ValueError if
        the message has no From header.
        """
        if b"\n" in message and message.count(b"\n") != message.count(b"\r\n"):
            # Stepwise's own builder (message.build) always emits CRLF; a message with bare LF is
            # hashed as it will travel over SMTP, with every line end as CRLF.
            message = _BARE_LF.sub(b"\r\n", message)
        head, body = _split(message)
        fields = _last_instances(head)
        names = [name.lower() for name in SIGNED_HEADERS if name.lower() in fields]
        if "from" not in names:
            raise ValueError("a message without a From header cannot be signed (RFC 6376 §5.4)")
        body_hash = base64.b64encode(hashlib.sha256(_relaxed_body(body)).digest()).decode("ascii")
        tags = ["v=1;", "a=rsa-sha256;", "c=relaxed/relaxed;", f"d={self.domain};", f"s={self.selector};"]
        groups = [[tag] for tag in [*tags, f"t={int(now)};"]]
        groups += [_header_list(names), [f"bh={body_hash};"], ["b="]]
        lines = _fold(["DKIM-Signature:"], groups)
        signed = b"".join(_relaxed_header(fields[name]) + b"\r\n" for name in names)
        signed += _relaxed_header("\r\n".join(lines).encode("ascii"))
        signature = self.key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        _append_signature(lines, base64.b64encode(signature).decode("ascii"))
        return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _split(message: bytes) -> tuple[bytes, bytes]:
    """Split a CRLF message into its header block (without the final CRLF) and its body."""
    if message.startswith(b"\r\n"):
        return b"", message[2:]
    end = message.find(b"\r\n\r\n")
    if end < 0:
        return message.removesuffix(b"\r\n"), b""
    return message[:end], message[end + 4 :]


def _last_instances(head: bytes) -> dict[str, bytes]:
    """Map each lower-case field name to its last instance, folded lines joined by CRLF (RFC 6376 §5.4.2)."""
    fields: dict[str, bytes] = {}
    name, lines = "", [b""]
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and name:
            lines.append(line)
            continue
        if name:
            fields[name] = b"\r\n".join(lines)
        colon = line.find(b":")
        # A line without a colon is not a header field; it is never signed.
        name = line[:colon].rstrip(b" \t").decode("latin-1").lower() if colon > 0 else ""
        lines = [line]
    if name:
        fields[name] = b"\r\n".join(lines)
    return fields


def _relaxed_header(field: bytes) -> bytes:
    """Canonicalize one header field, without its trailing CRLF (RFC 6376 §3.4.2)."""
    name, _, value = field.partition(b":")
    value = _WSP_RUN.sub(b" ", value.replace(b"\r\n", b"")).strip(b" ")
    return name.rstrip(b" \t").lower() + b":" + value


def _relaxed_body(body: bytes) -> bytes:
    """Canonicalize a CRLF body (RFC 6376 §3.4.4); an empty body, or one of only empty lines, gives b""."""
    body = _WSP_BEFORE_CRLF.sub(b"\r\n", _WSP_RUN.sub(b" ", body))
    end = len(body)
    while body.endswith(b"\r\n", 0, end):
        end -= 2
    # The last line may lack its CRLF; SMTP adds one before the final dot, so receivers see (and
    # strip) any whitespace ending that line too.
    body = body[:end].rstrip(b" ")
    return body + b"\r\n" if body else b""


def _header_list(names: list[str]) -> list[str]:
    """Return the h= tag as pieces that may be folded before any colon (RFC 6376 §3.5 allows FWS there)."""
    pieces = [f"h={names[0]}", *(f":{name}" for name in names[1:])]
    pieces[-1] += ";"
    return pieces


def _fold(lines: list[str], groups: list[list[str]]) -> list[str]:
    """Append tag pieces to `lines`, folding before a piece that would make a line too long.

    In each group, the first piece follows a space; the others continue the previous piece
    directly, unless folded (a fold puts a CRLF and one space before the piece).
    """
    for group in groups:
        for index, piece in enumerate(group):
            glue = " " if index == 0 else ""
            if len(lines[-1]) + len(glue) + len(piece) <= _LINE:
                lines[-1] += glue + piece
            else:
                lines.append(" " + piece)
    return lines


def _append_signature(lines: list[str], signature: str) -> None:
    """Append the b= value after "b=", filling the last line and then whole folded lines."""
    room = max(_LINE - len(lines[-1]), 0)
    lines[-1] += signature[:room]
    rest = signature[room:]
    width = _LINE - 1
    lines.extend(" " + rest[start : start + width] for start in range(0, len(rest), width))
