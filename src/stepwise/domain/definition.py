"""Sequence definitions: edge events, waits, actions, variants, steps (SPEC §2-§4).

One set of models serves the API, the stored JSON, the CLI files and the engine.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ModelWrapValidatorHandler, field_validator, model_validator

from stepwise.domain.dates import DateReached
from stepwise.domain.jsonvalues import StorableJson, StorableText, checked_document
from stepwise.domain.keys import Key
from stepwise.domain.paths import DataPath
from stepwise.domain.policy import SendWindow
from stepwise.domain.predicates import Predicate
from stepwise.domain.spec_base import Spec as _Spec
from stepwise.domain.spec_types import Weekday, ZoneName
from stepwise.domain.splits import Split
from stepwise.domain.waits import DataMatches, ListMatches, Schedule, SegmentMatches, TimePassed

__all__ = ["DataMatches", "DateReached", "ListMatches", "Schedule", "SegmentMatches", "Split", "TimePassed", "Weekday"]

JsonValue = StorableJson  # finite numbers, 64-bit integers, no NUL, bounded depth


# ---------------------------------------------------------------- edge events (§2.1)

Scope = Literal["sequence", "any"]


class _Edge(_Spec):
    """An edge event spec; `same` (S25, steps >= 2) keys it to the run's entry event."""

    same: list[DataPath] | None = Field(default=None, min_length=1, max_length=16)


class SubscriberAdded(_Edge):
    event: Literal["subscriber_added"]
    confirmed: bool | None = None


class SubscriptionConfirmed(_Edge):
    event: Literal["subscription_confirmed"]
    method: Literal["link", "any"] = "link"


class Unsubscribed(_Edge):
    event: Literal["unsubscribed"]


def _check_url_filter(value: str | None) -> str | None:
    if value is not None and (not value or len(value) > 2048 or "*" in value[:-1] or "\0" in value):
        raise ValueError("url must be an exact URL or a prefix ending in a single '*'")
    return value


class LinkClicked(_Edge):
    event: Literal["link_clicked"]
    draft: Key | None = None
    url: str | None = None
    scope: Scope | None = None

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return _check_url_filter(value)


class EmailOpened(_Edge):
    event: Literal["email_opened"]
    draft: Key | None = None
    scope: Scope | None = None


class EmailBounced(_Edge):
    event: Literal["email_bounced"]
    type: Literal["hard", "soft"] | None = None


class Complained(_Edge):
    event: Literal["complained"]


class FormSubmitted(_Edge):
    event: Literal["form_submitted"]
    form: Key | None = None


class FormConfirmed(_Edge):
    event: Literal["form_confirmed"]
    form: Key | None = None


class ListJoined(_Edge):
    event: Literal["list_joined"]
    list: Key | None = None


class ListLeft(_Edge):
    event: Literal["list_left"]
    list: Key | None = None


class SegmentJoined(_Edge):
    event: Literal["segment_joined"]
    segment: Key | None = None


class SegmentLeft(_Edge):
    event: Literal["segment_left"]
    segment: Key | None = None


class DataChanged(_Edge):
    event: Literal["data_changed"]
    fields: list[DataPath] | None = Field(default=None, min_length=1)
    where: Predicate | None = None


class CustomEvent(_Edge):
    event: Literal["custom"]
    name: StorableText = Field(min_length=1, max_length=128)
    where: Predicate | None = None


class Never(_Edge):
    event: Literal["never"]


# ---------------------------------------------------------------- waits (§2.2): domain/waits.py


EdgeSpec = (
    SubscriberAdded
    | SubscriptionConfirmed
    | Unsubscribed
    | LinkClicked
    | EmailOpened
    | EmailBounced
    | Complained
    | FormSubmitted
    | FormConfirmed
    | ListJoined
    | ListLeft
    | SegmentJoined
    | SegmentLeft
    | DataChanged
    | CustomEvent
    | Never
)
TimeWait = TimePassed | Schedule
StateWait = DataMatches | ListMatches | SegmentMatches
EventSpec = Annotated[EdgeSpec | TimeWait | StateWait | Split | DateReached, Field(discriminator="event")]
WAIT_EVENTS = frozenset({"time_passed", "schedule", "data_matches", "list_matches", "segment_matches", "split"})
STEP_ONE_ONLY = frozenset({"subscriber_added", "never"})

