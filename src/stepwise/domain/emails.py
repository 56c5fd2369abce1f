"""Email addresses: validation and the canonical forms used for identity."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_LOCAL_ATOM = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\uffff]+$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MAX_LENGTH = 254

# What the OpenAPI document declares for an address: the shape every address that `parse_email`
# accepts has (surrounding blanks are trimmed; one @; a dot in the domain). It is wider than what
# is accepted (validation is `parse_email`, with its messages), never narrower: a pattern with
# tighter bounds made the fuzzer send addresses just outside them that are valid.
EMAIL_PATTERN = r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$"
EMAIL_SCHEMA: dict[str, Any] = {"pattern": EMAIL_PATTERN, "minLength": 5, "maxLength": MAX_LENGTH}


class InvalidEmail(ValueError):
    """The text is not an email address we can deliver to."""


@dataclass(frozen=True, slots=True)
class Email:
    """An address as stored (`value`) and as compared (`key`)."""

    value: str
    key: str


def parse_email(raw: str) -> Email:
    """Trim, validate and canonicalise an address; raise InvalidEmail with a reason."""
    if not isinstance(raw, str):
        raise InvalidEmail("must be a string")
    text = raw.strip()
    if not text:
        raise InvalidEmail("is empty")
    if len(text) > MAX_LENGTH:
        raise InvalidEmail(f"is longer than {MAX_LENGTH} characters")
    if any(ch in text for ch in "\r\n\0\t ") or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InvalidEmail("contains whitespace or control characters")
    local, sep, domain = text.rpartition("@")
    if not sep or not local or not domain:
        raise InvalidEmail("must look like name@example.com")
    if len(local) > 64:
        raise InvalidEmail("has a local part longer than 64 characters")
    atoms = local.split(".")
    if any(not atom or not _LOCAL_ATOM.match(atom) for atom in atoms):
        raise InvalidEmail("has an invalid local part")
    domain = domain.lower().rstrip(".") if domain.endswith(".") and len(domain) > 1 else domain.lower()
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidEmail("has an invalid domain") from exc
    labels = ascii_domain.split(".")
    if len(labels) < 2 or any(not _LABEL.match(label) for label in labels):
        raise InvalidEmail("has an invalid domain")
    if labels[-1].isdigit():
        raise InvalidEmail("has an invalid top-level domain")
    value = f"{local}@{domain}"
    return Email(value=value, key=value.lower())


def email_key(raw: str) -> str:
    """Return the comparison key of an address (raises InvalidEmail)."""
    return parse_email(raw).key
