"""Hosted form pages over HTTP (SPEC §5): rendering, validation, spam trap, rate limits, no address leaks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from tests.e2e.conftest import Api
from tests.support.clock import FakeClock

FORM = {
    "title": "The <Weekly>",
    "description": "News & notes, once a week.",
    "fields": ["base.firstName", {"path": "base.city", "label": "Your city", "required": True}],
    "lists": ["news"],
}


@pytest.fixture
def site(api: Api) -> Iterator[httpx.Client]:
    api.client.put("/lists/news", json={"name": "News"}).raise_for_status()
    api.client.put("/forms/newsletter", json=FORM).raise_for_status()
    api.client.put("/forms/quick", json={"double_opt_in": False, "success_url": "https://example.com/thanks"})
    with httpx.Client(base_url=api.server.base_url, timeout=10, follow_redirects=False) as client:
        yield client


def test_the_form_page_is_labelled_and_hides_the_spam_trap(site: httpx.Client) -> None:
    page = site.get("/f/shop/newsletter")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "form-action 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert '<html lang="en">' in html
    assert "<h1>The &lt;Weekly&gt;</h1>" in html
    assert '<label for="f-email">Email address</label>' in html
    assert 'id="f-email" name="email" type="email"' in html
    assert '<label for="f-0">First name <span class="optional">(optional)</span></label>' in html
    assert 'name="base.firstName" type="text" value="" autocomplete="given-name"' in html
    assert '<label for="f-1">Your city</label>' in html
    assert 'name="base.city" type="text" value="" autocomplete="address-level2" required aria-required="true"' in html
    assert '<div class="trap" aria-hidden="true">' in html
    assert 'name="website" type="text" tabindex="-1" autocomplete="off"' in html
    assert 'method="post" action="/f/shop/newsletter"' in html


def test_unknown_forms_get_a_404_page(site: httpx.Client) -> None:
    for path in ("/f/shop/nope", "/f/nobody/newsletter", "/f/shop/Bad%20Key"):
        reply = site.get(path)
        assert reply.status_code == 404
        assert "Form not found" in reply.text


def test_an_invalid_submission_shows_the_form_again_with_its_problems(site: httpx.Client, api: Api) -> None:
    reply = site.post("/f/shop/newsletter", data={"email": "nope", "base.firstName": "<script>x</script>"})
    assert reply.status_code == 422
    html = reply.text
    assert "<title>Error: The &lt;Weekly&gt;</title>" in html
    assert 'role="alert"' in html
    assert '<a href="#f-email">Email address: Enter an email address like name@example.com.</a>' in html
    assert 'value="nope" autocomplete="email" required aria-required="true"' in html
    assert 'aria-invalid="true" aria-describedby="f-1-error"' in html
    assert 'value="&lt;script&gt;x&lt;/script&gt;"' in html
    assert "<script>" not in html
    assert api.client.get("/subscribers").json()["items"] == []


def test_a_double_opt_in_answer_does_not_tell_known_from_new_addresses(site: httpx.Client, api: Api) -> None:
    api.client.post("/subscribers", json={"email": "known@x.com"}).raise_for_status()
    known = site.post("/f/shop/newsletter", data={"email": "known@x.com", "base.city": "Oslo"})
    new = site.post("/f/shop/newsletter", data={"email": "new@x.com", "base.city": "Oslo"})
    again = site.post("/f/shop/newsletter", data={"email": "new@x.com", "base.city": "Oslo"})
    assert known.status_code == new.status_code == again.status_code == 200
    assert known.text == new.text == again.text
    assert "Check your inbox" in new.text
    assert api.client.get("/subscribers/new@x.com").json()["status"] == "unconfirmed"
    assert api.client.get("/subscribers/known@x.com").json()["status"] == "active"


def test_a_filled_spam_trap_is_answered_as_usual_and_changes_nothing(site: httpx.Client, api: Api) -> None:
    human = site.post("/f/shop/newsletter", data={"email": "human@x.com", "base.city": "Oslo"})
    bot = site.post("/f/shop/newsletter", data={"email": "bot@x.com", "base.city": "Oslo", "website": "http://spam"})
    assert bot.status_code == human.status_code == 200
    assert bot.text == human.text
    assert api.client.get("/subscribers/bot@x.com").status_code == 404


def test_without_double_opt_in_the_post_redirects_to_the_success_page(site: httpx.Client, api: Api) -> None:
    reply = site.post("/f/shop/quick", data={"email": "ann@x.com"})
    assert reply.status_code == 303
    assert reply.headers["location"] == "https://example.com/thanks"
    assert "https://example.com" in site.get("/f/shop/quick").headers["content-security-policy"]
    assert api.client.get("/subscribers/ann@x.com").json()["status"] == "active"


def test_posts_are_rate_limited_per_client_address(site: httpx.Client, api: Api) -> None:
    clock = api.server.stepwise.clock
    assert isinstance(clock, FakeClock)
    answers = [site.post("/f/shop/newsletter", data={"email": f"u{i}@x.com"}).status_code for i in range(12)]
    assert answers == [422] * 10 + [429] * 2
    refused = site.post("/f/shop/newsletter", data={"email": "late@x.com", "base.city": "Oslo"})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert api.client.get("/subscribers/late@x.com").status_code == 404
    clock.advance(timedelta(seconds=31))
    assert site.post("/f/shop/newsletter", data={"email": "late@x.com", "base.city": "Oslo"}).status_code == 200


def test_a_bad_confirmation_link_gets_a_404_page(site: httpx.Client) -> None:
    for token in ("nonsense", "A" * 60, "x" * 500):
        reply = site.get(f"/t/confirm/{token}")
        assert reply.status_code == 404
        assert "Link not valid" in reply.text
