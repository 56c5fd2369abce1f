"""SPEC S33 and S35 at the services, on both databases: links, resets, role limits, team emails, audit."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from stepwise.bootstrap import Stepwise
from stepwise.errors import AppError
from stepwise.services import audit, issues, team_links, users
from stepwise.services.throttle import Throttle
from stepwise.storage import schema as t
from tests.support.clock import FakeClock

PASSWORD = "a long enough password"


def team(stepwise: Stepwise, account: tuple[int, str]) -> int:
    account_id, _ = account
    users.create_user(stepwise.db, account_id, "own@acme.example", PASSWORD, "owner", stepwise.clock())
    return account_id


def emailed_token(stepwise: Stepwise, account_id: int, email: str, purpose: str) -> str:
    found = issues.page(
        stepwise.db, account_id, email=email, sequence=None, draft=None, status=None, cursor=None, limit=5
    )[0]
    assert found and found[0].status == "sent"
    text = issues.message(stepwise.db, account_id, found[0].id).text
    match = re.search(rf"/{purpose}/(\S+)", text)
    assert match, text
    return match[1]


def everything(stepwise: Stepwise) -> str:
    with stepwise.db.read() as conn:
        return "\n".join(repr(tuple(r)) for table in t.metadata.sorted_tables for r in conn.execute(select(table)))


def test_s33_an_invitation_is_emailed_used_once_and_stored_only_as_a_hash(
    stepwise: Stepwise, account: tuple[int, str]
) -> None:
    account_id = team(stepwise, account)
    now = stepwise.clock()
    team_links.invite(stepwise, account_id, "Ed@Acme.example", "editor", "owner", now)
    token = emailed_token(stepwise, account_id, "ed@acme.example", "invite")
    with stepwise.db.read() as conn:
        links = repr(conn.execute(select(t.metadata.tables["user_links"])).all())
    assert token not in links and team_links.token_hash(token) in links  # the link itself: only a hash
    made = team_links.accept_invite(stepwise.db, token, PASSWORD, now)
    assert (made.email, made.role) == ("Ed@acme.example", "editor")
    with pytest.raises(AppError) as again:
        team_links.accept_invite(stepwise.db, token, PASSWORD, now)
    assert again.value.status == 404
    counts = issues.stats(stepwise.db, account_id, sequence=None, draft=None)
    assert counts.model_dump(mode="json") == issues.stats(stepwise.db, 999, sequence=None, draft=None).model_dump(
        mode="json"
    )  # team emails are in no statistic


@pytest.mark.parametrize(
    ("actor", "role", "status"), [("admin", "owner", 403), ("editor", "viewer", 403), ("owner", "nobody", 422)]
)
def test_s33_who_may_invite_whom(
    stepwise: Stepwise, account: tuple[int, str], actor: str, role: str, status: int
) -> None:
    account_id = team(stepwise, account)
    before = everything(stepwise)
    with pytest.raises(AppError) as refused:
        team_links.invite(stepwise, account_id, "x@acme.example", role, actor, stepwise.clock())
    assert refused.value.status == status
    assert everything(stepwise) == before  # nothing changed, nothing sent


def test_s33_a_reset_link_expires_after_an_hour_and_a_used_one_ends_the_sessions(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id = team(stepwise, account)
    team_links.request_reset(stepwise, "nobody@acme.example", clock())  # says nothing, sends nothing
    team_links.request_reset(stepwise, "own@acme.example", clock())
    old = emailed_token(stepwise, account_id, "own@acme.example", "reset")
    clock.advance(minutes=61)
    with pytest.raises(AppError) as expired:
        team_links.accept_reset(stepwise.db, old, "a brand new password", clock())
    assert expired.value.status == 404
    team_links.request_reset(stepwise, "own@acme.example", clock())
    fresh = emailed_token(stepwise, account_id, "own@acme.example", "reset")
    throttle = Throttle()
    assert users.check_password_sign_in(stepwise.db, throttle, "c", "own@acme.example", PASSWORD)
    team_links.accept_reset(stepwise.db, fresh, "a brand new password", clock())
    assert users.check_password_sign_in(stepwise.db, throttle, "c", "own@acme.example", PASSWORD) is None
    assert users.check_password_sign_in(stepwise.db, throttle, "c", "own@acme.example", "a brand new password")


def test_s33_the_last_owner_stays_and_admins_leave_owners_alone(stepwise: Stepwise, account: tuple[int, str]) -> None:
    account_id = team(stepwise, account)
    users.create_user(stepwise.db, account_id, "adm@acme.example", PASSWORD, "admin", stepwise.clock())
    for call in (
        lambda: users.set_role(stepwise.db, account_id, "own@acme.example", "viewer"),
        lambda: users.remove_user(stepwise.db, account_id, "own@acme.example"),
        lambda: users.set_role(stepwise.db, account_id, "own@acme.example", "viewer", actor_role="admin"),
        lambda: users.set_role(stepwise.db, account_id, "adm@acme.example", "owner", actor_role="admin"),
        lambda: users.create_user(stepwise.db, account_id, "OWN@acme.example", PASSWORD, "viewer", stepwise.clock()),
        lambda: users.create_user(stepwise.db, account_id, "new@acme.example", "short", "viewer", stepwise.clock()),
    ):
        with pytest.raises(AppError) as refused:
            call()
        assert refused.value.status in (403, 409, 422)
    assert [(u.email, u.role) for u in users.list_users(stepwise.db, account_id)] == [
        ("adm@acme.example", "admin"),
        ("own@acme.example", "owner"),
    ]


def test_s35_user_changes_are_audited_with_the_actor_of_the_request(
    stepwise: Stepwise, account: tuple[int, str]
) -> None:
    account_id = team(stepwise, account)
    with audit.actor_scope():
        audit.set_actor("user:own@acme.example")
        users.create_user(stepwise.db, account_id, "v@acme.example", PASSWORD, "viewer", stepwise.clock())
        users.set_role(stepwise.db, account_id, "v@acme.example", "editor")
    entries = audit.entries(stepwise.db, account_id, cursor=None, limit=10, object_type="user", key="v@acme.example")
    assert [(e.action, e.actor) for e in entries.items] == [
        ("set_role", "user:own@acme.example"),
        ("create", "user:own@acme.example"),
    ]
    assert entries.items[0].before == {"role": "viewer"} and entries.items[0].after == {"role": "editor"}
    assert PASSWORD not in everything(stepwise)


def test_s33_through_smtp_the_archived_invitation_holds_no_usable_link(
    stepwise: Stepwise, account: tuple[int, str]
) -> None:
    from tests.integration.delivery.servers import smtp_server

    account_id = team(stepwise, account)
    with smtp_server() as server:
        stepwise.settings = stepwise.settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{server.port}"})
        team_links.invite(stepwise, account_id, "ed@acme.example", "viewer", "owner", stepwise.clock())
        sent = server.recorder.received
    assert len(sent) == 1
    token = re.search(rb"/invite/([A-Za-z0-9_-]{40,})", sent[0].raw.replace(b"=\r\n", b""))
    assert token, sent[0].raw
    assert token[1].decode() not in everything(stepwise)  # neither in the links nor in the archive
    made = team_links.accept_invite(stepwise.db, token[1].decode(), PASSWORD, stepwise.clock())
    assert made.role == "viewer"
