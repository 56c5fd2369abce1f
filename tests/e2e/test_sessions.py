"""UI sessions live on the server: nothing in the database signs anyone in, sign-out and key rotation end them."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from stepwise.bootstrap import Stepwise
from stepwise.config import Settings
from stepwise.services.accounts import rotate_key
from stepwise.services.users import create_user, remove_user, set_role
from stepwise.storage import schema as t
from stepwise.web.security import CookieSigner
from tests.e2e.conftest import PASSWORD, Api
from tests.support.clock import FakeClock
from tests.support.process import env_for, run_cli
from tests.support.server import LiveServer

COOKIE = "stepwise_session"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The secret comes from a file (as in a default installation), not from STEPWISE_SECRET_KEY."""
    return Settings(
        database_url=database_url,
        secret_file=str(tmp_path / "stepwise.secret"),
        base_url="http://stepwise.test",
        poll_interval=0.02,
    )


def browser(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=10)


@contextmanager
def sign_in(server: LiveServer, login: dict[str, str]) -> Iterator[httpx.Client]:
    """Sign in through /login like a browser; yield the client holding the session cookie."""
    with browser(server) as client:
        form = client.get("/login")
        login_csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert login_csrf
        answer = client.post("/login", data={"csrf": login_csrf[1], **login, "next": "/lists"})
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/lists"
        assert client.cookies.get(COOKIE)
        yield client


def is_signed_in(server: LiveServer, cookie: str) -> bool:
    with browser(server) as client:
        answer = client.get("/lists", headers={"Cookie": f"{COOKIE}={cookie}"})
    if answer.status_code == 303:
        assert answer.headers["location"] == "/login?next=%2Flists"
        return False
    assert answer.status_code == 200
    return True


def page_csrf(client: httpx.Client) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/lists").text)
    assert found
    return found[1]


def database_text(stepwise: Stepwise) -> str:
    """Every row of every table, as text."""
    with stepwise.db.read() as conn:
        return "\n".join(
            repr(tuple(row)) for table in t.metadata.sorted_tables for row in conn.execute(select(table)).all()
        )


@pytest.fixture
def signed_in(api: Api) -> Iterator[httpx.Client]:
    with sign_in(api.server, api.login()) as client:
        yield client


def test_the_database_holds_neither_the_session_id_nor_the_secret(
    api: Api, signed_in: httpx.Client, settings: Settings
) -> None:
    stepwise = api.server.stepwise
    cookie = signed_in.cookies[COOKIE]
    secret = Path(str(settings.secret_file)).read_text().strip()
    assert stepwise.secret == secret and len(secret) >= 32
    dump = database_text(stepwise)
    assert cookie not in dump and secret not in dump and PASSWORD not in dump
    assert "$argon2id$" in dump  # the password is kept as an argon2id hash
    assert hashlib.sha256(cookie.encode()).hexdigest() in dump  # what is stored: the hash
    path = stepwise.db.sqlite_path
    if path is not None:  # and the files themselves
        with stepwise.db.write() as conn:
            conn.execute(text("SELECT 1"))
        for file in path.parent.glob(path.name + "*"):
            if not file.name.endswith(".secret"):
                raw = file.read_bytes()
                assert cookie.encode() not in raw and secret.encode() not in raw, file


def test_cookies_made_from_what_the_database_holds_are_refused(api: Api, signed_in: httpx.Client) -> None:
    stepwise = api.server.stepwise
    assert is_signed_in(api.server, signed_in.cookies[COOKIE])
    with stepwise.db.read() as conn:
        id_hash, csrf = conn.execute(select(t.ui_sessions.c.id_hash, t.ui_sessions.c.csrf)).one()
        key_hash = conn.execute(select(t.api_keys.c.key_hash)).scalar_one()
        password_hash = conn.execute(select(t.metadata.tables["users"].c.password_hash)).scalar_one()
    forged_signer = CookieSigner(id_hash)  # the old cookie format, signed with anything the database offers
    old_style = forged_signer.sign("session", {"a": api.account_id, "h": key_hash, "c": csrf, "e": 2**40})
    for forged in (id_hash, csrf, key_hash, password_hash, old_style, "", "x" * 500):
        assert not is_signed_in(api.server, forged), forged


def test_sign_out_ends_the_session_on_the_server(api: Api, signed_in: httpx.Client) -> None:
    stepwise = api.server.stepwise
    cookie = signed_in.cookies[COOKIE]
    answer = signed_in.post("/logout", data={"csrf": page_csrf(signed_in)})
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert COOKIE in answer.headers["set-cookie"] and "Max-Age=0" in answer.headers["set-cookie"]
    assert not is_signed_in(api.server, cookie)  # the old cookie, replayed, leads to /login
    with stepwise.db.read() as conn:
        assert conn.execute(select(t.ui_sessions)).all() == []


