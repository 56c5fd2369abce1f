"""At delivery, a draft over the rendering budget becomes a failed issue whose reason says why (issue 10).

Besides the templates of `hostile_templates`, the rendered HTML itself is checked before the slower
steps of composing see it: links nested in links (the text part would be quadratic) and `<a` tags
that never end (link tracking would be quadratic). The next email of the run is sent all the same.
"""

from __future__ import annotations

import time

from tests.integration.delivery.helpers import Shop, settle
from tests.integration.delivery.test_sandbox import stored_draft
from tests.support.hostile_templates import HOSTILE

BROKEN_HTML = {
    "nested_links": ('<a href="https://x.example/">y' * 3000 + "</a>" * 3000, "links nest"),
    "unterminated_links": ("<p>" + "<a " * 5000 + "</p>", "<a tags do not end"),
    "bigint": (HOSTILE[0].source, HOSTILE[0].reason),
    "macro_buffer": (next(h.source for h in HOSTILE if h.name == "macro buffer"), "printed in all"),
}


def test_budget_failures_at_delivery_are_failed_issues_with_the_reason(shop: Shop) -> None:
    for key, (html, _) in BROKEN_HTML.items():
        stored_draft(shop, key, html)
    shop.draft("next")
    shop.sequence(
        "budget",
        [
            {
                "when": [{"event": "subscriber_added"}],
                "do": [{"action": "send_email", "draft": key} for key in [*BROKEN_HTML, "next"]],
            }
        ],
    )
    shop.subscriber("anna@example.com")

    started = time.perf_counter()
    settle(shop, shop.deliverer())
    assert time.perf_counter() - started < 10

    issues = {issue.draft: issue for issue in shop.issues()}
    for key, (_, reason) in BROKEN_HTML.items():
        issue = issues[key]
        assert issue.status == "failed", key
        assert issue.reason.startswith("template exceeds the rendering budget: ") and reason in issue.reason, (
            key,
            issue.reason,
        )
    assert issues["next"].status == "sent"
    failed = shop.timeline("email_failed")
    assert len(failed) == len(BROKEN_HTML)
