"""SPEC S33 in Chromium, on both databases: the first owner from the setup link, invitations read in
the captured mailbox, a viewer refused every write page and action (enumerated from the routes), an
editor allowed what editors do, and a TOTP sign-in with a code computed here with hmac.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from stepwise.bootstrap import Stepwise
from stepwise.domain.access import role_allows
from stepwise.services import lists
from stepwise.services.accounts import create_account
from stepwise.services.team_links import ensure_setup_link
from stepwise.storage import schema as t
from stepwise.web import page_routers
from stepwise.web.pages import PageRoute
from tests.e2e.ui.conftest import Browser

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True),
]
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

OWNER, EDITOR, VIEWER = "owner@team.example", "ed@team.example", "vi@team.example"
PASSWORD = "a long enough password"
PUBLIC = ("/login", "/setup/", "/invite/", "/reset/")


@pytest.fixture
def acme(stepwise: Stepwise) -> tuple[int, str]:
    """Here the account is `default` with no user yet: the state of a first start."""
    row, key = create_account(stepwise.db, "default", "UTC", stepwise.clock())
    return row.id, key


def code_at(secret: str, moment: float) -> str:
    """RFC 6238 computed independently of the product: HMAC-SHA1 of the 30-second step, 6 digits."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(moment) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 15
    return str((int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF) % 1_000_000).zfill(6)


def write_routes() -> list[str]:
    """Every UI action that changes something (POST routes of the pages), path parameters filled in."""
    found = []
    routes = [route for router in page_routers() for route in router.routes]
    for route in routes:
        if isinstance(route, APIRoute) and isinstance(route, PageRoute) and "POST" in route.methods:
            if route.path.startswith(PUBLIC):
                continue
            found.append(re.sub(r"\{[^}]+\}", lambda m: "1" if m[0].endswith("id}") else "nothing-here", route.path))
    assert len(found) > 30
    return sorted(set(found))


def choose_password(ui: Browser, link: str, email: str | None = None) -> None:
    ui.page.goto(link)
    if email:
        ui.page.get_by_label("Email").fill(email)
    ui.page.get_by_label("Password", exact=True).fill(PASSWORD)
    ui.page.get_by_label("Password again").fill(PASSWORD)
    ui.page.get_by_role("button", name="Save").click()
    ui.page.wait_for_url(re.compile(r".*/login$"))


def sign_out(ui: Browser) -> None:
    ui.page.get_by_role("button", name="Sign out").click()
    ui.page.wait_for_url(re.compile(r".*/login$"))


def invitation_link(ui: Browser, email: str) -> str:
    ui.goto(f"/mailbox?q={email}")
    expect(ui.page.get_by_test_id("message-subject")).to_have_text("Your invitation to Stepwise")
    text = ui.page.locator("details pre").first.text_content() or ""
    found = re.search(r"https?://[^/\s]+(/invite/\S+)", text)  # at the configured public address
    assert found, text
    return ui.url(found[1])


def csrf(ui: Browser) -> str:
    value = ui.page.locator("input[name=csrf]").first.get_attribute("value")
    assert value
    return value


def audit_rows(stepwise: Stepwise) -> int:
    with stepwise.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(t.metadata.tables["audit_log"])).scalar_one())


def post_status(ui: Browser, path: str, token: str) -> int:
    response: Any = ui.page.request.post(ui.url(path), form={"csrf": token}, max_redirects=0)
    return int(response.status)


def test_s33_owner_invites_an_editor_and_a_viewer_whose_roles_hold_on_every_action(ui: Browser) -> None:
    stepwise = ui.server.stepwise
    ui.allowed_errors.append(re.compile(r"status of 40[34]"))
    link = ensure_setup_link(stepwise.db, ui.base_url, stepwise.clock())
    assert link
    choose_password(ui, link, OWNER)
    ui.sign_in(OWNER, PASSWORD)
    expect(ui.page.get_by_test_id("me")).to_contain_text("owner")
    for email, role in ((EDITOR, "editor"), (VIEWER, "viewer")):
        ui.goto("/users")
        ui.page.get_by_label("Email").fill(email)
        ui.page.get_by_label("Role", exact=True).select_option(role)
        ui.page.get_by_role("button", name="Send invitation").click()
        expect(ui.page.locator(".flash.ok")).to_contain_text(f"Invitation sent to {email}")
    ui.shot("team-users")
    links = {email: invitation_link(ui, email) for email in (EDITOR, VIEWER)}
    sign_out(ui)
    for invite in links.values():
        choose_password(ui, invite)
    lists.put(stepwise.db, ui.account_id, "news", "News", stepwise.clock())
    routes = write_routes()

    ui.sign_in(VIEWER, PASSWORD)
    before = audit_rows(stepwise)
    token = csrf(ui)
    for path in routes:
        if path == "/logout" or path.startswith("/account"):
            continue  # every user's own: signing out, their two-factor settings
        status = post_status(ui, path, token)
        assert status == 403, (path, status)
    for path in ("/users", "/keys", "/audit"):
        assert ui.goto(path).status == 403, path
    assert audit_rows(stepwise) == before
    assert lists.get(stepwise.db, ui.account_id, "news").name == "News"
    ui.goto("/lists")  # reading is fine
    expect(ui.page.get_by_text("News").first).to_be_visible()
    sign_out(ui)

    # the table as implemented: editors are refused only the admins' sections
    refused = {path for path in routes if not role_allows("editor", "POST", path)}
    admin_only = {"suppressions", "sending-domains", "bounce-receivers", "webhooks", "users", "keys", "settings"}
    assert refused and {path.split("/")[1] for path in refused} <= admin_only, refused
    assert not refused & {"/ui/imports", "/lists", "/sequences/new", "/drafts/new", "/forms/new", "/subscribers"}
    ui.sign_in(EDITOR, PASSWORD)
    token = csrf(ui)
    for path in routes:
        if path in ("/logout",) or path.startswith("/account"):
            continue
        status = post_status(ui, path, token)
        assert (status != 403) is role_allows("editor", "POST", path), (path, status)
    made = ui.page.request.post(ui.url("/lists"), form={"csrf": token, "key": "vip", "name": "VIP"}, max_redirects=0)
    assert made.status == 303
    assert lists.get(stepwise.db, ui.account_id, "vip").name == "VIP"
    ui.goto("/audit")  # admins only
    ui.goto("/lists")
    sign_out(ui)