def test_sign_in_sets_a_fresh_httponly_lax_cookie_and_secure_for_https(api: Api) -> None:
    with sign_in(api.server, api.login()) as first:
        old = first.cookies[COOKIE]
    with sign_in(api.server, api.login()) as second:
        assert second.cookies[COOKIE] != old
    stepwise = api.server.stepwise
    stepwise.settings = stepwise.settings.model_copy(update={"base_url": "https://mail.example.com"})
    with browser(api.server) as client:
        login_csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
        assert login_csrf  # its cookie is Secure now, so the client would not send it back over http
        form = {"csrf": login_csrf[1], **api.login()}
        answer = client.post("/login", data=form, headers={"Cookie": f"stepwise_login_csrf={login_csrf[1]}"})
    assert answer.status_code == 303
    cookie = next(v for v in answer.headers.get_list("set-cookie") if v.startswith(COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie


def test_a_session_ends_when_idle_and_at_its_absolute_limit(api: Api, signed_in: httpx.Client) -> None:
    clock = api.server.stepwise.clock
    assert isinstance(clock, FakeClock)
    cookie = signed_in.cookies[COOKIE]
    for _ in range(6):  # used every 1 h 50 min: alive until 12 h after sign-in
        clock.advance(hours=1, minutes=50)
        assert is_signed_in(api.server, cookie)
    clock.advance(hours=1, minutes=1)  # 12 h 01 min
    assert not is_signed_in(api.server, cookie)

    with sign_in(api.server, api.login()) as again, sign_in(api.server, api.login()) as other:
        assert session_count(api) == 2  # the expired one is gone
        clock.advance(hours=2, minutes=1)  # idle for longer than 2 h
        assert not is_signed_in(api.server, again.cookies[COOKIE])
        assert not is_signed_in(api.server, other.cookies[COOKIE])
        assert session_count(api) == 2  # expired, not yet cleaned up
    with sign_in(api.server, api.login()):
        assert session_count(api) == 1  # signing in cleans up


def session_count(api: Api) -> int:
    with api.server.stepwise.db.read() as conn:
        return len(conn.execute(select(t.ui_sessions)).all())


def test_rotating_the_key_ends_the_old_key_and_its_sessions(api: Api, signed_in: httpx.Client) -> None:
    stepwise = api.server.stepwise
    cookie = signed_in.cookies[COOKIE]
    assert api.client.get("/lists").status_code == 200
    rotated = rotate_key(stepwise.db, "shop", stepwise.clock())
    assert (rotated.revoked, rotated.sessions_ended) == (1, 1)
    refused = api.client.get("/lists")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    fresh = httpx.get(api.server.base_url + "/api/v1/lists", headers={"Authorization": f"Bearer {rotated.key}"})
    assert fresh.status_code == 200
    assert not is_signed_in(api.server, cookie)
    with sign_in(api.server, api.login()) as again:
        assert is_signed_in(api.server, again.cookies[COOKIE])


def test_s33_a_session_lives_only_as_long_as_its_user_and_sees_role_changes_at_once(api: Api) -> None:
    stepwise = api.server.stepwise
    create_user(stepwise.db, api.account_id, "ed@shop.example", PASSWORD, "editor", stepwise.clock())
    editor = {"email": "ed@shop.example", "password": PASSWORD}
    with sign_in(api.server, editor) as ed, sign_in(api.server, api.login()) as owner:
        lists_csrf = page_csrf(ed)
        assert ed.post("/lists", data={"csrf": lists_csrf, "key": "news", "name": "News"}).status_code == 303
        set_role(stepwise.db, api.account_id, "ed@shop.example", "viewer")
        refused = ed.post("/lists", data={"csrf": lists_csrf, "key": "more", "name": "More"})
        assert refused.status_code == 403 and "viewer" in refused.text
        remove_user(stepwise.db, api.account_id, "ed@shop.example")
        assert not is_signed_in(api.server, ed.cookies[COOKIE])
        assert is_signed_in(api.server, owner.cookies[COOKIE])


def test_the_cli_rotates_a_key_while_the_server_runs(api: Api, signed_in: httpx.Client, database_url: str) -> None:
    env = env_for(database_url, STEPWISE_SECRET_FILE=str(Path(str(api.server.stepwise.settings.secret_file))))
    del env["STEPWISE_SECRET_KEY"]
    helped = run_cli("accounts", "rotate-key", "--help", env=env)
    assert helped.returncode == 0 and "revoke" in helped.stdout.lower()
    missing = run_cli("accounts", "rotate-key", "nobody", env=env)
    assert missing.returncode == 1 and "no account 'nobody'" in missing.stderr
    result = run_cli("accounts", "rotate-key", "shop", env=env)
    assert result.returncode == 0, result.stderr
    new = re.search(r"sw_\S+", result.stdout)
    assert new and "revoked 1 key(s)" in result.stdout and "ended 1 UI session(s)" in result.stdout
    assert api.client.get("/lists").status_code == 401
    assert not is_signed_in(api.server, signed_in.cookies[COOKIE])
    with httpx.Client(base_url=api.server.base_url + "/api/v1", headers={"Authorization": f"Bearer {new[0]}"}) as c:
        assert c.get("/lists").status_code == 200
        again = run_cli("accounts", "rotate-key", "shop", "--json", env=env)
        assert again.returncode == 0, again.stderr
        body = json.loads(again.stdout)
        assert body["account"] == "shop" and body["revoked"] == 1 and body["sessions_ended"] == 0
        assert c.get("/lists").status_code == 401
        assert api.client.get("/lists", headers={"Authorization": f"Bearer {body['api_key']}"}).status_code == 200
