"""Drafts render in a sandbox: escape payloads leak nothing, render bombs become failed issues (SPEC §6.1)."""

from __future__ import annotations

import re

import pytest

from stepwise.delivery.smtp import SmtpTransport
from stepwise.errors import Unprocessable
from stepwise.storage import drafts as draft_store
from stepwise.storage.codec import to_us
from stepwise.storage.drafts import DraftContent
from tests.integration.delivery.helpers import Shop, settle
from tests.integration.delivery.servers import SmtpServer

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ email.__class__.__base__.__subclasses__() }}",
    "{{ '{0.__class__.__mro__}'.format(email) }}",
    "{{ '{0.__init__.__globals__}'.format(data) }}",
    "{{ '{x.__class__}'.format_map({'x': data}) }}",
    "{{ '%s'.format_map }}",
    "{{ data|attr('__class__') }}",
    "{{ (data|attr('__init__'))|attr('__globals__') }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ lipsum.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.environ }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ range.__self__ }}",
    "{{ dict.__base__.__subclasses__() }}",
    "{{ config }}{{ request }}{{ settings }}",
    "{% set x = data.update({'hacked': 1}) %}{{ data }}",
    "{{ data.items.__self__ }}",
    "{{ ''.join.__self__.__class__ }}",
    "{{ email|format }}{{ '%(x)s'|format(x=data.__class__) }}",
    "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{{ c }}{% endfor %}",
]
LEAKS = ("<class", "<module", "<function", "built-in", "<bound", "__", "posix", "environ", "uid=", "test-secret")
BOMBS = [
    "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
    "{{ 'x' * 100000000 }}",
    "{{ ['x'] * 100000000 }}",
    "{{ 9 ** 999999 }}",
    "{{ range(10 ** 9)|list }}",
    "{{ 'x'|center(100000000) }}",
    "{{ 'ab'|replace('a', 'a' * 90000) * 90000 }}",
    "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
    "{% set s = 'x' * 90000 %}{% for i in range(100) %}{{ s }}{{ s }}{% endfor %}",
]


def test_escape_payloads_leak_nothing(shop: Shop, smtp: SmtpServer) -> None:
    keys = [f"escape{n}" for n in range(len(ESCAPES))]
    for key, payload in zip(keys, ESCAPES, strict=True):
        shop.draft(key, subject="Hi", html=f"<p>{payload}</p>", text=f"T {payload}")
    shop.sequence(
        "escapes",
        [
            {
                "when": [{"event": "subscriber_added"}],
                "do": [{"action": "send_email", "draft": key} for key in keys],
            }
        ],
    )
    shop.subscriber("anna@example.com", {"name": "Anna"})

    settle(shop, shop.deliverer(SmtpTransport.from_url(smtp.url())))

    issues = {i.draft: i for i in shop.issues()}
    received = {r.message["Message-ID"]: r for r in smtp.recorder.received}
    for key, payload in zip(keys, ESCAPES, strict=True):
        issue = issues[key]
        assert issue.status in ("sent", "failed"), payload
        if issue.status == "failed":
            assert issue.reason, payload
            continue
        message = received[issue.message_id]
        # Tracking tokens are random base64 and may contain "__": leave them out of the search.
        body = re.sub(r"http://stepwise\.test/t/[a-z]/[A-Za-z0-9_-]+", "", message.part("html") + message.part("plain"))
        assert not any(marker in body for marker in LEAKS), (payload, body[:300])
    assert shop.status_of("anna@example.com") == "active"
    assert [r.status for r in shop.runs()] == ["completed"]  # the run moves on either way


def stored_draft(shop: Shop, key: str, html: str) -> None:
    """Store a draft as it is, like one saved before its save-time checks existed."""
    content = DraftContent(subject="Hello", html=html, from_email="news@shop.example")
    with shop.stepwise.db.write() as conn:
        draft_store.put(conn, shop.account_id, key, content, to_us(shop.stepwise.clock()))


def test_render_bombs_are_cut_and_recorded_as_failed_issues(shop: Shop) -> None:
    keys = [f"bomb{n}" for n in range(len(BOMBS))]
    for key, bomb in zip(keys, BOMBS, strict=True):
        with pytest.raises(Unprocessable):  # refused when saved: it exceeds the budget without any data
            shop.draft(key, html=f"<p>{bomb}</p>")
        stored_draft(shop, key, f"<p>{bomb}</p>")
    shop.draft("next")
    shop.sequence(
        "bombs",
        [
            {
                "when": [{"event": "subscriber_added"}],
                "do": [{"action": "send_email", "draft": key} for key in [*keys, "next"]],
            }
        ],
    )
    shop.subscriber("anna@example.com")

    settle(shop, shop.deliverer())

    issues = {i.draft: i for i in shop.issues()}
    for key, bomb in zip(keys, BOMBS, strict=True):
        assert issues[key].status == "failed" and issues[key].reason, bomb
        assert issues[key].html is None
        assert "template exceeds the rendering budget" in issues[key].reason, issues[key].reason
    assert issues["next"].status == "sent"  # bad drafts do not stop the next delivery of the run
    assert len(shop.timeline("email_failed")) == len(BOMBS)
