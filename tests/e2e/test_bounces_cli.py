"""`stepwise bounces ingest FILE|-` as an MTA's pipe transport runs it (SPEC S30), on both databases."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sqlalchemy import select

from stepwise.bootstrap import build
from stepwise.config import Settings
from stepwise.services.subscribers import Edit, edit_one
from stepwise.storage import schema as t
from tests.support import report_samples as samples
from tests.support.process import STEPWISE, env_for, run_cli


def _pipe(data: bytes, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    """Feed a message on standard input, as Postfix's pipe(8) does."""
    return subprocess.run(
        [STEPWISE, "bounces", "ingest", *args, "-"], input=data, env=env, capture_output=True, timeout=60, check=False
    )


def _status(database_url: str, address: str) -> str:
    app = build(Settings(database_url=database_url, secret_key="test-secret"), migrate=False)
    try:
        with app.db.read() as conn:
            return str(
                conn.execute(select(t.subscribers.c.status).where(t.subscribers.c.email_key == address)).scalar()
            )
    finally:
        app.close()


def test_S30_a_postfix_style_pipe_takes_a_bounce_on_standard_input(database_url: str, tmp_path: Path) -> None:
    env = env_for(database_url)
    assert run_cli("accounts", "create", "default", "--create", env=env).returncode == 0
    app = build(Settings(database_url=database_url, secret_key="test-secret"), migrate=False)
    try:
        for address in ("anna@example.com", "bob@example.com"):
            edit_one(app.db, 1, address, Edit(), source="api", now=app.clock(), create=True)
    finally:
        app.close()

    piped = _pipe(samples.dsn("anna@example.com"), env, "--json")
    assert piped.returncode == 0, piped.stderr.decode()
    summary = json.loads(piped.stdout)
    assert (summary["messages"], summary["recorded"], summary["unmatched"]) == (1, 1, 0)
    assert _status(database_url, "anna@example.com") == "bounced"
    assert json.loads(_pipe(samples.dsn("anna@example.com"), env, "--json").stdout)["duplicates"] == 1

    mbox = tmp_path / "reports.mbox"
    mbox.write_bytes(
        samples.mbox(samples.arf("bob@example.com"), samples.plain_message(), samples.dsn("x@example.org"))
    )
    read = run_cli("bounces", "ingest", str(mbox), env=env)
    assert read.returncode == 0, read.stderr
    assert "3 message(s), 2 report(s): 2 recorded, 0 seen before, 1 unmatched" in read.stdout
    assert "message 2:" in read.stderr
    assert _status(database_url, "bob@example.com") == "unsubscribed"


def test_bounces_ingest_refuses_what_is_no_report_and_changes_nothing(database_url: str, tmp_path: Path) -> None:
    env = env_for(database_url)
    assert run_cli("accounts", "create", "default", "--create", env=env).returncode == 0
    plain = _pipe(samples.plain_message(), env)
    assert plain.returncode == 1 and b"no delivery status notification" in plain.stderr
    assert _pipe(b"", env).returncode == 1
    missing = run_cli("bounces", "ingest", str(tmp_path / "nope.eml"), env=env)
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    other = _pipe(samples.dsn("anna@example.com"), env, "--account", "nobody")
    assert other.returncode == 1 and b"no account named 'nobody'" in other.stderr
    for result in (plain, other):
        assert b"Traceback" not in result.stderr


def test_bounces_ingest_asks_the_mta_to_try_again_when_the_database_is_away(tmp_path: Path) -> None:
    env = env_for("postgresql://nobody@127.0.0.1:1/none")
    away = _pipe(samples.dsn("anna@example.com"), env)
    assert away.returncode == 75, away.stderr.decode()


def test_S32_apply_makes_sending_domains_and_prints_the_record(database_url: str, tmp_path: Path) -> None:
    env = env_for(database_url)
    assert run_cli("accounts", "create", "default", "--create", env=env).returncode == 0
    flows = tmp_path / "domains.yaml"
    flows.write_text("sending_domains:\n  Example.com:\n  mail.example.org: {selector: may2026}\n")
    first = run_cli("apply", str(flows), env=env)
    assert first.returncode == 0, first.stderr
    assert (
        'created   sending_domain example.com: publish TXT stepwise1._domainkey.example.com "v=DKIM1; k=rsa; p='
        in first.stdout
    )
    assert "created   sending_domain mail.example.org: publish TXT may2026._domainkey.mail.example.org" in first.stdout
    again = run_cli("apply", str(flows), env=env)
    assert again.stdout.count("unchanged sending_domain") == 2
    assert first.stdout.split("p=")[1][:40] == again.stdout.split("p=")[1][:40]  # the key is kept
    flows.write_text("sending_domains:\n  not_a_domain:\n  example.net: {selector: 'bad selector'}\n")
    refused = run_cli("apply", str(flows), env=env)
    assert refused.returncode == 1 and "nothing applied" in refused.stderr
    checked = run_cli("validate", str(flows), env=env)
    assert checked.returncode == 1 and "sending_domains.example.net.selector" in checked.stderr
