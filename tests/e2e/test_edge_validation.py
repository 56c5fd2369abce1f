"""Every number, string, depth and range is checked at the edge: 4xx naming the path, nothing stored (SPEC §8).

Each test runs against SQLite and PostgreSQL; PostgreSQL refuses NUL in text and integers beyond
64 bits, so without these checks the same input is a 201 on one database and a 500 on the other.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.e2e.conftest import Api
from tests.e2e.test_api_bad_input import error_of

INT_MAX = 2**63 - 1
DO = "$.steps[0].variants[0].do[0]"
SECOND_WHEN = "$.steps[1].variants[0].when[0]"


def sequence(*actions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "Edge",
        **extra,
        "steps": [
            {"variants": [{"when": [{"event": "subscriber_added"}], "do": list(actions) or [{"action": "nothing"}]}]}
        ],
    }


def waiting(spec: dict[str, Any]) -> dict[str, Any]:
    document = sequence()
    document["steps"].append({"variants": [{"when": [spec], "do": [{"action": "nothing"}]}]})
    return document


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def refused(response: httpx.Response, path: str, status: int = 422) -> dict[str, Any]:
    """The error names the path in its details and in its message."""
    error = error_of(response, status)
    assert error["code"] == "invalid", error
    assert any(detail["path"] == path for detail in error["details"]), (path, error)
    assert path in error["message"], error
    return error


def send(api: Api, method: str, path: str, body: Any) -> httpx.Response:
    if isinstance(body, bytes):
        return api.client.request(method, path, content=body, headers={"content-type": "application/json"})
    return api.client.request(method, path, json=body)


def nothing_stored(api: Api) -> None:
    for path in ["/sequences/edge", "/subscribers/a@example.com", "/lists/edge", "/drafts/edge", "/forms/edge"]:
        assert api.client.get(path).status_code == 404, path


def test_integers_beyond_64_bits_are_refused_everywhere(api: Api) -> None:
    for big in (INT_MAX + 1, -(2**63) - 1, 10**30):
        cases = [
            ("POST", "/subscribers", {"email": "a@example.com", "data": {"c": {"n": big}}}, "$.data.c.n"),
            ("POST", "/subscribers", {"email": "a@example.com", "data": {"c": [big]}}, "$.data.c[0]"),
            ("POST", "/events", {"type": "custom", "name": "x", "email": "b@example.com", "data": {"n": big}}, "$.data.n"),
            ("POST", "/events", {"events": [{"type": "custom", "name": "x", "email": "b@example.com", "data": {"n": big}}]},
             "$.events[0].data.n"),
            ("PUT", "/sequences/edge", sequence({"action": "change_data", "set": {"c.n": big}}), f"{DO}.set['c.n']"),
            ("PUT", "/sequences/edge", sequence({"action": "change_data", "increment": {"c.n": big}}),
             f"{DO}.increment['c.n']"),
            ("PUT", "/sequences/edge",
             waiting({"event": "data_matches", "where": {"field": "n", "op": "gt", "value": big}}),
             f"{SECOND_WHEN}.where.value"),
            ("POST", "/subscribers/bulk-update", {"emails": ["b@example.com"], "set": {"n": big}}, "$.set.n"),
        ]  # fmt: skip
        for method, path, body, where in cases:
            refused(send(api, method, path, body), where)
    huge = b'{"email": "a@example.com", "data": {"n": -' + b"9" * 5000 + b"}}"  # beyond what Python reads
    refused(send(api, "POST", "/subscribers", huge), "$.data.n")
    not_utf8 = error_of(send(api, "POST", "/subscribers", b'{"email": "\xff"}'), 400)
    assert not_utf8["code"] in ("malformed", "bad_request")
    nothing_stored(api)
    api.client.post("/subscribers", json={"email": "b@example.com", "data": {"n": 1}})
    assert api.client.get("/subscribers/b@example.com").json()["data"] == {"n": 1}
    timeline = api.client.get("/subscribers/b@example.com/timeline").json()["items"]
    assert all(entry.get("payload", {}).get("name") != "x" for entry in timeline)
    edge = {"email": "a@example.com", "data": {"max": INT_MAX, "min": -(2**63)}}
    assert api.client.post("/subscribers", json=edge).json()["data"] == edge["data"]


def test_non_finite_numbers_are_refused_not_stored_as_null(api: Api) -> None:
    increment = b'{"name": "Edge", "steps": [{"variants": [{"when": [{"event": "subscriber_added"}], '
    increment += b'"do": [{"action": "change_data", "increment": {"c.n": %s}}]}]}]}'
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999"):
        cases = [
            ("PUT", "/sequences/edge", increment % literal, f"{DO}.increment['c.n']"),
            ("PUT", "/sequences/edge", increment.replace(b"increment", b"set") % literal, f"{DO}.set['c.n']"),
            ("POST", "/subscribers", b'{"email": "a@example.com", "data": {"n": %s}}' % literal, "$.data.n"),
            ("POST", "/events", b'{"type": "custom", "name": "x", "email": "a@example.com", "data": {"n": [%s]}}' % literal,
             "$.data.n[0]"),
            ("POST", "/subscribers/bulk-update", b'{"emails": ["a@example.com"], "set": {"n": %s}}' % literal, "$.set.n"),
            ("PUT", "/drafts/edge", b'{"subject": "Hi", "html": "<p>x</p>", "from_name": %s}' % literal, "$.from_name"),
        ]  # fmt: skip
        for method, path, body, where in cases:
            error = refused(send(api, method, path, body), where)
            assert "finite" in error["message"]
    nothing_stored(api)


def test_nesting_a_few_hundred_deep_is_refused(api: Api) -> None:
    for depth in (40, 300):
        cases = [
            ("POST", "/subscribers", {"email": "a@example.com", "data": {"n": nested(depth)}}, "$.data.n"),
            ("POST", "/events", {"type": "custom", "name": "x", "email": "a@example.com", "data": {"n": nested(depth)}},
             "$.data.n"),
            ("PUT", "/sequences/edge", sequence({"action": "change_data", "set": {"n": nested(depth)}}), f"{DO}.set.n"),
            ("PUT", "/sequences/edge",
             sequence({"action": "call_url", "url": "https://example.com/", "method": "POST", "body": nested(depth)}),
             f"{DO}.body"),
        ]  # fmt: skip
        for method, path, body, where in cases:
            error = error_of(send(api, method, path, body), 422)
            assert error["details"][0]["path"].startswith(where + "[0]"), error
            assert "deeper than" in error["message"]
    deepest = b'{"name": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    refused(send(api, "PUT", "/sequences/edge", deepest), "$")
    nothing_stored(api)
    fine = {"email": "a@example.com", "data": {"n": nested(20)}}
    assert api.client.post("/subscribers", json=fine).status_code == 201


def test_time_zones_are_short_known_names(api: Api) -> None:
    for name in ("A" * 300, "Europe/" + "x" * 60, "Mars/Olympus", "../../etc/passwd"):
        refused(api.client.put("/sequences/edge", json=sequence(timezone=name)), "$.timezone")
        schedule = {"event": "schedule", "every": "day", "at": "09:00", "timezone": name}
        refused(api.client.put("/sequences/edge", json=waiting(schedule)), f"{SECOND_WHEN}.timezone")
    nothing_stored(api)
    assert (
        api.client.put("/sequences/edge", json=sequence(timezone="America/Argentina/Buenos_Aires")).status_code == 201
    )


def test_durations_are_bounded_to_ten_years(api: Api) -> None:
    for after in ("99999999999999999999d", "P99999999999999999999D", "PT" + "9" * 40 + "S", "3661d", "1" * 80 + "s"):
        refused(api.client.put("/sequences/edge", json=waiting({"event": "time_passed", "after": after})),
                f"{SECOND_WHEN}.after")  # fmt: skip
        older = {"field": "seen", "op": "lt", "value": {"now": "-" + after}}
        refused(api.client.put("/sequences/edge", json=waiting({"event": "data_matches", "where": older})),
                f"{SECOND_WHEN}.where.value")  # fmt: skip
    error = error_of(api.client.put("/sequences/edge", json=waiting({"event": "time_passed", "after": "3661d"})), 422)
    assert "ten years" in error["message"]
    nothing_stored(api)
    assert (
        api.client.put("/sequences/edge", json=waiting({"event": "time_passed", "after": "3660d"})).status_code == 201
    )


def test_query_parameters_are_bounded(api: Api) -> None:
    api.client.put("/sequences/edge", json=sequence())
    for step in ("99999999999999999999", str(2**63), "101", "0", "-1"):
        refused(api.client.get("/sequences/edge/runs", params={"step": step}), "query.step")
    assert api.client.get("/sequences/edge/runs", params={"step": 100}).status_code == 200
    for limit in ("99999999999999999999", "1001", "0"):
        refused(api.client.get("/subscribers", params={"limit": limit}), "query.limit")
    for name, value in [("q", "x" * 321), ("list", "x" * 65)]:
        refused(api.client.get("/subscribers", params={name: value}), f"query.{name}")
    for name, value in [("email", "x" * 321), ("sequence", "x" * 65), ("draft", "x" * 65)]:
        refused(api.client.get("/issues", params={name: value}), f"query.{name}")
    refused(api.client.get("/imports/" + "x" * 65), "path.import_id")
    import base64

    for raw in (b"i:99999999999999999999", b"i:\xc2\xb2", b"s:a\x00b"):
        cursor = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        for path in ("/subscribers", "/issues", "/sequences/edge/runs", "/lists"):
            assert error_of(api.client.get(path, params={"cursor": cursor}), 400)["code"] == "bad_cursor", path


def test_nul_is_refused_everywhere(api: Api) -> None:
    api.client.put("/lists/vip", json={"name": "VIP"})
    api.client.post("/subscribers", json={"email": "b@example.com"})
    draft = {"subject": "Hi", "html": "<p>Hi</p>", "from_email": "news@example.com"}
    cases = [
        ("PUT", "/lists/edge", {"name": "a\0b"}, "$.name"),
        ("PUT", "/sequences/edge", sequence(name="a\0b"), "$.name"),
        ("PUT", "/sequences/edge", sequence(description="a\0b"), "$.description"),
        ("PUT", "/drafts/edge", {**draft, "subject": "a\0b"}, "$.subject"),
        ("PUT", "/drafts/edge", {**draft, "html": "<p>a\0b</p>"}, "$.html"),
        ("PUT", "/drafts/edge", {**draft, "text": "a\0b"}, "$.text"),
        ("PUT", "/forms/edge", {"description": "a\0b"}, "$.description"),
        ("POST", "/subscribers", {"email": "a\0@example.com"}, "$.email"),
        ("POST", "/subscribers", {"email": "a@example.com", "data": {"n": "a\0b"}}, "$.data.n"),
        ("POST", "/subscribers", {"email": "a@example.com", "data": {"a\0b": 1}}, "$.data['a\\x00b']"),
        ("PATCH", "/subscribers/b@example.com", {"data": {"n": ["\0"]}}, "$.data.n[0]"),
        ("POST", "/events", {"type": "custom", "name": "x", "email": "b@example.com", "id": "a\0b"}, "$.id"),
        ("POST", "/events", {"type": "custom", "name": "a\0b", "email": "b@example.com"}, "$.name"),
        ("POST", "/subscribers/bulk-update", {"emails": ["b@example.com"], "set": {"n": "a\0b"}}, "$.set.n"),
        ("POST", "/subscribers/bulk-update", {"where": {"field": "n", "op": "eq", "value": "\0"}, "set": {"n": 1}},
         "$.where.value"),
    ]  # fmt: skip
    for method, path, body, where in cases:
        refused(send(api, method, path, body), where)
    for path, where in [
        ("/subscribers?q=a%00b", "query.q"),
        ("/subscribers?list=a%00b", "query.list"),
        ("/issues?email=a%00b", "query.email"),
        ("/issues?sequence=a%00b", "query.sequence"),
        ("/issues?draft=a%00b", "query.draft"),
        ("/issues/stats?draft=a%00b", "query.draft"),
        ("/subscribers/a%00b@example.com", "path.email"),
        ("/issues/a%00b", "path.issue_id"),
        ("/imports/a%00b", "path.import_id"),
    ]:
        refused(api.client.get(path), where)
    refused(api.client.put("/lists/vip/members/a%00b@example.com"), "path.email")
    assert httpx.get(api.server.base_url + "/f/a%00b/edge").status_code == 404  # a public form's account
    nothing_stored(api)
    assert api.client.get("/subscribers/b@example.com").json()["data"] == {}
    assert api.client.get("/lists/vip").json()["name"] == "VIP"


def test_csv_cells_with_nul_fail_their_row_only(api: Api) -> None:
    csv = b"email,name\na@example.com,Anna\nb@example.com,B\x00b\nc@example.com,Cleo\n"
    response = api.client.post("/imports", files={"file": ("people\x00.csv", csv, "text/csv")})
    assert response.status_code == 201, response.text
    report = response.json()
    assert (report["created"], report["failed"]) == (2, 1)
    assert report["errors"] == [{"line": 3, "message": "the line contains a NUL byte"}]
    assert api.client.get("/subscribers/b@example.com").status_code == 404
    assert api.client.get("/subscribers/c@example.com").json()["data"] == {"name": "Cleo"}
    assert api.client.get(f"/imports/{report['id']}").status_code == 200
    header = api.client.post("/imports", files={"file": ("h.csv", b"email,na\x00me\nd@example.com,x\n", "text/csv")})
    assert error_of(header, 422)["code"] == "invalid_csv"
    options = api.client.post("/imports", files={"file": ("o.csv", csv, "text/csv")}, data={"list": "v\x00ip"})
    assert error_of(options, 422)["details"][0]["path"] == "$.list"
    assert api.client.get("/subscribers/d@example.com").status_code == 404


def test_the_openapi_document_states_the_bounds(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    runs = document["paths"]["/api/v1/sequences/{key}/runs"]["get"]["parameters"]
    step = next(p for p in runs if p["name"] == "step")
    assert json.dumps(step["schema"]).count('"maximum": 100') == 1
    listing = document["paths"]["/api/v1/subscribers"]["get"]["parameters"]
    assert next(p for p in listing if p["name"] == "q")["schema"]["anyOf"][0]["maxLength"] == 320
