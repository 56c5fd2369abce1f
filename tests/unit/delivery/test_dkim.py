"""DKIM signatures verify with an independent verifier (dkimpy) given only the published key record.

`stepwise.delivery.dkim` signs with `cryptography`; dkimpy plays the receiving mail server: it
looks up the TXT record through `dnsfunc`, which answers only for the record Stepwise publishes.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

import dkim as dkimpy
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepwise.delivery.dkim import (
    DEFAULT_SELECTOR,
    SIGNED_HEADERS,
    Signer,
    check_domain,
    check_selector,
    generate_private_key,
    public_record,
    record_name,
)
from stepwise.delivery.message import build

DOMAIN = "example.com"
LONG_URL = "https://stepwise.example.com/t/u/" + "a1B2c3D4" * 24 + "?list=welcome&subscriber=s_0123456789abcdef"
FOLDED_SUBJECT = (
    "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln_=E2=80=94_Ihre_Bestellung_ist?=\r\n"
    " =?utf-8?q?_unterwegs_=F0=9F=9A=9A?="
)


@pytest.fixture(scope="module")
def pem() -> bytes:
    return generate_private_key()


@pytest.fixture(scope="module")
def signer(pem: bytes) -> Signer:
    return Signer.load(DOMAIN, DEFAULT_SELECTOR, pem)


@pytest.fixture(scope="module")
def dns(pem: bytes) -> Callable[..., bytes | None]:
    """A resolver that knows only the published record (dkimpy asks for b"<selector>._domainkey.<domain>.")."""
    wanted = (record_name(DEFAULT_SELECTOR, DOMAIN) + ".").encode()
    record = public_record(pem).encode()

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == wanted else None

    return lookup


def verifies(signed: bytes, dns: Callable[..., bytes | None]) -> bool:
    return bool(dkimpy.verify(signed, dnsfunc=dns))


def hand_built(
    body: bytes = b"Hello Anna,\r\n\r\nWelcome aboard.\r\n",
    *,
    extra: tuple[str, ...] = (),
    unsubscribe: bool = True,
    linesep: bytes = b"\r\n",
) -> bytes:
    """A message shaped like Stepwise's builder makes, written by hand to control every byte."""
    boundary = "=_stepwise_iss_7"
    headers = [
        "From: =?utf-8?q?Zo=C3=AB?= <news@example.com>",
        "To: anna@example.org",
        FOLDED_SUBJECT,
        "Date: Tue, 02 Jan 2024 09:30:00 +0000",
        "Message-ID: <iss_7@stepwise.example.com>",
        "MIME-Version: 1.0",
        *(
            [f"List-Unsubscribe: <{LONG_URL}>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"]
            if unsubscribe
            else []
        ),
        "List-Id: <welcome.example.com>",
        *extra,
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    head = "\r\n".join(headers).encode()
    part = b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
    message = head + b"\r\n\r\n" + f"--{boundary}\r\n".encode() + part + body + f"\r\n--{boundary}--\r\n".encode()
    return message.replace(b"\r\n", linesep)


def tags(header: bytes) -> dict[str, str]:
    """The tags of a DKIM-Signature header, unfolded, with whitespace removed from values."""
    value = header.decode().split(":", 1)[1].replace("\r\n", "")
    pairs = (part.split("=", 1) for part in value.split(";") if part.strip())
    return {name.strip(): re.sub(r"\s+", "", content) for name, content in pairs}


def stepwise_message(**changes: str) -> bytes:
    fields = {
        "issue_id": "iss_01HZX",
        "sender_email": "news@example.com",
        "sender_name": "Zoë from Example",
        "recipient": "anna@example.org",
        "subject": "Grüße aus Köln — Ihre Bestellung ist unterwegs, und hier ist alles, was Sie wissen müssen 🚚",
        "html": "<p>Hallo Anna,</p>\n<p>Ihre Bestellung   ist unterwegs.</p>   \n\n" * 40,
        "text": "Hallo Anna,   \n\nIhre Bestellung ist unterwegs: Grüße!\t\n\n\n" * 40,
        "unsubscribe_url": LONG_URL,
    } | changes
    return build(
        reply_to=None,
        list_id="<welcome.example.com>",
        base_url="https://stepwise.example.com",
        date=datetime(2024, 1, 2, 9, 30, tzinfo=UTC),
        **fields,  # type: ignore[arg-type]
    ).raw


def test_a_message_built_by_stepwise_verifies_given_only_the_published_record(
    signer: Signer, dns: Callable[..., bytes | None]
) -> None:
    message = stepwise_message()
    assert b"Subject: =?utf-8?" in message and b"\r\n =?utf-8?" in message  # the subject is folded
    assert f"List-Unsubscribe: <{LONG_URL}>".encode() in message
    assert verifies(signer.sign(message, int(time.time())) + message, dns)


def test_trailing_whitespace_and_empty_lines_in_the_body_are_canonicalized(
    signer: Signer, dns: Callable[..., bytes | None]
) -> None:
    body = b"Hello  \t Anna,   \r\n\r\n\tWelcome\t\taboard. \t\r\n  \r\n=C3=BC =\r\nsoft break\r\n\r\n\r\n  \r\n\r\n"
    message = hand_built(body)
    assert verifies(signer.sign(message, int(time.time())) + message, dns)


def test_relaxed_canonicalization_survives_whitespace_changes_in_transit(
    signer: Signer, dns: Callable[..., bytes | None]
) -> None:
    message = hand_built()
    header = signer.sign(message, int(time.time()))
    relayed = message.replace(b"To: anna@example.org", b"To:   anna@example.org  ")
    relayed = relayed.replace(b"Welcome aboard.", b"Welcome \t aboard.   ") + b"\r\n\r\n"
    assert relayed != message
    assert verifies(header + relayed, dns)


def test_a_modified_body_fails_verification(signer: Signer, dns: Callable[..., bytes | None]) -> None:
    message = stepwise_message()
    header = signer.sign(message, int(time.time()))
    assert verifies(header + message, dns)
    assert not verifies(header + message.replace(b"Hallo Anna", b"Hallo Bert", 1), dns)


def test_a_modified_subject_fails_verification(signer: Signer, dns: Callable[..., bytes | None]) -> None:
    message = hand_built()
    header = signer.sign(message, int(time.time()))
    assert verifies(header + message, dns)
    assert not verifies(header + message.replace(b"unterwegs_", b"angekommen_"), dns)


def test_h_lists_the_signed_headers_present_in_their_fixed_order(signer: Signer) -> None:
    message = hand_built(extra=("X-Mailer: Stepwise", "Reply-To: help@example.com"))
    signed = tags(signer.sign(message, 1_700_000_000))
    assert signed["h"] == ":".join(name.lower() for name in SIGNED_HEADERS)
    assert {k: v for k, v in signed.items() if k not in {"h", "bh", "b"}} == {
        "v": "1",
        "a": "rsa-sha256",
        "c": "relaxed/relaxed",
        "d": DOMAIN,
        "s": DEFAULT_SELECTOR,
        "t": "1700000000",
    }


def test_a_message_without_list_unsubscribe_is_signed_without_it(
    signer: Signer, dns: Callable[..., bytes | None]
) -> None:
    message = hand_built(unsubscribe=False)
    header = signer.sign(message, int(time.time()))
    assert tags(header)["h"] == "from:to:subject:date:message-id:mime-version:content-type"
    assert verifies(header + message, dns)


def test_the_last_instance_of_a_repeated_header_is_signed(signer: Signer, dns: Callable[..., bytes | None]) -> None:
    message = b"Subject: first\r\n" + hand_built()
    header = signer.sign(message, int(time.time()))
    assert verifies(header + message, dns)
    assert verifies(header + message.replace(b"Subject: first", b"Subject: changed"), dns)
    assert not verifies(header + message.replace(b"unterwegs_", b"angekommen_"), dns)


def test_a_message_with_bare_lf_line_ends_is_signed_as_it_travels_with_crlf(
    signer: Signer, dns: Callable[..., bytes | None]
) -> None:
    message = hand_built(b"Hello Anna,  \r\n\r\nWelcome aboard.\r\n\r\n", linesep=b"\n")
    assert b"\r" not in message
    header = signer.sign(message, int(time.time()))
    assert header == signer.sign(message.replace(b"\n", b"\r\n"), int(tags(header)["t"]))
    assert verifies(header + message.replace(b"\n", b"\r\n"), dns)
    assert verifies(header.replace(b"\r\n", b"\n") + message, dns)


def test_an_empty_body_hashes_as_the_empty_string(signer: Signer, dns: Callable[..., bytes | None]) -> None:
    empty = base64.b64encode(hashlib.sha256(b"").digest()).decode()
    head = b"From: news@example.com\r\nTo: anna@example.org\r\nSubject: hi\r\n"
    for message in (head + b"\r\n", head + b"\r\n\r\n\r\n", head + b"\r\n  \t\r\n", head):
        header = signer.sign(message, int(time.time()))
        assert tags(header)["bh"] == empty
        assert verifies(header + message, dns)


def test_a_body_without_a_final_crlf_gets_one(signer: Signer) -> None:
    head = b"From: news@example.com\r\n\r\n"
    assert tags(signer.sign(head + b"Hi  there  ", 1))["bh"] == tags(signer.sign(head + b"Hi there\r\n", 1))["bh"]


def test_the_signature_header_is_folded_into_short_crlf_lines(signer: Signer) -> None:
    header = signer.sign(hand_built(), 1_700_000_000)
    assert header.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;") and header.endswith(b"\r\n")
    lines = header[:-2].split(b"\r\n")
    assert all(len(line) < 78 for line in lines)
    assert all(line.startswith(b" ") for line in lines[1:])
    assert b"\n" not in header.replace(b"\r\n", b"")


def test_a_message_without_from_is_refused(signer: Signer) -> None:
    with pytest.raises(ValueError, match="From"):
        signer.sign(b"To: anna@example.org\r\nSubject: hi\r\n\r\nbody\r\n", 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(st.text(alphabet=" \t=abcZ.-", max_size=30), max_size=12),
    subject=st.lists(st.text(alphabet=" \tabc=?", min_size=1, max_size=20), min_size=1, max_size=3),
)
def test_any_whitespace_in_body_and_folded_headers_verifies(
    signer: Signer, dns: Callable[..., bytes | None], lines: list[str], subject: list[str]
) -> None:
    # SMTP ends every body line with CRLF, so generated bodies do too.
    body = "".join(line + "\r\n" for line in lines).encode()
    folded = "\r\n ".join(subject)
    message = f"From: news@example.com\r\nSubject: x{folded}\r\nTo: anna@example.org\r\n\r\n".encode() + body
    assert verifies(signer.sign(message, int(time.time())) + message, dns)


def test_the_generated_key_is_unencrypted_pkcs8_rsa_2048_with_exponent_65537(pem: bytes) -> None:
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    assert key.public_key().public_numbers().e == 65537


def test_the_record_publishes_the_public_key_as_base64_der(pem: bytes) -> None:
    record = public_record(pem)
    match = re.fullmatch(r"v=DKIM1; k=rsa; p=([A-Za-z0-9+/]+=*)", record)
    assert match is not None
    published = serialization.load_der_public_key(base64.b64decode(match.group(1)))
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(published, rsa.RSAPublicKey) and isinstance(key, rsa.RSAPrivateKey)
    assert published.public_numbers() == key.public_key().public_numbers()


def test_the_record_name_is_under_domainkey() -> None:
    assert record_name("stepwise1", "example.com") == "stepwise1._domainkey.example.com"


def test_load_normalizes_the_domain(pem: bytes) -> None:
    assert Signer.load("Mail.Example.COM.", "s1", pem).domain == "mail.example.com"


@pytest.mark.parametrize("key", [b"", b"not a key", "ec"])
def test_load_refuses_anything_but_an_rsa_pem_key(key: bytes | str) -> None:
    if key == "ec":
        key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    assert isinstance(key, bytes)
    with pytest.raises(ValueError, match="DKIM private key"):
        Signer.load(DOMAIN, DEFAULT_SELECTOR, key)


def test_a_signer_refuses_an_unchecked_domain_or_selector(signer: Signer) -> None:
    with pytest.raises(ValueError):
        Signer(domain="Example.com", selector="s1", key=signer.key)
    with pytest.raises(ValueError):
        Signer(domain="example.com\r\nBcc: x", selector="s1", key=signer.key)
    with pytest.raises(ValueError):
        Signer(domain="example.com", selector="s1;", key=signer.key)


@pytest.mark.parametrize("selector", ["stepwise1", "s", "2024-01", "mail.s1", "a" * 63, "a" * 31 + "." + "b" * 31])
def test_a_selector_of_lower_case_dns_labels_is_accepted(selector: str) -> None:
    check_selector(selector)


@pytest.mark.parametrize(
    "selector",
    [
        "",
        "Stepwise1",
        "s_1",
        "s 1",
        "s;1",
        "-s",
        "s-",
        "a..b",
        ".a",
        "a.",
        "a" * 64,
        "a" * 32 + "." + "b" * 31,
        "sélector",
        "s\r\n",
    ],
)
def test_a_selector_that_is_not_dns_labels_is_refused(selector: str) -> None:
    with pytest.raises(ValueError, match="selector"):
        check_selector(selector)


@pytest.mark.parametrize(
    ("domain", "normal"),
    [
        ("example.com", "example.com"),
        ("Mail.Example.COM", "mail.example.com"),
        ("example.com.", "example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a-b.c0.example", "a-b.c0.example"),
        (("a" * 63 + ".") * 3 + "b" * 61, ("a" * 63 + ".") * 3 + "b" * 61),
    ],
)
def test_a_domain_is_returned_as_lower_case_ascii(domain: str, normal: str) -> None:
    assert check_domain(domain) == normal


@pytest.mark.parametrize(
    ("domain", "reason"),
    [
        ("", "empty"),
        ("localhost", "at least one dot"),
        ("example..com", "invalid label"),
        (".example.com", "invalid label"),
        ("-x.example.com", "invalid label"),
        ("x-.example.com", "invalid label"),
        ("ex_ample.com", "invalid label"),
        ("exa mple.com", "invalid label"),
        ("example.com\r\n", "invalid label"),
        ("example.com;", "invalid label"),
        ("a" * 64 + ".com", "invalid label|IDNA"),
        (("a" * 63 + ".") * 4 + "com", "longer than 253"),
        ("192.168.0.1", "IP address"),
        ("\udcff.example", "IDNA"),
    ],
)
def test_a_domain_that_is_not_a_valid_name_is_refused_with_its_reason(domain: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_domain(domain)