def test_s33_two_factor_sign_in_with_a_code_computed_here(ui: Browser) -> None:
    stepwise = ui.server.stepwise
    ui.allowed_errors.append(re.compile(r"status of 401"))
    link = ensure_setup_link(stepwise.db, ui.base_url, stepwise.clock())
    assert link
    choose_password(ui, link, OWNER)
    ui.sign_in(OWNER, PASSWORD)
    ui.goto("/account")
    ui.page.get_by_role("button", name="Set up two-factor sign-in").click()
    secret = ui.page.get_by_test_id("totp-secret").text_content() or ""
    assert len(secret) == 32
    ui.page.get_by_label("Code").fill(code_at(secret, stepwise.clock().timestamp()))
    ui.page.get_by_role("button", name="Turn on").click()
    expect(ui.page.get_by_test_id("totp-state")).to_contain_text("On")
    with stepwise.db.read() as conn:
        stored = conn.execute(select(t.metadata.tables["users"].c.totp_sealed)).scalar_one()
    assert stored and secret not in stored  # sealed, never in the clear
    sign_out(ui)

    ui.page.get_by_label("Email").fill(OWNER)
    ui.page.get_by_label("Password").fill(PASSWORD)
    ui.page.get_by_role("button", name="Sign in").click()
    expect(ui.page.get_by_role("heading", name="Enter your code")).to_be_visible()
    ui.page.get_by_label("Code").fill(
        "000000" if code_at(secret, stepwise.clock().timestamp()) != "000000" else "111111"
    )
    ui.page.get_by_role("button", name="Sign in").click()
    expect(ui.page.get_by_role("alert")).to_have_text("That code is not right.")
    ui.page.get_by_label("Code").fill(code_at(secret, stepwise.clock().timestamp()))
    ui.page.get_by_role("button", name="Sign in").click()
    ui.page.wait_for_url(re.compile(r".*/sequences$"))
    expect(ui.page.get_by_test_id("me")).to_contain_text(OWNER)


def test_s34_s35_a_key_made_on_the_keys_page_is_shown_once_scoped_and_audited(ui: Browser) -> None:
    stepwise = ui.server.stepwise
    link = ensure_setup_link(stepwise.db, ui.base_url, stepwise.clock())
    assert link
    choose_password(ui, link, OWNER)
    ui.sign_in(OWNER, PASSWORD)
    ui.goto("/keys")
    ui.page.get_by_label("Name").fill("reporting")
    ui.page.get_by_label("Scope").select_option("read")
    ui.page.get_by_role("button", name="Make key").click()
    secret = ui.page.get_by_test_id("new-key").input_value()
    assert secret.startswith("sw_")
    ui.shot("team-keys")
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=ui.base_url + "/api/v1", headers=headers, timeout=10) as api:
        assert api.get("/lists").status_code == 200
        assert api.put("/lists/news", json={"name": "News"}).status_code == 403
        ui.goto("/keys")
        assert secret not in ui.page.content()  # shown once
        row = ui.page.locator("tr", has_text="reporting")
        expect(row).not_to_contain_text("never")  # last used: just now
        row.get_by_role("button", name="Revoke").click()
        expect(ui.page.locator(".flash.ok")).to_contain_text("Key reporting revoked.")
        assert api.get("/lists").status_code == 401
    ui.goto("/audit")
    ui.page.get_by_label("Object").select_option("key")
    ui.page.get_by_role("button", name="Filter").click()
    rows = ui.page.locator("tr[data-audit]")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("revoke")
    expect(rows.nth(1)).to_contain_text("create")
    expect(rows.nth(0)).to_contain_text(f"user:{OWNER}")
    ui.shot("team-audit")
