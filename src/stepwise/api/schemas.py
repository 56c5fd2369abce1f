"""Request bodies of the API (they forbid unknown fields); responses are the services' views."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

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


class EventBatch(Input):
    events: list[PostedEvent]


def _event_shape(value: Any) -> str:
    return "#batch" if isinstance(value, dict) and "events" in value else "#single"


EventsBody = Annotated[
    Annotated[EventBatch, Tag("#batch")] | Annotated[PostedEvent, Tag("#single")], Discriminator(_event_shape)
]
