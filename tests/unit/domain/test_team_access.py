"""S33/S34 pure rules: TOTP codes (RFC 6238 test vectors, computed independently), roles, scopes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct

import pytest

from stepwise.domain import access, totp

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


def independent_code(secret: str, at: int) -> str:
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", at // 30), hashlib.sha1).digest()
    offset = digest[-1] & 15
    return str((int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF) % 1_000_000).zfill(6)


@pytest.mark.parametrize(
    ("at", "code"), [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")]
)
def test_s33_totp_matches_the_rfc_6238_vectors(at: int, code: str) -> None:
    assert totp.totp(RFC_SECRET, at) == code == independent_code(RFC_SECRET, at)


def test_s33_totp_accepts_one_step_of_drift_and_nothing_else() -> None:
    secret = totp.new_secret()
    now = 1_700_000_000
    assert totp.verify(secret, independent_code(secret, now), now)
    assert totp.verify(secret, independent_code(secret, now - 30), now)
    assert not totp.verify(secret, independent_code(secret, now - 90), now)
    for bad in ("", "12345", "1234567", "abcdef", "12 34 5"):
        assert not totp.verify(secret, bad, now)
    assert totp.provisioning_uri(secret, "a@b.example").startswith("otpauth://totp/Stepwise%3Aa%40b.example?secret=")


ROLE_TABLE = [
    # role, method, path, allowed
    ("viewer", "GET", "/sequences/x", True),
    ("viewer", "POST", "/sequences/x/activate", False),
    ("viewer", "POST", "/logout", True),
    ("viewer", "POST", "/account/password", True),
    ("viewer", "GET", "/users", False),
    ("editor", "POST", "/sequences/new", True),
    ("editor", "POST", "/subscribers/a@b/delete", True),
    ("editor", "POST", "/imports/upload", True),
    ("editor", "POST", "/ui/imports", True),
    ("viewer", "POST", "/ui/imports", False),
    ("editor", "POST", "/suppressions", False),
    ("editor", "POST", "/sending-domains", False),
    ("editor", "POST", "/bounce-receivers/sendgrid", False),
    ("editor", "POST", "/users/invite", False),
    ("editor", "GET", "/keys", False),
    ("admin", "POST", "/users/invite", True),
    ("admin", "POST", "/sending-domains", True),
    ("owner", "POST", "/keys", True),
]


@pytest.mark.parametrize(("role", "method", "path", "allowed"), ROLE_TABLE)
def test_s33_roles_decide_by_method_and_path(role: str, method: str, path: str, allowed: bool) -> None:
    assert access.role_allows(role, method, path) is allowed


def test_s33_only_owners_make_or_change_owners() -> None:
    assert access.may_assign("owner", "owner")
    assert not access.may_assign("admin", "owner")
    assert not access.may_assign("admin", "viewer", current_role="owner")
    assert access.may_assign("admin", "editor", current_role="viewer")
    assert not access.may_assign("editor", "viewer")


SCOPE_TABLE = [
    ("read", "GET", "/sequences", True),
    ("read", "HEAD", "/lists", True),
    ("read", "POST", "/events", False),
    ("read", "DELETE", "/keys/3", False),
    ("write", "PUT", "/sequences/x", True),
    ("events", "POST", "/events", True),
    ("events", "POST", "/subscribers", True),
    ("events", "POST", "/bounces", True),
    ("events", "POST", "/bounces/raw", True),
    ("events", "GET", "/subscribers", False),
    ("events", "POST", "/subscribers/bulk", False),
    ("events", "PUT", "/sequences/x", False),
    ("nonsense", "GET", "/lists", False),
]


@pytest.mark.parametrize(("scope", "method", "path", "allowed"), SCOPE_TABLE)
def test_s34_scopes_decide_by_method_and_path(scope: str, method: str, path: str, allowed: bool) -> None:
    assert access.scope_allows(scope, method, path) is allowed


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/sequences/welcome/simulate", True),
        ("POST", "/drafts/hello/preview", True),
        ("POST", "/sequences/welcome/publish", False),
        ("POST", "/sequences/welcome/runs", False),
        ("PUT", "/sequences/welcome/simulate", False),
    ],
)
def test_s34_a_read_key_may_forecast_and_preview_which_change_nothing(method: str, path: str, allowed: bool) -> None:
    assert access.scope_allows("read", method, path) is allowed


def test_s33_a_viewer_may_run_a_forecast_but_not_publish() -> None:
    assert access.role_allows("viewer", "POST", "/sequences/welcome/forecast")
    assert not access.role_allows("viewer", "POST", "/sequences/welcome/publish")
