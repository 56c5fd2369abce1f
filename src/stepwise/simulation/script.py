"""The simulator's script (S20): subscribers, timed events, `start` and `until`, checked into plain values."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from stepwise.domain.durations import InvalidDuration
from stepwise.domain.instants import parse_instant, parse_offset
from stepwise.domain.keys import is_key

EDGE_EVENTS = frozenset(
    {
        "subscriber_added",
        "subscription_confirmed",
        "unsubscribed",
        "link_clicked",
        "email_opened",
        "form_submitted",
        "form_confirmed",
        "list_joined",
        "list_left",
        "data_changed",
        "custom",
    }
)
STATUSES = ("active", "unconfirmed", "unsubscribed", "bounced")
MAX_SPAN = timedelta(days=3660)
_ZERO = re.compile(r"[+-](?:0+[wdhms]?)+")  # "+0h", "-0": the start itself


class ScriptError(ValueError):
    """A script that cannot be simulated; `problems` name each fault by its JSON path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Person:
    email: str
    status: str
    data: dict[str, Any]
    lists: frozenset[str]


@dataclass(frozen=True)
class Happening:
    """One scripted event (`kind` "tick" only advances the clock) for one subscriber, or all for a tick."""

    at: datetime
    kind: str
    email: str | None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Script:
    start: datetime
    until: datetime
    subscribers: tuple[Person, ...]
    events: tuple[Happening, ...]  # in time order; listing order among equal times


def parse_script(raw: Any) -> Script:
    """Check a decoded YAML/JSON script; raise ScriptError listing every problem."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise ScriptError(["$: a script is a mapping with start, until, subscribers and events"])
    unknown = sorted(set(raw) - {"start", "until", "subscribers", "events"})
    problems += [f"$.{name}: unknown field (use start, until, subscribers, events)" for name in unknown]
    start = parse_instant(_text(raw.get("start")))
    if start is None:
        problems.append("$.start: required, an ISO-8601 instant such as 2026-01-05T09:00:00Z")
        raise ScriptError(problems)
    until = _moment(raw.get("until"), start, "$.until", problems)
    people = _people(raw.get("subscribers"), problems)
    known = {person.email.lower() for person in people}
    events = _events(raw.get("events", []), start, known, problems)
    if until is not None and not start <= until <= start + MAX_SPAN:
        problems.append("$.until: must not be before start nor more than 3660 days after it")
    late = [i for i, event in enumerate(events) if until is not None and event.at > until]
    problems += [f"$.events[{i}].at: after until" for i in late]
    if problems or until is None:
        raise ScriptError(problems)
    ordered = sorted(events, key=lambda event: event.at)  # stable: listing order among equal times
    return Script(start=start, until=until, subscribers=tuple(people), events=tuple(ordered))


def _moment(value: Any, start: datetime, path: str, problems: list[str]) -> datetime | None:
    """An ISO instant, or an offset such as "+2h" from start."""
    value = _text(value)
    if isinstance(value, str) and value.strip()[:1] in ("+", "-"):
        if _ZERO.fullmatch(value.strip()):
            return start
        try:
            return start + parse_offset(value)
        except InvalidDuration as exc:
            problems.append(f"{path}: {exc}")
            return None
    moment = parse_instant(value) if isinstance(value, str) else None
    if moment is None:
        problems.append(f"{path}: an ISO-8601 instant or an offset from start such as '+2h'")
    return moment


def _text(value: Any) -> Any:
    """YAML reads unquoted timestamps as datetimes: take them as the instants they name (UTC when naive)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _people(raw: Any, problems: list[str]) -> list[Person]:
    if not isinstance(raw, list) or not raw:
        problems.append("$.subscribers: required, a list of {email, data?, lists?, status?}")
        return []
    people: list[Person] = []
    seen: set[str] = set()
    for i, given in enumerate(raw):
        path = f"$.subscribers[{i}]"
        item = {"email": given} if isinstance(given, str) else given
        if not isinstance(item, dict):
            problems.append(f"{path}: must be a mapping {{email, data?, lists?, status?}}")
            continue
        extra = sorted(set(item) - {"email", "data", "lists", "status"})
        problems += [f"{path}.{name}: unknown field" for name in extra]
        email, data = item.get("email"), item.get("data", {})
        lists, status = item.get("lists", []), item.get("status", "active")
        if not isinstance(email, str) or "@" not in email:
            problems.append(f"{path}.email: required, an email address")
            continue
        if email.lower() in seen:
            problems.append(f"{path}.email: listed twice")
        seen.add(email.lower())
        if not isinstance(data, dict):
            problems.append(f"{path}.data: must be a mapping of groups of fields")
        if not isinstance(lists, list) or not all(isinstance(k, str) and is_key(k) for k in lists):
            problems.append(f"{path}.lists: must be a list of list keys")
        if status not in STATUSES:
            problems.append(f"{path}.status: one of {', '.join(STATUSES)}")
        if isinstance(data, dict) and isinstance(lists, list):
            people.append(Person(email, str(status), data, frozenset(str(k) for k in lists)))
    return people


def _events(raw: Any, start: datetime, known: set[str], problems: list[str]) -> list[Happening]:
    if not isinstance(raw, list):
        problems.append("$.events: must be a list of {at, email, event, ...} or {at, event: tick}")
        return []
    found: list[Happening] = []
    for i, item in enumerate(raw):
        path = f"$.events[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{path}: must be a mapping {{at, email, event, ...}}")
            continue
        at = _moment(item.get("at"), start, f"{path}.at", problems)
        kind = item.get("event")
        email = item.get("email")
        if kind != "tick" and kind not in EDGE_EVENTS:
            problems.append(f"{path}.event: one of tick, {', '.join(sorted(EDGE_EVENTS))}")
            continue
        if kind != "tick" and (not isinstance(email, str) or email.lower() not in known):
            problems.append(f"{path}.email: must name one of the script's subscribers")
            continue
        problems += _event_problems(str(kind), item, path)
        if at is not None and at < start:
            problems.append(f"{path}.at: before start")
        if at is not None:
            rest = {k: v for k, v in item.items() if k not in ("at", "event", "email")}
            found.append(Happening(at, str(kind), email if isinstance(email, str) else None, rest))
    return found


_NEEDS = {"list_joined": "list", "list_left": "list", "custom": "name"}


def _event_problems(kind: str, item: dict[str, Any], path: str) -> list[str]:
    needed = _NEEDS.get(kind)
    if needed and not isinstance(item.get(needed), str):
        return [f"{path}.{needed}: required for {kind}"]
    if kind == "data_changed" and not isinstance(item.get("set"), dict):
        return [f"{path}.set: required for data_changed, a mapping of dotted paths to values"]
    if kind == "custom" and not isinstance(item.get("data", {}), dict):
        return [f"{path}.data: must be a mapping"]
    return []
