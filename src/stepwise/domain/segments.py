"""Segments (SPEC §15): a saved predicate over profile data and subscriber facts, and its evaluation.

Besides profile paths a segment's predicate may use `subscriber.status`, `subscriber.lists` (op
`contains` / `not_contains` a list key), `subscriber.created_at` and the activity instants
`subscriber.last_opened_at`, `subscriber.last_clicked_at`, `subscriber.last_sent_at`. The facts are
laid over the profile under the reserved top-level name `subscriber`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from stepwise.domain.compiled_predicates import Check, compile_predicate
from stepwise.domain.instants import parse_instant, parse_offset
from stepwise.domain.paths import get_path, split_path
from stepwise.domain.predicates import NowValue, Predicate, evaluate, problems, walk
from stepwise.domain.problems import Problem, from_validation_error

SUBSCRIBER = "subscriber"
INSTANT_FIELDS = frozenset(
    f"{SUBSCRIBER}.{name}" for name in ("created_at", "last_opened_at", "last_clicked_at", "last_sent_at")
)
FACT_FIELDS = INSTANT_FIELDS | {f"{SUBSCRIBER}.status", f"{SUBSCRIBER}.lists"}
LISTS = f"{SUBSCRIBER}.lists"
_ADAPTER: TypeAdapter[Predicate] = TypeAdapter(Predicate)


@dataclass(frozen=True, slots=True)
class Facts:
    """What a segment may test of one subscriber besides the profile (instants as ISO-8601 text)."""

    status: str
    lists: frozenset[str]
    created_at: str
    last_opened_at: str | None = None
    last_clicked_at: str | None = None
    last_sent_at: str | None = None


def lower(raw: Any) -> Any:
    """Rewrite `not_contains` on `subscriber.lists` as `not` of `contains` (the predicate grammar's form)."""
    if isinstance(raw, Mapping):
        if raw.get("op") == "not_contains" and raw.get("field") == LISTS:
            return {"not": {**raw, "op": "contains"}}
        return {key: lower(value) for key, value in raw.items()}
    if isinstance(raw, list):
        return [lower(item) for item in raw]
    return raw


def parse_where(raw: Any, at: str = "$.where") -> tuple[Predicate | None, list[Problem]]:
    """Parse and check a segment's predicate; problems carry JSON paths under `at`."""
    lowered = lower(raw)
    try:
        predicate = _ADAPTER.validate_python(lowered)
    except ValidationError as exc:
        return None, from_validation_error(exc, lowered, at)
    found = [Problem(at, text) for text in problems(predicate, allow_event=False)]
    found += [Problem(at, text) for text in _fact_problems(predicate)]
    return (predicate if not found else None), found


def _fact_problems(predicate: Predicate) -> list[str]:
    found: list[str] = []
    for c in walk(predicate):
        if not c.field.startswith(SUBSCRIBER + ".") and c.field != SUBSCRIBER:
            continue
        if c.field not in FACT_FIELDS:
            found.append(f"field {c.field!r}: a segment knows {', '.join(sorted(FACT_FIELDS))}")
        elif c.field == LISTS and c.op != "contains":
            found.append(f"field {LISTS!r} takes only the ops 'contains' and 'not_contains'")
        elif c.field == LISTS and not isinstance(c.value, str):
            found.append(f"field {LISTS!r} needs a list key as its value")
    return found


def uses_now(predicate: Predicate) -> bool:
    """Whether time alone can change the predicate's answer."""
    return any(isinstance(c.value, NowValue) for c in walk(predicate))


def list_keys(predicate: Predicate) -> frozenset[str]:
    """The list keys the predicate names."""
    return frozenset(str(c.value) for c in walk(predicate) if c.field == LISTS)


def reads_lists(predicate: Predicate) -> bool:
    """Whether the predicate reads `subscriber.lists` (which costs a query to gather)."""
    return any(c.field == LISTS for c in walk(predicate))


def needs_activity(predicate: Predicate) -> bool:
    """Whether the predicate reads activity instants (which cost a query to gather)."""
    return any(c.field in INSTANT_FIELDS - {f"{SUBSCRIBER}.created_at"} for c in walk(predicate))


def reads_only_sent(predicate: Predicate) -> bool:
    """Whether the predicate reads nothing but `subscriber.last_sent_at`.

    Every subscriber sent an email at the same instant then has the same answer and the same
    re-test moment, so a batch of sends is tested once, not once per subscriber.
    """
    found = walk(predicate)
    return bool(found) and all(c.field == f"{SUBSCRIBER}.{SENT}" for c in found)


def sent_view(sent_at: str) -> dict[str, Any]:
    """The view a `reads_only_sent` predicate is tested on: the last send and nothing else."""
    return {SUBSCRIBER: {SENT: sent_at}}


def matches(predicate: Predicate, data: Mapping[str, Any], facts: Facts, now: datetime) -> bool:
    """Evaluate the segment's predicate on one subscriber."""
    return evaluate(predicate, view_of(data, facts), now)


def matcher(predicate: Predicate) -> Check:
    """`matches` compiled once, for views built once by `view_of` (a batch tests many subscribers)."""
    return compile_predicate(predicate)


def change_finder(predicate: Predicate) -> Callable[[Mapping[str, Any], datetime], datetime | None]:
    """`next_change` with the predicate's relative comparisons read once (paths split, offsets parsed)."""
    found = [(split_path(c.field), parse_offset(c.value.now)) for c in walk(predicate) if isinstance(c.value, NowValue)]

    def first(view: Mapping[str, Any], now: datetime) -> datetime | None:
        ahead = None
        for path, offset in found:
            instant = parse_instant(get_path(view, path))
            if instant is not None:
                moment = instant - offset
                if moment > now and (ahead is None or moment < ahead):
                    ahead = moment
        return ahead

    return first


def next_change(predicate: Predicate, view: Mapping[str, Any], now: datetime) -> datetime | None:
    """The first moment after `now` at which time alone may change the answer (None: never).

    A comparison of an instant `v` with `{"now": off}` can only flip when `now + off` passes `v`,
    that is at `v - off`; the earliest such moment still ahead is when the member is re-tested.
    """
    return change_finder(predicate)(view, now)


def view_of(data: Mapping[str, Any], facts: Facts) -> dict[str, Any]:
    """The profile with the subscriber facts laid over it under `subscriber`."""
    view = dict(data)
    view[SUBSCRIBER] = {
        "status": facts.status,
        "lists": sorted(facts.lists),
        "created_at": facts.created_at,
        **{
            name: value
            for name, value in (
                ("last_opened_at", facts.last_opened_at),
                ("last_clicked_at", facts.last_clicked_at),
                ("last_sent_at", facts.last_sent_at),
            )
            if value is not None
        },
    }
    return view


@dataclass(frozen=True, slots=True)
class Touch:
    """What a change touched: data paths, lists, status, activity; `everything` for a new subscriber."""

    data: frozenset[str] = frozenset()
    lists: bool = False
    status: bool = False
    activity: frozenset[str] = frozenset()  # which of last_sent_at, last_opened_at, last_clicked_at moved
    everything: bool = False


EVERYTHING = Touch(everything=True)
SENT, OPENED, CLICKED = "last_sent_at", "last_opened_at", "last_clicked_at"
CREATED_AT = f"{SUBSCRIBER}.created_at"
_FACT_OF = {f"{SUBSCRIBER}.lists": "lists", f"{SUBSCRIBER}.status": "status"}


def concerns(predicate: Predicate, touch: Touch) -> bool:
    """Whether the change may change the predicate's answer (a segment reading none of it is skipped)."""
    if touch.everything:
        return True
    for c in walk(predicate):
        fact = _FACT_OF.get(c.field)
        if fact is not None:
            if getattr(touch, fact):
                return True
        elif c.field in INSTANT_FIELDS:
            if c.field[len(SUBSCRIBER) + 1 :] in touch.activity:
                return True
        elif any(c.field == p or c.field.startswith(p + ".") or p.startswith(c.field + ".") for p in touch.data):
            return True
    return False
