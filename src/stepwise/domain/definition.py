"""Sequence definitions: edge events, waits, actions, variants, steps (SPEC §2-§4).

One set of models serves the API, the stored JSON, the CLI files and the engine.
"""

from __future__ import annotations

from datetime import time, timedelta
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, field_validator, model_validator

from stepwise.domain.durations import InvalidDuration, parse_duration
from stepwise.domain.jsonvalues import StorableJson, StorableText, checked_document
from stepwise.domain.keys import Key
from stepwise.domain.paths import DataPath
from stepwise.domain.predicates import Predicate
from stepwise.domain.schedules import (
    WEEKDAYS,
    Calendar,
    InvalidSchedule,
    check_cron,
    declare_zone,
    parse_at,
    zone,
)

JsonValue = StorableJson  # finite numbers, 64-bit integers, no NUL, bounded depth


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    def dump(self) -> dict[str, Any]:
        """Return the JSON form, without unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# ---------------------------------------------------------------- edge events (§2.1)

Scope = Literal["sequence", "any"]


class SubscriberAdded(_Spec):
    event: Literal["subscriber_added"]
    confirmed: bool | None = None


class SubscriptionConfirmed(_Spec):
    event: Literal["subscription_confirmed"]
    method: Literal["link", "any"] = "link"


class Unsubscribed(_Spec):
    event: Literal["unsubscribed"]


def _check_url_filter(value: str | None) -> str | None:
    if value is not None and (not value or len(value) > 2048 or "*" in value[:-1] or "\0" in value):
        raise ValueError("url must be an exact URL or a prefix ending in a single '*'")
    return value


class LinkClicked(_Spec):
    event: Literal["link_clicked"]
    draft: Key | None = None
    url: str | None = None
    scope: Scope | None = None

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return _check_url_filter(value)


class EmailOpened(_Spec):
    event: Literal["email_opened"]
    draft: Key | None = None
    scope: Scope | None = None


class FormSubmitted(_Spec):
    event: Literal["form_submitted"]
    form: Key | None = None


class FormConfirmed(_Spec):
    event: Literal["form_confirmed"]
    form: Key | None = None


class ListJoined(_Spec):
    event: Literal["list_joined"]
    list: Key | None = None


class ListLeft(_Spec):
    event: Literal["list_left"]
    list: Key | None = None


class DataChanged(_Spec):
    event: Literal["data_changed"]
    fields: list[DataPath] | None = Field(default=None, min_length=1)
    where: Predicate | None = None


class CustomEvent(_Spec):
    event: Literal["custom"]
    name: StorableText = Field(min_length=1, max_length=128)
    where: Predicate | None = None


class Never(_Spec):
    event: Literal["never"]


# ---------------------------------------------------------------- waits (§2.2)


class TimePassed(_Spec):
    event: Literal["time_passed"]
    after: str = Field(max_length=64)

    @field_validator("after")
    @classmethod
    def _valid(cls, value: str) -> str:
        try:
            parse_duration(value)
        except InvalidDuration as exc:
            raise ValueError(str(exc)) from exc
        return value

    @cached_property
    def delay(self) -> timedelta:
        return parse_duration(self.after)


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Schedule(_Spec):
    event: Literal["schedule"]
    every: Literal["day", "week", "month", "year"] | None = None
    at: str | None = Field(default=None, max_length=5)
    weekdays: list[Weekday] | None = Field(default=None, min_length=1)
    day: int | None = Field(default=None, ge=1, le=31)
    month: int | None = Field(default=None, ge=1, le=12)
    cron: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=64, json_schema_extra=declare_zone)

    @field_validator("at")
    @classmethod
    def _valid_at(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_at(value)
            except InvalidSchedule as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_cron(value)
            except InvalidSchedule as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zone(value)
            except InvalidSchedule as exc:
                raise ValueError(str(exc)) from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Schedule:
        if self.cron is not None:
            extra = [n for n in ("every", "at", "weekdays", "day", "month") if getattr(self, n) is not None]
            if extra:
                raise ValueError(f"'cron' cannot be combined with {', '.join(extra)}")
            return self
        if self.every is None:
            raise ValueError("a schedule needs 'every' (day, week, month, year) or 'cron'")
        allowed = {"day": set(), "week": {"weekdays"}, "month": {"day"}, "year": {"day", "month"}}[self.every]
        for name in ("weekdays", "day", "month"):
            if getattr(self, name) is not None and name not in allowed:
                raise ValueError(f"'{name}' does not apply to every {self.every}")
        if self.every == "week" and not self.weekdays:
            raise ValueError("every week needs 'weekdays', e.g. [\"mon\"]")
        if self.every in ("month", "year") and self.day is None:
            raise ValueError(f"every {self.every} needs 'day' (1-31)")
        if self.every == "year" and self.month is None:
            raise ValueError("every year needs 'month' (1-12)")
        return self

    def calendar(self, default_timezone: str) -> Calendar:
        """Return the evaluable calendar, in this schedule's zone or the default one."""
        tz = self.timezone or default_timezone
        if self.cron is not None:
            return Calendar(timezone=tz, cron=self.cron)
        assert self.every is not None
        return Calendar(
            timezone=tz,
            every=self.every,
            at=parse_at(self.at) if self.at else time(0, 0),
            weekdays=tuple(sorted(WEEKDAYS.index(d) for d in self.weekdays or ())),
            day=self.day or 1,
            month=self.month or 1,
        )


class DataMatches(_Spec):
    event: Literal["data_matches"]
    where: Predicate


class ListMatches(_Spec):
    event: Literal["list_matches"]
    list: Key
    member: bool = True


EdgeSpec = (
    SubscriberAdded
    | SubscriptionConfirmed
    | Unsubscribed
    | LinkClicked
    | EmailOpened
    | FormSubmitted
    | FormConfirmed
    | ListJoined
    | ListLeft
    | DataChanged
    | CustomEvent
    | Never
)
TimeWait = TimePassed | Schedule
StateWait = DataMatches | ListMatches
EventSpec = Annotated[EdgeSpec | TimeWait | StateWait, Field(discriminator="event")]
WAIT_EVENTS = frozenset({"time_passed", "schedule", "data_matches", "list_matches"})
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


class SequenceDefinition(_Spec):
    name: StorableText = Field(min_length=1, max_length=200)
    description: StorableText | None = Field(default=None, max_length=2000)
    timezone: str | None = Field(default=None, max_length=64, json_schema_extra=declare_zone)
    only_once: bool = False
    accepting: bool = True
    exit_on_unsubscribe: bool = False
    status: Literal["active", "paused"] | None = None
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)

    @model_validator(mode="wrap")
    @classmethod
    def _storable(cls, data: Any, handler: ModelWrapValidatorHandler[SequenceDefinition]) -> SequenceDefinition:
        return checked_document(data, handler)

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zone(value)
            except InvalidSchedule as exc:
                raise ValueError(str(exc)) from exc
        return value


def is_terminal(action: Action, own_key: str) -> bool:
    """Tell whether an action ends the run it belongs to (S8)."""
    if isinstance(action, GoToSequence):
        return True
    return isinstance(action, StopSequence) and action.sequence in ("current", own_key)
