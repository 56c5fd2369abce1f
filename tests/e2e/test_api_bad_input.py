"""Bad input gets a clear 4xx in the SPEC error format, changes nothing, and never a 5xx (SPEC §8)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import Api

SEQUENCE = {
    "name": "Welcome",
    "steps": [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "welcome"}]}]}
    ],
}
DRAFT = {"subject": "Hi", "html": "<p>Hi</p>", "from_email": "news@example.com"}


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"])
    error: dict[str, Any] = body["error"]
    return error


def test_malformed_json_is_400(api: Api) -> None:
    for method, path in [
        ("POST", "/subscribers"),
        ("PUT", "/sequences/x"),
        ("PUT", "/drafts/x"),
        ("POST", "/events"),
        ("PATCH", "/subscribers/a@example.com"),
        ("PUT", "/lists/x"),
    ]:
        response = api.client.request(method, path, content=b'{"email": ', headers={"content-type": "application/json"})
        assert error_of(response, 400)["code"] == "malformed"


def test_unknown_fields_wrong_types_and_invalid_emails_are_422_with_paths(api: Api) -> None:
    error = error_of(api.client.post("/subscribers", json={"email": "a@example.com", "nickname": "x"}), 422)
    assert error["details"] == [{"path": "$.nickname", "message": "unknown field"}]
    error = error_of(api.client.post("/subscribers", json={"email": ["a@example.com"]}), 422)
    assert error["details"][0]["path"] == "$.email"
    for bad in ["not-an-email", "a@b", "a b@example.com", "a@exa mple.com", "", "a@example.com\r\nBcc: x@y.z"]:
        error = error_of(api.client.post("/subscribers", json={"email": bad}), 422)
        assert error["details"][0]["path"] == "$.email"
    error = error_of(
        api.client.post("/subscribers", json={"email": "a@example.com", "data": {"base": "x", "bad key": 1}}), 422
    )
    assert error["details"][0]["path"].startswith("$.data")
    error = error_of(api.client.put("/drafts/x", json={**DRAFT, "html": "{% if %}"}), 422)
    assert error["details"][0]["path"] == "$.html"
    error = error_of(api.client.put("/lists/Bad Key", json={"name": "x"}), 422)


def test_invalid_sequence_reports_every_problem_and_stores_nothing(api: Api) -> None:
    broken = {
        "name": "x",
        "steps": [
            {
                "variants": [
                    {
                        "when": [{"event": "time_passed", "after": "1d"}],
                        "do": [
                            {"action": "go_to_sequence", "sequence": "nowhere"},
                            {"action": "send_email", "draft": "nope"},
                        ],
                    }
                ]
            },
            {
                "variants": [
                    {
                        "when": [{"event": "subscriber_added"}, {"event": "schedule", "cron": "99 * * * *"}],
                        "do": [{"action": "nothing"}],
                    }
                ]
            },
        ],
    }
    error = error_of(api.client.put("/sequences/broken", json=broken), 422)
    paths = {d["path"] for d in error["details"]}
    assert "$.steps[1].variants[0].when[1].cron" in paths
    assert api.client.get("/sequences/broken").status_code == 404
    structural_ok = {
        "name": "x",
        "steps": [
            {
                "variants": [
                    {
                        "when": [{"event": "time_passed", "after": "1d"}],
                        "do": [
                            {"action": "go_to_sequence", "sequence": "nowhere"},
                            {"action": "send_email", "draft": "nope"},
                        ],
                    }
                ]
            },
            {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "nothing"}]}]},
        ],
    }
    error = error_of(api.client.put("/sequences/broken", json=structural_ok), 422)
    assert {d["path"] for d in error["details"]} == {
        "$.steps[0].variants[0].when[0].event",
        "$.steps[0].variants[0].do[0].sequence",
        "$.steps[0].variants[0].do[1]",
        "$.steps[0].variants[0].do[1].draft",
        "$.steps[1].variants[0].when[0].event",
    }
    assert api.client.get("/sequences/broken").status_code == 404


def test_nothing_is_half_applied(api: Api) -> None:
    error_of(api.client.post("/subscribers", json={"email": "a@example.com", "lists": ["missing"]}), 422)
    assert api.client.get("/subscribers/a@example.com").status_code == 404
    api.client.post("/subscribers", json={"email": "b@example.com", "data": {"base": {"city": "Kazan"}}})
    error_of(
        api.client.patch(
            "/subscribers/b@example.com", json={"data": {"base": {"city": "Ufa"}}, "unset": ["bad path!"]}
        ),
        422,
    )
    assert api.client.get("/subscribers/b@example.com").json()["data"] == {"base": {"city": "Kazan"}}
    batch = {
        "events": [
            {"type": "custom", "name": "x", "email": "b@example.com"},
            {"type": "custom", "name": "x", "email": "broken"},
        ]
    }
    error_of(api.client.post("/events", json=batch), 422)
    timeline = api.client.get("/subscribers/b@example.com/timeline").json()["items"]
    assert all(entry.get("payload", {}).get("name") != "x" for entry in timeline)


def test_oversized_bodies_and_batches_are_413(api: Api) -> None:
    big = {"email": "a@example.com", "data": {"custom": {"blob": "x" * (3 * 1024 * 1024)}}}
    assert error_of(api.client.post("/subscribers", json=big), 413)["code"] == "too_large"
    batch = {"events": [{"type": "custom", "name": "x", "email": f"u{i}@example.com"} for i in range(1001)]}
    error_of(api.client.post("/events", json=batch), 413)
    assert api.client.get("/subscribers/a@example.com").status_code == 404


def test_keys_and_cursors(api: Api, other_api: Api) -> None:
    anonymous = httpx.get(api.server.base_url + "/api/v1/subscribers")
    assert error_of(anonymous, 401)["code"] == "unauthorized"
    forged = httpx.get(api.server.base_url + "/api/v1/subscribers", headers={"Authorization": "Bearer sw_forged"})
    error_of(forged, 401)
    error_of(api.client.get("/subscribers", params={"cursor": "%%%"}), 400)
    error_of(api.client.get("/subscribers", params={"limit": 0}), 422)


def test_another_accounts_objects_are_404(api: Api, other_api: Api) -> None:
    api.client.put("/drafts/welcome", json=DRAFT)
    api.client.put("/lists/vip", json={"name": "VIP"})
    api.client.put("/sequences/welcome", json={**SEQUENCE, "status": "active"})
    api.client.post("/subscribers", json={"email": "anna@example.com", "lists": ["vip"]})
    issue_id = None
    for _ in range(100):
        items = api.client.get("/issues").json()["items"]
        if items:
            issue_id = items[0]["id"]
            break
    assert issue_id
    other = other_api.client
    for path in [
        "/drafts/welcome",
        "/lists/vip",
        "/sequences/welcome",
        "/sequences/welcome/stats",
        "/subscribers/anna@example.com",
        "/subscribers/anna@example.com/runs",
        f"/issues/{issue_id}",
        f"/issues/{issue_id}/message",
        "/lists/vip/members",
    ]:
        assert error_of(other.get(path), 404)["code"] == "not_found", path
    error_of(other.post("/sequences/welcome/activate"), 404)
    error_of(other.post("/sequences/welcome/runs", json={"email": "anna@example.com"}), 404)
    error_of(other.delete("/subscribers/anna@example.com"), 404)
    error_of(other.put("/lists/vip/members/anna@example.com"), 404)
    assert (
        other.post("/events", json={"type": "custom", "name": "x", "email": "anna@example.com"}).json()["unknown"] == 1
    )
    assert api.client.get("/subscribers/anna@example.com").status_code == 200


# Unbounded integers, NaN, infinities and NUL in text and keys: all must get a 4xx, never a 500.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
TARGETS = [
    ("POST", "/subscribers"),
    ("PATCH", "/subscribers/a@example.com"),
    ("PUT", "/sequences/fuzz"),
    ("PUT", "/drafts/fuzz"),
    ("PUT", "/lists/fuzz"),
    ("POST", "/events"),
    ("PUT", "/forms/fuzz"),
    ("POST", "/drafts/fuzz/preview"),
    ("POST", "/sequences/fuzz/runs"),
    ("POST", "/subscribers/bulk-update"),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(TARGETS), body=json_values)
def test_random_json_never_causes_a_server_error(api: Api, target: tuple[str, str], body: Any) -> None:
    method, path = target
    content = json.dumps(body).encode()  # Python's json writes NaN and Infinity, as careless clients do
    response = api.client.request(method, path, content=content, headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text


def test_non_finite_json_numbers_are_refused(api: Api) -> None:
    for raw in [
        b'{"email": "nan@example.com", "data": {"c": {"x": NaN}}}',
        b'{"email": "inf@example.com", "data": {"c": {"x": Infinity}}}',
        b'{"email": "big@example.com", "data": {"c": {"x": 1e999}}}',
    ]:
        response = api.client.post("/subscribers", content=raw, headers={"content-type": "application/json"})
        assert error_of(response, 422)["details"][0]["path"] == "$.data.c.x"


def test_browsers_get_an_html_page_for_unknown_paths_and_the_api_gets_json(api: Api) -> None:
    page = httpx.get(api.server.base_url + "/no/such/page", headers={"accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text
    assert error_of(api.client.get("/no/such/endpoint", headers={"accept": "text/html"}), 404)["code"] == "not_found"


def test_a_json_body_sent_under_another_media_type_is_415(api: Api) -> None:
    raw = b'{"email": "m@example.com"}'
    for headers in ({"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}, {}):
        error = error_of(api.client.post("/subscribers", content=raw, headers=headers), 415)
        assert error["code"] == "unsupported_media_type"
        assert "application/json" in error["message"]
    assert api.client.get("/subscribers/m@example.com").status_code == 404


def test_a_method_a_path_does_not_have_is_405_with_every_method_in_allow(api: Api) -> None:
    for method, path, allowed in [
        ("PUT", "/events", "POST"),
        ("DELETE", "/subscribers", "GET, POST"),
        ("OPTIONS", "/subscribers", "GET, POST"),
        ("POST", "/subscribers/a@example.com", "DELETE, GET, PATCH"),
    ]:
        response = api.client.request(method, path)
        error = error_of(response, 405)
        assert error["code"] == "method_not_allowed"
        assert ", ".join(sorted(m.strip() for m in response.headers["allow"].split(","))) == allowed, path
    assert error_of(api.client.put("/no-such-thing"), 404)["code"] == "not_found"
