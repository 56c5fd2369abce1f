"""SPEC S33 from the shell: the first start's setup link, and `stepwise users create|list|set-role|remove`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from stepwise.bootstrap import Stepwise
from tests.support.process import env_for, run_cli, start_serve, stop
from tests.support.server import free_port

PASSWORD = "a long enough password"


def sign_in(base: str, email: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as client:
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
        assert token
        return client.post("/login", data={"csrf": token[1], "email": email, "password": password})


def test_s33_first_start_prints_a_setup_link_that_makes_the_owner_once(tmp_path: Path) -> None:
    env = env_for(f"sqlite:///{tmp_path / 'fresh.db'}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_serve(port, env)
    try:
        with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as client:
            assert client.get("/setup/not-a-token").status_code == 404
    finally:
        output = stop(server)
    link = re.search(r"http://127\.0\.0\.1:\d+(/setup/[A-Za-z0-9_-]{40,})", output)
    assert link, output
    server = start_serve(port, env)
    try:
        with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as client:
            assert client.get(link[1]).status_code == 200
            short = client.post(link[1], data={"email": "ann@example.com", "password": "short", "again": "short"})
            assert short.status_code == 422 and "10 to 200 characters" in short.text
            form = {"email": "ann@example.com", "password": PASSWORD, "again": PASSWORD}
            made = client.post(link[1], data=form)
            assert made.status_code == 303 and made.headers["location"] == "/login"
            assert client.post(link[1], data=form).status_code == 404  # once
        assert sign_in(base, "ann@example.com", PASSWORD).status_code == 303
        assert sign_in(base, "ann@example.com", "wrong password!").status_code == 401
    finally:
        stop(server)
    third = stop(start_serve(port, env))
    assert "/setup/" not in third  # a user exists now: no new link


def test_s33_users_commands(stepwise: Stepwise, database_url: str, tmp_path: Path) -> None:
    env = env_for(database_url)
    assert run_cli("accounts", "create", "default", env=env).returncode == 0
    for command in ("create", "list", "set-role", "remove"):
        helped = run_cli("users", command, "--help", env=env)
        assert helped.returncode == 0 and "Usage" in helped.stdout
    made = run_cli("users", "create", "ann@example.com", "--role", "owner", "--password", PASSWORD, env=env)
    assert made.returncode == 0, made.stderr
    piped = run_cli("users", "create", "bob@example.com", "--role", "editor", env={**env}, cwd=tmp_path)
    assert piped.returncode == 1  # no password on stdin: refused
    bob = run_cli("users", "create", "bob@example.com", "--role", "editor", "--password", PASSWORD, env=env)
    assert bob.returncode == 0, bob.stderr
    for bad in (["nobody", "--role", "owner"], ["c@example.com", "--role", "king"], ["ann@example.com"]):
        refused = run_cli("users", "create", *bad, "--password", PASSWORD, env=env)
        assert refused.returncode == 1 and "error" in refused.stderr.lower() + refused.stdout.lower(), bad
    listed = run_cli("users", "list", "--json", env=env)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["email"], r["role"]) for r in rows] == [("ann@example.com", "owner"), ("bob@example.com", "editor")]
    assert run_cli("users", "set-role", "bob@example.com", "viewer", env=env).returncode == 0
    last = run_cli("users", "set-role", "ann@example.com", "viewer", env=env)
    assert last.returncode == 1 and "last owner" in last.stderr + last.stdout
    assert run_cli("users", "remove", "bob@example.com", env=env).returncode == 0
    assert run_cli("users", "remove", "bob@example.com", env=env).returncode == 1
    rows = [json.loads(line) for line in run_cli("users", "list", "--json", env=env).stdout.splitlines()]
    assert [(r["email"], r["role"]) for r in rows] == [("ann@example.com", "owner")]
    with stepwise.db.read() as conn:
        from sqlalchemy import select

        from stepwise.storage import schema as t

        stored = conn.execute(select(t.metadata.tables["users"].c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
