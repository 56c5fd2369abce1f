"""Request bodies of the API (they forbid unknown fields); responses are the services' views."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictBool, Tag

from stepwise.domain.emails import EMAIL_SCHEMA
from stepwise.domain.jsonvalues import StorableText
from stepwise.domain.keys import Key
from stepwise.services.events import PostedEvent


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubscriberUpsert(Input):
    email: str = Field(max_length=320, json_schema_extra=EMAIL_SCHEMA)
    data: dict[str, Any] | None = None
    lists: list[Key] | None = Field(default=None, max_length=1000)
    status: Literal["active", "unconfirmed"] | None = None


class SubscriberPatch(Input):
    data: dict[str, Any] | None = None
    unset: list[str] | None = Field(default=None, max_length=1000)
    status: Literal["active", "unconfirmed", "unsubscribed", "bounced"] | None = None


class ListPut(Input):
    name: StorableText = Field(min_length=1, max_length=200)


class PreviewRequest(Input):
    email: str = Field(max_length=320, json_schema_extra=EMAIL_SCHEMA)


class RunStart(Input):
    email: str = Field(max_length=320, json_schema_extra=EMAIL_SCHEMA)
    test: StrictBool = False  # S19: a test run (capture mailbox only, in no statistic)


class EventBatch(Input):
    events: list[PostedEvent]


def _event_shape(value: Any) -> str:
    return "#batch" if isinstance(value, dict) and "events" in value else "#single"


EventsBody = Annotated[
    Annotated[EventBatch, Tag("#batch")] | Annotated[PostedEvent, Tag("#single")], Discriminator(_event_shape)
]


class BouncePost(Input):
    email: str = Field(max_length=320, json_schema_extra=EMAIL_SCHEMA)
    type: Literal["hard", "soft", "complaint"]
    message_id: StorableText | None = Field(default=None, max_length=200)
    reason: StorableText | None = Field(default=None, max_length=500)


class SuppressionPut(Input):
    reason: Literal["manual", "bounce", "complaint", "unsubscribe"] = "manual"
    note: StorableText | None = Field(default=None, max_length=500)


class SendingDomainPut(Input):
    selector: str | None = Field(default=None, max_length=63, pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")


class KeyCreate(Input):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
    scope: Literal["read", "write", "events"]


class WebhookPut(Input):
    """An outbound webhook endpoint (SPEC §18): where to POST, and which event types."""

    url: str = Field(min_length=1, max_length=2000)
    events: list[str] = Field(min_length=1, max_length=50)
    active: bool | None = None


class SegmentPut(Input):
    """A segment (SPEC §15): a name and a predicate over profile paths and `subscriber.*` facts."""

    name: StorableText = Field(min_length=1, max_length=200)
    where: dict[str, Any]
