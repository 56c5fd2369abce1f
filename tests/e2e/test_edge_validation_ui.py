"""The same unstorable values typed into the UI get an error the user sees, never a 500 (both databases)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import Api

DEEP = "[" * 5000 + "]" * 5000
SEQUENCE = '{"name": "S", "steps": [{"variants": [{"when": [{"event": "subscriber_added"}], "do": [%s]}]}]}'


@pytest.fixture
def browser(api: Api) -> Iterator[tuple[httpx.Client, str]]:
    """A signed-in UI session over plain HTTP, and its CSRF token."""
    with httpx.Client(base_url=api.server.base_url, timeout=30, follow_redirects=True) as client:
        login = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', login.text)
        assert token, login.text
        signed_in = client.post("/login", data={"csrf": token.group(1), **api.login(), "next": "/subscribers"})
        csrf = re.search(r'name="csrf" value="([^"]+)"', signed_in.text)
        assert csrf, signed_in.text
        yield client, csrf.group(1)


def shown(response: httpx.Response, *words: str) -> None:
    """A 4xx page (or the page a flash leads to) shows the words to the user."""
    assert response.status_code < 500, response.text[-2000:]
    text = html.unescape(response.text)
    for word in words:
        assert word in text, (word, response.status_code, text[-3000:])


def test_definitions_typed_as_json_are_refused_with_a_message(api: Api, browser: tuple[httpx.Client, str]) -> None:
    client, csrf = browser
    api.client.put("/sequences/s", json={"name": "S", "steps": [{"variants": [{"when": [{"event": "subscriber_added"}],
                                                                                  "do": [{"action": "nothing"}]}]}]})  # fmt: skip
    for text, words in [
        (SEQUENCE % '{"action": "change_data", "increment": {"n": NaN}}', ("finite",)),
        (SEQUENCE % '{"action": "change_data", "set": {"n": 99999999999999999999}}', ("integers must lie",)),
        (SEQUENCE % ('{"action": "change_data", "set": {"n": ' + "[" * 300 + "]" * 300 + "}}"), ("deeper than",)),
        (SEQUENCE.replace('"S"', '"S\\u0000"') % '{"action": "nothing"}', ("NUL",)),
        (SEQUENCE.replace('"S",', '"S", "timezone": "' + "A" * 300 + '",') % '{"action": "nothing"}', ("64",)),
        (DEEP, ("not valid JSON",)),
    ]:
        response = client.post("/sequences/s/json", data={"csrf": csrf, "definition": text})
        assert response.status_code == 422
        shown(response, *words)
    assert api.client.get("/sequences/s").json()["version"] == 1


def test_values_typed_for_subscribers_are_refused_with_a_message(api: Api, browser: tuple[httpx.Client, str]) -> None:
    client, csrf = browser
    api.client.post("/subscribers", json={"email": "b@example.com"})
    for value, words in [
        ("99999999999999999999", "integers must lie"),
        ("1e400", "finite"),
        ("a\0b", "NUL"),
    ]:
        response = client.post(
            "/subscribers", data={"csrf": csrf, "email": "a@example.com", "status": "active", "data": f"n = {value}"}
        )
        shown(response, words)
    assert api.client.get("/subscribers/a@example.com").status_code == 404
    # Text that does not parse as JSON (here: nested too deep to parse) is kept as text, and shown again.
    form = {"csrf": csrf, "email": "a@example.com", "status": "active", "data": f"n = {DEEP}"}
    shown(client.post("/subscribers", data=form), "a@example.com")
    assert api.client.get("/subscribers/a@example.com").json()["data"] == {"n": DEEP}
    for data in ('{"n": 99999999999999999999}', '{"n": ' + DEEP + "}"):
        posted = client.post("/subscribers/b@example.com/event", data={"csrf": csrf, "name": "x", "data": data})
        shown(posted, "The event was not posted")
    shown(client.post("/subscribers/b@example.com/event", data={"csrf": csrf, "name": "x\0", "data": ""}), "NUL")
    for where in ('{"field": "n", "op": "eq", "value": 99999999999999999999}', DEEP):
        form = {"csrf": csrf, "target": "where", "where": where, "set": "n = 1", "emails": "", "unset": ""}
        response = client.post("/subscribers/bulk-update", data=form)
        assert response.status_code == 422
    shown(client.get("/subscribers", params={"q": "a\0b"}), "NUL")
    assert api.client.get("/subscribers/b@example.com").json()["data"] == {}


def test_names_and_bodies_with_nul_are_refused_with_a_message(api: Api, browser: tuple[httpx.Client, str]) -> None:
    client, csrf = browser
    shown(client.post("/lists", data={"csrf": csrf, "key": "edge", "name": "a\0b"}), "NUL")
    draft = {"csrf": csrf, "key": "edge", "subject": "Hi", "html": "<p>a\0b</p>", "from_email": "n@example.com"}
    shown(client.post("/drafts/new", data=draft), "NUL")
    shown(client.post("/forms/new", data={"csrf": csrf, "key": "edge", "title": "T", "description": "a\0b"}), "NUL")
    for path in ("/lists/edge", "/drafts/edge", "/forms/edge"):
        assert api.client.get(path).status_code == 404, path
    for path in ("/issues?sequence=a%00b", "/issues/a%00b", "/imports/a%00b", "/lists/a%00b", "/sequences/a%00b"):
        page = client.get(path)
        assert page.status_code == 422, path
        shown(page, "NUL")
