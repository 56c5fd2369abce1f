"""Facts → webhook messages, written in the transaction of the fact (S29).

Every writer of a fact calls `emit` with its connection; the messages are queued in the outbox by the
same transaction, so a fact is never committed without its messages, nor a message without its fact.

Cost for accounts without endpoints: a per-process cache (one per database engine) holds every active
endpoint with the types it subscribes to. It is checked against a cheap version (count, sum of revisions
and sum of ids of the small endpoints table: one aggregate) once per `emit` call, that is once per
batch, and the facts are built lazily (an iterable), so nothing is built when no endpoint of the account wants them.
"""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from stepwise.domain import webhooks as hooks
from stepwise.domain.deliveries import IssueChange
from stepwise.domain.events import NewEvent
from stepwise.domain.instants import from_us, iso
from stepwise.domain.jobs import OutboxRow
from stepwise.ids import new_id
from stepwise.storage import accounts as account_store
from stepwise.storage import inbox as inbox_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage import webhooks as webhook_store


@dataclass(frozen=True, slots=True)
class Fact:
    """Something that happened, as a webhook reports it (subscriber 0: none)."""

    subscriber_id: int
    type: str
    data: dict[str, Any]
    at_us: int


@dataclass(frozen=True, slots=True)
class _Listener:
    endpoint_id: int
    types: frozenset[str]


_Delivered = tuple[OutboxRow, IssueChange, bool]  # a delivery record's row, issue change, bounce


class EndpointCache:
    """Each account's active endpoints, refreshed when the endpoints table's version moves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: tuple[int, int, int] | None = None
        self._by_account: dict[int, list[_Listener]] = {}
        self._names: dict[int, str] = {}

    def listeners(self, conn: Connection, account_id: int) -> tuple[list[_Listener], str]:
        """The account's active endpoints and its name (the name is read only when it has some)."""
        current = webhook_store.version(conn)
        with self._lock:
            if current != self._version:
                by_account: dict[int, list[_Listener]] = defaultdict(list)
                for e in webhook_store.all_endpoints(conn):
                    if e.active:
                        by_account[e.account_id].append(_Listener(e.id, frozenset(e.events)))
                self._by_account, self._names, self._version = dict(by_account), {}, current
            found = self._by_account.get(account_id, [])
            if found and account_id not in self._names:
                account = account_store.by_id(conn, account_id)
                self._names[account_id] = account.name if account is not None else str(account_id)
            return found, self._names.get(account_id, "")


# One cache per database engine (a process normally has one; tests build many, with the same ids and times).
_CACHES: weakref.WeakKeyDictionary[Engine, EndpointCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _cache(conn: Connection) -> EndpointCache:
    engine = conn.engine
    found = _CACHES.get(engine)
    if found is None:
        with _CACHES_LOCK:
            found = _CACHES.setdefault(engine, EndpointCache())
    return found


def emit(conn: Connection, account_id: int, facts: Iterable[Fact]) -> int:
    """Queue a message per fact and endpoint that subscribes to its type; return how many."""
    listeners, account = _cache(conn).listeners(conn, account_id)
    if not listeners:
        return 0
    messages: list[webhook_store.NewMessage] = []
    for fact in facts:
        occurred = iso(from_us(fact.at_us))
        for listener in listeners:
            if fact.type in listener.types:
                message_id = "msg_" + new_id()
                body = hooks.body(message_id, fact.type, occurred, account, fact.data)
                messages.append(
                    webhook_store.NewMessage(
                        account_id, listener.endpoint_id, fact.subscriber_id, message_id, fact.type, body, fact.at_us
                    )
                )
    webhook_store.queue(conn, messages)
    return len(messages)


def emit_deliveries(conn: Connection, outcomes: Sequence[_Delivered], now_us: int) -> None:
    """Facts of delivery outcomes: email sent, failed, skipped, deferred; subscriber bounced (SMTP refusal)."""
    grouped: dict[int, list[_Delivered]] = defaultdict(list)
    for outcome in outcomes:
        grouped[outcome[0].account_id].append(outcome)
    for account_id, some in grouped.items():
        emit(conn, account_id, _delivery_facts(conn, some, now_us))


def _delivery_facts(conn: Connection, outcomes: Sequence[_Delivered], now_us: int) -> Iterable[Fact]:
    ids = sorted({row.subscriber_id for row, _, _ in outcomes})
    emails = {s.id: s.email for s in subscriber_store.by_ids(conn, ids)}
    for row, change, bounced in outcomes:
        job = row.job
        if getattr(job, "test", False):  # S19: a test run's emails never reach webhooks
            continue
        type_ = hooks.issue_type(change.status)
        email = emails.get(row.subscriber_id)
        if type_ is not None:
            data = {
                "issue": row.issue_id,
                "draft": getattr(job, "draft", None),
                "sequence": job.sequence if job is not None else None,
                "step": job.step if job is not None else None,
                "reason": change.reason,
            }
            yield subscriber_fact(row.subscriber_id, email, type_, now_us, **data)
        if bounced:
            yield subscriber_fact(row.subscriber_id, email, "subscriber.bounced", now_us, reason=change.reason)


def _edge_facts(conn: Connection, events: Sequence[NewEvent]) -> Iterable[Fact]:
    wanted = [e for e in events if e.kind in hooks.EDGE_TYPES]
    if not wanted:
        return
    emails = {s.id: s.email for s in subscriber_store.by_ids(conn, sorted({e.subscriber_id for e in wanted}))}
    for e in wanted:
        data = {"subscriber": {"id": e.subscriber_id, "email": emails.get(e.subscriber_id)}, **e.payload}
        yield Fact(e.subscriber_id, hooks.EDGE_TYPES[e.kind], data, e.accepted_at)


def on_inbox(conn: Connection, events: Sequence[NewEvent]) -> None:
    """The inbox hook: edge events that are webhook facts (subscriber created, unsubscribed, opens, clicks)."""
    by_account: dict[int, list[NewEvent]] = defaultdict(list)
    for event in events:
        by_account[event.account_id].append(event)
    for account_id, some in by_account.items():
        emit(conn, account_id, _edge_facts(conn, some))


def subscriber_fact(subscriber_id: int, email: str | None, type_: str, at_us: int, **data: Any) -> Fact:
    """A fact about one subscriber."""
    return Fact(subscriber_id, type_, {"subscriber": {"id": subscriber_id, "email": email}, **data}, at_us)


# Registered once per process, by whoever imports the services (storage may not import services).
if on_inbox not in inbox_store.WRITTEN:
    inbox_store.WRITTEN.append(on_inbox)


def run_facts(entries: Iterable[Any], emails: dict[int, str]) -> Iterable[Fact]:
    """Facts of an engine outcome's timeline entries (runs entered, moved a step, completed, stopped)."""
    for entry in entries:
        type_ = hooks.transition_type(entry.kind, entry.detail)
        if type_ is not None:
            data = {"sequence": entry.sequence, **entry.detail}
            yield subscriber_fact(entry.subscriber_id, emails.get(entry.subscriber_id), type_, entry.at, **data)


def issue_facts(issues: Iterable[dict[str, Any]]) -> Iterable[Fact]:
    """Facts of the issues an engine outcome created (email queued, or skipped at once)."""
    for issue in issues:
        type_ = hooks.issue_type(issue["status"])
        if type_ is not None:
            data = {
                "issue": issue["id"],
                "draft": issue["draft"],
                "sequence": issue["sequence"],
                "step": issue["step"],
                "reason": issue["reason"],
            }
            yield subscriber_fact(issue["subscriber_id"], issue["email"], type_, issue["created_at"], **data)
