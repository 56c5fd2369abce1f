"""Form submissions and double opt-in (SPEC §5): statuses, events, the confirmation email and its link."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from stepwise.bootstrap import Stepwise
from stepwise.domain.emails import parse_email
from stepwise.domain.forms import FormSpec
from stepwise.services import drafts, forms, issues, lists, sequences
from stepwise.services import subscribers as subscriber_service
from stepwise.services.accounts import create_account
from stepwise.services.drafts import DraftBody
from stepwise.services.forms import SubmissionInvalid, confirm, public_form, submit, validate_submission
from stepwise.services.issues import Issue
from stepwise.services.subscribers import Edit, edit_one
from stepwise.storage import schema as t
from stepwise.storage.codec import loads
from tests.integration.audience.support import clear_inbox, entered, one_step, queued_events
from tests.support.clock import FakeClock
from tests.support.drive import settle


@pytest.fixture
def account_id(stepwise: Stepwise, account: tuple[int, str]) -> int:
    now = stepwise.clock()
    lists.put(stepwise.db, account[0], "news", "News", now)
    forms.put(stepwise.db, account[0], "newsletter", FormSpec.model_validate(NEWSLETTER), now)
    forms.put(stepwise.db, account[0], "quick", FormSpec(lists=["news"], double_opt_in=False), now)
    return account[0]


NEWSLETTER = {
    "title": "The Weekly",
    "fields": ["base.firstName", {"path": "base.city", "label": "Your city", "required": True}],
    "lists": ["news"],
    "success_url": "https://example.com/thanks",
}


def post(stepwise: Stepwise, key: str, **values: str) -> None:
    form = public_form(stepwise.db, "acme", key)
    assert form is not None
    email, data = validate_submission(form, values)
    submit(stepwise.db, stepwise.signer, stepwise.settings.base_url, form, email, data, stepwise.clock())


def person(stepwise: Stepwise, account_id: int, email: str = "ann@x.com") -> dict[str, Any]:
    return subscriber_service.get(stepwise.db, account_id, email).model_dump()


def outbox(stepwise: Stepwise) -> list[dict[str, Any]]:
    with stepwise.db.read() as conn:
        rows = conn.execute(select(t.outbox.c.payload, t.outbox.c.sequence_id, t.outbox.c.pass_no)).all()
    return [{"payload": loads(p), "sequence_id": s, "pass_no": n} for p, s, n in rows]


def confirmations(stepwise: Stepwise, account_id: int) -> list[Issue]:
    items, _ = issues.page(
        stepwise.db, account_id, email=None, sequence=None, draft=None, status=None, cursor=None, limit=50
    )
    return [i for i in items if i.group == "confirmation"]


def token_of(url: str) -> str:
    match = re.fullmatch(r"http://stepwise\.test/t/confirm/([A-Za-z0-9_-]+)", url)
    assert match, url
    return match.group(1)


def test_a_double_opt_in_submission_creates_an_unconfirmed_subscriber_and_queues_the_confirmation(
    stepwise: Stepwise, account_id: int
) -> None:
    post(stepwise, "newsletter", email=" Ann@X.com ", **{"base.firstName": "Ann", "base.city": "Oslo"})
    ann = person(stepwise, account_id)
    assert (ann["email"], ann["status"], ann["lists"]) == ("Ann@x.com", "unconfirmed", ["news"])
    assert ann["data"] == {"base": {"firstName": "Ann", "city": "Oslo"}}
    assert [(kind, payload, source) for _, kind, payload, source in queued_events(stepwise, account_id)] == [
        ("subscriber_added", {"confirmed": False}, "form"),
        ("list_joined", {"list": "news"}, "form"),
        ("form_submitted", {"form": "newsletter"}, "form"),
    ]
    [issue] = confirmations(stepwise, account_id)
    assert (issue.status, issue.email, issue.sequence) == ("queued", "Ann@x.com", None)
    [row] = outbox(stepwise)
    assert (row["sequence_id"], row["pass_no"]) == (0, 0)
    payload = row["payload"]
    assert payload["purpose"] == "confirmation"
    token_of(payload["confirm_url"])
    assert payload["template"]["from_email"] == "no-reply@stepwise.test"
    assert payload["template"]["from_name"] == "The Weekly"


def test_the_confirmation_link_activates_once_and_points_to_the_success_page(
    stepwise: Stepwise, account_id: int
) -> None:
    post(stepwise, "newsletter", email="ann@x.com", **{"base.city": "Oslo"})
    clear_inbox(stepwise, account_id)
    token = token_of(outbox(stepwise)[0]["payload"]["confirm_url"])
    result = confirm(stepwise.db, stepwise.signer, token, stepwise.clock())
    assert result is not None
    assert result.success_url == "https://example.com/thanks"
    assert person(stepwise, account_id)["status"] == "active"
    assert [(kind, payload) for _, kind, payload, _ in queued_events(stepwise, account_id)] == [
        ("subscription_confirmed", {"method": "link"}),
        ("form_confirmed", {"form": "newsletter"}),
    ]
    clear_inbox(stepwise, account_id)
    again = confirm(stepwise.db, stepwise.signer, token, stepwise.clock())
    assert again is not None and again.success_url == "https://example.com/thanks"
    assert queued_events(stepwise, account_id) == []


def test_a_forged_or_foreign_token_does_nothing(stepwise: Stepwise, account_id: int) -> None:
    post(stepwise, "newsletter", email="ann@x.com", **{"base.city": "Oslo"})
    token = token_of(outbox(stepwise)[0]["payload"]["confirm_url"])
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert confirm(stepwise.db, stepwise.signer, tampered, stepwise.clock()) is None
    other, _ = create_account(stepwise.db, "rival", "UTC", stepwise.clock())
    issue_id = confirmations(stepwise, account_id)[0].id
    foreign = stepwise.signer.sign("confirm", other.id, f"{issue_id}.newsletter", 1)
    assert confirm(stepwise.db, stepwise.signer, foreign, stepwise.clock()) is None
    click = stepwise.signer.sign("click", account_id, f"{issue_id}.newsletter", 1)
    assert confirm(stepwise.db, stepwise.signer, click, stepwise.clock()) is None
    assert person(stepwise, account_id)["status"] == "unconfirmed"


def test_without_double_opt_in_the_form_confirms_at_once(stepwise: Stepwise, account_id: int) -> None:
    post(stepwise, "quick", email="bob@x.com")
    assert person(stepwise, account_id, "bob@x.com")["status"] == "active"
    assert [kind for _, kind, _, _ in queued_events(stepwise, account_id)] == [
        "subscriber_added",
        "list_joined",
        "form_submitted",
        "form_confirmed",
    ]
    assert outbox(stepwise) == []


def test_an_active_subscriber_stays_active_and_confirms_the_form_by_link(stepwise: Stepwise, account_id: int) -> None:
    edit_one(stepwise.db, account_id, "ann@x.com", Edit(), source="api", now=stepwise.clock(), create=True)
    clear_inbox(stepwise, account_id)
    post(stepwise, "newsletter", email="ann@x.com", **{"base.city": "Oslo"})
    assert person(stepwise, account_id)["status"] == "active"
    token = token_of(outbox(stepwise)[0]["payload"]["confirm_url"])
    clear_inbox(stepwise, account_id)
    confirm(stepwise.db, stepwise.signer, token, stepwise.clock())
    assert [(kind, payload) for _, kind, payload, _ in queued_events(stepwise, account_id)] == [
        ("form_confirmed", {"form": "newsletter"})
    ]


def test_an_unsubscribed_address_must_confirm_again(stepwise: Stepwise, account_id: int) -> None:
    edit_one(
        stepwise.db,
        account_id,
        "ann@x.com",
        Edit(status="unsubscribed"),
        source="api",
        now=stepwise.clock(),
        create=True,
    )
    post(stepwise, "newsletter", email="ann@x.com", **{"base.city": "Oslo"})
    assert person(stepwise, account_id)["status"] == "unconfirmed"
    confirm(stepwise.db, stepwise.signer, token_of(outbox(stepwise)[0]["payload"]["confirm_url"]), stepwise.clock())
    assert person(stepwise, account_id)["status"] == "active"


def test_at_most_one_confirmation_per_address_in_ten_minutes(
    stepwise: Stepwise, account_id: int, clock: FakeClock
) -> None:
    for _ in range(3):
        post(stepwise, "newsletter", email="ann@x.com", **{"base.city": "Oslo"})
    assert len(confirmations(stepwise, account_id)) == 1
    clock.advance(timedelta(minutes=9, seconds=59))
    post(stepwise, "newsletter", email="ANN@x.com", **{"base.city": "Oslo"})
    assert len(confirmations(stepwise, account_id)) == 1
    clock.advance(timedelta(seconds=1))
    post(stepwise, "newsletter", email="ann@x.com", **{"base.city": "Oslo"})
    assert len(confirmations(stepwise, account_id)) == 2


def test_a_named_confirmation_draft_is_used(stepwise: Stepwise, account_id: int) -> None:
    now = stepwise.clock()
    body = DraftBody(subject="Confirm", html='<a href="{{ confirm_url }}">yes</a>', from_email="hi@shop.example")
    drafts.put(stepwise.db, account_id, "confirm-me", body, now)
    forms.put(stepwise.db, account_id, "custom", FormSpec(confirmation_draft="confirm-me"), now)
    post(stepwise, "custom", email="ann@x.com")
    payload = outbox(stepwise)[0]["payload"]
    assert payload["draft"] == "confirm-me"
    assert "template" not in payload
    assert confirmations(stepwise, account_id)[0].draft == "confirm-me"


@pytest.mark.parametrize(
    ("values", "problems"),
    [
        ({}, {"email": "Enter your email address.", "base.city": "This field is required."}),
        ({"email": "ann@", "base.city": "Oslo"}, {"email": "Enter an email address like name@example.com."}),
        ({"email": "a@x.com", "base.city": "x" * 1001}, {"base.city": "Use at most 1000 characters."}),
        ({"email": "a@x.com", "base.city": "Os\x00lo"}, {"base.city": "Remove the control characters."}),
    ],
)
def test_invalid_submissions_name_each_problem(
    stepwise: Stepwise, account_id: int, values: dict[str, str], problems: dict[str, str]
) -> None:
    form = public_form(stepwise.db, "acme", "newsletter")
    assert form is not None
    with pytest.raises(SubmissionInvalid) as caught:
        validate_submission(form, values)
    assert caught.value.problems == problems


def test_unknown_forms_and_accounts_are_not_found(stepwise: Stepwise, account_id: int) -> None:
    assert public_form(stepwise.db, "acme", "nope") is None
    assert public_form(stepwise.db, "nobody", "newsletter") is None
    assert public_form(stepwise.db, "acme", "Bad Key") is None


def test_confirmation_email_reaches_an_unconfirmed_subscriber_and_sequences_follow_the_link(
    stepwise: Stepwise, account_id: int
) -> None:
    now = stepwise.clock()
    drafts.put(
        stepwise.db,
        account_id,
        "welcome",
        DraftBody(subject="Welcome", html="<p>Hi</p>", from_email="hi@shop.example"),
        now,
    )
    welcome = one_step({"event": "subscription_confirmed"})
    welcome["steps"][0]["variants"][0]["do"] = [{"action": "send_email", "draft": "welcome"}]
    sequences.put(stepwise.db, account_id, "welcome", welcome, now)
    on_submit = one_step({"event": "form_submitted", "form": "newsletter"})
    on_submit["steps"][0]["variants"][0]["do"] = [{"action": "send_email", "draft": "welcome"}]
    sequences.put(stepwise.db, account_id, "on-submit", on_submit, now)

    post(stepwise, "newsletter", email="ann@x.com", **{"base.city": "Oslo"})
    settle(stepwise)
    assert entered(stepwise, account_id, "on-submit") == {"ann@x.com"}
    assert entered(stepwise, account_id, "welcome") == set()
    items, _ = issues.page(
        stepwise.db, account_id, email=None, sequence=None, draft=None, status=None, cursor=None, limit=9
    )
    by_group = {(i.group, i.status, i.reason) for i in items}
    # S12: the unconfirmed subscriber gets the confirmation, and nothing else.
    assert by_group == {("confirmation", "sent", None), ("transactional", "skipped", "subscriber_unconfirmed")}
    confirmation = next(i for i in items if i.group == "confirmation")
    message = issues.message(stepwise.db, account_id, confirmation.id)
    assert message.subject == "Confirm your subscription to The Weekly"
    link = re.search(r'href="(http://stepwise\.test/t/confirm/[^"]+)"', message.html or "")
    assert link is not None
    assert link.group(1) in (message.text or "")

    confirm(stepwise.db, stepwise.signer, token_of(link.group(1)), stepwise.clock())
    settle(stepwise)
    assert entered(stepwise, account_id, "welcome") == {"ann@x.com"}
    sent = issues.page(
        stepwise.db, account_id, email=None, sequence="welcome", draft=None, status="sent", cursor=None, limit=9
    )
    assert len(sent[0]) == 1
    assert parse_email(sent[0][0].email).key == "ann@x.com"


def test_a_link_clicked_after_unsubscribing_confirms_nothing(stepwise: Stepwise, account_id: int) -> None:
    post(stepwise, "newsletter", email="ann@x.com", **{"base.city": "Oslo"})
    edit_one(
        stepwise.db,
        account_id,
        "ann@x.com",
        Edit(status="unsubscribed"),
        source="api",
        now=stepwise.clock(),
        create=False,
    )
    clear_inbox(stepwise, account_id)
    result = confirm(
        stepwise.db, stepwise.signer, token_of(outbox(stepwise)[0]["payload"]["confirm_url"]), stepwise.clock()
    )
    assert result is not None and not result.active
    assert person(stepwise, account_id)["status"] == "unsubscribed"
    assert queued_events(stepwise, account_id) == []
