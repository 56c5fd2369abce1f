"""Deliverability over HTTP against a live server and a real SMTP sink (SPEC §19, S30-S32).

Reports arrive as JSON, as raw DSN/ARF messages and through each provider's signed webhook; DKIM
signatures are checked by dkimpy given only the published record; bad, unsigned and forged inputs
change nothing.
"""

from __future__ import annotations

import dkim
import httpx

from tests.e2e import live_peers
from tests.e2e.conftest import Api
from tests.integration.delivery.servers import HttpTarget, Received, SmtpServer
from tests.support import provider_samples as providers
from tests.support import report_samples as samples
from tests.support.waiting import eventually

sink, receiver, settings = live_peers.sink, live_peers.receiver, live_peers.settings  # shared fixtures

WELCOME = {
    "name": "Welcome",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "welcome"}]}]}
    ],
}
DRAFT = {"subject": "Hi {{ email }}", "html": "<p>Hello</p>", "from_email": "news@shop.example", "from_name": "Shop"}


def _welcome(api: Api, sink: SmtpServer, *addresses: str) -> dict[str, Received]:
    assert api.client.put("/drafts/welcome", json=DRAFT).status_code in (200, 201)
    assert api.client.put("/sequences/welcome", json=WELCOME).status_code in (200, 201)
    for address in addresses:
        assert api.client.post("/subscribers", json={"email": address}).status_code == 201
    eventually(lambda: {r.recipients[0] for r in sink.recorder.received} >= set(addresses))
    return {r.recipients[0]: r for r in sink.recorder.received}


def _status(api: Api, address: str) -> str:
    return str(api.client.get(f"/subscribers/{address}").json()["status"])


