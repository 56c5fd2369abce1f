"""Plain-language descriptions of events, actions and predicates, for the picture of a sequence."""

from __future__ import annotations

import json
from typing import Any

OPS = {
    "eq": "is",
    "ne": "is not",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "contains": "contains",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "in": "is one of",
    "not_in": "is none of",
    "exists": "is filled in",
    "not_exists": "is empty",
}
WEEKDAY_NAMES = {"mon": "Mon", "tue": "Tue", "wed": "Wed", "thu": "Thu", "fri": "Fri", "sat": "Sat", "sun": "Sun"}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _value(value: Any) -> str:
    if isinstance(value, dict) and "now" in value:
        return f"now {value['now']}"
    if isinstance(value, str):
        return f"“{value}”"
    return json.dumps(value, ensure_ascii=False)


def predicate(node: Any) -> str:
    """Describe a predicate in one line."""
    if not isinstance(node, dict):
        return "?"
    if "all" in node and isinstance(node["all"], list):
        return " and ".join(_grouped(p) for p in node["all"])
    if "any" in node and isinstance(node["any"], list):
        return " or ".join(_grouped(p) for p in node["any"])
    if "not" in node:
        return f"not ({predicate(node['not'])})"
    field = str(node.get("field", "?"))
    if node.get("fn") == "size":
        field = f"size of {field}"
    op = str(node.get("op", "?"))
    text = f"{field} {OPS.get(op, op)}"
    if op not in ("exists", "not_exists"):
        value = node.get("value")
        text += " " + (", ".join(_value(v) for v in value) if isinstance(value, list) else _value(value))
    if node.get("ignore_case"):
        text += " (any case)"
    return text


def _grouped(node: Any) -> str:
    text = predicate(node)
    return f"({text})" if isinstance(node, dict) and ("all" in node or "any" in node) else text


def _scope(spec: dict[str, Any]) -> str:
    scope = spec.get("scope")
    return {"sequence": " (emails of this run)", "any": " (any email)"}.get(str(scope), "")


def event(spec: dict[str, Any]) -> str:
    """Describe an event or wait of a variant; a keyed one (S25) names the fields it shares with the entry event."""
    same = spec.get("same")
    return _event(spec) + (f", same {', '.join(map(str, same))} as the entry event" if same else "")


def _event(spec: dict[str, Any]) -> str:
    kind = spec.get("event")
    where = f" where {predicate(spec['where'])}" if spec.get("where") else ""
    match kind:
        case "subscriber_added":
            confirmed = spec.get("confirmed")
            suffix = "" if confirmed is None else (" (confirmed)" if confirmed else " (unconfirmed)")
            return "Subscriber added" + suffix
        case "subscription_confirmed":
            return "Subscription confirmed" + (" (any way)" if spec.get("method") == "any" else " (by link)")
        case "unsubscribed":
            return "Unsubscribed"
        case "link_clicked":
            what = f" {spec['url']}" if spec.get("url") else ""
            where_from = f" in {spec['draft']}" if spec.get("draft") else ""
            return f"Clicked a link{what}{where_from}{_scope(spec)}"
        case "email_opened":
            return "Opened " + (spec["draft"] if spec.get("draft") else "an email") + _scope(spec)
        case "email_bounced":
            return "Email bounced" + (f" ({spec['type']})" if spec.get("type") else "")
        case "complained":
            return "Marked an email as spam"
        case "form_submitted":
            return "Submitted form " + (spec["form"] if spec.get("form") else "(any)")
        case "form_confirmed":
            return "Confirmed form " + (spec["form"] if spec.get("form") else "(any)")
        case "list_joined":
            return "Joined list " + (spec["list"] if spec.get("list") else "(any)")
        case "list_left":
            return "Left list " + (spec["list"] if spec.get("list") else "(any)")
        case "segment_joined":
            return "Joined segment " + (spec["segment"] if spec.get("segment") else "(any)")
        case "segment_left":
            return "Left segment " + (spec["segment"] if spec.get("segment") else "(any)")
        case "data_changed":
            fields = spec.get("fields")
            return "Data changed" + (f": {', '.join(fields)}" if fields else "") + where
        case "custom":
            return f"Event “{spec.get('name', '?')}”{where}"
        case "never":
            return "Never (started by a sequence or the API)"
        case "time_passed":
            return f"After {spec.get('after', '?')}"
        case "schedule":
            return _schedule(spec)
        case "data_matches":
            return f"When {predicate(spec.get('where'))}"
        case "segment_matches":
            member = spec.get("member", True)
            return f"When {'in' if member else 'not in'} segment {spec.get('segment', '?')}"
        case "list_matches":
            member = spec.get("member", True)
            return f"When {'in' if member else 'not in'} list {spec.get('list', '?')}"
        case "split":
            return f"Random split, weight {spec.get('weight', '?')}"
        case "date_reached":
            return _date_reached(spec)
    return str(kind)


