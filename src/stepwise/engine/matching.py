"""Does an edge event match an event spec of a step? (SPEC §2.1)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, assert_never

import orjson

from stepwise.domain import definition as d
from stepwise.domain.paths import MISSING, get_path, path_touches
from stepwise.domain.predicates import evaluate
from stepwise.engine.date_entry import spec_key
from stepwise.engine.model import Event


def edge_matches(
    spec: d.EventSpec,
    event: Event,
    *,
    step: int,
    sequence: str,
    pass_no: int | None,
    data: dict[str, Any],
) -> bool:
    """Tell whether event satisfies spec at this step of this run (pass_no None: not yet entered)."""
    p = event.payload
    if spec.event != event.kind:
        return False
    match spec:  # the commonest first: a case is an isinstance test, tried in order
        case d.CustomEvent(name=name, where=where):
            if p.get("name") != name:
                return False
            if where is not None:
                body = p.get("data")
                return evaluate(where, data, event.at, body if isinstance(body, dict) else {})
            return True
        case d.SubscriberAdded(confirmed=confirmed):
            return confirmed is None or bool(p.get("confirmed")) == confirmed
        case d.SubscriptionConfirmed(method=method):
            return method == "any" or p.get("method") == "link"
        case d.Unsubscribed() | d.Complained():
            return True
        case d.EmailBounced(type=kind):
            return kind is None or p.get("type") == kind
        case d.LinkClicked() | d.EmailOpened():
            return _email_event_matches(spec, p, step=step, sequence=sequence, pass_no=pass_no)
        case d.FormSubmitted(form=form) | d.FormConfirmed(form=form):
            return form is None or p.get("form") == form
        case d.ListJoined(list=key) | d.ListLeft(list=key):
            return key is None or p.get("list") == key
        case d.SegmentJoined(segment=key) | d.SegmentLeft(segment=key):
            return key is None or p.get("segment") == key
        case d.DataChanged(fields=fields, where=where):
            changed = p.get("fields") or []
            if fields and not any(path_touches(changed, watched) for watched in fields):
                return False
            if where is not None:
                after = p.get("data")
                return evaluate(where, after if isinstance(after, dict) else data, event.at)
            return True
        case d.DateReached():  # S26 step 1: the finder's event for this sequence and this very spec
            return p.get("sequence") == sequence and p.get("spec") == spec_key(spec)
        case (
            d.Never()
            | d.TimePassed()
            | d.Schedule()
            | d.DataMatches()
            | d.ListMatches()
            | d.SegmentMatches()
            | d.Split()
        ):
            return False  # `never` never happens; waits are not edge events
        case _:
            assert_never(spec)


def _email_event_matches(
    spec: d.LinkClicked | d.EmailOpened, p: dict[str, Any], *, step: int, sequence: str, pass_no: int | None
) -> bool:
    """A click or an open: of the named draft and URL, and by default of this sequence's run (§2.1)."""
    if spec.draft is not None and p.get("draft") != spec.draft:
        return False
    if isinstance(spec, d.LinkClicked) and spec.url is not None and not url_matches(spec.url, p.get("url")):
        return False
    scope = spec.scope or ("any" if step == 1 else "sequence")
    if scope == "sequence":
        if p.get("sequence") != sequence:
            return False
        return pass_no is None or p.get("pass") == pass_no
    return True


def url_matches(pattern: str, url: Any) -> bool:
    """Exact match, or prefix match when the pattern ends with '*'."""
    if not isinstance(url, str):
        return False
    if pattern.endswith("*"):
        return url.startswith(pattern[:-1])
    return url == pattern


def state_holds(
    spec: d.StateWait, data: dict[str, Any], lists: set[str], now: datetime, segments: frozenset[str] = frozenset()
) -> bool:
    """Tell whether a state wait's condition holds now (S6)."""
    match spec:
        case d.DataMatches(where=where):
            return evaluate(where, data, now)
        case d.ListMatches(list=key, member=member):
            return (key in lists) == member
        case d.SegmentMatches(segment=key, member=member):
            return (key in segments) == member
        case _:
            assert_never(spec)


def template_event(event: Event | None) -> dict[str, Any]:
    """The `event` variable templates see: a custom event's data, else its payload."""
    return {} if event is None else event.template_data()


def same_keys_match(
    same: list[str] | None, event_data: Mapping[str, Any] | None, entry_data: Mapping[str, Any] | None
) -> bool:
    """S25: every listed field of the event's data equals the same field of the entry event's data.

    No `same` list: always true. No entry event (a run started by hand), or a field missing or null
    on either side: no match. Equality is JSON's (true is not 1; objects compare by content).
    """
    if not same:
        return True
    if event_data is None or entry_data is None:
        return False
    for field in same:
        mine, theirs = get_path(event_data, field), get_path(entry_data, field)
        if mine is MISSING or theirs is MISSING or mine is None or theirs is None:
            return False
        if _json(mine) != _json(theirs):
            return False
    return True


def _json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def entry_data(entry: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The data of a stored entry event, or None when the run has none (or its data was dropped)."""
    if not entry or entry.get("data_dropped"):
        return None
    data = entry.get("data")
    return data if isinstance(data, Mapping) else None
