"""Sending policy at delivery (SPEC §17): the settings delivery reads, and taking cap slots (S28).

Taking slots is exact with many workers: `storage.policy.lock_and_read_slots` locks the subscribers
(in id order) in the same write transaction that counts their ledger and adds the new slots, so of
two workers racing for a subscriber's last slot the second waits for the first's commit and then
counts the first's slot (on SQLite the single writer serialises them anyway).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection

from stepwise.domain.definition import SequenceDefinition
from stepwise.domain.policy import AccountPolicy, SequencePolicy, SlotRequest, cap_free_at
from stepwise.services.settings import AccountSettings
from stepwise.storage import policy as policy_store


def account_policy(settings: AccountSettings) -> AccountPolicy:
    return AccountPolicy(
        timezone=settings.timezone,
        window=settings.send_window,
        caps=tuple(settings.caps),
        from_email=settings.default_from_email,
        from_name=settings.default_from_name,
        reply_to=settings.reply_to,
    )


def sequence_policy(definition: SequenceDefinition, timezone: str) -> SequencePolicy:
    return SequencePolicy(
        timezone=timezone,
        window=definition.send_window,
        respect_caps=definition.respect_caps is not False,
        cap_action=definition.cap_action or "skip",
    )


def take_slots(conn: Connection, requests: Sequence[SlotRequest], now_us: int) -> dict[int, int | None]:
    """Grant or refuse a slot per request, in row order; granted slots are written (see the module doc)."""
    by_account: dict[int, list[SlotRequest]] = defaultdict(list)
    for request in requests:
        by_account[request.account_id].append(request)
    answers: dict[int, int | None] = {}
    for account_id, wanted in sorted(by_account.items()):
        longest = max(
            int(c.period.total_seconds() * 1_000_000)
            for caps in {id(r.caps): r.caps for r in wanted}.values()
            for c in caps
        )
        ledger = policy_store.lock_and_read_slots(conn, account_id, [r.subscriber_id for r in wanted], now_us - longest)
        taken: list[tuple[str, int]] = []
        for request in sorted(wanted, key=lambda r: r.row_id):
            held = ledger.get(request.subscriber_id, [])
            if any(issue_id == request.issue_id for issue_id, _ in held):
                answers[request.row_id] = None  # a retry of an email that holds its slot already
                continue
            free_at = cap_free_at(request.caps, [at for _, at in held], now_us) if request.enforce else None
            answers[request.row_id] = free_at
            if free_at is None:
                taken.append((request.issue_id, request.subscriber_id))
                ledger.setdefault(request.subscriber_id, []).append((request.issue_id, now_us))
        policy_store.add_slots(conn, account_id, taken, now_us)
    return answers