def _hook(api: Api, path: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    url = path.replace("http://stepwise.test", api.server.base_url)
    return httpx.post(url, content=body, headers=headers or {"content-type": "application/json"}, timeout=10)


def test_S32_every_email_from_a_domain_with_a_key_verifies_with_the_published_record(
    api: Api, sink: SmtpServer
) -> None:
    created = api.client.put("/sending-domains/Shop.Example", json={})
    assert created.status_code == 201, created.text
    domain = created.json()
    assert (domain["domain"], domain["selector"], domain["record_name"]) == (
        "shop.example",
        "stepwise1",
        "stepwise1._domainkey.shop.example",
    )
    assert domain["record"].startswith("v=DKIM1; k=rsa; p=") and "PRIVATE" not in str(
        api.client.get("/sending-domains").json()
    )
    assert api.client.put("/sending-domains/shop.example", json={}).status_code == 200  # the key stays

    received = _welcome(api, sink, "anna@example.com")["anna@example.com"]
    published = domain["record"].encode()

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return published if name == b"stepwise1._domainkey.shop.example." else None

    assert received.raw.startswith(b"DKIM-Signature: ")
    assert dkim.verify(received.raw, dnsfunc=dns)
    assert not dkim.verify(received.raw.replace(b"Hello", b"Hullo"), dnsfunc=dns)
    signed = dkim.DKIM(received.raw)
    signed.verify(dnsfunc=dns)
    assert b"c=relaxed/relaxed" in received.raw[:400]

    assert api.client.delete("/sending-domains/shop.example").status_code == 204
    assert api.client.post("/subscribers", json={"email": "bob@example.com"}).status_code == 201
    [bob] = eventually(lambda: sink.recorder.by_recipient("bob@example.com"))
    assert not bob.raw.startswith(b"DKIM-Signature")


def test_S32_bad_domains_and_selectors_are_refused(api: Api, other_api: Api) -> None:
    for domain in ("localhost", "-bad-.example", "1.2.3.4"):
        response = api.client.put(f"/sending-domains/{domain}", json={})
        assert response.status_code == 422, (domain, response.text)
    assert api.client.put("/sending-domains/shop.example", json={"selector": "bad_selector!"}).status_code == 422
    assert api.client.put("/sending-domains/shop.example", json={"unknown": 1}).status_code == 422
    assert api.client.put("/sending-domains/shop.example", json={"selector": "may2026"}).status_code == 201
    assert other_api.client.get("/sending-domains/shop.example").status_code == 404
    assert other_api.client.delete("/sending-domains/shop.example").status_code == 404


def test_S31_suppressed_addresses_and_domains_get_no_email_whatever_their_status(api: Api, sink: SmtpServer) -> None:
    assert (
        api.client.put("/suppressions/@blocked.example", json={"reason": "manual", "note": "competitor"}).status_code
        == 201
    )
    assert api.client.put("/suppressions/Carl@Example.com", json={}).status_code == 201
    _welcome(api, sink, "anna@example.com")
    for address in ("bob@blocked.example", "carl@example.com"):
        assert api.client.post("/subscribers", json={"email": address}).status_code == 201

    def skipped() -> list[dict[str, object]]:
        items = api.client.get("/issues", params={"status": "skipped"}).json()["items"]
        return items if len(items) == 2 else []

    assert {(i["email"], i["reason"]) for i in eventually(skipped)} == {
        ("bob@blocked.example", "suppressed"),
        ("carl@example.com", "suppressed"),
    }
    assert [r.recipients for r in sink.recorder.received] == [["anna@example.com"]]
    listed = api.client.get("/suppressions").json()
    assert [i["address"] for i in listed["items"]] == ["@blocked.example", "carl@example.com"] and listed["total"] == 2
    assert api.client.get("/suppressions/@blocked.example").json()["note"] == "competitor"
    assert api.client.put("/suppressions/not-an-address", json={}).status_code == 404  # no @: not an address path
    for bad in ("bad@@example.com", "@localhost", "anna@exa mple.com"):
        assert api.client.put(f"/suppressions/{bad}", json={}).status_code == 422, bad
    assert api.client.put("/suppressions/x@y.example", json={"reason": "whim"}).status_code == 422
    assert api.client.delete("/suppressions/carl@example.com").status_code == 204
    assert api.client.delete("/suppressions/carl@example.com").status_code == 404


def test_S31_csv_import_is_all_or_nothing_and_the_export_is_neutralised(api: Api, other_api: Api) -> None:
    bad = b"address,reason,note\nann@example.com,manual,\nnot an address,manual,\nbob@example.com,whim,\n"
    refused = api.client.post("/suppressions/import", content=bad, headers={"content-type": "text/csv"})
    assert refused.status_code == 422
    assert [p["path"] for p in refused.json()["error"]["details"]] == ["line 3", "line 4"]
    assert api.client.get("/suppressions").json()["total"] == 0
    good = b'address,reason,note\nann@example.com,bounce,\n@spam.example,manual,=HYPERLINK("x")\n'
    done = api.client.post("/suppressions/import", content=good, headers={"content-type": "text/csv"})
    assert done.status_code == 200 and done.json() == {"added": 2, "updated": 0}
    assert (
        api.client.post("/suppressions/import", content=good, headers={"content-type": "application/json"}).status_code
        == 415
    )
    exported = api.client.get("/suppressions/export.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.splitlines()
    assert lines[0] == "address,reason,note,created_at"
    assert lines[1].startswith('\'@spam.example,manual,"\'=HYPERLINK(""x"")"')  # no cell is a formula
    assert lines[2].startswith("ann@example.com,bounce,,")
    again = api.client.post("/suppressions/import", content=exported.content, headers={"content-type": "text/csv"})
    assert again.json() == {"added": 0, "updated": 2}  # the export reads back
    assert other_api.client.get("/suppressions").json()["total"] == 0


def test_S30_raw_reports_json_reports_and_refusals(api: Api, sink: SmtpServer) -> None:
    sent = _welcome(api, sink, "anna@example.com", "bob@example.com", "carl@example.com")
    dsn = samples.dsn("anna@example.com", original_message_id=sent["anna@example.com"].message["Message-ID"])
    raw = api.client.post("/bounces/raw", content=dsn, headers={"content-type": "message/rfc822"})
    assert raw.status_code == 202 and raw.json()["recorded"] == 1, raw.text
    again = api.client.post("/bounces/raw", content=dsn, headers={"content-type": "message/rfc822"})
    assert again.json()["duplicates"] == 1
    assert _status(api, "anna@example.com") == "bounced"

    arf = samples.arf("bob@example.com", original_message_id=sent["bob@example.com"].message["Message-ID"])
    assert api.client.post("/bounces/raw", content=arf, headers={"content-type": "message/rfc822"}).status_code == 202
    assert _status(api, "bob@example.com") == "unsubscribed"

    plain = api.client.post("/bounces/raw", content=samples.plain_message(), headers={"content-type": "message/rfc822"})
    assert plain.status_code == 422 and plain.json()["error"]["code"] == "unreadable_report"
    assert api.client.post("/bounces/raw", content=dsn, headers={"content-type": "application/json"}).status_code == 415
    for body in ({"email": "carl@example.com", "type": "bouncy"}, {"email": "nope", "type": "hard"}, {"type": "hard"}):
        assert api.client.post("/bounces", json=body).status_code == 422, body
    assert _status(api, "carl@example.com") == "active"
    posted = api.client.post("/bounces", json={"email": "carl@example.com", "type": "soft", "reason": "4.2.2"})
    assert posted.status_code == 202 and posted.json()["recorded"] == 1

    listed = api.client.get("/bounces").json()["items"]
    assert [(b["email"], b["type"], b["source"]) for b in listed] == [
        ("carl@example.com", "soft", "api"),
        ("bob@example.com", "complaint", "raw"),
        ("anna@example.com", "hard", "raw"),
    ]
    issue = api.client.get("/issues", params={"email": "anna@example.com"}).json()["items"][0]
    assert issue["bounced_at"] is not None
    assert api.client.get("/bounces", params={"issue": issue["id"]}).json()["items"][0]["email"] == "anna@example.com"
    rates = api.client.get("/bounces/rates").json()
    assert rates["sent"] == 3 and rates["warnings"]


def test_S30_provider_webhooks_verify_signatures_and_forgeries_change_nothing(api: Api, receiver: HttpTarget) -> None:
    key = providers.SendgridKey.generate()
    assert api.client.put("/bounce-receivers/sendgrid", json={}).status_code == 422  # SendGrid needs its key
    assert api.client.put("/bounce-receivers/sendgrid", json={"key": "not a key"}).status_code == 422
    sendgrid = api.client.put("/bounce-receivers/sendgrid", json={"key": key.public_base64})
    assert sendgrid.status_code == 201
    url = sendgrid.json()["url"]
    assert url.startswith("http://stepwise.test/hooks/shop/sendgrid/")
    body = providers.dumps(providers.sendgrid_events())
    forged = providers.SendgridKey.generate().headers(body)
    assert _hook(api, url, body, forged).status_code == 401
    assert _hook(api, url, body, {"content-type": "application/json"}).status_code == 401
    assert _hook(api, url + "x", body, key.headers(body)).status_code == 404
    assert _hook(api, url.replace("/shop/", "/nobody/"), body, key.headers(body)).status_code == 404
    assert api.client.get("/bounces").json()["items"] == []
    accepted = _hook(api, url, body, key.headers(body))
    assert accepted.status_code == 200 and accepted.json()["recorded"] == 3, accepted.text
    assert _hook(api, url, body, key.headers(body)).json()["duplicates"] == 3

    signing = providers.mailgun_signing_key()
    mailgun = api.client.put("/bounce-receivers/mailgun", json={"key": signing}).json()["url"]
    event = providers.mailgun_failed_permanent()
    assert _hook(api, mailgun, providers.mailgun_body(event, "wrong-key")).status_code == 401
    assert _hook(api, mailgun, providers.mailgun_body(event, signing)).json()["recorded"] == 1

    postmark = api.client.put("/bounce-receivers/postmark", json={}).json()["url"]
    assert _hook(api, postmark, providers.dumps(providers.postmark_spam_complaint())).json()["recorded"] == 1
    assert _hook(api, postmark, b"{not json").status_code == 422

    ses = api.client.put("/bounce-receivers/ses", json={}).json()["url"]
    confirmation = providers.sns_subscription_confirmation()
    confirmation["SubscribeURL"] = f"{receiver.base}/confirm?Action=ConfirmSubscription&Token=abc"
    assert _hook(api, ses, providers.dumps(confirmation), {"content-type": "text/plain"}).status_code == 200
    assert [r.path for r in receiver.requests] == ["/confirm?Action=ConfirmSubscription&Token=abc"]
    bounce = providers.sns_notification(providers.ses_bounce("Permanent", "x@example.com", "y@example.com"))
    assert _hook(api, ses, providers.dumps(bounce), {"content-type": "text/plain"}).json()["recorded"] == 2
    renewed = api.client.put("/bounce-receivers/ses", json={"new_token": True}).json()["url"]
    assert renewed != ses and _hook(api, ses, providers.dumps(bounce)).status_code == 404
    assert {r["provider"] for r in api.client.get("/bounce-receivers").json()["items"]} == {
        "sendgrid",
        "mailgun",
        "postmark",
        "ses",
    }


def test_test_sends_arrive_marked_are_limited_and_count_in_no_statistic(api: Api, sink: SmtpServer) -> None:
    assert api.client.put("/drafts/welcome", json=DRAFT).status_code == 201
    assert api.client.post("/subscribers", json={"email": "anna@example.com", "data": {"x": 1}}).status_code == 201
    sent = api.client.post(
        "/drafts/welcome/test", json={"to": ["me@team.example", "you@team.example"], "as": "anna@example.com"}
    )
    assert sent.status_code == 200, sent.text
    assert [i["status"] for i in sent.json()["items"]] == ["sent", "sent"]
    [mine] = eventually(lambda: sink.recorder.by_recipient("me@team.example"))
    assert mine.message["Subject"] == "[TEST] Hi me@team.example"
    assert api.client.post("/drafts/welcome/test", json={"to": ["a@x.example"] * 6}).status_code == 422
    assert api.client.post("/drafts/welcome/test", json={"to": ["bad"]}).status_code == 422
    assert api.client.post("/drafts/nope/test", json={"to": ["a@x.example"]}).status_code == 404
    assert (
        api.client.post("/drafts/welcome/test", json={"to": ["a@x.example"], "as": "ghost@x.example"}).status_code
        == 404
    )
    stats = api.client.get("/issues/stats", params={"draft": "welcome"}).json()
    assert stats["totals"]["sent"] == 0
    [archived, _] = api.client.get("/issues", params={"draft": "welcome"}).json()["items"]
    assert archived["group"] == "test" and archived["sequence"] is None
    statuses = []
    for _ in range(12):
        statuses.append(
            api.client.post("/drafts/welcome/test", json={"to": ["me@team.example", "you@team.example"]}).status_code
        )
    assert statuses[:9] == [200] * 9 and statuses[-1] == 429
