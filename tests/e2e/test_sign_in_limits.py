"""Twenty wrong keys or passwords in a row: 429 with Retry-After, on the API and at /login (SPEC S33)."""

from __future__ import annotations

import re

import httpx

from tests.e2e.conftest import PASSWORD, Api
from tests.support.server import LiveServer

WRONG = "sw_wrong-" + "x" * 34


def bearer(server: LiveServer, key: str) -> httpx.Response:
    return httpx.get(server.base_url + "/api/v1/lists", headers={"Authorization": f"Bearer {key}"}, timeout=10)


def try_login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token
    return client.post("/login", data={"csrf": token[1], "email": email, "password": password})


def test_the_api_answers_429_after_twenty_wrong_keys_in_a_row(api: Api) -> None:
    for attempt in range(20):
        assert bearer(api.server, f"sw_guess-{attempt:02d}" + "y" * 30).status_code == 401, attempt
    refused = bearer(api.server, WRONG)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert bearer(api.server, api.key).status_code == 429  # the client is locked, whatever key it sends
    assert api.server.stepwise.throttle.retry_after([("client", "127.0.0.1")]) > 0


def test_a_success_resets_the_clients_count(api: Api) -> None:
    for turn in range(2):
        for attempt in range(19):
            assert bearer(api.server, f"sw_{turn}guess{attempt:02d}" + "y" * 30).status_code == 401
        assert bearer(api.server, api.key).status_code == 200
    assert bearer(api.server, WRONG).status_code == 401


def test_s33_the_sign_in_page_answers_429_after_twenty_wrong_passwords_from_one_client(api: Api) -> None:
    with httpx.Client(base_url=api.server.base_url, follow_redirects=False, timeout=10) as client:
        for attempt in range(20):
            answer = try_login(client, f"guess{attempt}@shop.example", "not the password")
            assert answer.status_code == 401 and "That email and password do not match." in answer.text
        refused = try_login(client, api.owner, PASSWORD)
        assert refused.status_code == 429
        assert "Too many failed sign-ins. Try again in 1 minute." in refused.text
        assert int(refused.headers["Retry-After"]) > 0
        assert "stepwise_session" not in client.cookies
    assert bearer(api.server, api.key).status_code == 429  # one count for the API and the sign-in page


def test_guessing_at_one_keys_prefix_is_limited_too(api: Api) -> None:
    throttle = api.server.stepwise.throttle
    near_miss = api.key[:10] + "z" * (len(api.key) - 10)
    for _ in range(20):
        assert bearer(api.server, near_miss).status_code == 401
    throttle.succeeded([("client", "127.0.0.1")])  # as if the guesses had come from many addresses
    assert bearer(api.server, near_miss).status_code == 429
    assert bearer(api.server, api.key).status_code == 429  # until the owner rotates the key
    assert bearer(api.server, "sw_" + "q" * 40).status_code == 401  # other keys are not affected


def test_s33_guessing_at_one_address_from_many_clients_is_limited(api: Api) -> None:
    throttle = api.server.stepwise.throttle
    with httpx.Client(base_url=api.server.base_url, follow_redirects=False, timeout=10) as client:
        for attempt in range(20):
            assert try_login(client, api.owner, f"guess number {attempt}").status_code == 401
            throttle.succeeded([("client", "127.0.0.1")])  # as if each guess came from another address
        refused = try_login(client, api.owner, PASSWORD)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert try_login(client, "someone@else.example", "whatever it is").status_code == 401  # others go on