# ---------------------------------------------------------------- actions (§3)


class Nothing(_Spec):
    action: Literal["nothing"]


class SendEmail(_Spec):
    action: Literal["send_email"]
    draft: Key


class CallUrl(_Spec):
    action: Literal["call_url"]
    url: str = Field(min_length=1, max_length=4096)
    method: Literal["GET", "POST"] = "GET"
    body: JsonValue | None = None
    headers: dict[str, str] | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        head = value.strip().lower()
        if not (head.startswith("http://") or head.startswith("https://")):
            raise ValueError("url must start with http:// or https://")
        if any(ch in value for ch in "\r\n\0"):
            raise ValueError("url must not contain line breaks or NUL")
        return value

    @field_validator("headers")
    @classmethod
    def _clean_headers(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, text in (value or {}).items():
            if not name or any(ch in name + text for ch in "\r\n\0") or ":" in name or " " in name:
                raise ValueError(f"header {name!r} has a bad name or value")
        return value

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ChangeData(_Spec):
    action: Literal["change_data"]
    set: dict[DataPath, JsonValue] | None = None
    unset: list[DataPath] | None = None
    increment: dict[DataPath, float] | None = None

    @field_validator("increment", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any) -> Any:
        # Checked before parsing: pydantic would quietly turn true into 1.0.
        if isinstance(value, dict):
            for path, amount in value.items():
                if isinstance(amount, bool):
                    raise ValueError(f"increment of {path!r} must be a number")
        return value

    @model_validator(mode="after")
    def _something(self) -> ChangeData:
        if not (self.set or self.unset or self.increment):
            raise ValueError("change_data needs at least one of 'set', 'unset', 'increment'")
        return self


class AddToList(_Spec):
    action: Literal["add_to_list"]
    list: Key


class RemoveFromList(_Spec):
    action: Literal["remove_from_list"]
    list: Key


class StopSequence(_Spec):
    action: Literal["stop_sequence"]
    sequence: Literal["current"] | Key = "current"


class StartSequence(_Spec):
    action: Literal["start_sequence"]
    sequence: Key


class GoToSequence(_Spec):
    action: Literal["go_to_sequence"]
    sequence: Key


Action = Annotated[
    Nothing
    | SendEmail
    | CallUrl
    | ChangeData
    | AddToList
    | RemoveFromList
    | StopSequence
    | StartSequence
    | GoToSequence,
    Field(discriminator="action"),
]

# ---------------------------------------------------------------- structure (§4)

MAX_STEPS = 100


class Variant(_Spec):
    when: list[EventSpec] = Field(min_length=1, max_length=50)
    do: list[Action] = Field(min_length=1, max_length=50)


class Step(_Spec):
    variants: list[Variant] = Field(min_length=1, max_length=50)


GoalSpec = Annotated[EdgeSpec, Field(discriminator="event")]


class Goal(_Spec):
    """S24: edge events that count as a conversion of an open run; `exit` also ends that run."""

    when: list[GoalSpec] = Field(min_length=1, max_length=50)
    exit: bool = Field(default=False, strict=True)


class SequenceDefinition(_Spec):
    name: StorableText = Field(min_length=1, max_length=200)
    description: StorableText | None = Field(default=None, max_length=2000)
    timezone: ZoneName | None = None
    only_once: bool = False
    accepting: bool = True
    exit_on_unsubscribe: bool = False
    status: Literal["active", "paused"] | None = None
    send_window: SendWindow | None = None  # S27: wins over the account's window
    respect_caps: bool | None = None  # S28: None means true
    cap_action: Literal["skip", "defer"] | None = None  # S28: None means skip
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    goal: Goal | None = None  # S24

    @model_validator(mode="wrap")
    @classmethod
    def _storable(cls, data: Any, handler: ModelWrapValidatorHandler[SequenceDefinition]) -> SequenceDefinition:
        return checked_document(data, handler)


def is_terminal(action: Action, own_key: str) -> bool:
    """Tell whether an action ends the run it belongs to (S8)."""
    if isinstance(action, GoToSequence):
        return True
    return isinstance(action, StopSequence) and action.sequence in ("current", own_key)
