"""What the builder shows for each kind of event and action: labelled inputs that fit the kind (SPEC §2, §3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Widget = Literal[
    "text",
    "url",
    "duration",
    "select",
    "number",
    "time",
    "weekdays",
    "paths",
    "assignments",
    "increments",
    "headers",
    "json",
    "predicate",
]
Source = Literal["drafts", "lists", "forms", "sequences", "segments"]


@dataclass(frozen=True)
class FieldSpec:
    """One input of an event or action: `name` is its JSON field (and the last segment of its error paths)."""

    name: str
    label: str
    widget: Widget
    choices: tuple[tuple[str, str], ...] = ()
    source: Source | None = None
    blank: str | None = None  # the label of the empty choice of an optional select
    typ: Literal["str", "bool", "int"] = "str"
    help: str = ""
    placeholder: str = ""
    refresh: bool = False  # changing it changes which inputs the row has
    default: str = ""
    required: str = ""  # the message when a select with a "choose…" option is left empty


@dataclass(frozen=True)
class Kind:
    """An event or action kind: its tag, its label, and where it may be used."""

    tag: str
    label: str
    where: Literal["all", "first", "later"] = "all"


EVENT_KINDS: tuple[Kind, ...] = (
    Kind("subscriber_added", "Subscriber added", "first"),
    Kind("subscription_confirmed", "Subscription confirmed"),
    Kind("unsubscribed", "Unsubscribed"),
    Kind("link_clicked", "Link clicked"),
    Kind("email_opened", "Email opened"),
    Kind("email_bounced", "Email bounced"),
    Kind("complained", "Marked as spam (complaint)"),
    Kind("form_submitted", "Form submitted"),
    Kind("form_confirmed", "Form confirmed"),
    Kind("list_joined", "Joined a list"),
    Kind("list_left", "Left a list"),
    Kind("segment_joined", "Joined a segment"),
    Kind("segment_left", "Left a segment"),
    Kind("data_changed", "Profile data changed"),
    Kind("custom", "Custom event (from the API)"),
    Kind("never", "Never (started by a sequence or the API)", "first"),
    Kind("time_passed", "Wait: time passed", "later"),
    Kind("schedule", "Wait: until a scheduled time", "later"),
    Kind("data_matches", "Wait: until data matches", "later"),
    Kind("list_matches", "Wait: until list membership", "later"),
    Kind("split", "Random split: a share of subscribers (A/B)", "later"),
    Kind("segment_matches", "Wait: until segment membership", "later"),
    Kind("date_reached", "A date in the profile (birthday, renewal…)"),
)
ACTION_KINDS: tuple[Kind, ...] = (
    Kind("send_email", "Send an email"),
    Kind("call_url", "Call a URL (webhook)"),
    Kind("change_data", "Change profile data"),
    Kind("add_to_list", "Add to a list"),
    Kind("remove_from_list", "Remove from a list"),
    Kind("start_sequence", "Start another sequence"),
    Kind("go_to_sequence", "Go to another sequence"),
    Kind("stop_sequence", "Stop a sequence"),
    Kind("nothing", "Do nothing"),
)

_SCOPE = FieldSpec(
    "scope",
    "Which emails count",
    "select",
    choices=(("sequence", "only emails of this run"), ("any", "any email")),
    blank="default (step 1: any email; later steps: this run's emails)",
)
_WHERE_OPTIONAL = FieldSpec("where", "Only when", "predicate", help="Leave empty to accept every such event.")
_EVERY = FieldSpec(
    "every",
    "Repeat",
    "select",
    choices=(
        ("day", "every day"),
        ("week", "every week"),
        ("month", "every month"),
        ("year", "every year"),
        ("cron", "cron expression"),
    ),
    refresh=True,
    default="day",
)
_AT = FieldSpec("at", "At (local time)", "time", default="10:00")
_WEEKDAYS = FieldSpec("weekdays", "On", "weekdays")
_DAY = FieldSpec("day", "Day of month", "number", typ="int", help="29–31 in a shorter month means its last day.")
_MONTH = FieldSpec(
    "month",
    "Month",
    "select",
    typ="int",
    choices=tuple(
        (str(n), name)
        for n, name in enumerate(
            (
                "January",
                "February",
                "March",
                "April",
                "May",
                "June",
                "July",
                "August",
                "September",
                "October",
                "November",
                "December",
            ),
            start=1,
        )
    ),
)
_CRON = FieldSpec("cron", "Cron expression", "text", placeholder="0 10 * * mon-fri", help="Five fields.")
_ZONE = FieldSpec("timezone", "Time zone", "text", placeholder="the sequence's zone", help="An IANA name.")

_CHOOSE_SEQUENCE = FieldSpec(
    "sequence", "Sequence", "select", source="sequences", blank="choose a sequence…", required="choose a sequence"
)

EVENT_FIELDS: Mapping[str, tuple[FieldSpec, ...]] = {
    "subscriber_added": (
        FieldSpec(
            "confirmed",
            "Created",
            "select",
            typ="bool",
            choices=(("true", "active (confirmed)"), ("false", "unconfirmed (awaiting opt-in)")),
            blank="active or unconfirmed",
        ),
    ),
    "subscription_confirmed": (
        FieldSpec(
            "method",
            "Confirmed",
            "select",
            choices=(("link", "by the confirmation link"), ("any", "any way (link, API, UI, import)")),
            default="link",
        ),
    ),
    "unsubscribed": (),
    "link_clicked": (
        FieldSpec("draft", "In the email", "select", source="drafts", blank="any email"),
        FieldSpec(
            "url",
            "Link",
            "text",
            placeholder="https://example.com/offer or https://example.com/*",
            help="Exact URL, or a prefix ending in *. Empty: any link.",
        ),
        _SCOPE,
    ),
    "email_opened": (FieldSpec("draft", "The email", "select", source="drafts", blank="any email"), _SCOPE),
    "email_bounced": (
        FieldSpec(
            "type",
            "Bounce",
            "select",
            choices=(("hard", "hard (the address does not exist)"), ("soft", "soft (mailbox full, try later)")),
            blank="any bounce",
        ),
    ),
    "complained": (),
    "form_submitted": (FieldSpec("form", "Form", "select", source="forms", blank="any form"),),
    "form_confirmed": (FieldSpec("form", "Form", "select", source="forms", blank="any form"),),
    "list_joined": (FieldSpec("list", "List", "select", source="lists", blank="any list"),),
    "list_left": (FieldSpec("list", "List", "select", source="lists", blank="any list"),),
    "segment_joined": (FieldSpec("segment", "Segment", "select", source="segments", blank="any segment"),),
    "segment_left": (FieldSpec("segment", "Segment", "select", source="segments", blank="any segment"),),
    "data_changed": (
        FieldSpec(
            "fields",
            "Fields",
            "paths",
            placeholder="base.city, custom.plan",
            help="Only a change of one of these counts. Empty: any change.",
        ),
        _WHERE_OPTIONAL,
    ),
    "custom": (
        FieldSpec("name", "Event name", "text", placeholder="order_placed"),
        FieldSpec(
            "where",
            "Only when",
            "predicate",
            help="Profile fields (base.city) or the event's own data (event.total).",
        ),
    ),
    "never": (),
    "time_passed": (
        FieldSpec(
            "after",
            "Wait for",
            "duration",
            placeholder="3d",
            help="Counted from arrival at this step: 90s, 15m, 3h, 2d, 1d12h or PT90M.",
            default="1d",
        ),
    ),
    "data_matches": (FieldSpec("where", "Profile data matches", "predicate"),),
    "list_matches": (
        FieldSpec("list", "List", "select", source="lists"),
        FieldSpec(
            "member",
            "The subscriber",
            "select",
            typ="bool",
            choices=(("true", "is in the list"), ("false", "is not in the list")),
            default="true",
        ),
    ),
    "split": (
        FieldSpec(
            "weight",
            "Weight",
            "number",
            typ="int",
            default="50",
            help="Every variant of this step must be a split: each fires for weight ÷ total of the subscribers.",
        ),
    ),
    "date_reached": (
        FieldSpec(
            "field", "Date field", "text", placeholder="custom.renewal", help="A profile field holding YYYY-MM-DD."
        ),
        FieldSpec(
            "offset", "Offset", "duration", placeholder="-7d", help="Before (-7d) or after (2d) the date; empty: on it."
        ),
        FieldSpec("at", "At", "time", placeholder="09:00", help="Local time; empty: 09:00."),
        FieldSpec(
            "every_year",
            "Repeat",
            "select",
            typ="bool",
            choices=(("false", "once, on that date"), ("true", "every year (the year is ignored)")),
            default="false",
        ),
        FieldSpec(
            "timezone",
            "Time zone",
            "text",
            placeholder="the profile's base.timezone, else the sequence's",
            help="An IANA name.",
        ),
    ),
    "segment_matches": (
        FieldSpec("segment", "Segment", "select", source="segments"),
        FieldSpec(
            "member",
            "The subscriber",
            "select",
            typ="bool",
            choices=(("true", "is in the segment"), ("false", "is not in the segment")),
            default="true",
        ),
    ),
}

ACTION_FIELDS: Mapping[str, tuple[FieldSpec, ...]] = {
    "nothing": (),
    "send_email": (
        FieldSpec("draft", "Email", "select", source="drafts", blank="choose an email…", required="choose an email"),
    ),
    "call_url": (
        FieldSpec(
            "url",
            "URL",
            "url",
            placeholder="https://crm.example/hook?email={EMAIL}",
            help="{EMAIL} becomes the subscriber's address; template expressions are allowed.",
        ),
        FieldSpec("method", "Method", "select", choices=(("GET", "GET"), ("POST", "POST")), default="GET"),
        FieldSpec("body", "Body (JSON)", "json", help="Optional; sent with POST. Templates are allowed in strings."),
        FieldSpec("headers", "Headers", "headers", placeholder="X-Token: secret", help="One 'Name: value' per line."),
    ),
    "change_data": (
        FieldSpec(
            "set",
            "Set",
            "assignments",
            placeholder="custom.onboarded = true\ncustom.last_seen = $now",
            help='One "path = value" per line. Values are JSON when they parse, else text; $now is the current time.',
        ),
        FieldSpec("unset", "Clear", "paths", placeholder="custom.coupon", help="Paths to remove, comma-separated."),
        FieldSpec("increment", "Add to", "increments", placeholder="custom.points = 10", help='"path = number".'),
    ),
    "add_to_list": (FieldSpec("list", "List", "select", source="lists"),),
    "remove_from_list": (FieldSpec("list", "List", "select", source="lists"),),
    "stop_sequence": (
        FieldSpec("sequence", "Sequence", "select", source="sequences", choices=(("current", "this sequence"),)),
    ),
    "start_sequence": (_CHOOSE_SEQUENCE,),
    "go_to_sequence": (_CHOOSE_SEQUENCE,),
}


# S25: an edge event at a later step may match only the entry event's values of some fields.
_SAME = FieldSpec(
    "same",
    "Same as the entry event",
    "paths",
    placeholder="cart_id",
    help="Later steps only: match only when these fields of the event's data equal the entry event's.",
)
_NOT_KEYED = frozenset(
    {"never", "time_passed", "data_matches", "list_matches", "segment_matches", "split", "date_reached"}
)


def event_fields(kind: str, values: Mapping[str, object]) -> tuple[FieldSpec, ...]:
    """Return the inputs of an event kind; a schedule's inputs depend on how often it repeats."""
    if kind not in ("schedule", *_NOT_KEYED) and kind in EVENT_FIELDS:
        return (*EVENT_FIELDS[kind], _SAME)
    if kind != "schedule":
        return EVENT_FIELDS.get(kind, ())
    every = str(values.get("every") or "day")
    if every == "cron":
        return (_EVERY, _CRON, _ZONE)
    extra = {"week": (_WEEKDAYS,), "month": (_DAY,), "year": (_MONTH, _DAY)}.get(every, ())
    return (_EVERY, _AT, *extra, _ZONE)


def action_fields(kind: str) -> tuple[FieldSpec, ...]:
    """Return the inputs of an action kind."""
    return ACTION_FIELDS.get(kind, ())


def event_kinds_for(step_index: int, current: str) -> list[Kind]:
    """Return the event kinds offered in a step (the current one always, so a misplaced kind shows its error)."""
    allowed = "first" if step_index == 0 else "later"
    return [k for k in EVENT_KINDS if k.where in ("all", allowed) or k.tag == current]


WEEKDAY_CHOICES: tuple[tuple[str, str], ...] = (
    ("mon", "Mon"),
    ("tue", "Tue"),
    ("wed", "Wed"),
    ("thu", "Thu"),
    ("fri", "Fri"),
    ("sat", "Sat"),
    ("sun", "Sun"),
)