def _date_reached(spec: dict[str, Any]) -> str:
    offset = str(spec.get("offset") or "")
    shift = f"{offset[1:]} before " if offset.startswith("-") else f"{offset.lstrip('+')} after " if offset else ""
    zone = f" ({spec['timezone']})" if spec.get("timezone") else ""
    yearly = "every year " if spec.get("every_year") else ""
    text = f"{yearly}{shift}the date in {spec.get('field', '?')}, at {spec.get('at') or '09:00'}{zone}"
    return text[0].upper() + text[1:]


def _schedule(spec: dict[str, Any]) -> str:
    zone = f" ({spec['timezone']})" if spec.get("timezone") else ""
    if spec.get("cron"):
        return f"On schedule {spec['cron']}{zone}"
    at = spec.get("at") or "00:00"
    match spec.get("every"):
        case "day":
            text = f"Next day at {at}"
        case "week":
            days = ", ".join(WEEKDAY_NAMES.get(d, d) for d in spec.get("weekdays") or [])
            text = f"Next {days} at {at}"
        case "month":
            text = f"Next day {spec.get('day', 1)} of a month at {at}"
        case "year":
            month = spec.get("month") or 1
            name = MONTHS[month - 1] if isinstance(month, int) and 1 <= month <= 12 else str(month)
            text = f"Next {spec.get('day', 1)} {name} at {at}"
        case _:
            text = "On schedule"
    return text + zone


def action(spec: dict[str, Any]) -> str:
    """Describe an action of a variant."""
    kind = spec.get("action")
    match kind:
        case "nothing":
            return "Do nothing"
        case "send_email":
            return f"Send email {spec.get('draft', '?')}"
        case "call_url":
            return f"Call {spec.get('method', 'GET')} {spec.get('url', '?')}"
        case "change_data":
            parts = []
            for path, value in (spec.get("set") or {}).items():
                parts.append(f"set {path} = {_value(value)}")
            for path in spec.get("unset") or []:
                parts.append(f"clear {path}")
            for path, amount in (spec.get("increment") or {}).items():
                parts.append(f"add {amount} to {path}")
            return "Change data: " + "; ".join(parts)
        case "add_to_list":
            return f"Add to list {spec.get('list', '?')}"
        case "remove_from_list":
            return f"Remove from list {spec.get('list', '?')}"
        case "stop_sequence":
            target = spec.get("sequence", "current")
            return "Stop this sequence" if target == "current" else f"Stop sequence {target}"
        case "start_sequence":
            return f"Start sequence {spec.get('sequence', '?')}"
        case "go_to_sequence":
            return f"Go to sequence {spec.get('sequence', '?')}"
    return str(kind)


def timeline(entry: dict[str, Any], names: dict[str, dict[str, str]] | None = None) -> tuple[str, list[str]]:
    """Return the title and the detail lines of one timeline entry.

    `names` maps ids to readable names: "sequences" (key -> name), "drafts" (key -> subject) and
    "issues" (id -> draft and subject); an id without a name is shown as it is.
    """
    names = names or {}
    kind = str(entry.get("kind", ""))
    skip = {"at", "kind", "sequence", "occurred_at"}  # occurred_at is shown beside `at`
    if kind == "event":
        title = str(entry.get("event", "event")).replace("_", " ")
        skip.add("event")
    else:
        title = kind.replace("_", " ")
    details: list[str] = []
    for key, value in entry.items():
        if key in skip or value in (None, "", [], {}):
            continue
        if key == "payload" and isinstance(value, dict):
            details += [f"{k}: {_plain(v)}" for k, v in value.items() if k != "data"]
        elif key in ("issue", "draft", "sequence", "target") and isinstance(value, str | int):
            details.append(_named(key, str(value), names))
        elif key == "actions" and isinstance(value, list):
            done = [_action_outcome(a) for a in value if isinstance(a, dict)]
            details.append("actions: " + "; ".join(done))
        else:
            details.append(f"{key.replace('_', ' ')}: {_plain(value)}")
    return title, details


def _named(key: str, value: str, names: dict[str, dict[str, str]]) -> str:
    if key == "issue":
        return f"email: {names.get('issues', {}).get(value, value)}"
    if key == "draft":
        subject = names.get("drafts", {}).get(value)
        return f"draft: {value} “{subject}”" if subject else f"draft: {value}"
    name = names.get("sequences", {}).get(value)
    return f"{key}: {name} ({value})" if name and name != value else f"{key}: {value}"


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return json.dumps(value, ensure_ascii=False)


def _action_outcome(item: dict[str, Any]) -> str:
    text = action(item)
    result = item.get("result")
    return f"{text} ({result})" if result else text
